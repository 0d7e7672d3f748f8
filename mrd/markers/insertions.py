"""Find and count insertion alleles in a reference window, whatever form the aligner gave them.

The engine behind the FLT3-ITD and NPM1 callers. Two streaming passes over the window's records:

1. **Discovery.** Reads that align cleanly (no clip, no indel, few mismatches) are wild type
   where they lie and are skipped. Every other read (soft-clipped, split, with an insertion,
   or unmapped beside a mapped mate) is realigned from its own bases by
   :func:`mrd.markers.realign.find_junction`; a junction whose right part lies upstream of its
   left end (or right after it) is an insertion, a duplication when bases are repeated.
   Junctions are keyed by their left-normalised insertion, so reads from all aligner
   representations of one allele meet in one candidate.
2. **Quantification.** Every read is placed on the wild type and on each candidate haplotype
   and counted where it proves something. A mutant read proves its allele's new junction. The
   total is counted at the two edges of the duplicated segment (where it starts and where it
   ends), which every allele carries exactly once, so with randomly placed fragments (capture)
   each allele's molecules are equally likely to be counted at each point, whatever the
   insertion length: ``VAF = junction templates / mean(edge templates)``. Reads need not span
   the duplication. Amplicon reads all start at a primer, which breaks the equal-chance
   argument, so there each read is compared where the alleles first differ when read from its
   primer.

Counts are in templates (read pairs): both mates of a fragment seeing the same point count once.
The template names behind every count are kept, so molecule (UMI family) counts can be taken
from the same evidence.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import numpy as np
import pysam
from scipy.stats import binomtest

from mrd.catalog import ReferenceWindow
from mrd.markers.realign import (
    BoolArray,
    Haplotype,
    Insertion,
    WindowIndex,
    as_bytes,
    find_junction,
    insertion_allele,
    reverse_complement,
)
from mrd.ngs.alignment import AlignmentSource
from mrd.ngs.fetch import iter_region
from mrd.ngs.filters import DropReason, FilterCounts, ReadFilter
from mrd.ngs.region import Region
from mrd.ngs.umi import (
    FamilyGrouping,
    FamilySummary,
    detect_umi_source,
    family_size_histogram,
    group_families,
    summarize_families,
)

log = logging.getLogger(__name__)

Library = Literal["capture", "amplicon"]
LibraryChoice = Literal["auto", "capture", "amplicon"]

_CIGAR_CLEAN = frozenset((0, 7, 8))  # M, =, X
_CIGAR_INSERTION = 1
_CIGAR_SOFT_CLIP = 4
SHADOW_SPAN = 8
"""Length and position difference (beyond the insertion length) within which a weak candidate
can be an error shadow of a strong one: errors within a few bases of the junction move it that
far."""

FORMS = ("cigar_insertion", "soft_clip", "split_alignment", "unmapped_mate", "other")
"""How an aligner showed a mutant read, as counted in a finding's ``evidence``."""


@dataclass(frozen=True)
class InsertionSettings:
    """Thresholds of the insertion caller, each a named, documented choice a lab can change.

    Attributes:
        min_anchor: Bases a read must extend beyond a junction or edge on each side to count
            there; the same for ITD and wild type, so neither allele is favoured.
        seed_anchor: Bases each part of a read needs before its junction can found a new
            candidate (discovery only; quantification uses ``min_anchor``).
        min_margin: Fewer mismatches an ITD read must have on its ITD haplotype than on the
            wild type, so a sequencing error cannot make a junction.
        min_alt_templates: Templates showing the junction needed to report a clone.
        min_discovery_templates: Templates a junction needs in discovery to be quantified.
        max_candidates: Most candidate alleles quantified (the best supported).
        clean_max_mismatches: A read with only M in its CIGAR and at most this many
            mismatches (NM) is taken as wild type where it aligns, without realignment.
        min_length: Shortest insertion looked at. One- and two-base insertions are the
            commonest sequencing and homopolymer errors and are neither an ITD nor an NPM1
            mutation; the patient-marker caller handles small indels.
        shadow_ratio: A candidate near a clone of nearly the same length (see
            ``SHADOW_SPAN``) with this many times its support is taken for that clone's reads
            with a sequencing error near the junction, and merged into it.
        library: ``auto`` judges capture or amplicon from read start positions.
        amplicon_start_share: Share of reads starting at the few most common positions above
            which a sample is judged an amplicon library.
        max_reads_per_candidate_pass: Safety cap on realigned reads per sample; reads beyond it
            are counted but not realigned (none of our data comes near it).
        use_umis: Count molecules (UMI families) when the reads carry UMIs.
        min_family_size: Families with fewer templates are left out of molecule counts (1
            keeps singletons; 2 or 3 trades molecules for error suppression).
    """

    min_anchor: int = 10
    seed_anchor: int = 15
    min_margin: int = 3
    min_alt_templates: int = 3
    min_discovery_templates: int = 2
    max_candidates: int = 24
    clean_max_mismatches: int = 2
    min_length: int = 3
    shadow_ratio: float = 20.0
    library: LibraryChoice = "auto"
    amplicon_start_share: float = 0.5
    max_reads_per_candidate_pass: int = 5_000_000
    use_umis: bool = True
    min_family_size: int = 1

    def as_dict(self) -> dict[str, Any]:
        """Settings as written into the result, so a result says how it was made."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------------------------
# Reading records


@dataclass
class _ReadView:
    """What the caller needs of one record: its bases on the plus strand and how it aligned."""

    name: str
    sequence: str
    forward: bool  # the read's 5' end is on the left (plus-strand read)
    clean_offset: int | None  # window offset of read base 0 when the read is clean
    form: str  # how the aligner showed anything unusual about it
    length: int = 0  # bases; set from the sequence when it is kept

    def __post_init__(self) -> None:
        if self.sequence:
            self.length = len(self.sequence)


def _evidence_form(read: pysam.AlignedSegment) -> str:
    if read.is_unmapped:
        return "unmapped_mate"
    if read.has_tag("SA"):
        return "split_alignment"
    cigar = read.cigartuples or []
    if any(op == _CIGAR_INSERTION and n >= 3 for op, n in cigar):
        return "cigar_insertion"
    if any(op == _CIGAR_SOFT_CLIP for op, _ in cigar):
        return "soft_clip"
    return "other"


def _view(
    read: pysam.AlignedSegment, window: ReferenceWindow, settings: InsertionSettings
) -> _ReadView | None:
    # The common case first and cheaply: one M operation, few mismatches. Such a read's bases
    # are never looked at, so they are not copied out of the record.
    name = read.query_name or ""
    if read.is_unmapped:
        sequence = read.query_sequence
        if not sequence:
            return None
        return _ReadView(name, sequence.upper(), not read.is_reverse, None, "unmapped_mate")
    cigar = read.cigartuples
    if not cigar:
        return None
    clean = all(op in _CIGAR_CLEAN for op, _ in cigar)
    if clean and read.has_tag("NM"):
        clean = int(read.get_tag("NM")) <= settings.clean_max_mismatches
    if clean:
        offset = read.reference_start - (window.start - 1)
        return _ReadView(name, "", not read.is_reverse, offset, "clean", read.query_length)
    sequence = read.query_sequence
    if not sequence:
        return None
    return _ReadView(name, sequence.upper(), not read.is_reverse, None, _evidence_form(read))


def _usable_unmapped(read: pysam.AlignedSegment, read_filter: ReadFilter) -> bool:
    """An unmapped read placed beside its mapped mate: a long ITD or insert can cause that."""
    if read.mate_is_unmapped or read.flag & 0x200:
        return False
    if read.flag & 0x400 and read_filter.drop_duplicates:
        return False
    qualities = read.query_qualities
    if qualities is None or len(qualities) == 0:
        return False
    return float(np.mean(qualities)) >= read_filter.min_mean_base_quality


def _evidence_views(
    source: AlignmentSource,
    region: Region,
    window: ReferenceWindow,
    read_filter: ReadFilter,
    settings: InsertionSettings,
    counts: FilterCounts | None,
) -> Iterable[_ReadView]:
    for read, reason in iter_region(source, region, read_filter, counts):
        if reason is None or (
            reason is DropReason.UNMAPPED and _usable_unmapped(read, read_filter)
        ):
            view = _view(read, window, settings)
            if view is not None:
                yield view


def _oriented(index: WindowIndex, view: _ReadView) -> tuple[str, bool, list[tuple[int, int]]]:
    """Plus-strand bases of a realigned read, whether its 5' end is left, and its seeds.

    A mapped read is stored on the plus strand already; an unmapped one may be either way
    round, so both are tried and the one with more seeds wins.
    """
    seeds = index.seeds(view.sequence)
    if view.form != "unmapped_mate":
        return view.sequence, view.forward, seeds
    other = reverse_complement(view.sequence)
    other_seeds = index.seeds(other)
    if len(other_seeds) > len(seeds):
        return other, not view.forward, other_seeds
    return view.sequence, view.forward, seeds


# --------------------------------------------------------------------------------------------
# Discovery


@dataclass
class _Candidate:
    allele: Insertion
    tracked: bool = False
    templates: set[str] = field(default_factory=set)
    forms: Counter[str] = field(default_factory=Counter)


@dataclass
class _DiscoveryStats:
    """What discovery saw beyond the candidates, for the sample's own error estimate."""

    templates: set[str] = field(default_factory=set)
    junctions: set[str] = field(default_factory=set)
    lengths: list[int] = field(default_factory=list)


def _discover(
    views: Iterable[_ReadView],
    index: WindowIndex,
    settings: InsertionSettings,
    known: Sequence[Insertion] = (),
    stats: _DiscoveryStats | None = None,
) -> tuple[list[_Candidate], list[int]]:
    """Candidate insertions from realigned reads, and the reads' 5' starts for library typing.

    ``known`` alleles (tracked from a diagnosis) are always candidates, however few reads show
    them, and are never merged into another clone.
    """
    candidates: dict[Insertion, _Candidate] = {a: _Candidate(a, tracked=True) for a in known}
    starts: list[int] = []
    stats = stats if stats is not None else _DiscoveryStats()
    stats.templates.clear()
    stats.junctions.clear()
    stats.lengths.clear()
    realigned = 0
    for view in views:
        stats.templates.add(view.name)
        stats.lengths.append(view.length)
        if view.clean_offset is not None:
            start = view.clean_offset if view.forward else view.clean_offset + view.length
            starts.append(start * (1 if view.forward else -1))
            continue
        realigned += 1
        if realigned > settings.max_reads_per_candidate_pass:
            continue
        sequence, _, seeds = _oriented(index, view)
        junction = find_junction(
            index, sequence, as_bytes(sequence), seeds, min_anchor=settings.seed_anchor
        )
        if junction is None or junction.shift < settings.min_length:
            continue
        allele = insertion_allele(index.sequence, junction)
        if allele is None:
            continue
        stats.junctions.add(view.name)
        candidate = candidates.setdefault(allele, _Candidate(allele))
        candidate.templates.add(view.name)
        candidate.forms[view.form] += 1
    kept = [
        c
        for c in candidates.values()
        if c.tracked or len(c.templates) >= settings.min_discovery_templates
    ]
    kept.sort(key=lambda c: (not c.tracked, -len(c.templates), c.allele.after, c.allele.inserted))
    kept = [
        c
        for c in kept
        if c.tracked
        or not any(_shadows(c, other, settings.shadow_ratio) for other in kept if other is not c)
    ]
    tracked = sum(c.tracked for c in kept)
    return kept[: max(settings.max_candidates, tracked)], starts


def _shadows(candidate: _Candidate, other: _Candidate, ratio: float) -> bool:
    """Whether ``candidate`` looks like ``other`` read with a sequencing error at its junction.

    Such reads form their own tiny candidate (a base or a few more or less between the copies,
    or the copy shifted). Dropping it before quantification lets those reads count for the
    clone they came from, which they match far better than the wild type.
    """
    a, b = candidate.allele, other.allele
    near = abs(a.after - b.after) <= a.length + SHADOW_SPAN
    similar = abs(a.length - b.length) <= SHADOW_SPAN
    return near and similar and len(other.templates) >= ratio * len(candidate.templates)


def judge_library(starts: list[int], share: float) -> Library:
    """Amplicon when most reads start at a handful of positions (the primers), else capture.

    ``starts`` holds signed 5' positions (negative for reverse reads), so each primer is one
    value. Capture reads start all over the window: even at high depth the four most common
    starts hold a few percent of the reads.
    """
    if not starts:
        return "capture"
    top = sum(n for _, n in Counter(starts).most_common(4))
    return "amplicon" if top / len(starts) >= share else "capture"


# --------------------------------------------------------------------------------------------
# Quantification


def _span(matches: BoolArray, window: int = 8, need: int = 7) -> tuple[int, int]:
    """Read positions ``[lo, hi)`` between the first and last well-matching stretches.

    Trims adapter tails and the unplaced end of a read, so a read is not counted across an
    edge its genomic bases do not reach.
    """
    n = len(matches)
    if n < window:
        return (0, n) if matches.all() else (0, 0)
    sums = np.convolve(matches.astype(np.int32), np.ones(window, dtype=np.int32), mode="valid")
    good = np.flatnonzero(sums >= need)
    if len(good) == 0:
        return 0, 0
    return int(good[0]), int(good[-1]) + window


@dataclass
class Tally:
    """Templates counted for one candidate, by what they proved."""

    junction: set[str] = field(default_factory=set)
    left_edge: set[str] = field(default_factory=set)
    right_edge: set[str] = field(default_factory=set)
    anchored_alt: set[str] = field(default_factory=set)
    anchored_wt: set[str] = field(default_factory=set)
    anchored_other: set[str] = field(default_factory=set)
    forms: Counter[str] = field(default_factory=Counter)


class _Clone:
    """A candidate haplotype with the fixed points the quantification counts at."""

    def __init__(self, reference: str, candidate: _Candidate, anchor: int) -> None:
        self.candidate = candidate
        self.haplotype = Haplotype(reference, candidate.allele)
        dup = self.haplotype.duplication
        self.p = dup.left_end
        self.q = dup.right_start
        self.n = len(dup.nontemplated)
        self.length = candidate.allele.length
        # How far the junction can slide right without changing the allele (microhomology).
        slide = 0
        seq = self.haplotype.sequence
        while (
            self.p + self.n + 1 + slide < len(seq)
            and self.p + 1 + slide < len(reference)
            and seq[self.p + self.n + 1 + slide] == reference[self.p + 1 + slide]
            and slide < self.length
        ):
            slide += 1
        self.before = anchor - 1
        self.after = self.n + slide + anchor
        self.tally = Tally()

    def crosses(self, lo: int, hi: int, left_base: int) -> bool:
        """Whether a placed span ``[lo, hi]`` covers the point after ``left_base`` with anchors."""
        return lo <= left_base - self.before and hi >= left_base + self.after

    def crosses_junction(self, lo: int, hi: int) -> bool:
        return self.crosses(lo, hi, self.p)

    def crosses_edges(self, lo: int, hi: int, on: _Clone | None) -> tuple[bool, bool]:
        """Whether a span placed on ``on`` (None: wild type) covers this clone's edges."""
        if on is None:
            return self.crosses(lo, hi, self.q - 1), self.crosses(lo, hi, self.p)
        return self._crosses_on(lo, hi, on, self.q - 1), self._crosses_on(lo, hi, on, self.p)

    def _crosses_on(self, lo: int, hi: int, on: _Clone, left_base: int) -> bool:
        if any(self.crosses(lo, hi, x) for x in on.haplotype.edge_offsets(left_base)):
            return True
        # An insertion that copies nothing sits between the two bases of the wild-type edge, so
        # its haplotype has no such edge: a read across the insertion crosses the site there,
        # and must count in the total like a wild-type read across the edge.
        return on.n == on.length and left_base == on.p and on.crosses_junction(lo, hi)


def _count_clean(clones: list[_Clone], view: _ReadView, library: Library) -> None:
    assert view.clean_offset is not None
    lo = view.clean_offset
    hi = lo + view.length - 1
    for clone in clones:
        left, right = clone.crosses_edges(lo, hi, None)
        if left:
            clone.tally.left_edge.add(view.name)
        if right:
            clone.tally.right_edge.add(view.name)
        if library == "amplicon":
            _count_anchored_wt(clone, view.name, view.forward, lo, hi, left, right)


def _count_anchored_wt(
    clone: _Clone, name: str, forward: bool, lo: int, hi: int, left: bool, right: bool
) -> None:
    # Read from its primer, a wild-type read first differs from the ITD allele at the
    # duplication's right edge (forward reads) or left edge (reverse reads).
    from_left = forward and lo <= clone.q - 1 - clone.before and right
    from_right = not forward and hi >= clone.p + clone.after and left
    if from_left or from_right:
        clone.tally.anchored_wt.add(name)


def _count_realigned(
    clones: list[_Clone],
    index: WindowIndex,
    view: _ReadView,
    library: Library,
    settings: InsertionSettings,
) -> None:
    sequence, forward, seeds = _oriented(index, view)
    if not seeds:
        return
    read = as_bytes(sequence)
    diagonals = {seeds[0][1], seeds[-1][1]}
    reference = index.reference
    best_wt: tuple[int, int] | None = None  # (mismatches, offset)
    for d in diagonals:
        miss = reference.mismatches(read, d)
        if best_wt is None or miss < best_wt[0]:
            best_wt = (miss, d)
    assert best_wt is not None
    best_clone: tuple[int, int, _Clone] | None = None
    for clone in clones:
        for d in diagonals:
            for offset in (d, d + clone.length):
                miss = clone.haplotype.padded.mismatches(read, offset)
                if best_clone is None or miss < best_clone[0]:
                    best_clone = (miss, offset, clone)
    on: _Clone | None = None
    offset = best_wt[1]
    if best_clone is not None and best_clone[0] <= best_wt[0] - settings.min_margin:
        _, offset, on = best_clone
    placed = on.haplotype.padded if on is not None else reference
    lo_read, hi_read = _span(placed.matches(read, offset))
    if hi_read - lo_read < 2 * settings.min_anchor:
        return
    lo, hi = offset + lo_read, offset + hi_read - 1
    shows = on is not None and on.crosses_junction(lo, hi)
    for clone in clones:
        tally = clone.tally
        left, right = clone.crosses_edges(lo, hi, on)
        if left:
            tally.left_edge.add(view.name)
        if right:
            tally.right_edge.add(view.name)
        if on is clone and shows:
            tally.junction.add(view.name)
            tally.forms[view.form] += 1
        if library != "amplicon":
            continue
        if on is None:
            _count_anchored_wt(clone, view.name, forward, lo, hi, left, right)
        elif shows:
            anchored = (forward and lo <= on.q - 1 - on.before) or (
                not forward and hi >= on.p + on.length + on.after
            )
            if anchored:
                (tally.anchored_alt if on is clone else tally.anchored_other).add(view.name)


def _quantify(
    views: Iterable[_ReadView],
    index: WindowIndex,
    clones: list[_Clone],
    library: Library,
    settings: InsertionSettings,
) -> None:
    realigned = 0
    for view in views:
        if view.clean_offset is not None:
            _count_clean(clones, view, library)
            continue
        realigned += 1
        if realigned <= settings.max_reads_per_candidate_pass:
            _count_realigned(clones, index, view, library, settings)


@dataclass(frozen=True)
class Proportion:
    """A count out of a total with its exact (Clopper-Pearson) 95% interval."""

    alt: int
    total: int
    value: float
    low: float
    high: float

    @classmethod
    def of(cls, alt: int, total: int) -> Proportion:
        """The proportion ``alt / total``; a total of 0 gives NaN with the interval [0, 1]."""
        if total <= 0:
            return cls(alt, 0, math.nan, 0.0, 1.0)
        alt = min(alt, total)
        ci = binomtest(alt, total).proportion_ci(confidence_level=0.95, method="exact")
        return cls(alt, total, alt / total, float(ci.low), float(ci.high))

    def as_counts(self, unit: str) -> dict[str, Any]:
        """The counts as every finding writes them (schema ``mrd-call`` 1.x)."""
        return {
            "alt_count": self.alt,
            "wt_count": self.total - self.alt,
            "depth": self.total,
            "depth_unit": unit,
            "vaf": None if math.isnan(self.value) else self.value,
            "vaf_ci_low": self.low,
            "vaf_ci_high": self.high,
        }


def _proportion(clone: _Clone, library: Library) -> Proportion:
    tally = clone.tally
    if library == "amplicon":
        alt = len(tally.anchored_alt)
        other = len(tally.anchored_other - tally.anchored_alt)
        wt = len(tally.anchored_wt - tally.anchored_alt - tally.anchored_other)
        return Proportion.of(alt, alt + wt + other)
    alt = len(tally.junction)
    total = round((len(tally.left_edge) + len(tally.right_edge)) / 2)
    return Proportion.of(alt, max(total, alt))


def molecule_proportion(
    tally: Tally, library: Library, family_of: Callable[[str], int | None]
) -> Proportion:
    """The same proportion as for templates, counted in molecules (UMI families).

    A family is mutant when at least half of its templates that saw the site showed the
    junction: a PCR or sequencing error in one copy cannot make a molecule mutant, and one
    copy that missed the junction cannot make it wild type.

    Args:
        tally: Template names counted at each point.
        library: Capture (edges) or amplicon (anchored) counting.
        family_of: Family id of a template name; None leaves the template out (no UMI, or a
            family below the size filter).
    """

    def families(names: Iterable[str]) -> Counter[int]:
        return Counter(f for f in map(family_of, names) if f is not None)

    if library == "amplicon":
        shown = families(tally.anchored_alt)
        seen = families(tally.anchored_alt | tally.anchored_wt | tally.anchored_other)
        alt = {f for f, n in shown.items() if 2 * n >= seen[f]}
        other = set(families(tally.anchored_other)) - alt
        wt = set(families(tally.anchored_wt)) - alt - other
        return Proportion.of(len(alt), len(alt) + len(wt) + len(other))
    shown = families(tally.junction)
    seen = families(tally.junction | tally.left_edge | tally.right_edge)
    alt = {f for f, n in shown.items() if 2 * n >= seen[f]}
    left, right = set(families(tally.left_edge)), set(families(tally.right_edge))
    total = round((len(left) + len(right)) / 2)
    return Proportion.of(len(alt), max(total, len(alt)))


@dataclass(frozen=True)
class InsertionClone:
    """One insertion allele found in the window, with the templates behind its counts.

    Attributes:
        haplotype: The window carrying the insertion, with its duplication structure.
        proportion: Mutant templates over all templates at the site, with its interval.
        tally: The template names counted at each point (for molecule counting).
        evidence: Mutant reads by the form the aligner gave them.
        tracked: The allele was asked for (a patient marker), so it is reported even with
            fewer mutant templates than the reporting threshold, down to none.
    """

    haplotype: Haplotype
    proportion: Proportion
    tally: Tally
    evidence: dict[str, int]
    tracked: bool = False
    molecules: Proportion | None = None

    @property
    def counted(self) -> Proportion:
        """Molecules when the reads carried UMIs, else templates: the unit MRD is judged in."""
        return self.molecules if self.molecules is not None else self.proportion

    @property
    def allele(self) -> Insertion:
        """The left-normalised insertion."""
        return self.haplotype.allele


@dataclass(frozen=True)
class InsertionScan:
    """All insertion alleles of one window in one sample, and how they were counted."""

    clones: tuple[InsertionClone, ...]
    library: Library
    candidates: int
    region: Region
    families: FamilySummary | None = None
    family_sizes: dict[int, int] | None = None
    error_rate: float = 0.0

    @property
    def error_source(self) -> str:
        """How :attr:`error_rate` was estimated, for the result to say."""
        return "sample (insertion junctions of other alleles in the window)"

    @property
    def unit(self) -> str:
        """``molecules`` when counts are UMI families, else ``templates``."""
        return "molecules" if self.families is not None else "templates"


def scan_insertions(
    source: AlignmentSource,
    window: ReferenceWindow,
    *,
    read_filter: ReadFilter | None = None,
    settings: InsertionSettings | None = None,
    counts: FilterCounts | None = None,
    known: Sequence[Insertion] = (),
) -> InsertionScan:
    """Find and quantify every insertion allele of a catalog window in an open alignment file.

    Args:
        source: Open BAM/CRAM (build and chromosome naming already detected).
        window: The catalog window to scan (its build must be the file's).
        read_filter: Which records count.
        settings: Caller thresholds.
        counts: Filled with the per-reason record counts of the window (first pass only).
        known: Alleles to quantify whatever discovery finds (left-normalised; tracked markers).

    Returns:
        The clones with at least ``min_alt_templates`` mutant templates and every known allele,
        best supported first.

    Raises:
        RegionError: When the file has no reads in the window.
        InputFileError: When the file turns out to be corrupt while reading.
    """
    active_filter = read_filter or ReadFilter()
    active = settings or InsertionSettings()
    region = Region(source.genome.chrom(window.chrom), window.start, window.end, window.gene)
    index = WindowIndex(window.sequence)

    views = _evidence_views(source, region, window, active_filter, active, counts)
    seen = _DiscoveryStats()
    candidates, starts = _discover(views, index, active, known, seen)
    library: Library = (
        judge_library(starts, active.amplicon_start_share)
        if active.library == "auto"
        else active.library
    )
    if not candidates:
        return InsertionScan((), library, 0, region, error_rate=_error_rate(seen, set(), active))
    clones = [_Clone(window.sequence, c, active.min_anchor) for c in candidates]
    views = _evidence_views(source, region, window, active_filter, active, None)
    _quantify(views, index, clones, library, active)

    grouping = _families(source, region, active_filter, active) if active.use_umis else None
    family_of: Callable[[str], int | None] | None = None
    if grouping is not None:
        by_name = grouping

        def family_of(name: str) -> int | None:
            family = by_name.family_of(name)
            if family is None or family.size < active.min_family_size:
                return None
            return family.family_id

    found = []
    for clone in clones:
        proportion = _proportion(clone, library)
        tracked = clone.candidate.tracked
        if proportion.alt < active.min_alt_templates and not tracked:
            continue
        evidence = {k: clone.tally.forms.get(k, 0) for k in FORMS}
        molecules = (
            molecule_proportion(clone.tally, library, family_of) if family_of is not None else None
        )
        found.append(
            InsertionClone(clone.haplotype, proportion, clone.tally, evidence, tracked, molecules)
        )
    found.sort(key=lambda c: (-c.proportion.alt, c.allele.after, c.allele.inserted))
    reported = set().union(*(c.tally.junction for c in found)) if found else set()
    error_rate = _error_rate(seen, reported, active)
    if grouping is None:
        return InsertionScan(tuple(found), library, len(candidates), region, error_rate=error_rate)
    return InsertionScan(
        tuple(found),
        library,
        len(candidates),
        region,
        summarize_families(grouping),
        family_size_histogram(grouping.families),
        error_rate,
    )


def _error_rate(seen: _DiscoveryStats, reported: set[str], settings: InsertionSettings) -> float:
    """Chance that a template shows a given false insertion junction at a given site.

    Templates with a junction that belongs to no reported clone are the sample's own insertion
    errors (sequencing, PCR, alignment artefacts). Each template could have shown such an error
    at about ``read length - 2 x anchor`` sites, so the per-site rate is their number over
    templates times sites, with half a count added so a clean sample never claims zero.
    """
    if not seen.templates:
        return 0.0
    errors = len(seen.junctions - reported)
    read_length = float(np.median(seen.lengths)) if seen.lengths else 150.0
    sites = max(1.0, read_length - 2 * settings.seed_anchor)
    return (errors + 0.5) / (len(seen.templates) * sites)


def _families(
    source: AlignmentSource, region: Region, read_filter: ReadFilter, settings: InsertionSettings
) -> FamilyGrouping | None:
    """UMI families of the window's reads, or None when the reads carry no UMIs."""
    sample = islice(
        (r for r, reason in iter_region(source, region, read_filter) if reason is None), 2000
    )
    umi_source = detect_umi_source(sample)
    if umi_source is None:
        return None
    if read_filter.drop_duplicates:
        log.warning(
            "%s carries UMIs but duplicate-flagged reads are dropped, so families lose their "
            "copies; UMI data want --keep-duplicates",
            source.path,
        )
    records = [
        read
        for read, reason in iter_region(source, region, read_filter)
        if reason is None
        or reason.keeps_evidence
        or (reason is DropReason.UNMAPPED and _usable_unmapped(read, read_filter))
    ]
    return group_families(records, umi_source=umi_source)
