"""What to simulate: variants, haplotypes, library and sequencing parameters, as plain dataclasses.

The specification is data only, so it can be written to the truth JSON and read back from a
``--spec`` file; :mod:`mrd.simulate.haplotypes` turns it into sequences. Validation happens at
construction, so a bad value fails where the user typed it, as a one-line :class:`SpecError`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from mrd.errors import InputFileError, MrdError
from mrd.genome import Build

GENES: tuple[str, ...] = ("FLT3", "NPM1")
"""The catalog windows the simulator can place reads on."""

Mode = Literal["capture", "amplicon"]
FractionKind = Literal["allele", "cell"]
AlignerName = Literal["mappy", "bwa"]
DepthOf = Literal["reads", "molecules"]

_BASES = frozenset("ACGT")


class SpecError(MrdError):
    """A simulation specification is malformed or impossible (bad allele, fraction, site...)."""


def _check_bases(text: str, what: str, *, allow_empty: bool = False) -> str:
    upper = text.upper()
    if not upper and not allow_empty:
        raise SpecError(f"{what} must not be empty")
    if not set(upper) <= _BASES:
        raise SpecError(f"{what} {text!r} may only contain the bases A, C, G and T")
    return upper


def _check_number(value: object, what: str, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise SpecError(f"{what} must be a number, not {value!r}")
    if not low <= value <= high:
        bounds = f"at least {low}" if high == math.inf else f"between {low} and {high}"
        raise SpecError(f"{what} must be {bounds}, not {value!r}")
    return float(value)


def _check_int(value: object, what: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{what} must be a whole number, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise SpecError(f"{what} must be {bounds}, not {value}")
    return value


def _check_choice(value: object, what: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise SpecError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return cast(str, value)


# --------------------------------------------------------------------------------------------
# Variants


@dataclass(frozen=True)
class Flt3Itd:
    """A FLT3 internal tandem duplication.

    The duplicated segment is the ``length`` plus-strand bases ending at genomic position
    ``end``; its copy follows it directly, after any ``nontemplated`` bases. Describing the ITD
    by the plus strand (not by c. positions) keeps it unambiguous on the minus-strand gene.

    Attributes:
        length: Length of the duplicated segment (any length that fits the window, also longer
            than the reads).
        end: 1-based genomic position of the last duplicated base, on the spec's build; None
            takes a typical juxtamembrane site (c.1750, p.584).
        nontemplated: Extra bases between the two copies, as seen on the plus strand.
    """

    length: int
    end: int | None = None
    nontemplated: str = ""

    def __post_init__(self) -> None:
        _check_int(self.length, "ITD length", 1)
        if self.end is not None:
            _check_int(self.end, "ITD end position", 1)
        nt = _check_bases(self.nontemplated, "ITD non-templated bases", allow_empty=True)
        object.__setattr__(self, "nontemplated", nt)


@dataclass(frozen=True)
class Npm1Insertion:
    """An NPM1 last-exon insertion: a known type by name, or any inserted bases.

    Attributes:
        type: Catalog type name (``A``, ``B``, ``D``); None when ``inserted`` is given.
        inserted: Inserted bases (plus strand = coding strand) for a type not in the catalog.
        after_c: The insertion follows this c. position; None takes the type's (or c.863).
    """

    type: str | None = "A"
    inserted: str | None = None
    after_c: int | None = None

    def __post_init__(self) -> None:
        if self.inserted is not None:
            object.__setattr__(self, "inserted", _check_bases(self.inserted, "NPM1 insertion"))
        if (self.type is None) == (self.inserted is None):
            raise SpecError("an NPM1 insertion needs either a type name or inserted bases")
        if self.type is not None:
            object.__setattr__(self, "type", self.type.strip().upper())
        if self.after_c is not None:
            _check_int(self.after_c, "NPM1 insertion c. position", 1)


@dataclass(frozen=True)
class Snv:
    """A single-base substitution at a 1-based genomic position of the spec's build."""

    position: int
    ref: str
    alt: str

    def __post_init__(self) -> None:
        _check_int(self.position, "SNV position", 1)
        ref = _check_bases(self.ref, "SNV reference base")
        alt = _check_bases(self.alt, "SNV alternative base")
        if len(ref) != 1 or len(alt) != 1 or ref == alt:
            raise SpecError(f"an SNV changes one base into another, not {self.ref}>{self.alt}")
        object.__setattr__(self, "ref", ref)
        object.__setattr__(self, "alt", alt)


@dataclass(frozen=True)
class Indel:
    """A small insertion, deletion or delins written as a VCF record (``POS``, ``REF``, ``ALT``).

    ``position`` is the 1-based position of the first ``ref`` base; ``ref`` must match the
    reference there. The allele need not be normalised: the truth reports the left-normalised
    form, as a caller would.
    """

    position: int
    ref: str
    alt: str

    def __post_init__(self) -> None:
        _check_int(self.position, "indel position", 1)
        ref = _check_bases(self.ref, "indel REF")
        alt = _check_bases(self.alt, "indel ALT")
        if ref == alt:
            raise SpecError(f"indel REF and ALT are equal ({ref})")
        if len(ref) == len(alt) == 1:
            raise SpecError(f"{ref}>{alt} is an SNV; describe it as one")
        object.__setattr__(self, "ref", ref)
        object.__setattr__(self, "alt", alt)


Variant = Flt3Itd | Npm1Insertion | Snv | Indel
"""Any variant the simulator can put on a haplotype."""

_VARIANT_KINDS: dict[str, type[Flt3Itd] | type[Npm1Insertion] | type[Snv] | type[Indel]] = {
    "flt3_itd": Flt3Itd,
    "npm1": Npm1Insertion,
    "snv": Snv,
    "indel": Indel,
}


def variant_kind(variant: Variant) -> str:
    """The ``kind`` key that names a variant class in JSON specs."""
    for kind, cls in _VARIANT_KINDS.items():
        if isinstance(variant, cls):
            return kind
    raise TypeError(f"not a simulator variant: {variant!r}")


@dataclass(frozen=True)
class Haplotype:
    """One allele of a gene window carrying ``variants``, present at ``fraction``.

    All variants of a haplotype must lie in the same gene window; the wild type takes whatever
    fraction the mutant haplotypes of its window leave.

    Attributes:
        variants: Variants in cis on this allele (at least one).
        fraction: Allele fraction (VAF), or cell fraction when the spec says so.
        name: Label used in read names and the truth; defaults to ``h1``, ``h2``...
    """

    variants: tuple[Variant, ...]
    fraction: float
    name: str | None = None

    def __post_init__(self) -> None:
        variants = tuple(self.variants)
        if not variants:
            raise SpecError("a haplotype needs at least one variant (the wild type is implicit)")
        for variant in variants:
            variant_kind(variant)
        object.__setattr__(self, "variants", variants)
        _check_number(self.fraction, "haplotype fraction", 0.0, 1.0)
        if self.name is not None and (not self.name or set(self.name) & set(": \t\n")):
            raise SpecError(f"haplotype name {self.name!r} must be non-empty without ':' or spaces")


# --------------------------------------------------------------------------------------------
# Library and sequencing


@dataclass(frozen=True)
class UmiSpec:
    """Unique molecular identifiers and PCR-duplicate families.

    Attributes:
        length: Bases per UMI (per half for duplex UMIs).
        duplex: Sequence both strands of each molecule; the UMI is two halves ``X-Y``, swapped
            (``Y-X``) on reads of the bottom (B) strand.
        family_size_mean: Mean number of read pairs per original strand (at least 1).
        family_size_dispersion: Negative-binomial shape of ``size - 1``; None draws sizes from a
            geometric distribution (shape 1), the usual over-dispersed PCR duplicate shape.
        in_name: Put the UMI as the last ``:`` field of the read name (halves joined by ``+``)
            instead of an ``RX`` tag, as some demultiplexers do.
        single_strand_fraction: Duplex only: share of molecules whose second strand was lost,
            so they have reads from one strand only.
    """

    length: int = 8
    duplex: bool = False
    family_size_mean: float = 3.0
    family_size_dispersion: float | None = None
    in_name: bool = False
    single_strand_fraction: float = 0.0

    def __post_init__(self) -> None:
        _check_int(self.length, "UMI length", 1, 32)
        _check_number(self.family_size_mean, "mean family size", 1.0, 1000.0)
        if self.family_size_dispersion is not None:
            _check_number(self.family_size_dispersion, "family size dispersion", 1e-3)
        _check_number(self.single_strand_fraction, "single-strand fraction", 0.0, 1.0)


@dataclass(frozen=True)
class ErrorModel:
    """Illumina-like sequencing errors with base qualities that state their real probability.

    Each base draws a quality around a mean that falls along the read (from ``q_start`` at the
    first cycle to ``q_end`` at the last, quadratically, as phasing accumulates); the base is
    then wrong with exactly the probability its Phred quality says, so qualities are calibrated.
    Indel errors are rare but grow with the homopolymer run a base sits in.

    Attributes:
        enabled: False gives error-free reads with quality 40 everywhere.
        q_start: Mean quality at the first cycle.
        q_end: Mean quality at the last cycle of a full-length read.
        q_sd: Spread of qualities around the mean.
        read2_offset: How much lower read 2 qualities are (its chemistry is older).
        low_quality_fraction: Share of bases with a sudden low quality (2-15), as from bubbles.
        indel_rate: Per-base probability of an indel error outside homopolymers.
        homopolymer_factor: Extra indel risk per base of homopolymer run beyond two.
        binned: Report qualities in four bins (2, 12, 23, 37) as NovaSeq instruments do; this
            shrinks BAMs a lot.
    """

    enabled: bool = True
    q_start: float = 36.0
    q_end: float = 27.0
    q_sd: float = 3.0
    read2_offset: float = 2.0
    low_quality_fraction: float = 0.003
    indel_rate: float = 2e-5
    homopolymer_factor: float = 3.0
    binned: bool = False

    def __post_init__(self) -> None:
        _check_number(self.q_start, "q_start", 2.0, 41.0)
        _check_number(self.q_end, "q_end", 2.0, 41.0)
        _check_number(self.q_sd, "q_sd", 0.0, 20.0)
        _check_number(self.read2_offset, "read2_offset", -20.0, 20.0)
        _check_number(self.low_quality_fraction, "low_quality_fraction", 0.0, 1.0)
        _check_number(self.indel_rate, "indel_rate", 0.0, 0.1)
        _check_number(self.homopolymer_factor, "homopolymer_factor", 0.0, 100.0)


@dataclass(frozen=True)
class SimulationSpec:
    """Everything that defines a simulated sample, apart from the seed.

    Attributes:
        haplotypes: Mutant haplotypes with their fractions; each gene window's wild type takes
            the rest.
        genes: Gene windows to sequence (a targeted panel); reads never leave these windows.
        build: Genome build of all positions and of the output BAM.
        chr_prefix: ``chr13`` names (True) or ``13`` (False); None takes the build's usual
            naming (GRCh38 ``chr13``, GRCh37 ``13`` as in b37).
        sample: Sample name (``SM`` of the read group).
        library: Library name (``LB``); defaults to ``<sample>-lib1``.
        mode: ``capture`` (random fragments) or ``amplicon`` (one primer-to-primer product).
        depth: Mean target depth: read depth over the window in capture mode, read pairs per
            amplicon in amplicon mode (molecules instead, if ``depth_of`` says so).
        gene_depth: Per-gene overrides of ``depth``.
        depth_of: Whether ``depth`` counts reads (duplicates included) or unique molecules.
        read_length: Read length of both mates; shorter fragments give shorter, adapter-trimmed
            reads.
        insert_mean: Mean fragment (insert) length in capture mode.
        insert_sd: Standard deviation of the fragment length.
        min_fragment: Shortest fragment kept (shorter ones would not align).
        fraction_kind: ``allele`` (VAF) or ``cell`` (heterozygous cells: VAF = fraction / 2).
        amplicons: Per-gene ``(first, last)`` 1-based genomic primer-to-primer spans replacing the
            default amplicons.
        umi: UMI and duplicate-family settings; None for a library without UMIs (and without
            duplicates).
        errors: Sequencing error model.
        aligner: ``mappy`` (minimap2 ``sr``) or ``bwa`` (``bwa mem``; needs bwa on PATH).
        mark_duplicates: Run samtools fixmate and markdup on the result.
    """

    haplotypes: tuple[Haplotype, ...] = ()
    genes: tuple[str, ...] = GENES
    build: Build = Build.GRCH38
    chr_prefix: bool | None = None
    sample: str = "SIM"
    library: str | None = None
    mode: Mode = "capture"
    depth: float = 1000.0
    gene_depth: Mapping[str, float] = field(default_factory=dict)
    depth_of: DepthOf = "reads"
    read_length: int = 150
    insert_mean: float = 250.0
    insert_sd: float = 50.0
    min_fragment: int = 40
    fraction_kind: FractionKind = "allele"
    amplicons: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    umi: UmiSpec | None = None
    errors: ErrorModel = field(default_factory=ErrorModel)
    aligner: AlignerName = "mappy"
    mark_duplicates: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "haplotypes", tuple(self.haplotypes))
        for haplotype in self.haplotypes:
            if not isinstance(haplotype, Haplotype):
                raise SpecError(f"haplotypes must be Haplotype objects, not {haplotype!r}")
        listed = (self.genes,) if isinstance(self.genes, str) else self.genes
        genes = tuple(str(g).upper() for g in listed)
        if not genes:
            raise SpecError("at least one gene window is needed")
        for gene in genes:
            _check_choice(gene, "gene", GENES)
        if len(set(genes)) != len(genes):
            raise SpecError(f"genes listed twice: {', '.join(genes)}")
        object.__setattr__(self, "genes", genes)
        if isinstance(self.build, str) and not isinstance(self.build, Build):
            object.__setattr__(self, "build", Build.parse(self.build))
        if not self.sample or set(self.sample) & set("\t\n"):
            raise SpecError(f"sample name {self.sample!r} must be non-empty without tabs")
        _check_choice(self.mode, "mode", ("capture", "amplicon"))
        _check_number(self.depth, "depth", 0.0, 1e7)
        depths = {
            str(g).upper(): _check_number(d, f"{g} depth", 0.0, 1e7)
            for g, d in dict(self.gene_depth).items()
        }
        for gene in depths:
            _check_choice(gene, "gene of gene_depth", genes)
        object.__setattr__(self, "gene_depth", depths)
        _check_choice(self.depth_of, "depth_of", ("reads", "molecules"))
        _check_int(self.read_length, "read length", 30, 500)
        _check_number(self.insert_mean, "insert size mean", 1.0, 10000.0)
        _check_number(self.insert_sd, "insert size sd", 0.0, 10000.0)
        _check_int(self.min_fragment, "minimum fragment length", 20, 10000)
        _check_choice(self.fraction_kind, "fraction kind", ("allele", "cell"))
        amplicons: dict[str, tuple[int, int]] = {}
        for gene, span in dict(self.amplicons).items():
            name = _check_choice(str(gene).upper(), "amplicon gene", genes)
            if not isinstance(span, (tuple, list)) or len(span) != 2:
                raise SpecError(f"{name} amplicon must be (first, last), not {span!r}")
            first = _check_int(span[0], f"{name} amplicon start", 1)
            last = _check_int(span[1], f"{name} amplicon end", first + self.min_fragment - 1)
            amplicons[name] = (first, last)
        object.__setattr__(self, "amplicons", amplicons)
        _check_choice(self.aligner, "aligner", ("mappy", "bwa"))
        if self.umi is not None and not isinstance(self.umi, UmiSpec):
            raise SpecError("umi must be a UmiSpec or None")

    @property
    def uses_chr_prefix(self) -> bool:
        """The chromosome naming actually used: the explicit choice or the build's usual one."""
        if self.chr_prefix is not None:
            return self.chr_prefix
        return self.build is Build.GRCH38

    @property
    def library_name(self) -> str:
        """``LB`` of the read group."""
        return self.library or f"{self.sample}-lib1"

    def depth_for(self, gene: str) -> float:
        """Target depth of one gene window."""
        return float(self.gene_depth.get(gene, self.depth))

    @classmethod
    def of(cls, *variants: tuple[Variant, float], **params: Any) -> SimulationSpec:
        """A spec with one haplotype per ``(variant, fraction)``; other fields by keyword.

        The common case (one ITD, one NPM1 type, a few SNVs, each on its own allele) in one
        line: ``SimulationSpec.of((Flt3Itd(60), 0.2), (Npm1Insertion("A"), 0.4), depth=500)``.
        """
        haplotypes = tuple(Haplotype((v,), f) for v, f in variants)
        return cls(haplotypes=haplotypes + tuple(params.pop("haplotypes", ())), **params)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :func:`spec_from_dict` turns back into an equal spec."""
        return {
            "haplotypes": [
                {
                    "name": h.name,
                    "fraction": h.fraction,
                    "variants": [
                        {"kind": variant_kind(v), **dataclasses.asdict(v)} for v in h.variants
                    ],
                }
                for h in self.haplotypes
            ],
            "genes": list(self.genes),
            "build": self.build.value,
            "chr_prefix": self.chr_prefix,
            "sample": self.sample,
            "library": self.library,
            "mode": self.mode,
            "depth": self.depth,
            "gene_depth": dict(self.gene_depth),
            "depth_of": self.depth_of,
            "read_length": self.read_length,
            "insert_mean": self.insert_mean,
            "insert_sd": self.insert_sd,
            "min_fragment": self.min_fragment,
            "fraction_kind": self.fraction_kind,
            "amplicons": {g: list(span) for g, span in self.amplicons.items()},
            "umi": None if self.umi is None else dataclasses.asdict(self.umi),
            "errors": dataclasses.asdict(self.errors),
            "aligner": self.aligner,
            "mark_duplicates": self.mark_duplicates,
        }


def _construct(cls: type[Any], data: object, where: str) -> Any:
    """Build a dataclass from a JSON object, naming unknown keys instead of a TypeError."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{where} must be a JSON object, not {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SpecError(f"unknown key(s) in {where}: {', '.join(map(str, unknown))}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise SpecError(f"bad {where}: {exc}") from None


def _variant_from_dict(data: object, where: str) -> Variant:
    if not isinstance(data, Mapping) or "kind" not in data:
        raise SpecError(f"{where} must be an object with a 'kind' ({', '.join(_VARIANT_KINDS)})")
    kind = _check_choice(data["kind"], f"{where} kind", tuple(_VARIANT_KINDS))
    rest = {k: v for k, v in data.items() if k != "kind"}
    built: Variant = _construct(_VARIANT_KINDS[kind], rest, f"{where} ({kind})")
    return built


def spec_from_dict(data: object) -> SimulationSpec:
    """Read a spec from parsed JSON (the format :meth:`SimulationSpec.to_dict` writes).

    Raises:
        SpecError: For unknown keys, wrong types or impossible values, naming the culprit.
    """
    if not isinstance(data, Mapping):
        raise SpecError("a simulation spec must be a JSON object")
    fields: dict[str, Any] = dict(data)
    haplotypes = []
    raw_haplotypes = fields.pop("haplotypes", [])
    if not isinstance(raw_haplotypes, list):
        raise SpecError("'haplotypes' must be a list")
    for i, raw in enumerate(raw_haplotypes, 1):
        where = f"haplotype {i}"
        if not isinstance(raw, Mapping):
            raise SpecError(f"{where} must be a JSON object")
        entry = dict(raw)
        raw_variants = entry.pop("variants", None)
        if not isinstance(raw_variants, list):
            raise SpecError(f"{where} needs a 'variants' list")
        entry["variants"] = tuple(
            _variant_from_dict(v, f"{where} variant {j}") for j, v in enumerate(raw_variants, 1)
        )
        haplotypes.append(_construct(Haplotype, entry, where))
    fields["haplotypes"] = tuple(haplotypes)
    if "genes" in fields:
        if not isinstance(fields["genes"], list):
            raise SpecError("'genes' must be a list of gene names")
        fields["genes"] = tuple(str(g) for g in fields["genes"])
    if "build" in fields:
        fields["build"] = Build.parse(str(fields["build"]))
    if isinstance(fields.get("umi"), Mapping):
        fields["umi"] = _construct(UmiSpec, fields["umi"], "'umi'")
    if "errors" in fields:
        fields["errors"] = _construct(ErrorModel, fields["errors"], "'errors'")
    if isinstance(fields.get("amplicons"), Mapping):
        fields["amplicons"] = {
            g: tuple(s) if isinstance(s, list) else s for g, s in fields["amplicons"].items()
        }
    spec: SimulationSpec = _construct(SimulationSpec, fields, "the simulation spec")
    return spec


def load_spec(path: str | Path) -> SimulationSpec:
    """Read a JSON spec file (the ``parameters`` block of a truth JSON is one, too).

    Raises:
        InputFileError: When the file is missing or not JSON.
        SpecError: When its content is not a valid spec.
    """
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"spec file not found: {source}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read spec file {source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(f"spec file {source} is not valid JSON: {exc}") from None
    if isinstance(data, Mapping) and "parameters" in data and "simulator" in data:
        data = data["parameters"]  # a truth JSON: re-run its spec
    return spec_from_dict(data)
