"""Molecules, PCR families and sequenced reads with Illumina-like errors.

Sampling is done in two stages so that truth and reads stay consistent: first every original
molecule (haplotype, fragment, UMI, family size) is drawn into arrays, which the truth counts;
then read pairs are expanded from those arrays in chunks, with sequencing errors drawn per base.
All randomness comes from numpy Generators seeded by the caller, so a seed fixes every base.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mrd.simulate.haplotypes import GeneTarget
from mrd.simulate.spec import ErrorModel, SimulationSpec, UmiSpec

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ByteArray = npt.NDArray[np.uint8]

_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
_BASES = np.frombuffer(b"ACGTN", dtype=np.uint8)
_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i

QUALITY_BINS: tuple[tuple[int, int], ...] = ((2, 2), (14, 12), (30, 23), (41, 37))
"""NovaSeq-style quality binning: (highest raw quality of the bin, reported quality)."""

ERROR_FREE_QUALITY = 40
"""Quality of every base when the error model is off."""

MAX_INDEL_PROBABILITY = 0.05
"""Cap on the per-base indel error probability, however long the homopolymer."""


def reverse_complement(sequence: str) -> str:
    """The other strand, read 5' to 3'."""
    return sequence.translate(_COMPLEMENT)[::-1]


def homopolymer_runs(sequence: str) -> IntArray:
    """For every base, the length of the single-base run it belongs to (strand-symmetric)."""
    codes = np.frombuffer(sequence.encode(), dtype=np.uint8)
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate(([0], breaks))
    lengths = np.diff(np.concatenate((starts, [codes.size])))
    return np.repeat(lengths, lengths).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Molecules


@dataclass
class Molecules:
    """The original molecules of one gene window, one array entry per molecule.

    Attributes:
        gene: The window.
        haplotype: Index into the target's haplotypes.
        start: 0-based start of the fragment on its haplotype.
        length: Fragment length.
        umi: UMI of each molecule (both halves for duplex, ``-``-joined), or empty strings.
        family_a: Read pairs sequenced from the top (A) strand (simplex: all of them).
        family_b: Read pairs from the bottom (B) strand (0 unless duplex).
        r1_forward: Whether read 1 of A-strand copies reads the plus strand from the left end.
        expected_molecules: The (fractional) number of molecules the depth asked for.
        expected_by_haplotype: Expected molecules per haplotype.
    """

    gene: str
    haplotype: IntArray
    start: IntArray
    length: IntArray
    umi: list[str]
    family_a: IntArray
    family_b: IntArray
    r1_forward: BoolArray
    expected_molecules: float
    expected_by_haplotype: list[float]

    def __len__(self) -> int:
        return int(self.haplotype.size)

    @property
    def read_pairs(self) -> int:
        """Read pairs these molecules give."""
        return int(self.family_a.sum() + self.family_b.sum())


def fragment_length_pmf(
    spec: SimulationSpec, longest: int
) -> tuple[IntArray, npt.NDArray[np.float64]]:
    """Fragment lengths and their probabilities, truncated to what fits the window.

    A normal distribution of insert sizes, conditioned on ``min_fragment <= L <= longest``:
    fragments cannot leave the window, so a short window (NPM1: 203 bp) only yields its short
    fragments, as a capture of that region would.
    """
    low = min(spec.min_fragment, longest)
    lengths = np.arange(low, longest + 1, dtype=np.int64)
    if spec.insert_sd > 0:
        z = (lengths - spec.insert_mean) / spec.insert_sd
        weights = np.exp(-0.5 * z * z)
    else:
        weights = (lengths == round(spec.insert_mean)).astype(np.float64)
    if not np.isfinite(weights).all() or weights.sum() <= 0:
        # The whole distribution lies beyond the window: take the nearest feasible length.
        weights = np.zeros(lengths.size)
        weights[0 if spec.insert_mean < low else -1] = 1.0
    return lengths, weights / weights.sum()


def _pairs_per_molecule(umi: UmiSpec | None) -> float:
    if umi is None:
        return 1.0
    strands = 2.0 - umi.single_strand_fraction if umi.duplex else 1.0
    return umi.family_size_mean * strands


def _family_sizes(rng: np.random.Generator, umi: UmiSpec, n: int) -> IntArray:
    """PCR family sizes (at least 1) with the requested mean: geometric or negative binomial."""
    mean = umi.family_size_mean
    if mean <= 1.0:
        return np.ones(n, dtype=np.int64)
    if umi.family_size_dispersion is None:
        return rng.geometric(1.0 / mean, size=n).astype(np.int64)
    shape = umi.family_size_dispersion
    p = shape / (shape + mean - 1.0)
    return (1 + rng.negative_binomial(shape, p, size=n)).astype(np.int64)


def _random_umis(rng: np.random.Generator, n: int, length: int) -> list[str]:
    codes = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    raw = _BASES[codes].tobytes().decode()
    return [raw[i * length : (i + 1) * length] for i in range(n)]


def sample_molecules(
    rng: np.random.Generator, target: GeneTarget, spec: SimulationSpec
) -> Molecules:
    """Draw the original molecules of one window: haplotype, fragment, UMI, family sizes.

    Capture: a fragment length is drawn first; a haplotype is then chosen with weight
    ``fraction * (positions where the fragment fits)``, so fragments start equally densely on
    every allele and the share of mutant molecules over any locus equals the allele fraction,
    even for an ITD allele that is longer than the wild type. Amplicon: every molecule is the
    primer-to-primer product of a haplotype chosen by its fraction.
    """
    haps = target.haplotypes
    fractions = np.array([h.allele_fraction for h in haps])
    depth = spec.depth_for(target.gene)
    per_molecule = _pairs_per_molecule(spec.umi)
    if target.amplicon is not None:
        first, last = target.amplicon
        offset0, offset1 = first - target.window.start, last - target.window.start + 1
        products = [(h.position(offset0), h.position(offset1, at_end=True)) for h in haps]
        expected = depth if spec.depth_of == "molecules" else depth / per_molecule
        n = round(expected)
        hap = rng.choice(len(haps), size=n, p=fractions / fractions.sum()).astype(np.int64)
        starts = np.array([p[0] for p in products], dtype=np.int64)[hap]
        lengths = np.array([p[1] - p[0] for p in products], dtype=np.int64)[hap]
        expected_by = [float(expected * f) for f in fractions / fractions.sum()]
    else:
        hap_lengths = np.array([len(h.sequence) for h in haps], dtype=np.int64)
        longest = int(hap_lengths[fractions > 0].max())
        grid, pmf = fragment_length_pmf(spec, longest)
        read_bases = 2.0 * float((np.minimum(grid, spec.read_length) * pmf).sum())
        window = len(target.window)
        if spec.depth_of == "molecules":
            expected = depth * window / float((grid * pmf).sum())
        else:
            expected = depth * window / read_bases / per_molecule
        n = round(expected)
        lengths = rng.choice(grid, size=n, p=pmf).astype(np.int64)

        def weights(fragment: IntArray) -> npt.NDArray[np.float64]:
            fits = np.maximum(hap_lengths[None, :] - fragment[:, None] + 1, 0)
            w = fits * fractions[None, :]
            total = w.sum(axis=1, keepdims=True)
            return np.asarray(w / np.where(total > 0, total, 1.0), dtype=np.float64)

        cumulative = np.cumsum(weights(lengths), axis=1)
        draw = rng.random(n)[:, None]
        hap = np.minimum((cumulative < draw).sum(axis=1), len(haps) - 1).astype(np.int64)
        room = hap_lengths[hap] - lengths + 1
        starts = np.floor(rng.random(n) * room).astype(np.int64)
        expected_by = [float(expected * s) for s in (weights(grid) * pmf[:, None]).sum(axis=0)]
    umi = spec.umi
    if umi is None:
        family_a = np.ones(n, dtype=np.int64)
        family_b = np.zeros(n, dtype=np.int64)
        umis = [""] * n
        r1_forward = rng.random(n) < 0.5
    else:
        umis = _random_umis(rng, n, umi.length)
        family_a = _family_sizes(rng, umi, n)
        if umi.duplex:
            second = _random_umis(rng, n, umi.length)
            umis = [f"{a}-{b}" for a, b in zip(umis, second, strict=True)]
            family_b = _family_sizes(rng, umi, n)
            lost = rng.random(n) < umi.single_strand_fraction
            lose_a = rng.random(n) < 0.5
            family_a = np.where(lost & lose_a, 0, family_a)
            family_b = np.where(lost & ~lose_a, 0, family_b)
            # Convention shared with the UMI grouping code: A-strand read 1 is the forward read.
            r1_forward = np.ones(n, dtype=np.bool_)
        else:
            family_b = np.zeros(n, dtype=np.int64)
            r1_forward = rng.random(n) < 0.5
    return Molecules(
        gene=target.gene,
        haplotype=hap,
        start=starts,
        length=lengths,
        umi=umis,
        family_a=family_a,
        family_b=family_b,
        r1_forward=r1_forward,
        expected_molecules=float(expected),
        expected_by_haplotype=expected_by,
    )


# --------------------------------------------------------------------------------------------
# Read pairs


@dataclass
class ReadPair:
    """One sequenced read pair before alignment.

    Attributes:
        name: Read name shared by both mates.
        seq1: Read 1 bases as sequenced.
        qual1: Read 1 Phred qualities.
        seq2: Read 2 bases as sequenced.
        qual2: Read 2 Phred qualities.
        umi: The ``RX`` value (empty without UMIs or when the UMI is in the name).
        gene: Gene window of the molecule.
        haplotype: Haplotype id of the molecule.
    """

    name: str
    seq1: str
    qual1: ByteArray
    seq2: str
    qual2: ByteArray
    umi: str
    gene: str
    haplotype: str


@dataclass
class _Template:
    name: str
    r1: str
    r2: str
    runs1: IntArray
    runs2: IntArray
    umi: str
    gene: str
    haplotype: str


class ErrorSimulator:
    """Draws qualities and sequencing errors for batches of reads.

    Args:
        rng: Source of all randomness for errors.
        model: The error model.
        read_length: Cycles per read.
    """

    def __init__(self, rng: np.random.Generator, model: ErrorModel, read_length: int) -> None:
        self.rng = rng
        self.model = model
        self.read_length = read_length
        cycles = np.arange(read_length, dtype=np.float64)
        frac = cycles / max(read_length - 1, 1)
        self.mean_quality = model.q_start - (model.q_start - model.q_end) * frac * frac
        table = np.zeros(42, dtype=np.uint8)
        low = 0
        for high, reported in QUALITY_BINS:
            table[low : high + 1] = reported
            low = high + 1
        self.bin_table = table

    def qualities(self, is_read2: BoolArray) -> ByteArray:
        """A quality matrix (reads x cycles) falling along the read, lower for read 2."""
        model, rng = self.model, self.rng
        n, length = is_read2.size, self.read_length
        if not model.enabled:
            return np.full((n, length), ERROR_FREE_QUALITY, dtype=np.uint8)
        mean = self.mean_quality[None, :] - model.read2_offset * is_read2[:, None]
        per_read = rng.normal(0.0, 1.0, size=(n, 1))
        q = mean + per_read + model.q_sd * rng.standard_normal((n, length))
        dips = rng.random((n, length)) < model.low_quality_fraction
        q[dips] = rng.uniform(2.0, 15.0, size=int(dips.sum()))
        quality = np.clip(np.rint(q), 2, 41).astype(np.uint8)
        if model.binned:
            quality = self.bin_table[quality]
        return quality

    def apply(
        self, templates: list[str], runs: list[IntArray], is_read2: BoolArray
    ) -> list[tuple[str, ByteArray]]:
        """Sequence each template (oriented 5'->3' from its read start) into a read.

        The read is the first ``read_length`` bases of the template (fewer when the fragment is
        shorter: the adapter was trimmed). Indel errors act on the template first, so a deletion
        pulls in the next template base as a real polymerase slip does; substitutions then hit
        each base with the probability its quality states.
        """
        model, rng = self.model, self.rng
        n, length = len(templates), self.read_length
        quality = self.qualities(is_read2)
        if not model.enabled:
            return [
                (t[:length], quality[i, : min(len(t), length)]) for i, t in enumerate(templates)
            ]
        error_p = np.power(10.0, -quality.astype(np.float64) / 10.0)
        substitute = rng.random((n, length)) < error_p
        shift = rng.integers(1, 4, size=(n, length), dtype=np.uint8)
        indel_draw = rng.random((n, length))
        reads: list[tuple[str, ByteArray]] = []
        for i, template in enumerate(templates):
            size = min(len(template), length)
            run = runs[i][:size]
            p_indel = model.indel_rate * (1.0 + model.homopolymer_factor * np.maximum(run - 2, 0))
            events = np.flatnonzero(
                indel_draw[i, :size] < np.minimum(p_indel, MAX_INDEL_PROBABILITY)
            )
            if events.size:
                template = self._indel_errors(template, events)
                size = min(len(template), length)
            codes = _CODE[np.frombuffer(template[:size].encode(), dtype=np.uint8)]
            hit = substitute[i, :size] & (codes < 4)
            codes[hit] = (codes[hit] + shift[i, :size][hit]) & 3
            reads.append((_BASES[codes].tobytes().decode(), quality[i, :size]))
        return reads

    def _indel_errors(self, template: str, events: IntArray) -> str:
        """Insert or delete a base at each event position (right to left keeps offsets valid)."""
        bases = list(template)
        for position in events[::-1]:
            p = int(position)
            if self.rng.random() < 0.5 and len(bases) > 1:
                del bases[p]
            else:
                # Slippage repeats the base; elsewhere the extra base is random.
                extra = bases[p] if self.rng.random() < 0.7 else "ACGT"[int(self.rng.integers(4))]
                bases.insert(p, extra)
        return "".join(bases)


def read_name(gene: str, haplotype: str, molecule: int, strand: str, copy: int) -> str:
    """A read name with seven ``:``-fields, like an Illumina name, carrying the truth.

    ``MRDSIM:1:<gene>:<haplotype>:<molecule>:<strand>:<copy>``; a UMI in the name becomes the
    eighth field, where ``samtools markdup --barcode-name`` looks for it.
    """
    return f"MRDSIM:1:{gene}:{haplotype}:{molecule}:{strand}:{copy}"


def _templates(
    target: GeneTarget, molecules: Molecules, umi: UmiSpec | None, read_length: int
) -> Iterator[_Template]:
    """Every read pair's two templates, molecule by molecule, family copy by copy."""
    haps = target.haplotypes
    runs = [homopolymer_runs(h.sequence) for h in haps]
    in_name = umi is not None and umi.in_name
    for m in range(len(molecules)):
        h = int(molecules.haplotype[m])
        start, size = int(molecules.start[m]), int(molecules.length[m])
        fragment = haps[h].sequence[start : start + size]
        reverse = reverse_complement(fragment)
        fwd_runs = runs[h][start : start + size]
        rev_runs = fwd_runs[::-1]
        # Templates only need the read's reach plus room for indel errors.
        reach = read_length + 8
        plus, minus = fragment[:reach], reverse[:reach]
        plus_runs, minus_runs = fwd_runs[:reach], rev_runs[:reach]
        umi_a = molecules.umi[m]
        if "-" in umi_a:
            left, right = umi_a.split("-")
            umi_b = f"{right}-{left}"
        else:
            umi_b = umi_a
        for strand, copies, umi_text in (
            ("A", int(molecules.family_a[m]), umi_a),
            ("B", int(molecules.family_b[m]), umi_b),
        ):
            # B-strand copies are the mirror pair: read 1 starts at the other end.
            r1_forward = bool(molecules.r1_forward[m]) == (strand == "A")
            for copy in range(copies):
                name = read_name(target.gene, haps[h].id, m, strand, copy)
                tag = umi_text
                if in_name:
                    name = f"{name}:{umi_text.replace('-', '+')}"
                    tag = ""
                if r1_forward:
                    yield _Template(
                        name, plus, minus, plus_runs, minus_runs, tag, target.gene, haps[h].id
                    )
                else:
                    yield _Template(
                        name, minus, plus, minus_runs, plus_runs, tag, target.gene, haps[h].id
                    )


def read_pairs(
    target: GeneTarget,
    molecules: Molecules,
    spec: SimulationSpec,
    errors: ErrorSimulator,
    chunk_size: int = 2048,
) -> Iterator[list[ReadPair]]:
    """Sequence every copy of every molecule, yielding read pairs in chunks.

    Chunking bounds memory at any depth; the chunk size is fixed, so the order of random draws
    (and thus every base) depends only on the seed.
    """
    batch: list[_Template] = []

    def flush() -> list[ReadPair]:
        templates = [t.r1 for t in batch] + [t.r2 for t in batch]
        runs = [t.runs1 for t in batch] + [t.runs2 for t in batch]
        is_read2 = np.repeat(np.array([False, True]), len(batch))
        reads = errors.apply(templates, runs, is_read2)
        k = len(batch)
        return [
            ReadPair(t.name, *reads[i], *reads[k + i], t.umi, t.gene, t.haplotype)
            for i, t in enumerate(batch)
        ]

    for template in _templates(target, molecules, spec.umi, spec.read_length):
        batch.append(template)
        if len(batch) == chunk_size:
            yield flush()
            batch = []
    if batch:
        yield flush()


def expected_read_pairs(molecules: Molecules, spec: SimulationSpec) -> float:
    """Expected read pairs of a window: expected molecules times pairs per molecule."""
    return molecules.expected_molecules * _pairs_per_molecule(spec.umi)


def family_histogram(sizes: IntArray) -> dict[str, int]:
    """``{size: molecules}`` with string keys (JSON), sizes in increasing order."""
    values, counts = np.unique(sizes, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}
