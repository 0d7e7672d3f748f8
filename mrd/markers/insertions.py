"""Find and count insertion alleles in a reference window, whatever form the aligner gave them.

The engine behind the FLT3-ITD and NPM1 callers. One streaming pass reads the window's records
and keeps only what the two steps below need: for a read that aligns cleanly (no clip, no indel,
few mismatches) its template and placement, for any other read its bases, and for UMI data what
grouping needs of each record. No record object is kept. A UMI window deeper than
:data:`SINGLE_PASS_RECORDS` is read twice, UMI families first, so the two never share memory.

1. **Discovery.** Clean reads are wild type where they lie. Every other read (soft-clipped,
   split, with an insertion, or unmapped beside a mapped mate) is realigned from its own bases
   by :func:`mrd.markers.realign.find_junction`; a junction whose right part lies upstream of
   its left end (or right after it) is an insertion, a duplication when bases are repeated.
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
   primer. Clean reads are counted for all clones at once, as arrays.

Counts are in templates (read pairs): both mates of a fragment seeing the same point count once.
A template is known by a 64-bit hash of its name (two of a million templates share one with a
chance of about 3e-8). The templates behind every count are kept, so molecule (UMI family)
counts can be taken from the same evidence.
"""

from __future__ import annotations

import logging
import math
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any, Literal

import numpy as np
import pysam
import scipy
from numpy.typing import NDArray

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
from mrd.ngs.fetch import ClassifiedRead, iter_region
from mrd.ngs.filters import DropReason, FilterCounts, ReadFilter
from mrd.ngs.ids import distinct, distinct_count
from mrd.ngs.region import Region
from mrd.ngs.umi import (
    FamilySummary,
    TemplateCollector,
    TemplateFamilies,
    UmiSource,
    detect_umi_source,
)

log = logging.getLogger(__name__)

IdArray = NDArray[np.int64]

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
            wild type, so a sequencing error cannot make a junction (in discovery, fewer
            than on either part's diagonal alone).
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


SINGLE_PASS_RECORDS = 4_000_000
"""Records of a window read in one pass when counting UMI families (see :func:`scan_insertions`).

One pass keeps each record's UMI columns (some 35 bytes) and its read (some 20) together: with
what realignment and counting add, about 66 bytes a record at the peak, some 300 MiB at this
many records. A deeper window is read twice, families first and then reads, which needs about
42 bytes a record instead, for a sixth more time or so: on a BAM with ten million records in the
FLT3 and NPM1 windows, ``mrd call`` took 118 s and 427 MiB (``benchmarks/results/speed.txt``);
in one pass it took 103 s and 595 MiB on the same machine.
"""

# --------------------------------------------------------------------------------------------
# Reading records


@dataclass(slots=True)
class _ReadView:
    """A read that did not align cleanly: its bases on the plus strand and how it aligned."""

    template: int
    sequence: str
    forward: bool  # the read's 5' end is on the left (plus-strand read)
    form: str  # how the aligner showed anything unusual about it
    placement: _Placement | None = None  # set by _discover, or by _placement on demand

    @property
    def length(self) -> int:
        return len(self.sequence)


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


@dataclass(frozen=True)
class _CleanReads:
    """Reads that align cleanly, as arrays: template, first and last base offset, strand.

    Offsets are in the window. The last base is kept rather than the length, since counting
    compares it for every clone (an array a read fewer while counting); a clean read's length
    is ``hi - lo + 1``.
    """

    template: IdArray
    lo: NDArray[np.int32]
    hi: NDArray[np.int32]
    forward: NDArray[np.bool_]

    @classmethod
    def empty(cls) -> _CleanReads:
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, bool)
        )


@dataclass
class _WindowReads:
    """What one pass over a window keeps: clean reads as arrays, the others whole."""

    clean: _CleanReads
    realign: list[_ReadView]
    umis: TemplateCollector | None
    complete: bool = True  # False: the reads past the first pass's share went to ``umis`` only

    def templates(self) -> int:
        """Distinct templates among the reads used."""
        # A range of ids at a time: a sorted copy of every id would be the window's peak.
        return distinct_count(
            self.clean.template, np.fromiter((v.template for v in self.realign), np.int64)
        )

    def median_length(self) -> float:
        clean = self.clean
        lengths = np.concatenate(
            [clean.hi - clean.lo + 1, np.fromiter((v.length for v in self.realign), np.int32)]
        )
        return float(np.median(lengths)) if len(lengths) else 150.0

    def starts(self) -> Iterator[NDArray[np.int32]]:
        """Signed 5' offsets of the clean reads (negative for reverse reads), for library typing.

        Given a slice at a time: at ten million reads one array of them costs 40 MB, at the
        moment the window's reads are all in memory.
        """
        clean = self.clean
        for at in range(0, len(clean.lo), _BINCOUNT_SLICE):
            part = slice(at, at + _BINCOUNT_SLICE)
            starts = np.add(clean.hi[part], 1)
            np.negative(starts, out=starts)
            np.copyto(starts, clean.lo[part], where=clean.forward[part])
            yield starts


def _wide_hash(name: str) -> int:
    """A 64-bit template id where Python's own hash is narrower (32-bit builds)."""
    return (hash(name) & 0xFFFFFFFF) | (hash(name[::-1] + "\0") & 0x7FFFFFFF) << 32


_template_id: Callable[[str], int] = hash if sys.hash_info.width >= 64 else _wide_hash
"""Template id of a query name: Python's 64-bit hash (two of a million names collide with a
chance of about 3e-8; the ids are seeded per process and never leave it)."""


def _read_window(
    source: AlignmentSource,
    region: Region,
    window: ReferenceWindow,
    read_filter: ReadFilter,
    settings: InsertionSettings,
    counts: FilterCounts | None,
    umi_source: UmiSource | None,
    single_pass_records: int | None = None,
) -> _WindowReads:
    """One pass over the window's records (the hot loop: kept to plain local operations).

    With UMIs, a window with more than ``single_pass_records`` records is a deep one: its
    reads so far are dropped and the rest go to the collector alone, which then holds some
    35 bytes a record instead of 55 with the reads. The caller groups the families and reads
    the window again without a collector (see :func:`scan_insertions`); the result says
    which by :attr:`_WindowReads.complete`.
    """
    collector = TemplateCollector(umi_source) if umi_source is not None else None
    template_id = _template_id
    # Compact columns (8 + 4 + 4 + 1 bytes a read): most of a deep window's reads end up here.
    ids, los, his, forward = array("q"), array("i"), array("i"), array("b")
    realign: list[_ReadView] = []
    origin = window.start - 1
    max_mismatches = settings.clean_max_mismatches
    clean_ops = _CIGAR_CLEAN
    records = iter_region(source, region, read_filter, counts)
    limited = collector is not None and single_pass_records is not None
    for read, reason in islice(records, single_pass_records) if limited else records:
        if reason is None:
            usable = True
        elif reason is DropReason.UNMAPPED:
            usable = _usable_unmapped(read, read_filter)
            if not usable:
                continue
        elif reason.keeps_evidence:
            usable = False
        else:
            continue
        template = template_id(read.query_name or "")
        if collector is not None:
            collector.add(read, template)
        if not usable:
            continue
        if read.flag & 0x4:
            sequence = read.query_sequence
            if sequence:
                realign.append(
                    _ReadView(template, sequence.upper(), not read.is_reverse, "unmapped_mate")
                )
            continue
        cigar = read.cigartuples
        if not cigar:
            continue
        clean = (
            cigar[0][0] in clean_ops if len(cigar) == 1 else all(op in clean_ops for op, _ in cigar)
        )
        if clean:
            try:  # noqa: SIM105 (hot loop: suppress() costs a context manager per read)
                clean = int(read.get_tag("NM")) <= max_mismatches
            except KeyError:  # no NM tag: judged by the CIGAR alone
                pass
        if clean:
            ids.append(template)
            lo = read.reference_start - origin
            los.append(lo)
            his.append(lo + read.query_length - 1)  # only M/=/X: the bases span the reference
            forward.append(not read.is_reverse)
            continue
        sequence = read.query_sequence
        if sequence:
            realign.append(
                _ReadView(template, sequence.upper(), not read.is_reverse, _evidence_form(read))
            )
    if limited and (more := next(records, None)) is not None:
        assert collector is not None
        del realign, ids, los, his, forward
        _collect_only(chain((more,), records), collector, read_filter)
        return _WindowReads(_CleanReads.empty(), [], collector, complete=False)
    clean_reads = _CleanReads(
        np.frombuffer(ids, dtype=np.int64) if ids else np.zeros(0, np.int64),
        np.frombuffer(los, dtype=np.int32) if los else np.zeros(0, np.int32),
        np.frombuffer(his, dtype=np.int32) if his else np.zeros(0, np.int32),
        np.frombuffer(forward, dtype=np.bool_) if forward else np.zeros(0, bool),
    )
    return _WindowReads(clean_reads, realign, collector)


def _collect_only(
    records: Iterable[ClassifiedRead], collector: TemplateCollector, read_filter: ReadFilter
) -> None:
    """The rest of a deep window's records into the collector alone.

    It takes the records :func:`_read_window` gives it: those used, unmapped ones that can be
    realigned, and those kept for evidence.
    """
    template_id = _template_id
    unmapped = DropReason.UNMAPPED
    for read, reason in records:
        if reason is None:
            taken = True
        elif reason is unmapped:
            taken = _usable_unmapped(read, read_filter)
        else:
            taken = reason.keeps_evidence
        if taken:
            collector.add(read, template_id(read.query_name or ""))


_Placement = tuple[str, bool, frozenset[int]]
"""Plus-strand bases, whether the 5' end is left, and the diagonals of the first and last seed."""


def _oriented(index: WindowIndex, view: _ReadView) -> tuple[str, bool, list[tuple[int, int]]]:
    """Plus-strand bases of a realigned read, whether its 5' end is left, and its seeds.

    A mapped read is stored on the plus strand already; an unmapped one may be either way
    round, so both are tried and the one with more seeds wins. What quantification needs of
    it (see :func:`_placement`) is kept on the view, so it is computed once.
    """
    sequence, forward, seeds = _orient(index, view)
    view.placement = (sequence, forward, _end_seed_diagonals(seeds))
    return sequence, forward, seeds


def _end_seed_diagonals(seeds: list[tuple[int, int]]) -> frozenset[int]:
    return frozenset((seeds[0][1], seeds[-1][1])) if seeds else frozenset()


def _placement(index: WindowIndex, view: _ReadView) -> _Placement:
    """Plus-strand bases, strand, and the diagonals of the first and last seed of a read."""
    if view.placement is None:
        _oriented(index, view)
    assert view.placement is not None
    return view.placement


def _orient(index: WindowIndex, view: _ReadView) -> tuple[str, bool, list[tuple[int, int]]]:
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
    templates: set[int] = field(default_factory=set)
    forms: Counter[str] = field(default_factory=Counter)


def _discover(
    views: Iterable[_ReadView],
    index: WindowIndex,
    settings: InsertionSettings,
    known: Sequence[Insertion] = (),
    junctions: set[int] | None = None,
) -> list[_Candidate]:
    """Candidate insertions from the reads that did not align cleanly.

    ``known`` alleles (tracked from a diagnosis) are always candidates, however few reads show
    them, and are never merged into another clone. ``junctions`` collects every template that
    showed any insertion junction, for the sample's own error estimate.
    """
    candidates: dict[Insertion, _Candidate] = {a: _Candidate(a, tracked=True) for a in known}
    junctions = junctions if junctions is not None else set()
    # Deep data repeat the same bases many times (every NPM1 mutant read starting at one
    # place, say), so each distinct sequence is realigned once; its reads share the outcome.
    seen: dict[tuple[str, bool], tuple[_Placement, bool, Insertion | None]] = {}
    for realigned, view in enumerate(views, start=1):
        if realigned > settings.max_reads_per_candidate_pass:
            break
        key = (view.sequence, view.form == "unmapped_mate")
        outcome = seen.get(key)
        if outcome is None:
            outcome = seen[key] = _realign(index, view, settings)
        placement, flips, allele = outcome
        forward = view.forward != flips  # the shared outcome may be of a read of the other strand
        sequence, _, diagonals = placement
        view.placement = placement if placement[1] == forward else (sequence, forward, diagonals)
        if allele is None:
            continue
        junctions.add(view.template)
        candidate = candidates.setdefault(allele, _Candidate(allele))
        candidate.templates.add(view.template)
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
    return kept[: max(settings.max_candidates, tracked)]


def _realign(
    index: WindowIndex, view: _ReadView, settings: InsertionSettings
) -> tuple[_Placement, bool, Insertion | None]:
    """A read's placement, whether orienting it flipped it, and the insertion it shows if any.

    Depends on the read's bases (and whether it is unmapped) only, not on its strand or
    template: :func:`_discover` shares it between reads with the same bases.
    """
    sequence, forward, seeds = _orient(index, view)
    placement = (sequence, forward, _end_seed_diagonals(seeds))
    junction = find_junction(
        index,
        sequence,
        as_bytes(sequence),
        seeds,
        min_anchor=settings.seed_anchor,
        min_gain=settings.min_margin,
    )
    if junction is None or junction.shift < settings.min_length:
        return placement, forward != view.forward, None
    return placement, forward != view.forward, insertion_allele(index.sequence, junction)


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


_BINCOUNT_SPAN = 1 << 22
_BINCOUNT_SLICE = 1 << 20


def judge_library(
    starts: Sequence[int] | NDArray[np.int32] | NDArray[np.int64], share: float
) -> Library:
    """Amplicon when most reads start at a handful of positions (the primers), else capture.

    ``starts`` holds signed 5' positions (negative for reverse reads), so each primer is one
    value. Capture reads start all over the window: even at high depth the four most common
    starts hold a few percent of the reads.
    """
    values = np.asarray(starts)
    return _judge_library(
        lambda: (
            values[at : at + _BINCOUNT_SLICE] for at in range(0, len(values), _BINCOUNT_SLICE)
        ),
        share,
    )


def _judge_library(parts: Callable[[], Iterable[NDArray[np.integer]]], share: float) -> Library:
    """:func:`judge_library` of starts given a slice at a time (``parts`` is called twice)."""
    total, lowest, highest = 0, 0, 0
    for part in parts():
        if len(part):
            low, high = int(part.min()), int(part.max())
            lowest, highest = (low, high) if total == 0 else (min(lowest, low), max(highest, high))
            total += len(part)
    if total == 0:
        return "capture"
    span = highest - lowest + 1
    if span <= _BINCOUNT_SPAN:
        # Counted a slice at a time: np.unique would sort a copy of every start.
        counts = np.zeros(span, dtype=np.int64)
        for part in parts():
            counts += np.bincount(part.astype(np.int64) - lowest, minlength=span)
    else:
        _, counts = np.unique(np.concatenate(list(parts())), return_counts=True)
    top = int(np.sort(counts)[-4:].sum())
    return "amplicon" if top / total >= share else "capture"


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


_POINTS = ("junction", "left_edge", "right_edge", "anchored_alt", "anchored_wt", "anchored_other")


@dataclass
class _Counting:
    """Templates counted for one candidate while reads are placed (sets, then arrays added)."""

    points: dict[str, set[int]] = field(default_factory=lambda: {k: set() for k in _POINTS})
    arrays: dict[str, list[IdArray]] = field(default_factory=lambda: {k: [] for k in _POINTS})
    forms: Counter[str] = field(default_factory=Counter)

    def add(self, point: str, template: int) -> None:
        self.points[point].add(template)

    def add_all(self, point: str, templates: IdArray) -> None:
        self.arrays[point].append(templates)

    def tally(self) -> Tally:
        """The counted templates as sorted unique ids; takes the arrays, so it is called once."""

        def ids(point: str) -> IdArray:
            # As np.unique, without its copy: the arrays are this counting's own (at ten
            # million reads one edge's ids are tens of MiB), so they are sorted in place.
            parts, self.arrays[point] = self.arrays[point], []
            extra = np.fromiter(self.points[point], np.int64)
            merged = (
                parts[0] if len(parts) == 1 and not len(extra) else np.concatenate([*parts, extra])
            )
            del parts
            return distinct(merged)

        return Tally(
            junction=ids("junction"),
            left_edge=ids("left_edge"),
            right_edge=ids("right_edge"),
            anchored_alt=ids("anchored_alt"),
            anchored_wt=ids("anchored_wt"),
            anchored_other=ids("anchored_other"),
            forms=Counter(self.forms),
        )


@dataclass(frozen=True)
class Tally:
    """Templates counted for one candidate, by what they proved (sorted unique template ids)."""

    junction: IdArray
    left_edge: IdArray
    right_edge: IdArray
    anchored_alt: IdArray
    anchored_wt: IdArray
    anchored_other: IdArray
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
        self.counting = _Counting()

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


def _count_clean(clones: list[_Clone], clean: _CleanReads, library: Library) -> None:
    """Count the clean reads for every clone at once (they are most of the reads)."""
    lo, hi = clean.lo, clean.hi
    for clone in clones:
        left_base, right_base = clone.q - 1, clone.p
        left = (lo <= left_base - clone.before) & (hi >= left_base + clone.after)
        right = (lo <= right_base - clone.before) & (hi >= right_base + clone.after)
        counting = clone.counting
        # Deduplicated now, not only at the tally: both mates of most templates span a point,
        # and with several clones in a deep window the arrays add up.
        counting.add_all("left_edge", distinct(clean.template[left]))
        counting.add_all("right_edge", distinct(clean.template[right]))
        if library == "amplicon":
            # As in _count_anchored_wt, for all clean (wild-type) reads at once.
            from_left = clean.forward & (lo <= clone.q - 1 - clone.before) & right
            from_right = ~clean.forward & (hi >= clone.p + clone.after) & left
            counting.add_all("anchored_wt", distinct(clean.template[from_left | from_right]))


def _count_anchored_wt(
    clone: _Clone, template: int, forward: bool, lo: int, hi: int, left: bool, right: bool
) -> None:
    # Read from its primer, a wild-type read first differs from the ITD allele at the
    # duplication's right edge (forward reads) or left edge (reverse reads).
    from_left = forward and lo <= clone.q - 1 - clone.before and right
    from_right = not forward and hi >= clone.p + clone.after and left
    if from_left or from_right:
        clone.counting.add("anchored_wt", template)


_Fit = tuple[_Clone | None, int, int, bool]
"""Where a realigned read lies: the clone it fits (None: the wild type), its first and last
window offset, and whether it crosses that clone's junction."""


def _fit(
    clones: list[_Clone],
    index: WindowIndex,
    sequence: str,
    diagonals: frozenset[int],
    settings: InsertionSettings,
) -> _Fit | None:
    """The best placement of a read's bases among the wild type and the clones, or None.

    Depends on the bases and seed diagonals only, so :func:`_quantify` shares it between reads
    with the same bases. None when the read is anchored too briefly to count.
    """
    read = as_bytes(sequence)
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
        return None
    lo, hi = offset + lo_read, offset + hi_read - 1
    return on, lo, hi, on is not None and on.crosses_junction(lo, hi)


def _count_realigned(
    clones: list[_Clone], view: _ReadView, forward: bool, fit: _Fit, library: Library
) -> None:
    on, lo, hi, shows = fit
    template = view.template
    for clone in clones:
        counting = clone.counting
        left, right = clone.crosses_edges(lo, hi, on)
        if left:
            counting.add("left_edge", template)
        if right:
            counting.add("right_edge", template)
        if on is clone and shows:
            counting.add("junction", template)
            counting.forms[view.form] += 1
        if library != "amplicon":
            continue
        if on is None:
            _count_anchored_wt(clone, template, forward, lo, hi, left, right)
        elif shows:
            anchored = (forward and lo <= on.q - 1 - on.before) or (
                not forward and hi >= on.p + on.length + on.after
            )
            if anchored:
                counting.add("anchored_alt" if on is clone else "anchored_other", template)


def _quantify(
    reads: _WindowReads,
    index: WindowIndex,
    clones: list[_Clone],
    library: Library,
    settings: InsertionSettings,
) -> list[Tally]:
    _count_clean(clones, reads.clean, library)
    fits: dict[tuple[str, frozenset[int]], _Fit | None] = {}
    for view in reads.realign[: settings.max_reads_per_candidate_pass]:
        sequence, forward, diagonals = _placement(index, view)
        if not diagonals:
            continue
        key = (sequence, diagonals)
        if key in fits:
            fit = fits[key]
        else:
            fit = fits[key] = _fit(clones, index, sequence, diagonals, settings)
        if fit is not None:
            _count_realigned(clones, view, forward, fit, library)
    tallies = []
    for clone in clones:
        tallies.append(clone.counting.tally())
        clone.counting = _Counting()  # its id arrays are in the tally now, deduplicated
    return tallies


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
        ci = scipy.stats.binomtest(alt, total).proportion_ci(confidence_level=0.95, method="exact")
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


def _proportion(tally: Tally, library: Library) -> Proportion:
    if library == "amplicon":
        alt = len(tally.anchored_alt)
        other_ids = np.setdiff1d(tally.anchored_other, tally.anchored_alt, assume_unique=True)
        wt_ids = np.setdiff1d(tally.anchored_wt, tally.anchored_alt, assume_unique=True)
        wt_ids = np.setdiff1d(wt_ids, tally.anchored_other, assume_unique=True)
        return Proportion.of(alt, alt + len(wt_ids) + len(other_ids))
    alt = len(tally.junction)
    total = round((len(tally.left_edge) + len(tally.right_edge)) / 2)
    return Proportion.of(alt, max(total, alt))


def molecule_proportion(
    tally: Tally, library: Library, families: TemplateFamilies, min_family_size: int = 1
) -> Proportion:
    """The same proportion as for templates, counted in molecules (UMI families).

    A family is mutant when at least half of its templates that saw the site showed the
    junction: a PCR or sequencing error in one copy cannot make a molecule mutant, and one
    copy that missed the junction cannot make it wild type.

    Args:
        tally: Templates counted at each point.
        library: Capture (edges) or amplicon (anchored) counting.
        families: The window's UMI families. Templates without a family (no UMI) or in a family
            below ``min_family_size`` are left out.
        min_family_size: Smallest family that counts as a molecule.
    """

    def of(templates: IdArray) -> IdArray:
        found = families.lookup(templates, min_family_size)
        return found[found >= 0]

    def mutant(shown_templates: IdArray, seen_templates: IdArray) -> IdArray:
        shown, shown_n = np.unique(of(shown_templates), return_counts=True)
        seen, seen_n = np.unique(of(seen_templates), return_counts=True)
        seen_of_shown = seen_n[np.searchsorted(seen, shown)] if len(shown) else shown_n
        return shown[2 * shown_n >= seen_of_shown]

    if library == "amplicon":
        everyone = np.union1d(
            np.union1d(tally.anchored_alt, tally.anchored_wt), tally.anchored_other
        )
        alt = mutant(tally.anchored_alt, everyone)
        other = np.setdiff1d(np.unique(of(tally.anchored_other)), alt, assume_unique=True)
        wt = np.setdiff1d(np.unique(of(tally.anchored_wt)), alt, assume_unique=True)
        wt = np.setdiff1d(wt, other, assume_unique=True)
        return Proportion.of(len(alt), len(alt) + len(wt) + len(other))
    everyone = np.union1d(np.union1d(tally.junction, tally.left_edge), tally.right_edge)
    alt = mutant(tally.junction, everyone)
    left = np.unique(of(tally.left_edge))
    right = np.unique(of(tally.right_edge))
    total = round((len(left) + len(right)) / 2)
    return Proportion.of(len(alt), max(total, len(alt)))


@dataclass(frozen=True)
class InsertionClone:
    """One insertion allele found in the window, with the templates behind its counts.

    Attributes:
        haplotype: The window carrying the insertion, with its duplication structure.
        proportion: Mutant templates over all templates at the site, with its interval.
        tally: The templates counted at each point (for molecule counting).
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
    single_pass_records: int = SINGLE_PASS_RECORDS,
) -> InsertionScan:
    """Find and quantify every insertion allele of a catalog window in an open alignment file.

    Args:
        source: Open BAM/CRAM (build and chromosome naming already detected).
        window: The catalog window to scan (its build must be the file's).
        read_filter: Which records count.
        settings: Caller thresholds.
        counts: Filled with the per-reason record counts of the window (first pass only).
        known: Alleles to quantify whatever discovery finds (left-normalised; tracked markers).
        single_pass_records: With UMIs, a window with more records is read twice: for its UMI
            families, then for its reads (see :data:`SINGLE_PASS_RECORDS`). The result is the
            same either way.

    Returns:
        The clones with at least ``min_alt_templates`` mutant templates and every known allele,
        best supported first.

    Raises:
        RegionError: When the file has no reads in the window.
        InputFileError: When the file turns out to be corrupt while reading.
        ValueError: For a negative ``single_pass_records``.
    """
    if single_pass_records < 0:
        raise ValueError(f"single_pass_records must be 0 or more, not {single_pass_records}")
    active_filter = read_filter or ReadFilter()
    active = settings or InsertionSettings()
    region = Region(source.genome.chrom(window.chrom), window.start, window.end, window.gene)
    index = WindowIndex(window.sequence)

    umi_source = _umi_source(source, region, active_filter) if active.use_umis else None
    reads = _read_window(
        source, region, window, active_filter, active, counts, umi_source, single_pass_records
    )
    families: TemplateFamilies | None = None
    if not reads.complete:
        # A deep window: its families first, from the collector alone, then its reads again.
        assert reads.umis is not None
        families = reads.umis.group()
        reads = _read_window(source, region, window, active_filter, active, None, None)
    # The error rate's denominators, taken now: counting templates sorts the ids (a range at a
    # time), which costs least before the tallies exist.
    sample_size = (reads.templates(), reads.median_length())
    junctions: set[int] = set()
    candidates = _discover(reads.realign, index, active, known, junctions)
    library: Library = (
        _judge_library(reads.starts, active.amplicon_start_share)
        if active.library == "auto"
        else active.library
    )
    if not candidates:
        error_rate = _error_rate(sample_size, junctions, set(), active)
        return InsertionScan((), library, 0, region, error_rate=error_rate)
    clones = [_Clone(window.sequence, c, active.min_anchor) for c in candidates]
    tallies = _quantify(reads, index, clones, library, active)
    collector = reads.umis
    # Counted: the window's reads (most of its memory) can go before the families are built.
    del reads
    if collector is not None:
        families = collector.group()

    found = []
    for clone, tally in zip(clones, tallies, strict=True):
        proportion = _proportion(tally, library)
        tracked = clone.candidate.tracked
        if proportion.alt < active.min_alt_templates and not tracked:
            continue
        evidence = {k: tally.forms.get(k, 0) for k in FORMS}
        molecules = (
            molecule_proportion(tally, library, families, active.min_family_size)
            if families is not None
            else None
        )
        found.append(
            InsertionClone(clone.haplotype, proportion, tally, evidence, tracked, molecules)
        )
    found.sort(key=lambda c: (-c.proportion.alt, c.allele.after, c.allele.inserted))
    reported = {int(t) for c in found for t in c.tally.junction}
    error_rate = _error_rate(sample_size, junctions, reported, active)
    if families is None:
        return InsertionScan(tuple(found), library, len(candidates), region, error_rate=error_rate)
    return InsertionScan(
        tuple(found),
        library,
        len(candidates),
        region,
        families.summary(),
        families.histogram(),
        error_rate,
    )


def _error_rate(
    sample_size: tuple[int, float],
    junctions: set[int],
    reported: set[int],
    settings: InsertionSettings,
) -> float:
    """Chance that a template shows a given false insertion junction at a given site.

    Templates with a junction that belongs to no reported clone are the sample's own insertion
    errors (sequencing, PCR, alignment artefacts). Each template could have shown such an error
    at about ``read length - 2 x anchor`` sites, so the per-site rate is their number over
    templates times sites, with half a count added so a clean sample never claims zero.
    """
    templates, read_length = sample_size
    if not templates:
        return 0.0
    errors = len(junctions - reported)
    sites = max(1.0, read_length - 2 * settings.seed_anchor)
    return (errors + 0.5) / (templates * sites)


def _umi_source(
    source: AlignmentSource, region: Region, read_filter: ReadFilter
) -> UmiSource | None:
    """Where the window's reads carry their UMIs, judged from its first used records."""
    sample = islice(
        (r for r, reason in iter_region(source, region, read_filter) if reason is None), 2000
    )
    umi_source = detect_umi_source(sample)
    if umi_source is not None and read_filter.drop_duplicates:
        log.warning(
            "%s carries UMIs but duplicate-flagged reads are dropped, so families lose their "
            "copies; UMI data want --keep-duplicates",
            source.path,
        )
    return umi_source
