"""UMIs and molecule families: counting the molecules behind the reads.

MRD evidence is the number of distinct DNA molecules carrying a mutation, not the number of reads:
PCR copies one molecule many times, and those copies are not independent evidence. A unique
molecular identifier (UMI) ligated before PCR lets us group the copies back into one *family* per
original molecule. Position alone cannot do this for amplicon data, where every read starts at the
same place, so the UMI is the part of the identity that matters most there.

Three places may carry the UMI, and :class:`UmiSource` picks one or tries them in order:

* ``MI``: a molecule id already assigned by a grouping tool (fgbio-style); a trailing ``/A`` or
  ``/B`` names the strand of a duplex molecule. The id alone defines the family.
* ``RX``: the UMI bases (SAM spec). A duplex UMI is two halves, ``TOP-BOTTOM``; reads from the
  other strand of the same molecule carry the halves swapped.
* the read name: its last ``:`` or ``_`` field when made only of ``ACGTN`` (bcl-convert and
  UMI-tools styles), duplex halves joined by ``+`` or ``-``.

Duplex halves are stored in sorted order (the *canonical* UMI) with the strand saying whether the
read kept (A) or swapped (B) that order, so both strands of a molecule share one canonical UMI.

Grouping is pure and deterministic: it takes reads (any order), never opens files, and numbers the
families from a sort of their content, so shuffled input gives identical families and ids.
"""

from __future__ import annotations

import enum
import functools
import itertools
import re
from array import array
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pysam
from numpy.typing import NDArray

from mrd.ngs.ids import id_ranges, in_range

Strand = Literal["A", "B"]
"""Duplex strand of a read's molecule: A kept the canonical half order, B swapped it."""

MIN_NAME_UMI_LENGTH = 3
"""Shortest UMI (each duplex half) accepted from a read name.

Read names end in many short fields (tile numbers, ``_A`` style labels); demanding a few bases keeps
such suffixes from being mistaken for a UMI. RX and MI tags are explicit and have no minimum.
"""

DEFAULT_MAX_MISMATCHES = 1
"""UMIs at one position differing by at most this many bases may be merged as sequencing errors.

One mismatch is the usual choice for 6-12 nt UMIs: errors are rare enough that two errors in one UMI
are negligible, while merging at distance 2 starts joining truly different molecules in deep data.
"""

_SEQUENCE_UMI_RE = re.compile(r"([ACGTN]+)(?:[+-]([ACGTN]+))?")
_NAME_FIELD_SPLIT_RE = re.compile(r"[:_]")
_MATE_SUFFIX_RE = re.compile(r"/[12]$")
_CIGAR_RE = re.compile(r"(?:[0-9]+[MIDNSHP=X])+")
_CIGAR_OP_RE = re.compile(r"([0-9]+)([MIDNSHP=X])")
_CIGAR_OPS = "MIDNSHP=X"
_CLIP_OPS = frozenset({4, 5})  # soft and hard clips: bases outside the alignment, same molecule
_REFERENCE_OPS = frozenset({0, 2, 3, 7, 8})  # M, D, N, =, X consume the reference

_Cigar = list[tuple[int, int]]


class UmiSource(str, enum.Enum):
    """Where a read's UMI is read from; AUTO tries MI, then RX, then the read name."""

    MI = "MI"
    RX = "RX"
    NAME = "NAME"
    AUTO = "AUTO"

    def __str__(self) -> str:
        return self.value


_AUTO_ORDER = (UmiSource.MI, UmiSource.RX, UmiSource.NAME)


@dataclass(frozen=True)
class Umi:
    """The UMI of one read, in a form where all reads of one molecule agree.

    Attributes:
        canonical: For sequence UMIs, the bases upper-cased with duplex halves in sorted order
            joined by ``-``; for an MI tag, the molecule id without its ``/A`` or ``/B``.
        strand: ``"A"`` when the read kept the canonical half order (or its MI ends in ``/A``),
            ``"B"`` when swapped (``/B``), None for simplex UMIs and for duplex UMIs whose two
            halves are identical, since then no order tells the strands apart.
        raw: The text exactly as found, kept for reports and debugging.
        source: Which of MI, RX or the read name it came from (never AUTO).
    """

    canonical: str
    strand: Strand | None
    raw: str
    source: UmiSource

    @property
    def is_duplex(self) -> bool:
        """Whether the UMI names a strand-paired molecule (two halves, or an MI with /A or /B)."""
        if self.source is UmiSource.MI:
            return self.strand is not None
        return "-" in self.canonical

    @property
    def oriented(self) -> str:
        """The normalised UMI in the read's own half order (canonical for MI and simplex)."""
        if self.source is not UmiSource.MI and self.strand == "B":
            return _swap_halves(self.canonical)
        return self.canonical


def _swap_halves(text: str) -> str:
    first, sep, second = text.partition("-")
    return f"{second}-{first}" if sep else text


def _sequence_umi(first: str, second: str | None, raw: str, source: UmiSource) -> Umi:
    if second is None:
        return Umi(canonical=first, strand=None, raw=raw, source=source)
    low, high = sorted((first, second))
    # Identical halves read the same in both orders, so they cannot name a strand.
    strand: Strand | None = None if first == second else ("A" if first == low else "B")
    return Umi(canonical=f"{low}-{high}", strand=strand, raw=raw, source=source)


def umi_from_rx(value: object) -> Umi | None:
    """Parse an RX tag value: ``ACGT`` (simplex) or ``ACGT-TTGA`` / ``ACGT+TTGA`` (duplex).

    Case is ignored, so a lower-case RX written by some tool is still used. Anything else (other
    letters, empty halves, more than two parts, non-text tag types) is not a usable UMI: None.
    """
    if not isinstance(value, str) or not value.isascii():
        return None
    return _parse_rx(value)


@functools.lru_cache(maxsize=65536)
def _parse_rx(value: str) -> Umi | None:
    # Cached: every template of a family, and both mates, repeat the same RX (Umi is frozen).
    match = _SEQUENCE_UMI_RE.fullmatch(value.upper())
    if match is None:
        return None
    return _sequence_umi(match.group(1), match.group(2), value, UmiSource.RX)


def umi_from_mi(value: object) -> Umi | None:
    """Parse an MI tag value: an opaque molecule id, with ``/A`` or ``/B`` for duplex strands.

    The id is not a sequence (fgbio writes integers), so only emptiness is refused; integer-typed
    tags are accepted because some tools store the id as ``MI:i``.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    raw = str(value)
    strand: Strand | None = None
    molecule = raw
    if raw.endswith("/A"):
        strand, molecule = "A", raw[:-2]
    elif raw.endswith("/B"):
        strand, molecule = "B", raw[:-2]
    if not molecule.strip():
        return None
    return Umi(canonical=molecule, strand=strand, raw=raw, source=UmiSource.MI)


def umi_from_name(name: object) -> Umi | None:
    """Parse a UMI from the last ``:`` or ``_`` field of a read name.

    Accepts ``...:2000:ACGTAGCA+TTGACCAA`` (bcl-convert) and ``READ_ACGTACGT`` (UMI-tools). A
    trailing ``/1`` or ``/2`` mate suffix is ignored. Only upper-case ``ACGTN`` counts, each half at
    least :data:`MIN_NAME_UMI_LENGTH` long, so ordinary name fields are not taken for UMIs.
    """
    if not isinstance(name, str):
        return None
    stem = _MATE_SUFFIX_RE.sub("", name)
    fields = _NAME_FIELD_SPLIT_RE.split(stem)
    if len(fields) < 2:
        return None
    match = _SEQUENCE_UMI_RE.fullmatch(fields[-1])
    if match is None:
        return None
    first, second = match.group(1), match.group(2)
    if min(len(first), len(second or first)) < MIN_NAME_UMI_LENGTH:
        return None
    return _sequence_umi(first, second, fields[-1], UmiSource.NAME)


def _tag(read: pysam.AlignedSegment, name: str) -> object:
    try:
        return read.get_tag(name)
    except (KeyError, ValueError):  # absent, or a value pysam cannot decode
        return None


def umi_from_read(read: pysam.AlignedSegment, source: UmiSource = UmiSource.AUTO) -> Umi | None:
    """The UMI of ``read`` from ``source``; AUTO takes the first of MI, RX, name that parses.

    A malformed RX falls through to the read name in AUTO mode rather than hiding a usable UMI.
    """
    if source is UmiSource.AUTO:
        for candidate in _AUTO_ORDER:
            umi = umi_from_read(read, candidate)
            if umi is not None:
                return umi
        return None
    if source is UmiSource.MI:
        return umi_from_mi(_tag(read, "MI"))
    if source is UmiSource.RX:
        return umi_from_rx(_tag(read, "RX"))
    return umi_from_name(read.query_name)


def _umi_source_counts(
    reads: Iterable[pysam.AlignedSegment], umi_source: UmiSource
) -> tuple[Counter[UmiSource], int]:
    found: Counter[UmiSource] = Counter()
    total = 0
    for read in reads:
        if read.is_secondary or read.is_supplementary:
            continue
        total += 1
        umi = umi_from_read(read, umi_source)
        if umi is not None:
            found[umi.source] += 1
    return found, total


def detect_umi_source(
    reads: Iterable[pysam.AlignedSegment], *, min_fraction: float = 0.5
) -> UmiSource | None:
    """The UMI source most primary records of a sample use, or None when too few carry a UMI.

    Pass a sample (e.g. ``itertools.islice`` of a region). A majority is demanded because a few
    read names can end in an ``ACGT``-only field by chance; None tells the caller that depth must
    be reported in reads, not molecules.
    """
    found, total = _umi_source_counts(reads, UmiSource.AUTO)
    if total == 0 or not found:
        return None
    best = min(found, key=lambda source: (-found[source], _AUTO_ORDER.index(source)))
    return best if sum(found.values()) >= min_fraction * total else None


def has_umis(
    reads: Iterable[pysam.AlignedSegment],
    *,
    umi_source: UmiSource = UmiSource.AUTO,
    min_fraction: float = 0.5,
) -> bool:
    """Whether at least ``min_fraction`` of the primary records carry a UMI from ``umi_source``."""
    found, total = _umi_source_counts(reads, umi_source)
    return total > 0 and sum(found.values()) >= min_fraction * total


class PositionKey(NamedTuple):
    """Where a fragment lies, the same for both mates and both strands of a duplex molecule.

    The two ends are the unclipped 5' ends of the two mates (0-based; a reverse read's 5' end is
    its exclusive unclipped end), ordered so that which mate or strand is looked at does not
    matter. Unclipped ends are used so that adapter or quality clipping of one copy does not split
    a family. ``end_reference_id`` differs from ``reference_id`` only for mates on different
    chromosomes.
    """

    reference_id: int
    start: int
    end: int
    end_reference_id: int


class _Extent(NamedTuple):
    """What a CIGAR says about where a read's unclipped ends lie."""

    lead: int  # clipped bases before the alignment
    span: int  # reference bases the alignment covers
    trail: int  # clipped bases after it


def _parse_cigar(text: str) -> _Cigar | None:
    if _CIGAR_RE.fullmatch(text) is None:
        return None
    return [(_CIGAR_OPS.index(op), int(length)) for length, op in _CIGAR_OP_RE.findall(text)]


def _leading_clip(cigar: Iterable[tuple[int, int]]) -> int:
    total = 0
    for op, length in cigar:
        if op not in _CLIP_OPS:
            break
        total += length
    return total


@functools.lru_cache(maxsize=4096)
def _extent_of(text: str) -> _Extent | None:
    """Extent of a CIGAR string; cached, since deep data repeat a few CIGARs millions of times."""
    cigar = _parse_cigar(text)
    if cigar is None:
        return None
    span = sum(length for op, length in cigar if op in _REFERENCE_OPS)
    return _Extent(_leading_clip(cigar), span, _leading_clip(reversed(cigar)))


def _cigar_extent(text: object) -> _Extent | None:
    return _extent_of(text) if isinstance(text, str) and text else None


def fragment_position(read: pysam.AlignedSegment) -> PositionKey | None:
    """The :class:`PositionKey` of the fragment ``read`` belongs to, or None if it is unplaced.

    Paired reads combine their own unclipped 5' end with the mate's, taken from the mate position
    and the ``MC`` (mate CIGAR) tag. Without ``MC`` the mate's clips are unknown, so both mates use
    the mapped starts and ``|TLEN|`` instead, which they still agree on. Single-end reads and reads
    whose mate is unmapped use their own unclipped span.
    """
    key = _fragment_key(read, read.flag)
    return None if key is None else PositionKey(*key)


_Key = tuple[int, int, int, int]
_UNPLACED_CODE = -1  # a packed fragment key: no key (see TemplateCollector._pack_key)
_PACKED_LIMIT = 1 << 31  # packed key ends lie in [0, _PACKED_LIMIT)


def _own_key(read: pysam.AlignedSegment, flag: int) -> _Key | None:
    """A read's own unclipped span as a fragment key, or None when it is unmapped."""
    reference_id = read.reference_id
    if flag & 0x4 or reference_id < 0:
        return None
    extent = _cigar_extent(read.cigarstring)
    if extent is None:
        return None
    start = read.reference_start
    return (reference_id, start - extent.lead, start + extent.span + extent.trail, reference_id)


def _fragment_key(read: pysam.AlignedSegment, flag: int) -> _Key | None:
    """:func:`fragment_position` as a plain tuple, for the collector's per-record path.

    Each attribute is read once and the arithmetic is written out: at millions of records a
    helper call or a named tuple costs as much as reading the record.
    """
    mate_reference = read.next_reference_id
    if flag & 0x9 != 0x1 or mate_reference < 0:  # single-end, or the mate is unmapped
        return _own_key(read, flag)
    mate_start = read.next_reference_start
    mate = _cigar_extent(_tag(read, "MC"))
    reference_id = read.reference_id
    own = None if flag & 0x4 or reference_id < 0 else _cigar_extent(read.cigarstring)
    if mate is not None:
        if own is None:
            mate_right = mate_start + mate.span + mate.trail
            return (mate_reference, mate_start - mate.lead, mate_right, mate_reference)
        mate_end = mate_start + mate.span + mate.trail if flag & 0x20 else mate_start - mate.lead
        start = read.reference_start
        own_end = start + own.span + own.trail if flag & 0x10 else start - own.lead
        if (reference_id, own_end) <= (mate_reference, mate_end):
            return (reference_id, own_end, mate_end, mate_reference)
        return (mate_reference, mate_end, own_end, reference_id)
    if own is None:
        return (mate_reference, mate_start, mate_start, mate_reference)
    start = read.reference_start
    if reference_id == mate_reference:
        left = min(start, mate_start)
        span = abs(read.template_length)
        return (
            mate_reference,
            left,
            left + span if span else max(start, mate_start),
            mate_reference,
        )
    if (reference_id, start) <= (mate_reference, mate_start):
        return (reference_id, start, mate_start, mate_reference)
    return (mate_reference, mate_start, start, reference_id)


@dataclass(frozen=True)
class MoleculeFamily:
    """All records copied from one original molecule.

    Attributes:
        family_id: Index in the deterministic family order (position, then UMI).
        umi: Canonical UMI (or MI molecule id) that names the family.
        position: Fragment position; for MI families the smallest among its templates, and None
            when none of them is placed.
        reads: Every record of every template, including secondary and supplementary records,
            which carry split-read evidence (long ITDs) but are not extra molecules.
        size: Number of distinct templates (query names): the PCR copies of the molecule.
        templates_a: Templates read from the A strand of a duplex molecule.
        templates_b: Templates read from the B strand; both zero for simplex UMIs.
        source: Where the family's UMIs came from (the majority, if sources were mixed).
        umi_variants: Distinct canonical UMIs merged into the family; more than one means
            sequencing errors in the UMI were corrected.
    """

    family_id: int
    umi: str
    position: PositionKey | None
    reads: tuple[pysam.AlignedSegment, ...]
    size: int
    templates_a: int
    templates_b: int
    source: UmiSource
    umi_variants: tuple[str, ...]

    @property
    def is_duplex(self) -> bool:
        """Whether both strands of the molecule were sequenced, the basis of duplex consensus."""
        return self.templates_a > 0 and self.templates_b > 0

    @property
    def query_names(self) -> tuple[str, ...]:
        """Sorted distinct query names of the family's templates."""
        return tuple(sorted({read.query_name or "" for read in self.reads}))


@dataclass(frozen=True)
class FamilyGrouping:
    """The families found, plus what could not be grouped, so nothing is dropped silently.

    Attributes:
        families: Families ordered by ``family_id``.
        templates_without_umi: Templates (query names) none of whose records carried a UMI.
        records_without_umi: Records of those templates.
        unplaced_templates: Templates with a sequence UMI but no mapped record to place them,
            which therefore cannot be told apart from other molecules with the same UMI.
    """

    families: tuple[MoleculeFamily, ...]
    templates_without_umi: int = 0
    records_without_umi: int = 0
    unplaced_templates: int = 0
    _by_name: dict[str, MoleculeFamily] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for family in self.families:
            for read in family.reads:
                self._by_name[read.query_name or ""] = family

    @property
    def has_umis(self) -> bool:
        """False when no read had a UMI, i.e. depth must be reported in reads."""
        return bool(self.families)

    @property
    def umi_fraction(self) -> float:
        """Share of templates that carried a UMI (placed or not)."""
        with_umi = sum(family.size for family in self.families) + self.unplaced_templates
        total = with_umi + self.templates_without_umi
        return with_umi / total if total else 0.0

    def family_of(self, query_name: str) -> MoleculeFamily | None:
        """The family a query name belongs to, to count molecules rather than reads at a site."""
        return self._by_name.get(query_name)


class _Template(NamedTuple):
    """One template as grouping sees it: who it is, its UMI, where it lies.

    ``name`` is the query name, or an integer id standing for it when records are not kept
    (:class:`TemplateCollector`). ``anchor`` is the one-sided 5' end of a template whose mate is
    unmapped (see :func:`_one_sided_end`); ``records`` are kept only by :func:`group_families`.
    """

    name: str | int
    records: tuple[pysam.AlignedSegment, ...]
    umi: Umi
    position: PositionKey | None
    anchor: tuple[int, int] | None = None
    record_count: int = 0


_RecordOrder = tuple[bool, bool, bool, bool, int, int, int, str, str]


def _record_order(read: pysam.AlignedSegment) -> _RecordOrder:
    """Primary mapped read 1 first: it is the most trustworthy record to take UMI and key from."""
    return (
        bool(read.is_secondary),
        bool(read.is_supplementary),
        bool(read.is_unmapped),
        bool(read.is_read2),
        int(read.reference_id),
        int(read.reference_start),
        int(read.flag),
        read.cigarstring or "",
        read.query_sequence or "",
    )


def _layout(umi: str) -> tuple[int, int]:
    """Length and where the half separator sits: only UMIs of one layout are compared."""
    return len(umi), umi.find("-")


def _hamming(first: str, second: str) -> int | None:
    """Mismatches between two UMIs of the same layout; None when they cannot be compared."""
    if len(first) != len(second) or first.find("-") != second.find("-"):
        return None
    return sum(map(str.__ne__, first, second))


def _distance(first: str, second: str) -> int | None:
    """Hamming distance, also trying the other half order of a duplex UMI.

    An error in one half can change which half sorts first, which would otherwise make a one-base
    error look like many mismatches in the canonical form.
    """
    straight = _hamming(first, second)
    swapped = _hamming(first, _swap_halves(second)) if "-" in second else None
    candidates = [d for d in (straight, swapped) if d is not None]
    return min(candidates) if candidates else None


class _NeighbourIndex:
    """Finds UMIs within ``k`` mismatches without comparing every pair.

    Split a UMI into ``k + 1`` pieces: a UMI with at most ``k`` mismatches must match at least one
    piece exactly (pigeonhole). Indexing pieces keeps amplicon data, with tens of thousands of UMIs
    at one position, from costing a quadratic number of comparisons.
    """

    def __init__(self, umis: Iterable[str], max_mismatches: int) -> None:
        self._k = max_mismatches
        self._buckets: dict[tuple[tuple[int, int], int, str], list[str]] = defaultdict(list)
        for umi in umis:
            forms = {umi, _swap_halves(umi)}
            for form in forms:
                for key in self._keys(form):
                    self._buckets[key].append(umi)

    def _keys(self, umi: str) -> Iterator[tuple[tuple[int, int], int, str]]:
        shape = _layout(umi)
        pieces = self._k + 1
        for index in range(pieces):
            begin = index * len(umi) // pieces
            end = (index + 1) * len(umi) // pieces
            yield shape, index, umi[begin:end]

    def neighbours(self, umi: str) -> set[str]:
        candidates = {other for key in self._keys(umi) for other in self._buckets.get(key, ())}
        candidates.discard(umi)
        found = set()
        for other in candidates:
            distance = _distance(umi, other)
            if distance is not None and distance <= self._k:
                found.add(other)
        return found


_PAIRWISE_MAX = 12
"""Up to this many UMIs at one position, comparing every pair is cheaper than an index (capture
data have a few UMIs per position; amplicon data have thousands)."""


class _Pairwise:
    """The :class:`_NeighbourIndex` answer for a handful of UMIs, by comparing every pair.

    Each pair once (the distance is symmetric, also across half orders), up front: clustering
    asks for the neighbours of nearly every UMI, since most UMIs at a position are molecules
    of their own.
    """

    def __init__(self, umis: Sequence[str], max_mismatches: int) -> None:
        self._near: dict[str, set[str]] = {umi: set() for umi in umis}
        for i, umi in enumerate(umis):
            for other in umis[i + 1 :]:
                distance = _distance(umi, other)
                if distance is not None and distance <= max_mismatches and umi != other:
                    self._near[umi].add(other)
                    self._near[other].add(umi)

    def neighbours(self, umi: str) -> set[str]:
        return set(self._near.get(umi, ()))


def _directional_clusters(counts: Mapping[str, int], max_mismatches: int) -> list[list[str]]:
    """Cluster UMIs of one position; each cluster's first UMI is its most abundant.

    A UMI absorbs a neighbour when ``n_parent >= 2 * n_child - 1``: an error copy is much rarer
    than its source, while two real molecules tend to have similar counts and stay apart. Clusters
    grow from the most abundant UMI outwards, so errors of errors are absorbed too. Ties are broken
    by the UMI text, making the result independent of input order.
    """
    order = sorted(counts, key=lambda umi: (-counts[umi], umi))
    if max_mismatches <= 0 or len(order) == 1:
        return [[umi] for umi in order]
    rank = {umi: index for index, umi in enumerate(order)}
    index: _NeighbourIndex | _Pairwise = (
        _Pairwise(order, max_mismatches)
        if len(order) <= _PAIRWISE_MAX
        else _NeighbourIndex(order, max_mismatches)
    )
    assigned: set[str] = set()
    clusters: list[list[str]] = []
    for root in order:
        if root in assigned:
            continue
        assigned.add(root)
        members = [root]
        queue = deque([root])
        while queue:
            parent = queue.popleft()
            for child in sorted(index.neighbours(parent), key=rank.__getitem__):
                if child in assigned or counts[parent] < 2 * counts[child] - 1:
                    continue
                assigned.add(child)
                members.append(child)
                queue.append(child)
        clusters.append(members)
    return clusters


def _strand_in_family(umi: Umi, family_umi: str) -> Strand | None:
    """The strand of a template relative to its family's canonical UMI.

    After error correction the template's own canonical form may differ from the family's (an
    error can even reorder the halves), so the strand is re-derived from whichever half order of
    the family UMI the read's own order resembles more.
    """
    if umi.source is UmiSource.MI or not umi.is_duplex:
        return umi.strand
    oriented = umi.oriented
    kept = _hamming(oriented, family_umi)
    swapped = _hamming(oriented, _swap_halves(family_umi))
    if kept is not None and (swapped is None or kept < swapped):
        return "A"
    if swapped is not None and (kept is None or swapped < kept):
        return "B"
    return umi.strand


class _Draft(NamedTuple):
    umi: str
    position: PositionKey | None
    templates: list[tuple[_Template, Strand | None]]
    by_molecule_id: bool


def _sort_key(draft: _Draft) -> tuple[bool, PositionKey, str, bool]:
    placed = draft.position is not None
    position = draft.position if draft.position is not None else PositionKey(0, 0, 0, 0)
    return (not placed, position, draft.umi, draft.by_molecule_id)


def _build_family(family_id: int, draft: _Draft) -> MoleculeFamily:
    templates = sorted(draft.templates, key=lambda item: item[0].name)
    reads = tuple(read for template, _ in templates for read in template.records)
    sources = Counter(template.umi.source for template, _ in templates)
    source = min(sources, key=lambda src: (-sources[src], _AUTO_ORDER.index(src)))
    return MoleculeFamily(
        family_id=family_id,
        umi=draft.umi,
        position=draft.position,
        reads=reads,
        size=len(templates),
        templates_a=sum(strand == "A" for _, strand in templates),
        templates_b=sum(strand == "B" for _, strand in templates),
        source=source,
        umi_variants=tuple(sorted({template.umi.canonical for template, _ in templates})),
    )


def _one_sided_end(read: pysam.AlignedSegment) -> tuple[int, int] | None:
    """Reference and unclipped 5' end of a mapped primary read whose mate is unmapped, else None.

    Such a template knows only one end of its fragment, so its own span is not the fragment's key
    and would put it in a family apart from the fully placed copies of the same molecule.
    """
    flag = read.flag
    if flag & 0x901 != 0x1 or not (flag & 0x8 or read.next_reference_id < 0):
        return None  # secondary, supplementary, single-end, or the mate is placed
    key = _own_key(read, flag)
    return None if key is None else _five_prime_end(key, flag)


def _five_prime_end(key: _Key, flag: int) -> tuple[int, int]:
    """The 5' end of a read whose own span is ``key`` (see :func:`_own_key`)."""
    return key[0], key[2] if flag & 0x10 else key[1]


class _AnchorIndex:
    """Placed drafts by each end of their fragment key.

    A one-sided template then finds its candidates without scanning every family of the window.
    """

    def __init__(self, drafts: Iterable[_Draft]) -> None:
        self._by_end: dict[tuple[int, int], list[_Draft]] = defaultdict(list)
        for draft in drafts:
            key = draft.position
            if key is None:
                continue
            self._by_end[(key.reference_id, key.start)].append(draft)
            if (key.end_reference_id, key.end) != (key.reference_id, key.start):
                self._by_end[(key.end_reference_id, key.end)].append(draft)

    def at(self, anchor: tuple[int, int]) -> list[_Draft]:
        return self._by_end.get(anchor, [])


def _draft_variants(draft: _Draft) -> set[str]:
    """The UMIs a template may match to join ``draft``: its own and each member's."""
    return {draft.umi} | {member.umi.canonical for member, _ in draft.templates}


def _draft_distance(umi: str, draft: _Draft) -> int | None:
    """Fewest mismatches between ``umi`` and any UMI of ``draft``; None if none compares."""
    distances = [d for d in (_distance(umi, v) for v in _draft_variants(draft)) if d is not None]
    return min(distances) if distances else None


def _one_sided_target(
    template: _Template, anchor: tuple[int, int], drafts: _AnchorIndex, max_mismatches: int
) -> _Draft | None:
    """The fully placed family a one-sided template belongs to, or None to found its own.

    The family must have the template's UMI (within ``max_mismatches`` of one of its variants)
    and share the template's 5' end. Either end of the family key may match: read 1 of the
    B strand of a duplex molecule starts at the end where read 1 of the A strand stops. Ties
    go to the closest UMI, then the largest family, then the family order, for determinism.
    """
    umi = template.umi.canonical
    best: tuple[tuple[int, int, tuple[bool, PositionKey, str, bool]], _Draft] | None = None
    for draft in drafts.at(anchor):
        distance = _draft_distance(umi, draft)
        if distance is None or distance > max_mismatches:
            continue
        rank = (distance, -len(draft.templates), _sort_key(draft))
        if best is None or rank < best[0]:
            best = (rank, draft)
    return None if best is None else best[1]


def _position_drafts(
    by_position: Mapping[PositionKey, list[_Template]], max_mismatches: int
) -> list[_Draft]:
    """One draft per directional UMI cluster at each position."""
    drafts: list[_Draft] = []
    for position, members in by_position.items():
        by_umi: dict[str, list[_Template]] = defaultdict(list)
        for template in members:
            by_umi[template.umi.canonical].append(template)
        counts = {umi: len(group) for umi, group in by_umi.items()}
        for cluster in _directional_clusters(counts, max_mismatches):
            family_umi = cluster[0]
            assigned = [
                (template, _strand_in_family(template.umi, family_umi))
                for umi in cluster
                for template in by_umi[umi]
            ]
            drafts.append(_Draft(family_umi, position, assigned, False))
    return drafts


def _drafts(templates: Iterable[_Template], max_mismatches: int) -> tuple[list[_Draft], int]:
    """Families (as drafts, in their final order) of templates that carry a UMI.

    Returns the drafts and the number of templates left out because nothing placed them.
    """
    by_molecule: dict[str, list[_Template]] = defaultdict(list)
    by_position: dict[PositionKey, list[_Template]] = defaultdict(list)
    one_sided: list[tuple[_Template, tuple[int, int]]] = []
    unplaced = 0
    for template in templates:
        if template.umi.source is UmiSource.MI:
            by_molecule[template.umi.canonical].append(template)
        elif template.position is None:
            unplaced += 1
        elif template.anchor is not None:
            one_sided.append((template, template.anchor))
        else:
            by_position[template.position].append(template)

    drafts: list[_Draft] = []
    for molecule, members in by_molecule.items():
        placed = [t.position for t in members if t.position is not None]
        strands = [(t, t.umi.strand) for t in members]
        drafts.append(_Draft(molecule, min(placed) if placed else None, strands, True))
    placed_drafts = _position_drafts(by_position, max_mismatches)
    # Choose every target before attaching any, so the choice cannot depend on input order.
    index = _AnchorIndex(placed_drafts)
    targets = [
        (template, _one_sided_target(template, anchor, index, max_mismatches))
        for template, anchor in one_sided
    ]
    leftover: dict[PositionKey, list[_Template]] = defaultdict(list)
    for template, target in targets:
        if target is None:
            assert template.position is not None  # one-sided templates have a mapped read
            leftover[template.position].append(template)
        else:
            target.templates.append((template, _strand_in_family(template.umi, target.umi)))
    drafts += placed_drafts + _position_drafts(leftover, max_mismatches)
    drafts.sort(key=_sort_key)
    return drafts, unplaced


def _check_mismatches(max_mismatches: int) -> None:
    if max_mismatches < 0:
        raise ValueError(f"max_mismatches must be >= 0, got {max_mismatches}")


def group_families(
    reads: Iterable[pysam.AlignedSegment],
    *,
    umi_source: UmiSource = UmiSource.AUTO,
    max_mismatches: int = DEFAULT_MAX_MISMATCHES,
) -> FamilyGrouping:
    """Group records into molecule families.

    Records are first gathered by query name, so both mates and any secondary or supplementary
    records of a template always land in the same family and never count twice. A template takes
    its UMI and position from its best record (primary mapped read 1 first). Templates with an MI
    molecule id are grouped by that id alone, since a grouping tool has already decided. Others are
    grouped by :func:`fragment_position` and canonical UMI, where UMIs within ``max_mismatches`` are
    merged by the directional rule (``0`` disables merging). Pass all records of the templates of
    interest at once: a template split across calls would be split across families.

    This keeps every record (families list their reads); :class:`TemplateCollector` gives the
    same families from a stream without keeping records, for whole windows of deep data.

    Raises:
        ValueError: If ``max_mismatches`` is negative.
    """
    _check_mismatches(max_mismatches)
    by_name: dict[str, list[pysam.AlignedSegment]] = defaultdict(list)
    for read in reads:
        by_name[read.query_name or ""].append(read)

    templates_without_umi = records_without_umi = 0
    templates: list[_Template] = []
    for name, records in by_name.items():
        ordered = tuple(sorted(records, key=_record_order))
        umi = next(
            (u for u in (umi_from_read(r, umi_source) for r in ordered) if u is not None), None
        )
        if umi is None:
            templates_without_umi += 1
            records_without_umi += len(ordered)
            continue
        position = next((p for p in (fragment_position(r) for r in ordered) if p is not None), None)
        anchor = _one_sided_end(ordered[0])
        templates.append(_Template(name, ordered, umi, position, anchor, len(ordered)))

    drafts, unplaced = _drafts(templates, max_mismatches)
    families = tuple(_build_family(index, draft) for index, draft in enumerate(drafts))
    return FamilyGrouping(
        families=families,
        templates_without_umi=templates_without_umi,
        records_without_umi=records_without_umi,
        unplaced_templates=unplaced,
    )


def _rank(read: pysam.AlignedSegment, flag: int) -> int:
    """:func:`_record_order` without its text tie-breaks and the flag, packed into an int64.

    The text tie-breaks only order records of one template that share flags and position, which
    the records that give a template its UMI and key never do. Fields, high to low: kind
    (secondary, supplementary, unmapped, read 2), reference id + 1 (20 bits), start + 1 (33
    bits). The flag, which :func:`_record_order` compares next, is a column of its own in
    :class:`TemplateCollector`.
    """
    kind = (
        (flag >> 8 & 1) << 3  # secondary
        | (flag >> 11 & 1) << 2  # supplementary
        | (flag >> 2 & 1) << 1  # unmapped
        | (flag >> 7 & 1)  # read 2
    )
    return kind << 53 | (read.reference_id + 1) << 33 | (read.reference_start + 1)


_NO_UMI = -1
_UMI_BASE_BITS = 50
_UMI_MAX_BASES = _UMI_BASE_BITS // 2
_TO_DIGITS = str.maketrans("ACGT", "0123")
_STRAND_SHIFT = _UMI_BASE_BITS + 10
_CANONICAL_BITS = ~(0b111 << _STRAND_SHIFT)
"""A packed code without its strand and source: equal for every template of one canonical UMI."""


@functools.lru_cache(maxsize=65536)
def _umi_code(umi: Umi) -> int | None:
    """A sequence UMI packed into 63 bits, or None when it does not fit.

    Bits, high to low: source (RX 0, name 1), strand (none 0, A 1, B 2), length of the first
    and of the second half (5 bits each; 0 for simplex), then 2 bits a base. MI ids, bases
    other than ACGT and UMIs over 25 bases do not fit; the collector keeps those as objects.
    """
    if umi.source is UmiSource.MI:
        return None
    first, _, second = umi.canonical.partition("-")
    bases = first + second
    if len(bases) > _UMI_MAX_BASES or bases.strip("ACGT"):
        return None
    strand = 0 if umi.strand is None else 1 if umi.strand == "A" else 2
    source = 0 if umi.source is UmiSource.RX else 1
    header = ((source << 2 | strand) << 5 | len(first)) << 5 | len(second)
    return header << _UMI_BASE_BITS | int(bases.translate(_TO_DIGITS), 4)


_FOUR_BASES = ["".join("ACGT"[b >> shift & 3] for shift in (6, 4, 2, 0)) for b in range(256)]


def _rx_code(value: object) -> int | None:
    """The packed code of an RX tag value, ``_NO_UMI``, or None when it has no packing.

    The same answer as :func:`umi_from_rx` then :func:`_umi_code`, without building a
    :class:`Umi` for the usual RX (see :func:`_rx_text_code`), since that pair costs
    microseconds a record.
    """
    if not isinstance(value, str):
        return _NO_UMI
    return _rx_text_code(value)


_DROP_ACGT = str.maketrans("", "", "ACGT")
_SIMPLEX_SHIFT = _UMI_BASE_BITS + 5  # a simplex RX code: its length above its bases


def _rx_text_code(value: str) -> int | None:
    """:func:`_rx_code` of a text tag: an RX of upper-case ``ACGT`` halves is packed as it stands.

    Deep UMI data hold hundreds of thousands of distinct RX values, too many for a cache, and
    building a :class:`Umi` to pack costs microseconds; anything else (lower case, N bases,
    junk, a UMI too long to pack) goes the general way.
    """
    if 0 < len(value) <= _UMI_MAX_BASES and not value.translate(_DROP_ACGT):  # simplex
        return len(value) << _SIMPLEX_SHIFT | int(value.translate(_TO_DIGITS), 4)
    first, sep, second = value.partition("-")
    if not sep:
        first, sep, second = value.partition("+")
    bases = first + second
    if not (first and second) or len(bases) > _UMI_MAX_BASES or bases.translate(_DROP_ACGT):
        return _rx_text_code_of_umi(value)
    low, high = (first, second) if first <= second else (second, first)
    strand = 0 if first == second else 1 if first == low else 2
    header = (strand << 5 | len(low)) << 5 | len(high)
    return header << _UMI_BASE_BITS | int((low + high).translate(_TO_DIGITS), 4)


@functools.lru_cache(maxsize=65536)
def _rx_text_code_of_umi(value: str) -> int | None:
    umi = umi_from_rx(value)
    return _NO_UMI if umi is None else _umi_code(umi)


@functools.lru_cache(maxsize=65536)
def _umi_of_code(code: int) -> Umi:
    """The :class:`Umi` a :func:`_umi_code` stands for (``raw`` is its canonical text)."""
    header = code >> _UMI_BASE_BITS
    second_length, first_length = header & 31, header >> 5 & 31
    strand_bits, source_bit = header >> 10 & 3, header >> 12 & 1
    count = first_length + second_length
    bits = code & ((1 << _UMI_BASE_BITS) - 1)
    packed = bits.to_bytes((2 * count + 7) // 8 or 1, "big")
    text = "".join([_FOUR_BASES[byte] for byte in packed])[-count:]
    canonical = f"{text[:first_length]}-{text[first_length:]}" if second_length else text
    strand: Strand | None = None if strand_bits == 0 else "A" if strand_bits == 1 else "B"
    source = UmiSource.RX if source_bit == 0 else UmiSource.NAME
    return Umi(canonical=canonical, strand=strand, raw=canonical, source=source)


def _end_key(reference_id: Any, position: Any) -> Any:
    """A fragment end as one int64 (works on ints and on integer arrays alike)."""
    return (np.asarray(reference_id, dtype=np.int64) << 32) + np.asarray(position, np.int64)


def _first_where(mask: NDArray[np.bool_], starts: NDArray[np.intp]) -> NDArray[np.intp]:
    """Per group of a sorted array, the first index where ``mask`` holds, or -1.

    Groups begin at ``starts``, as a template's records do once sorted by template and rank.
    When every group's first element holds, ``starts`` itself is returned (not a copy): treat
    the result as read-only.
    """
    size = len(mask)
    if mask[starts].all():  # the usual case: each group's first record has it
        return starts
    where = np.arange(size)  # one array of record indices, not two (at ten million records)
    where[~mask] = size
    first = np.minimum.reduceat(where, starts)
    ends = np.append(starts[1:], size)
    return np.where(first < ends, first, -1)


_BASE_BITS = (1 << _UMI_BASE_BITS) - 1
_COMPARED_AT_ONCE = 1 << 18  # UMI pairs compared in one set of arrays (a few MiB each)
_LOW_BASE_BITS = np.uint64(0x5555555555555555)  # the low bit of each 2-bit base


def _popcount(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Set bits of each 64-bit value (numpy before 2.0 has no ``bitwise_count``)."""
    x = values - ((values >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    counts: NDArray[np.uint64] = (x * np.uint64(0x0101010101010101)) >> np.uint64(56)
    return counts


def _base_mismatches(differ: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Bases that differ between packed UMIs, given their bases XORed (2 bits a base)."""
    return _popcount((differ | differ >> np.uint64(1)) & _LOW_BASE_BITS)


class TemplateCollector:
    """Builds UMI families from a stream of records without keeping the records.

    Deep targeted data put millions of records in one window; holding them all (as
    :func:`group_families` does), or an object per template, costs gigabytes. The collector
    appends what grouping uses of each record to typed columns (34 bytes a record, plus the
    columns' growth room): the template id chosen by the caller (e.g. a hash of the query
    name), the record's rank, its UMI packed into an integer (see :func:`_umi_code`), its
    fragment key packed likewise (see :meth:`_pack_key`) and, for the rare record whose mate is
    unmapped, its one-sided end. :meth:`group` then picks each template's
    records in numpy and builds families, in bulk where it can (see :class:`_FamilyBuilder`).

    The families are those :func:`group_families` finds for the same records: a template takes
    its UMI and key from its best-ranked record that has one, so read 1 decides as it does
    there, even when the mates disagree (a stale MC tag, say). Ties between records of one
    template with the same flags and position are broken by arrival order.
    """

    def __init__(self, umi_source: UmiSource = UmiSource.AUTO) -> None:
        self.umi_source = umi_source
        self._template = array("q")
        self._rank = array("q")
        self._flag = array("H")
        self._umi = array("q")
        self._position = array("q")  # the fragment key packed, see _pack_key
        self._reference: int | None = None  # the reference of packed keys (the first placed)
        self._far: dict[_Key, int] = {}  # keys that do not pack (another reference) -> code
        self._anchors: dict[int, tuple[int, int]] = {}  # record index -> one-sided 5' end
        self._odd: dict[Umi, int] = {}  # UMIs without a packed code (MI ids, N bases)
        self._closed = False

    def add(self, read: pysam.AlignedSegment, template: int) -> None:
        """Take one record of template ``template`` into account."""
        if self._closed:
            raise RuntimeError("this TemplateCollector has been grouped already")
        flag = read.flag
        code = _rx_code(_tag(read, "RX")) if self.umi_source is UmiSource.RX else None
        if code is None:
            code = self._code(umi_from_read(read, self.umi_source))
        key = _fragment_key(read, flag)
        if key is None:
            self._position.append(_UNPLACED_CODE)
        else:
            reference, start, end, end_reference = key
            if (
                reference == self._reference
                and end_reference == reference
                and 0 <= start < _PACKED_LIMIT
                and 0 <= end < _PACKED_LIMIT
            ):
                self._position.append(start << 31 | end)
            else:
                self._position.append(self._pack_key(key))
            # As _one_sided_end, whose own span the key then is: a primary read, mate unmapped.
            if flag & 0x901 == 0x1 and (flag & 0x8 or read.next_reference_id < 0):
                self._anchors[len(self._template)] = _five_prime_end(key, flag)
        self._template.append(template)
        self._rank.append(_rank(read, flag))
        self._flag.append(flag)
        self._umi.append(code)

    def _pack_key(self, key: _Key) -> int:
        """A fragment key as one int64 (see :meth:`add` for the usual case, written out there).

        A key whose ends are on the collector's reference packs as ``start << 31 | end``: in a
        window fetch that is nearly every key, and eight bytes a record less than four int32s.
        The first placed key with both ends on one reference chooses it (a chimeric key names
        the lower-numbered of its two, which in a window fetch may be the mate's). Others are
        kept as tuples, one code (``-2 - index``) for equal keys, so that codes are equal
        exactly when keys are.
        """
        reference, start, end, end_reference = key
        if self._reference is None and end_reference == reference:
            self._reference = reference
        if (
            reference == self._reference
            and end_reference == reference
            and 0 <= start < _PACKED_LIMIT
            and 0 <= end < _PACKED_LIMIT
        ):
            return start << 31 | end
        return self._far.setdefault(key, -2 - len(self._far))

    def _code(self, umi: Umi | None) -> int:
        """A UMI's packed code; one that has none is kept as an object, coded -2 - its index."""
        if umi is None:
            return _NO_UMI
        code = _umi_code(umi)
        return code if code is not None else -2 - self._odd.setdefault(umi, len(self._odd))

    def group(self, max_mismatches: int = DEFAULT_MAX_MISMATCHES) -> TemplateFamilies:
        """The families of every template added; this ends the collection.

        The columns are released while grouping (see :class:`_CollectedTemplates`), so a
        collector groups once; adding to it or grouping it again raises ``RuntimeError``.
        """
        _check_mismatches(max_mismatches)
        if not self._template:
            self._release()
            return TemplateFamilies.empty()
        templates = _CollectedTemplates.of(self)
        return _FamilyBuilder(templates, self._odd, max_mismatches).build()

    def _release(self) -> dict[str, array[int]]:
        """Hand over the columns and close the collector."""
        if self._closed:
            raise RuntimeError("this TemplateCollector has been grouped already")
        self._closed = True
        columns = {
            "template": self._template,
            "rank": self._rank,
            "flag": self._flag,
            "umi": self._umi,
            "position": self._position,
        }
        self._template, self._rank, self._flag = array("q"), array("q"), array("H")
        self._umi, self._position = array("q"), array("q")
        return columns


_SORTED_AT_ONCE = 1 << 20
"""Records whose order :func:`_record_rows` finds in one sort (some 40 MiB of arrays)."""

_GROUPED_AT_ONCE = 1 << 20
"""Templates whose positions :meth:`_FamilyBuilder._positions` makes in bulk in one go."""


def _record_rows(
    template: NDArray[np.int64],
    rank: NDArray[np.int64],
    flag: NDArray[np.uint16],
    at_once: int = _SORTED_AT_ONCE,
) -> NDArray[np.int32]:
    """``np.lexsort((flag, rank, template))`` as int32, sorted a range of template ids at a time.

    One lexsort of every record holds its int64 result and its sort buffers at once, some 16
    bytes a record (140 MiB at nine million); ranges of ids sorted in turn need the int32
    result and buffers for one range (see :func:`~mrd.ngs.ids.id_ranges`); a template's records
    share one range. Each sort is stable over record indices in arrival order, as the whole one is.
    """
    size = len(template)
    if size >= 1 << 31:
        raise ValueError(f"too many records for one collector: {size}")
    if size <= at_once:
        return np.lexsort((flag, rank, template)).astype(np.int32)
    rows = np.empty(size, dtype=np.int32)
    filled = 0
    for low, high in id_ranges(template, at_once):
        chosen = np.flatnonzero(in_range(template, low, high))
        ranked = chosen[np.lexsort((flag[chosen], rank[chosen], template[chosen]))]
        rows[filled : filled + len(ranked)] = ranked
        filled += len(ranked)
    return rows


@dataclass(frozen=True)
class _CollectedTemplates:
    """One row per template (sorted by id): what its best records showed."""

    ids: NDArray[np.int64]
    records: NDArray[np.int32]
    umi: NDArray[np.int64]
    position: NDArray[np.int64]  # fragment key packed as the collector packs it; -1 unplaced
    reference: int  # the reference of keys packed as ``start << 31 | end``
    far: list[_Key]  # keys that do not pack, by ``-2 - code``
    anchors: dict[int, tuple[int, int]]  # template row -> one-sided 5' end

    @classmethod
    def of(cls, collector: TemplateCollector) -> _CollectedTemplates:
        """Each template's rows, releasing the collector's columns as soon as they are read.

        At ten million records the columns are the largest thing in memory, so each is
        dropped (its numpy view first, then the array) once the per-template values are out.
        """
        columns = collector._release()
        template = np.frombuffer(columns.pop("template"), dtype=np.int64)
        rank = np.frombuffer(columns.pop("rank"), dtype=np.int64)
        flag = np.frombuffer(columns.pop("flag"), dtype=np.uint16)
        # Stable: equal ranks keep arrival order, as the first record seen wins a tie.
        order = _record_rows(template, rank, flag)
        del rank, flag
        ordered = template[order]
        starts = np.flatnonzero(np.append(True, ordered[1:] != ordered[:-1]))
        ids = ordered[starts]
        del ordered
        records = np.diff(np.append(starts, len(order))).astype(np.int32)
        top = order[starts]
        anchors: dict[int, tuple[int, int]] = {}
        if collector._anchors:
            anchored = np.fromiter(collector._anchors, dtype=np.int64)
            rows = np.searchsorted(ids, template[anchored])
            for record, row in zip(anchored.tolist(), rows.tolist(), strict=True):
                if top[row] == record:  # only a template's best record gives its end
                    anchors[row] = collector._anchors[record]
        del template, top
        # Masks are put in template order, not the columns (a byte a record, not eight).
        umi = np.frombuffer(columns.pop("umi"), dtype=np.int64)
        first = _first_where((umi != _NO_UMI)[order], starts)
        template_umi = np.where(first >= 0, umi[order[np.maximum(first, 0)]], _NO_UMI)
        del umi
        packed = np.frombuffer(columns.pop("position"), dtype=np.int64)
        first = _first_where((packed != _UNPLACED_CODE)[order], starts)
        position = np.where(first >= 0, packed[order[np.maximum(first, 0)]], _UNPLACED_CODE)
        del packed, order, first
        far = sorted(collector._far, key=lambda key: -collector._far[key])  # codes -2, -3, ...
        reference = -1 if collector._reference is None else collector._reference
        return cls(ids, records, template_umi, position, reference, far, anchors)

    def key(self, code: int) -> PositionKey | None:
        """The fragment key a packed code stands for (None: unplaced)."""
        if code >= 0:
            return PositionKey(
                self.reference, code >> 31, code & (_PACKED_LIMIT - 1), self.reference
            )
        return None if code == _UNPLACED_CODE else PositionKey(*self.far[-2 - code])

    def ends(self, codes: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Both ends of placed packed keys, each as one :func:`_end_key` integer."""
        first = _end_key(self.reference, codes >> 31)
        second = _end_key(self.reference, codes & (_PACKED_LIMIT - 1))
        for index in np.flatnonzero(codes < 0).tolist():
            reference, start, end, end_reference = self.far[-2 - int(codes[index])]
            first[index] = _end_key(reference, start)
            second[index] = _end_key(end_reference, end)
        return first, second


@dataclass(frozen=True)
class _TouchedFamilies:
    """Families made in bulk at positions that a one-sided template's 5' end touches.

    As arrays, one entry per family of a slice of positions, so that drafts are made only for
    the few a one-sided template may join (see :meth:`_FamilyBuilder._touched_drafts`).
    """

    family: NDArray[np.int64]
    umi: NDArray[np.int64]  # canonical packed UMI
    position: NDArray[np.int64]  # packed fragment key
    rows: NDArray[np.intp]  # template rows, grouped by family
    bounds: NDArray[np.intp]  # family i's rows are rows[bounds[i] : bounds[i + 1]]
    by_end: NDArray[np.int64]  # each family's ends (see _end_key), sorted
    end_family: NDArray[np.intp]  # the family (index) of each of by_end

    @classmethod
    def of(
        cls,
        rows: NDArray[np.intp],
        family: NDArray[np.int64],
        codes: NDArray[np.int64],
        key: NDArray[np.int64],
        templates: _CollectedTemplates,
    ) -> _TouchedFamilies:
        """The families of template ``rows`` (with their family, packed UMI and key)."""
        order = np.argsort(family, kind="stable")
        rows, family, codes, key = rows[order], family[order], codes[order], key[order]
        first = np.flatnonzero(np.append(True, family[1:] != family[:-1]))
        position = key[first]
        start, end = templates.ends(position)
        count = len(first)
        index = np.concatenate([np.arange(count), np.flatnonzero(end != start)])
        both = np.concatenate([start, end[end != start]])
        order = np.argsort(both, kind="stable")
        return cls(
            family[first],
            codes[first] & _CANONICAL_BITS,
            position,
            rows,
            np.append(first, len(rows)),
            both[order],
            index[order],
        )

    def at(self, end: int) -> NDArray[np.intp]:
        """The families (indices) with an end at ``end`` (an :func:`_end_key`)."""
        low = int(np.searchsorted(self.by_end, end, side="left"))
        high = int(np.searchsorted(self.by_end, end, side="right"))
        return self.end_family[low:high]

    def rows_of(self, index: int) -> NDArray[np.intp]:
        return self.rows[self.bounds[index] : self.bounds[index + 1]]


class _FamilyBuilder:
    """Families of collected templates, built as :func:`_drafts` builds them.

    Positions whose UMIs are all one, or all too far apart to merge, are made in numpy; the
    others go through :func:`_position_drafts` one position at a time. Only drafts a one-sided
    template may join (made then, or later for bulk families at its end whose UMI is within
    reach), and templates grouped by an MI tag, are objects.
    """

    def __init__(
        self,
        templates: _CollectedTemplates,
        odd: Mapping[Umi, int],
        max_mismatches: int,
        at_once: int = _GROUPED_AT_ONCE,
    ) -> None:
        self.at_once = at_once  # templates made in bulk in one go
        self.t = templates
        self.odd = {index: umi for umi, index in odd.items()}
        self.max_mismatches = max_mismatches
        self.family = np.full(len(templates.ids), -1, dtype=np.int64)
        self.sizes: list[int] = []
        self.duplex: list[bool] = []
        self.family_of_draft: dict[int, int] = {}  # id(draft) -> family

    def umi(self, code: int) -> Umi:
        return self.odd[-2 - code] if code < _NO_UMI else _umi_of_code(code)

    def template(self, row: int) -> _Template:
        t = self.t
        position = t.key(int(t.position[row]))
        umi = self.umi(int(t.umi[row]))
        return _Template(row, (), umi, position, t.anchors.get(row), int(t.records[row]))

    def add(self, draft: _Draft) -> int:
        family = len(self.sizes)
        strands = set()
        for template, strand in draft.templates:
            self.family[int(template.name)] = family
            strands.add(strand)
        self.sizes.append(len(draft.templates))
        self.duplex.append("A" in strands and "B" in strands)
        return family

    def build(self) -> TemplateFamilies:
        t = self.t
        has_umi = t.umi != _NO_UMI
        odd_rows = np.flatnonzero(t.umi < _NO_UMI)
        molecule = np.zeros(len(t.ids), dtype=bool)
        molecule[odd_rows] = [self.umi(int(t.umi[r])).source is UmiSource.MI for r in odd_rows]
        placed = t.position != _UNPLACED_CODE
        one_sided = np.zeros(len(t.ids), dtype=bool)
        one_sided[list(t.anchors)] = True
        positional = has_umi & ~molecule & placed & ~one_sided
        unplaced = int(np.count_nonzero(has_umi & ~molecule & ~placed))

        mi_drafts, _ = _drafts([self.template(int(r)) for r in np.flatnonzero(molecule)], 0)
        for draft in mi_drafts:
            self.add(draft)
        sided_rows = np.flatnonzero(has_umi & ~molecule & placed & one_sided)
        sided = [self.template(int(r)) for r in sided_rows]
        ends: dict[tuple[int, int], set[str]] = defaultdict(set)
        for template in sided:
            assert template.anchor is not None
            ends[template.anchor].add(template.umi.canonical)
        kept = self._positions(np.flatnonzero(positional), ends)
        self._attach(sided, kept)
        in_family = self.family >= 0
        without = ~has_umi
        return TemplateFamilies(
            template_ids=t.ids[in_family],
            family_ids=self.family[in_family],
            sizes=np.asarray(self.sizes, dtype=np.int64),
            duplex=np.asarray(self.duplex, dtype=bool),
            records=int(t.records[in_family].sum()),
            templates_without_umi=int(np.count_nonzero(without)),
            records_without_umi=int(t.records[without].sum()),
            unplaced_templates=unplaced,
        )

    def _positions(
        self, rows: NDArray[np.intp], ends: Mapping[tuple[int, int], set[str]]
    ) -> list[_Draft]:
        """Families of the templates placed by their whole fragment, in bulk where it can be.

        Returns the drafts of the families a one-sided template could join (an end at its 5'
        end, a UMI within reach of its own), the only ones made as objects: in very deep data
        nearly every position is some one-sided template's end, though such templates are few.
        """
        if len(rows) == 0:
            return []
        # Packed keys are equal exactly when keys are, so one int64 sort finds the positions
        # (their order only numbers the families).
        key = self.t.position[rows]
        order = np.argsort(key, kind="stable")
        rows, key = rows[order], key[order]
        del order
        starts = np.flatnonzero(np.append(True, key[1:] != key[:-1]))
        sizes = np.diff(np.append(starts, len(rows)))
        touched = np.zeros(len(starts), dtype=bool)
        # One-sided templates' 5' ends, and each as one integer (reference id, then position).
        anchors = list(ends)
        wanted = np.array([_end_key(ref, at) for ref, at in anchors], dtype=np.int64)
        if ends:
            first, second = self.t.ends(key[starts])
            touched = np.isin(first, wanted) | np.isin(second, wanted)
            del first, second
        # Only positions whose UMIs all have a packed code are made in bulk.
        codes = self.t.umi[rows]
        eligible = np.minimum.reduceat(codes, starts) >= 0
        simple = np.zeros(len(starts), dtype=bool)
        kept: list[_Draft] = []
        # A slice of positions at a time: the bulk steps hold several arrays a template.
        cuts = np.searchsorted(starts, np.arange(self.at_once, len(rows), self.at_once))
        for first, last in itertools.pairwise([0, *np.unique(cuts).tolist(), len(starts)]):
            if first == last:
                continue
            begin, end = int(starts[first]), int(starts[last - 1] + sizes[last - 1])
            part = (rows[begin:end], codes[begin:end], starts[first:last] - begin)
            done = self._one_umi_positions(*part, sizes[first:last], eligible[first:last])
            done |= self._apart_umi_positions(
                *part, sizes[first:last], eligible[first:last] & ~done
            )
            simple[first:last] = done
            if (done & touched[first:last]).any():
                taken = np.repeat(done & touched[first:last], sizes[first:last])
                chunk = slice(begin, end)
                rows_taken = rows[chunk][taken]
                touched_families = _TouchedFamilies.of(
                    rows_taken,
                    self.family[rows_taken],
                    codes[chunk][taken],
                    key[chunk][taken],
                    self.t,
                )
                kept += self._touched_drafts(touched_families, anchors, wanted, ends)
                del taken, rows_taken, touched_families
        del codes
        t = self.t
        for index in np.flatnonzero(~simple).tolist():
            begin = int(starts[index])
            group = rows[begin : begin + int(sizes[index])]
            position = self.t.key(int(key[begin]))
            assert position is not None  # only placed templates come here
            members = [
                _Template(row, (), self.umi(code), position, None, records)
                for row, code, records in zip(
                    group.tolist(), t.umi[group].tolist(), t.records[group].tolist(), strict=True
                )
            ]
            near: set[str] = set()
            if touched[index]:
                near = ends.get((position.reference_id, position.start), set()) | ends.get(
                    (position.end_reference_id, position.end), set()
                )
            for draft in _position_drafts({position: members}, self.max_mismatches):
                family = self.add(draft)
                if near and self._within_reach(draft, near):
                    self.family_of_draft[id(draft)] = family
                    kept.append(draft)
        return kept

    def _one_umi_positions(
        self,
        rows: NDArray[np.intp],
        codes: NDArray[np.int64],
        starts: NDArray[np.intp],
        sizes: NDArray[np.intp],
        eligible: NDArray[np.bool_],
    ) -> NDArray[np.bool_]:
        """Make the families of positions whose templates all share one canonical UMI.

        Such a position is one family whatever the clustering (a lone template is the common
        case), each template on its own strand, so the family is made here in numpy. Only
        ``eligible`` positions are done (see :meth:`_positions`); returns which were.
        ``codes`` are the packed UMIs of ``rows``.
        """
        canonical = codes & _CANONICAL_BITS
        same = np.minimum.reduceat(canonical, starts) == np.maximum.reduceat(canonical, starts)
        simple: NDArray[np.bool_] = eligible & same
        strand = (codes >> _STRAND_SHIFT) & 3
        duplex = np.maximum.reduceat(strand == 1, starts) & np.maximum.reduceat(strand == 2, starts)
        first = len(self.sizes)
        family = np.full(len(starts), -1, dtype=np.int64)
        family[simple] = np.arange(first, first + int(np.count_nonzero(simple)))
        of_row = np.repeat(family, sizes)
        done = of_row >= 0
        self.family[rows[done]] = of_row[done]
        self.sizes.extend(sizes[simple].tolist())
        self.duplex.extend(duplex[simple].tolist())
        return simple

    def _apart_umi_positions(
        self,
        rows: NDArray[np.intp],
        codes: NDArray[np.int64],
        starts: NDArray[np.intp],
        sizes: NDArray[np.intp],
        eligible: NDArray[np.bool_],
    ) -> NDArray[np.bool_]:
        """Make the families of positions whose UMIs all lie too far apart to merge.

        In deep data most positions with several UMIs hold molecules that share both fragment
        ends by chance; their UMIs differ in most bases, so each UMI is a family of its own,
        which is what :func:`_directional_clusters` finds when no two UMIs are within
        ``max_mismatches``. That is checked here for all such positions at once, in numpy: for
        ``eligible`` positions whose UMIs are simplex and of one length, and at most
        ``_PAIRWISE_MAX`` distinct ones. Returns which positions were done.
        """
        done = np.zeros(len(starts), dtype=bool)
        header = (codes & _CANONICAL_BITS) >> _UMI_BASE_BITS  # half lengths; 0 second: simplex
        candidate = (
            eligible
            & (np.minimum.reduceat(header, starts) == np.maximum.reduceat(header, starts))
            & (np.maximum.reduceat(header & 31, starts) == 0)
        )
        del header
        if not candidate.any():
            return done
        # The distinct UMIs of the candidate positions, in position then code order; only
        # their rows are copied (at ten million records every array a row costs).
        taken = np.repeat(candidate, sizes)
        code, row = codes[taken] & _CANONICAL_BITS, rows[taken]
        del taken
        position = np.repeat(np.flatnonzero(candidate).astype(np.int32), sizes[candidate])
        order = np.lexsort((code, position))
        position, code, row = position[order], code[order], row[order]
        new_umi = np.append(True, (position[1:] != position[:-1]) | (code[1:] != code[:-1]))
        umi_of_row = np.cumsum(new_umi) - 1
        umi_position, umi_code = position[new_umi], code[new_umi]
        umi_count = np.diff(np.append(np.flatnonzero(new_umi), len(position)))
        first_umi = np.flatnonzero(np.append(True, umi_position[1:] != umi_position[:-1]))
        distinct = np.diff(np.append(first_umi, len(umi_position)))
        apart = distinct <= _PAIRWISE_MAX
        if self.max_mismatches > 0:
            bases = (umi_code & _BASE_BITS).astype(np.uint64)
            for size in np.unique(distinct[apart]).tolist():
                groups = np.flatnonzero(apart & (distinct == size))
                step = max(1, _COMPARED_AT_ONCE // (size * size))  # bounds the arrays' memory
                for group in (groups[i : i + step] for i in range(0, len(groups), step)):
                    block = bases[first_umi[group][:, None] + np.arange(size)]
                    mismatches = _base_mismatches(block[:, :, None] ^ block[:, None, :])
                    mismatches[:, np.arange(size), np.arange(size)] = _UMI_MAX_BASES + 1
                    apart[group] = mismatches.min(axis=(1, 2)) > self.max_mismatches
        done[umi_position[first_umi[apart]]] = True
        # One family per UMI, most templates first (then by UMI text, as the clusters are).
        kept_umi = apart[np.repeat(np.arange(len(first_umi)), distinct)]
        kept = np.flatnonzero(kept_umi)
        ranked = kept[np.lexsort((umi_code[kept], -umi_count[kept], umi_position[kept]))]
        family_of_umi = np.full(len(umi_code), -1, dtype=np.int64)
        family_of_umi[ranked] = np.arange(len(self.sizes), len(self.sizes) + len(ranked))
        kept_row = kept_umi[umi_of_row]
        self.family[row[kept_row]] = family_of_umi[umi_of_row[kept_row]]
        self.sizes.extend(umi_count[ranked].tolist())
        self.duplex.extend([False] * len(ranked))
        return done

    def _within_reach(self, draft: _Draft, umis: set[str]) -> bool:
        """Whether a UMI of ``umis`` may join ``draft`` (the test of :func:`_one_sided_target`)."""
        variants = _draft_variants(draft)  # once, not once for each UMI of ``umis``
        distances = (_distance(umi, variant) for umi in umis for variant in variants)
        return any(d is not None and d <= self.max_mismatches for d in distances)

    def _touched_drafts(
        self,
        touched: _TouchedFamilies,
        anchors: Sequence[tuple[int, int]],
        wanted: NDArray[np.int64],
        ends: Mapping[tuple[int, int], set[str]],
    ) -> list[_Draft]:
        """Drafts of the bulk-made families a one-sided template could join.

        Made only for a family at a one-sided template's end whose UMI is within reach of one
        of the UMIs ending there, as :meth:`_positions` keeps the drafts it makes. ``anchors``
        are the ends of ``ends``, ``wanted`` the same as :func:`_end_key` integers.
        """
        if not len(touched.family):
            return []
        chosen: set[int] = set()
        for index in np.flatnonzero(np.isin(wanted, touched.by_end)).tolist():
            candidates = touched.at(int(wanted[index]))
            near = np.zeros(len(candidates), dtype=bool)
            for umi in ends[anchors[index]]:
                near |= self._within(umi, touched.umi[candidates])
            chosen.update(candidates[near].tolist())
        drafts = []
        for index in sorted(chosen):
            umi = self.umi(int(touched.umi[index])).canonical
            position = self.t.key(int(touched.position[index]))
            members = []
            for row in touched.rows_of(index).tolist():
                member = self.template(row)
                members.append((member, _strand_in_family(member.umi, umi)))
            draft = _Draft(umi, position, members, False)
            self.family_of_draft[id(draft)] = int(touched.family[index])
            drafts.append(draft)
        return drafts

    def _within(self, umi: str, codes: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which canonical packed ``codes`` are within ``max_mismatches`` of ``umi``.

        As :func:`_distance`: a simplex UMI compares only with simplex UMIs of its length, so
        those are compared in numpy, two bits a base; other UMIs are compared as text.
        """
        code = _umi_code(Umi(umi, None, umi, UmiSource.RX)) if "-" not in umi else None
        if code is None:
            texts = [_umi_of_code(int(c)).canonical for c in codes.tolist()]
            distances = [_distance(umi, text) for text in texts]
            return np.array([d is not None and d <= self.max_mismatches for d in distances], bool)
        same = (codes >> _UMI_BASE_BITS) == (code >> _UMI_BASE_BITS)
        mismatches = _base_mismatches(((codes ^ code) & _BASE_BITS).astype(np.uint64))
        within: NDArray[np.bool_] = same & (mismatches <= self.max_mismatches)
        return within

    def _attach(self, sided: list[_Template], kept: list[_Draft]) -> None:
        """One-sided templates join a kept family (chosen before any joins) or found their own."""
        index = _AnchorIndex(kept)
        targets = []
        for template in sided:
            assert template.anchor is not None
            targets.append(
                (template, _one_sided_target(template, template.anchor, index, self.max_mismatches))
            )
        leftover: dict[PositionKey, list[_Template]] = defaultdict(list)
        joined: dict[int, _Draft] = {}
        for template, target in targets:
            if target is None:
                assert template.position is not None
                leftover[template.position].append(template)
                continue
            strand = _strand_in_family(template.umi, target.umi)
            target.templates.append((template, strand))
            family = self.family_of_draft[id(target)]
            self.family[int(template.name)] = family
            self.sizes[family] += 1
            joined[family] = target
        for family, draft in joined.items():
            strands = {strand for _, strand in draft.templates}
            self.duplex[family] = "A" in strands and "B" in strands
        for draft in _position_drafts(leftover, self.max_mismatches):
            self.add(draft)


@dataclass(frozen=True)
class TemplateFamilies:
    """Families as arrays: which family each template id belongs to, and each family's size.

    Attributes:
        template_ids: Template ids, sorted.
        family_ids: Family of each template (same order as ``template_ids``).
        sizes: Templates per family, indexed by family id.
        duplex: Whether each family has templates from both strands.
        records: Records in families.
        templates_without_umi: Templates none of whose records carried a UMI.
        records_without_umi: Records of those templates.
        unplaced_templates: Templates with a sequence UMI but no mapped record to place them.
    """

    template_ids: NDArray[np.int64]
    family_ids: NDArray[np.int64]
    sizes: NDArray[np.int64]
    duplex: NDArray[np.bool_]
    records: int
    templates_without_umi: int = 0
    records_without_umi: int = 0
    unplaced_templates: int = 0

    @classmethod
    def empty(cls) -> TemplateFamilies:
        """No families (a window without records)."""
        nothing = np.zeros(0, dtype=np.int64)
        return cls(nothing, nothing, nothing, np.zeros(0, dtype=bool), 0)

    def lookup(self, templates: NDArray[np.int64], min_size: int = 1) -> NDArray[np.int64]:
        """Family id of each template id; -1 where it has none or its family is too small."""
        if len(self.template_ids) == 0 or len(templates) == 0:
            return np.full(len(templates), -1, dtype=np.int64)
        where = np.searchsorted(self.template_ids, templates)
        where = np.minimum(where, len(self.template_ids) - 1)
        found = self.template_ids[where] == templates
        families = np.where(found, self.family_ids[where], -1)
        if min_size > 1:
            small = np.zeros(len(families), dtype=bool)
            small[found] = self.sizes[families[found]] < min_size
            families[small] = -1
        return families

    def histogram(self) -> dict[int, int]:
        """Number of families of each size (see :func:`family_size_histogram`)."""
        values, counts = np.unique(self.sizes, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}

    def summary(self) -> FamilySummary:
        """The same summary :func:`summarize_families` gives for a :class:`FamilyGrouping`."""
        count = len(self.sizes)
        templates = int(self.sizes.sum())
        return FamilySummary(
            families=count,
            templates=templates,
            records=self.records,
            mean_size=templates / count if count else 0.0,
            singleton_fraction=float(np.mean(self.sizes == 1)) if count else 0.0,
            duplex_families=int(self.duplex.sum()),
            templates_without_umi=self.templates_without_umi,
            records_without_umi=self.records_without_umi,
        )


def family_size_histogram(families: Iterable[MoleculeFamily]) -> dict[int, int]:
    """Number of families of each size, sorted by size.

    The shape tells whether sequencing was deep enough: mostly singletons means most molecules
    were seen once and consensus calling cannot correct their errors; very large families mean
    the library had few molecules and more reads add nothing.
    """
    counts = Counter(family.size for family in families)
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class FamilySummary:
    """Family statistics for a QC report.

    Attributes:
        families: Number of molecule families (molecules observed).
        templates: Templates in families (read pairs, or single reads).
        records: Records in families, secondary and supplementary included.
        mean_size: Mean templates per family; 0.0 without families.
        singleton_fraction: Share of families seen as one template only.
        duplex_families: Families with templates from both strands.
        templates_without_umi: Templates that had no UMI and so were not grouped.
        records_without_umi: Records of those templates.
    """

    families: int
    templates: int
    records: int
    mean_size: float
    singleton_fraction: float
    duplex_families: int
    templates_without_umi: int = 0
    records_without_umi: int = 0

    def as_dict(self) -> dict[str, int | float]:
        """Plain values keyed by field name, for JSON and MultiQC output."""
        return {
            "families": self.families,
            "templates": self.templates,
            "records": self.records,
            "mean_size": self.mean_size,
            "singleton_fraction": self.singleton_fraction,
            "duplex_families": self.duplex_families,
            "templates_without_umi": self.templates_without_umi,
            "records_without_umi": self.records_without_umi,
        }


def summarize_families(families: FamilyGrouping | Iterable[MoleculeFamily]) -> FamilySummary:
    """Summarise families; a :class:`FamilyGrouping` also contributes its reads without a UMI."""
    without_templates = without_records = 0
    if isinstance(families, FamilyGrouping):
        without_templates = families.templates_without_umi
        without_records = families.records_without_umi
        members: tuple[MoleculeFamily, ...] = families.families
    else:
        members = tuple(families)
    count = len(members)
    templates = sum(family.size for family in members)
    return FamilySummary(
        families=count,
        templates=templates,
        records=sum(len(family.reads) for family in members),
        mean_size=templates / count if count else 0.0,
        singleton_fraction=(sum(family.size == 1 for family in members) / count if count else 0.0),
        duplex_families=sum(family.is_duplex for family in members),
        templates_without_umi=without_templates,
        records_without_umi=without_records,
    )
