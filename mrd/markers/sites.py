"""Count a patient-specific SNV, MNV or small indel in one follow-up BAM.

A tracked marker is searched for exactly: every read over the site is asked whether it shows the
marker's ALT allele, its REF allele, or cannot tell. Counts are kept in templates (read pairs,
since both mates of a short fragment often cover the site and are one piece of evidence) and,
when the library has UMIs, in molecules (UMI families), since PCR copies of one molecule are not
independent evidence (domain.md §5).

How a read is asked depends on the marker:

* **SNV and MNV** are read base by base from the CIGAR (never through ``pileup``, which silently
  stops at 8,000 reads, domain.md §6). Every base must reach ``min_base_quality``: a low-quality
  base is as likely an error as the allele.
* **Insertions and deletions** are read from the CIGAR. An aligner may place an indel anywhere in
  the repeat it lies in, so the marker and each read's indel are both shifted left through the
  repeat before they are compared. A read must align ``min_flank`` bases on both sides of the
  whole repeat to count at all: a read that ends (or is clipped) inside the repeat cannot tell
  a deletion there from the reference, and counting it as REF would bias the VAF down.
* **Complex** changes (delins) are compared as sequences: the read's bases between its aligned
  flanks must equal either allele exactly.

The local reference sequence is taken from the reads' ``MD`` tags (which bwa, minimap2 and the
simulator write), so no genome FASTA is needed, and the marker's REF is checked against it.

Each count comes with the sample's own background for the same kind of event nearby, counted
with the very same rules; see :func:`count_site`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pysam

from mrd.errors import InputFileError, RegionError
from mrd.markers.tracked import TrackedMarker
from mrd.ngs.alignment import AlignmentSource
from mrd.ngs.fetch import iter_region
from mrd.ngs.filters import FilterCounts, ReadFilter
from mrd.ngs.region import Region
from mrd.ngs.umi import group_families, has_umis

log = logging.getLogger(__name__)

Call = Literal["alt", "ref"]
SiteKind = Literal["substitution", "insertion", "deletion", "complex"]
Codes = npt.NDArray[np.int8]

MIN_CLASS_POSITIONS = 5
"""Fewest background positions of the marker's reference base (either strand) needed to count
only the marker's own substitution class; with fewer, any substitution is counted instead, since
an error rate measured on a handful of positions is too noisy to be of use."""

UMI_SAMPLE = 2000
"""Records looked at to decide whether the library has UMIs (a majority must carry one)."""

MD_VOTES = 3
"""Reads whose MD tag votes for the reference base of each position."""

BASE_VOTES = 25
"""Reads whose own bases vote for the reference where no read has an MD tag; a majority of that
many is robust to sequencing errors and to a low-level variant, not to a germline one."""

_NO_CALL = -1  # no usable base: not covered, deleted, N, or below the base-quality threshold
_CONFLICT = -2  # the two mates of a template read different bases here
_CODE = np.full(256, _NO_CALL, dtype=np.int8)
for _index, _base in enumerate("ACGT"):
    _CODE[ord(_base)] = _index
    _CODE[ord(_base.lower())] = _index
_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}

_ALIGNED_OPS = frozenset((0, 7, 8))  # M, =, X: a read base on a reference base
_INSERTION, _DELETION, _SKIP, _SOFT_CLIP = 1, 2, 3, 4


@dataclass(frozen=True)
class SiteCount:
    """Evidence for one tracked marker in one sample.

    Attributes:
        marker: The marker counted.
        alt_templates: Templates (read pairs) showing ALT; both mates over the site count once.
        ref_templates: Templates showing REF where they could have shown ALT (for indels: spanning
            the repeat plus ``min_flank`` on both sides; for SNVs: base quality high enough).
        conflicting: Templates whose mates show different alleles; left out of both counts, as
            one of the mates must carry an error.
        alt_molecules: UMI families whose templates mostly show ALT; None without UMIs.
        ref_molecules: UMI families whose templates mostly show REF; None without UMIs.
        background_alt: Events of the marker's kind seen at other positions near the site (see
            :func:`count_site` and ``background_event``).
        background_depth: Observations at those positions (templates x positions) in which such
            an event could have been seen.
        read_filter: What the read filter kept and dropped over the fetched region.
        background_event: The event counted in the background, e.g. ``C>T`` (strand-agnostic,
            so G>A too), ``any substitution``, ``2-bp deletion``.
    """

    marker: TrackedMarker
    alt_templates: int
    ref_templates: int
    conflicting: int
    alt_molecules: int | None
    ref_molecules: int | None
    background_alt: int
    background_depth: int
    read_filter: FilterCounts
    background_event: str = ""

    @property
    def depth_templates(self) -> int:
        """Informative templates: ALT plus REF."""
        return self.alt_templates + self.ref_templates

    @property
    def depth_molecules(self) -> int | None:
        """Informative molecules (ALT plus REF families), None without UMIs."""
        if self.alt_molecules is None or self.ref_molecules is None:
            return None
        return self.alt_molecules + self.ref_molecules

    def as_dict(self) -> dict[str, Any]:
        """Flat, JSON-ready values for reports."""
        marker = self.marker
        return {
            "marker": marker.label,
            "chrom": marker.chrom,
            "position": marker.position,
            "ref": marker.ref,
            "alt": marker.alt,
            "kind": marker.kind,
            "gene": marker.gene,
            "alt_templates": self.alt_templates,
            "ref_templates": self.ref_templates,
            "depth_templates": self.depth_templates,
            "conflicting": self.conflicting,
            "alt_molecules": self.alt_molecules,
            "ref_molecules": self.ref_molecules,
            "depth_molecules": self.depth_molecules,
            "background_alt": self.background_alt,
            "background_depth": self.background_depth,
            "background_event": self.background_event,
            "read_filter": self.read_filter.as_dict(),
        }


# --- the site, normalised --------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """The marker's change, trimmed to the bases that differ and placed on the local reference.

    Coordinates are 0-based. ``start`` is the first changed reference base; for an insertion it
    is the reference base right after the inserted bases. Indels are left-normalised, and
    ``zone_start``/``zone_end`` bound every reference base an equivalent placement touches (the
    repeat), so a read has to reach past both ends of the zone to prove either allele.
    """

    kind: SiteKind
    start: int
    ref: str
    alt: str
    zone_start: int
    zone_end: int


class _LocalReference:
    """Reference bases around the site as the reads' ``MD`` tags give them.

    Where no read has an ``MD`` tag the majority of the reads' own aligned bases stands in;
    such positions are not trusted to check the marker's REF (a common variant would flip them).
    """

    def __init__(self, start: int, bases: str, from_md: npt.NDArray[np.bool_]) -> None:
        self.start = start
        self.bases = bases
        self.from_md = from_md

    @property
    def end(self) -> int:
        return self.start + len(self.bases)

    def base(self, position: int) -> str:
        """The base at a 0-based position, ``N`` when unknown or outside."""
        if self.start <= position < self.end:
            return self.bases[position - self.start]
        return "N"

    def slice(self, first: int, last: int) -> str:
        """Bases ``[first, last)``, ``N`` where unknown."""
        return "".join(self.base(p) for p in range(first, last))

    def codes(self, first: int, last: int) -> Codes:
        """Base codes (0-3, -1 unknown) of ``[first, last)``."""
        return _CODE[np.frombuffer(self.slice(first, last).encode(), dtype=np.uint8)]

    def known_from_md(self, first: int, last: int) -> bool:
        """Whether every base of ``[first, last)`` comes from an MD tag."""
        if first < self.start or last > self.end:
            return False
        return bool(self.from_md[first - self.start : last - self.start].all())


def _local_reference(reads: Sequence[pysam.AlignedSegment]) -> _LocalReference | None:
    """Vote the reference base of every position the reads cover, MD tags first.

    A few votes per position are enough (MD tags agree unless one is broken), so in deep data
    most reads are skipped: reads come sorted by start, hence a read adds nothing new when at
    least that many earlier voters already reach past its end.
    """
    spans = [(r.reference_start, r.reference_end) for r in reads if r.reference_end is not None]
    if not spans:
        return None
    lo = min(s for s, _ in spans)
    hi = max(e for _, e in spans)
    md_votes = np.zeros((hi - lo, 4), dtype=np.int32)
    read_votes = np.zeros((hi - lo, 4), dtype=np.int32)
    md_ends: list[int] = []  # min-heaps of the largest ends of the voters so far
    read_ends: list[int] = []
    for read in sorted(reads, key=lambda r: int(r.reference_start)):
        end = read.reference_end
        if end is None or not read.query_sequence:
            continue
        if len(md_ends) >= MD_VOTES and end <= md_ends[0]:
            continue
        sequence = None
        if read.has_tag("MD"):
            try:
                sequence = read.get_reference_sequence()
            except (ValueError, AssertionError):  # a malformed MD tag: use the bases instead
                sequence = None
        if sequence:
            codes = _CODE[np.frombuffer(sequence.encode(), dtype=np.uint8)]
            index = np.arange(read.reference_start - lo, read.reference_start - lo + len(codes))
            known = codes >= 0
            md_votes[index[known], codes[known]] += 1
            _keep_largest(md_ends, end, MD_VOTES)
            continue
        if len(read_ends) >= BASE_VOTES and end <= read_ends[0]:
            continue
        query = _CODE[np.frombuffer(read.query_sequence.encode(), dtype=np.uint8)]
        for ref_start, ref_end, query_start in _blocks(read):
            codes = query[query_start : query_start + ref_end - ref_start]
            index = np.arange(ref_start - lo, ref_end - lo)
            known = codes >= 0
            read_votes[index[known], codes[known]] += 1
        _keep_largest(read_ends, end, BASE_VOTES)
    from_md = md_votes.sum(axis=1) > 0
    votes = np.where(from_md[:, None], md_votes, read_votes)
    best = votes.argmax(axis=1)
    covered = votes.sum(axis=1) > 0
    bases = "".join("ACGT"[b] if c else "N" for b, c in zip(best, covered, strict=True))
    return _LocalReference(lo, bases, from_md)


def _keep_largest(heap: list[int], value: int, size: int) -> None:
    if len(heap) < size:
        heapq.heappush(heap, value)
    elif value > heap[0]:
        heapq.heapreplace(heap, value)


def _trim(position: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Drop bases shared by both alleles (trailing first, then leading); 0-based start."""
    start = position - 1
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0]:
        ref, alt, start = ref[1:], alt[1:], start + 1
    return start, ref, alt


def _shift_insertion(reference: _LocalReference, start: int, inserted: str) -> tuple[int, str]:
    """Leftmost placement of ``inserted`` before reference base ``start``."""
    while True:
        before = reference.base(start - 1)
        if before == "N" or before != inserted[-1]:
            return start, inserted
        start, inserted = start - 1, before + inserted[:-1]


def _shift_insertion_right(reference: _LocalReference, start: int, inserted: str) -> int:
    while True:
        after = reference.base(start)
        if after == "N" or after != inserted[0]:
            return start
        start, inserted = start + 1, inserted[1:] + after


def _shift_deletion(reference: _LocalReference, start: int, length: int) -> int:
    """Leftmost start of a deletion of ``length`` bases from ``start``."""
    while True:
        before = reference.base(start - 1)
        if before == "N" or before != reference.base(start + length - 1):
            return start
        start -= 1


def _shift_deletion_right(reference: _LocalReference, start: int, length: int) -> int:
    while True:
        after = reference.base(start + length)
        if after == "N" or after != reference.base(start):
            return start
        start += 1


def _site(marker: TrackedMarker, reference: _LocalReference) -> _Site:
    start, ref, alt = _trim(marker.position, marker.ref, marker.alt)
    if ref and alt and len(ref) == len(alt):
        return _Site("substitution", start, ref, alt, start, start + len(ref))
    if not ref:
        left, inserted = _shift_insertion(reference, start, alt)
        right = _shift_insertion_right(reference, left, inserted)
        return _Site("insertion", left, "", inserted, left, right)
    if not alt:
        left = _shift_deletion(reference, start, len(ref))
        right = _shift_deletion_right(reference, left, len(ref))
        deleted = reference.slice(left, left + len(ref))
        if "N" in deleted:
            deleted = ref  # the reads do not cover it; the marker's own bases are all we have
        return _Site("deletion", left, deleted, "", left, right + len(ref))
    return _Site("complex", start, ref, alt, start, start + len(ref))


def _check_ref(marker: TrackedMarker, reference: _LocalReference, source: AlignmentSource) -> None:
    """Refuse a marker whose REF is not the reference the reads were aligned to.

    A mismatch almost always means a marker file of the other genome build: its counts would
    describe some other base, so no count is better than a wrong one.
    """
    first = marker.position - 1
    last = first + len(marker.ref)
    if not reference.known_from_md(first, last):
        return
    found = reference.slice(first, last)
    if found != marker.ref:
        raise InputFileError(
            f"marker {marker.label}: REF {marker.ref} does not match the reference {found} the "
            f"reads of {source.path} were aligned to at {marker.chrom}:{marker.position}; is the "
            "marker file from another genome build?"
        )


# --- reading one read -----------------------------------------------------------------------


def _blocks(read: pysam.AlignedSegment) -> list[tuple[int, int, int]]:
    """Aligned stretches as ``(reference start, reference end, query start)``."""
    blocks: list[tuple[int, int, int]] = []
    ref_pos = read.reference_start
    query_pos = 0
    for op, length in read.cigartuples or ():
        if op in _ALIGNED_OPS:
            blocks.append((ref_pos, ref_pos + length, query_pos))
            ref_pos += length
            query_pos += length
        elif op in (_INSERTION, _SOFT_CLIP):
            query_pos += length
        elif op in (_DELETION, _SKIP):
            ref_pos += length
    return blocks


@dataclass(frozen=True)
class _Indel:
    """An insertion or deletion in a read, left-normalised on the local reference.

    ``start`` is the reference base after the inserted bases, or the first deleted base.
    """

    kind: Literal["insertion", "deletion"]
    start: int
    length: int
    inserted: str

    @property
    def reference_end(self) -> int:
        """End of the reference bases the event removes (``start`` for an insertion)."""
        return self.start + (self.length if self.kind == "deletion" else 0)


def _indels(read: pysam.AlignedSegment, reference: _LocalReference) -> list[_Indel]:
    """Every insertion and deletion of a read's CIGAR, shifted as far left as it goes."""
    found: list[_Indel] = []
    ref_pos = read.reference_start
    query_pos = 0
    sequence = read.query_sequence or ""
    for op, length in read.cigartuples or ():
        if op in _ALIGNED_OPS:
            ref_pos += length
            query_pos += length
        elif op == _INSERTION:
            inserted = sequence[query_pos : query_pos + length].upper()
            if inserted:
                start, inserted = _shift_insertion(reference, ref_pos, inserted)
                found.append(_Indel("insertion", start, length, inserted))
            query_pos += length
        elif op == _DELETION:
            start = _shift_deletion(reference, ref_pos, length)
            found.append(_Indel("deletion", start, length, ""))
            ref_pos += length
        elif op == _SKIP:
            ref_pos += length
        elif op == _SOFT_CLIP:
            query_pos += length
    return found


def _aligned_over(blocks: Sequence[tuple[int, int, int]], first: int, last: int) -> bool:
    """Whether every reference base of ``[first, last)`` has a read base on it."""
    covered = sum(max(0, min(end, last) - max(start, first)) for start, end, _ in blocks)
    return covered >= last - first


def _query_at(blocks: Sequence[tuple[int, int, int]], position: int) -> int | None:
    for start, end, query_start in blocks:
        if start <= position < end:
            return query_start + position - start
    return None


def _read_codes(
    read: pysam.AlignedSegment,
    blocks: Sequence[tuple[int, int, int]],
    first: int,
    last: int,
    min_base_quality: int,
) -> Codes:
    """Base codes of the read over reference ``[first, last)``; -1 where it has no usable base."""
    codes = np.full(last - first, _NO_CALL, dtype=np.int8)
    sequence = read.query_sequence
    qualities = read.query_qualities
    if not sequence or qualities is None:
        return codes
    query = _CODE[np.frombuffer(sequence.encode(), dtype=np.uint8)]
    good = np.asarray(qualities, dtype=np.int16) >= min_base_quality
    usable = np.where(good, query, np.int8(_NO_CALL)).astype(np.int8)
    for start, end, query_start in blocks:
        lo, hi = max(start, first), min(end, last)
        if lo < hi:
            offset = query_start + lo - start
            codes[lo - first : hi - first] = usable[offset : offset + hi - lo]
    return codes


def _indel_call(
    site: _Site,
    blocks: Sequence[tuple[int, int, int]],
    indels: Sequence[_Indel],
    min_flank: int,
) -> Call | None:
    left = site.zone_start - min_flank
    right = site.zone_end + min_flank
    if not (
        _aligned_over(blocks, left, site.zone_start) and _aligned_over(blocks, site.zone_end, right)
    ):
        return None
    nearby = [i for i in indels if i.reference_end > left and i.start < right]
    if not nearby:
        return "ref"
    if len(nearby) > 1:
        return None
    event = nearby[0]
    if event.kind != site.kind or event.start != site.start:
        return None
    if site.kind == "insertion":
        return "alt" if event.inserted == site.alt else None
    return "alt" if event.length == len(site.ref) else None


def _complex_call(
    site: _Site,
    read: pysam.AlignedSegment,
    blocks: Sequence[tuple[int, int, int]],
    min_flank: int,
    min_base_quality: int,
) -> Call | None:
    if not (
        _aligned_over(blocks, site.zone_start - min_flank, site.zone_start)
        and _aligned_over(blocks, site.zone_end, site.zone_end + min_flank)
    ):
        return None
    before = _query_at(blocks, site.zone_start - 1)
    after = _query_at(blocks, site.zone_end)
    sequence = read.query_sequence
    qualities = read.query_qualities
    if before is None or after is None or after <= before or not sequence or qualities is None:
        return None
    if any(q < min_base_quality for q in qualities[before + 1 : after]):
        return None
    between = sequence[before + 1 : after].upper()
    if between == site.alt:
        return "alt"
    return "ref" if between == site.ref else None


def _substitution_call(seen: Codes, alt: Codes, ref: Codes) -> Call | None:
    """ALT or REF when every base of the site is usable and all match one allele."""
    if len(seen) < len(ref) or bool((seen < 0).any()):
        return None
    if bool((seen == alt).all()):
        return "alt"
    return "ref" if bool((seen == ref).all()) else None


def _codes(bases: str) -> Codes:
    return _CODE[np.frombuffer(bases.encode(), dtype=np.uint8)]


# --- templates and molecules -----------------------------------------------------------------


@dataclass
class _ReadResult:
    call: Call | None
    codes: Codes | None
    indels: list[_Indel]
    span: tuple[int, int]


def _template_call(results: Iterable[_ReadResult]) -> Call | Literal["conflict"] | None:
    calls = {r.call for r in results if r.call is not None}
    if len(calls) > 1:
        return "conflict"
    return next(iter(calls), None)


def _merge_codes(codes: Sequence[Codes]) -> Codes:
    """One template's bases: a base both mates read differently is a conflict, not evidence."""
    merged: Codes = codes[0].copy()
    for other in codes[1:]:
        both = (merged >= 0) & (other >= 0)
        merged = np.where(merged >= 0, merged, other).astype(np.int8)
        merged[both & (merged != other)] = _CONFLICT
    return merged


def _molecules(
    reads: Sequence[pysam.AlignedSegment], calls: dict[str, Call]
) -> tuple[int | None, int | None]:
    """ALT and REF families by majority of their informative templates; None without UMIs."""
    if not has_umis(itertools.islice(reads, UMI_SAMPLE)):
        return None, None
    grouping = group_families(r for r in reads if (r.query_name or "") in calls)
    votes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for name, call in calls.items():
        family = grouping.family_of(name)
        if family is not None:
            votes[family.family_id][0 if call == "alt" else 1] += 1
    alt = sum(1 for a, r in votes.values() if a > r)
    ref = sum(1 for a, r in votes.values() if r > a)
    return alt, ref


# --- background ------------------------------------------------------------------------------


def _background_positions(site: _Site, window: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Positions of the window outside the site and its repeat (at least the site's own base)."""
    first, last = window
    mask = np.ones(last - first, dtype=bool)
    end = max(site.zone_end, site.zone_start + 1)
    mask[max(0, site.zone_start - first) : max(0, end - first)] = False
    return mask


def _substitution_background(
    site: _Site,
    merged: Sequence[Codes],
    reference: _LocalReference,
    window: tuple[int, int],
) -> tuple[int, int, str]:
    """Count the marker's substitution at the other positions of the window.

    An SNV is compared with the same change (strand-agnostic: C>T also counts G>A at G
    positions) at positions of the same reference base, because error rates differ a lot between
    substitution classes (oxidation gives G>T, deamination C>T). An MNV is compared with runs of
    as many adjacent mismatches, which are far rarer than single ones.
    """
    if not merged:
        return 0, 0, ""
    matrix = np.vstack(merged)
    ref_codes = reference.codes(*window)
    positions = _background_positions(site, window) & (ref_codes >= 0)
    observed = matrix >= 0
    if len(site.ref) > 1:
        n = len(site.ref)
        width = matrix.shape[1] - n + 1
        if width <= 0:
            return 0, 0, f"{n}-base substitution"
        seen = np.ones((matrix.shape[0], width), dtype=bool)
        differ = np.ones((matrix.shape[0], width), dtype=bool)
        allowed = np.ones(width, dtype=bool)
        for k, (ref_base, alt_base) in enumerate(zip(site.ref, site.alt, strict=True)):
            seen &= observed[:, k : k + width]
            allowed &= positions[k : k + width]
            if ref_base != alt_base:  # a base the MNV keeps (ACG>TCA) need not change
                differ &= matrix[:, k : k + width] != ref_codes[k : k + width]
        depth = int((seen & allowed).sum())
        alt = int((seen & differ & allowed).sum())
        return alt, depth, f"{n}-base substitution"
    ref_base, alt_base = site.ref, site.alt
    expected = np.full(len(ref_codes), -9, dtype=np.int8)
    expected[ref_codes == _CODE[ord(ref_base)]] = _CODE[ord(alt_base)]
    expected[ref_codes == _CODE[ord(_COMPLEMENT[ref_base])]] = _CODE[ord(_COMPLEMENT[alt_base])]
    of_class = positions & (expected >= 0)
    if int(of_class.sum()) >= MIN_CLASS_POSITIONS:
        depth = int((observed & of_class).sum())
        alt = int(((matrix == expected) & of_class).sum())
        label = f"{ref_base}>{alt_base}"
        return alt, depth, label
    depth = int((observed & positions).sum())
    alt = int((observed & (matrix != ref_codes) & positions).sum())
    return alt, depth, "any substitution"


def _indel_background(
    site: _Site, templates: Iterable[Sequence[_ReadResult]], window: tuple[int, int]
) -> tuple[int, int, str]:
    """Count indels of the marker's type and length that start at other positions of the window.

    Depth is every template's covered positions there. An event seen in one mate but not in the
    other mate covering the same bases is a conflict and not counted, as at the site itself.
    """
    first, last = window
    mask = _background_positions(site, window)
    if site.kind == "complex":
        label = "any indel"
    else:
        label = f"{len(site.ref) or len(site.alt)}-bp {site.kind}"
    alt = depth = 0
    for results in templates:
        covered = np.zeros(last - first, dtype=bool)
        for result in results:
            lo, hi = max(result.span[0], first), min(result.span[1], last)
            if lo < hi:
                covered[lo - first : hi - first] = True
        depth += int((covered & mask).sum())
        events: set[_Indel] = set()
        for result in results:
            for event in result.indels:
                if not (first <= event.start < last) or not mask[event.start - first]:
                    continue
                if site.kind != "complex" and (
                    event.kind != site.kind or event.length != len(site.ref or site.alt)
                ):
                    continue
                if any(
                    other is not result
                    and other.span[0] < event.start
                    and other.span[1] > event.reference_end
                    and event not in other.indels
                    for other in results
                ):
                    continue  # the other mate reads these bases without the event
                events.add(event)
        alt += len(events)
    return alt, depth, label


# --- the count -------------------------------------------------------------------------------


def count_site(
    source: AlignmentSource,
    marker: TrackedMarker,
    *,
    read_filter: ReadFilter | None = None,
    min_base_quality: int = 20,
    min_flank: int = 5,
    background_flank: int = 50,
) -> SiteCount:
    """Count reads, templates and molecules showing a marker's ALT and REF, plus its background.

    Records are fetched over the site and ``background_flank`` bases on each side and filtered
    by ``read_filter`` (duplicates, secondary and supplementary records do not count). Mates are
    joined by name into templates; a template whose mates disagree is counted in ``conflicting``
    only. With UMIs (RX or MI tags, or UMIs in the read names) the informative templates are
    grouped into families and each family votes by majority (ties count for neither).

    The background is the sample's own error rate for the same kind of event, counted with the
    same rules at the positions within ``background_flank`` of the site, minus the site and its
    repeat. It gives a per-sample error estimate when no panel-of-normals model is at hand, and
    flags a sample whose error rate is off (damaged DNA, a bad run) before its ALT count is
    believed. The choices:

    * SNV: the same substitution, strand-agnostic (C>T also counts G>A), at positions with the
      same reference base (or its complement), base quality as at the site; depth is all usable
      observations at those positions. With fewer than :data:`MIN_CLASS_POSITIONS` such
      positions, any substitution at any position.
    * MNV: runs of as many adjacent substituted bases, at every start position.
    * Insertion or deletion: events of the same type and length starting at another position
      (after left-normalisation); depth is templates x positions covered. Complex: any indel.

    Args:
        source: The open BAM or CRAM.
        marker: The marker; its chromosome is named the way the header names it.
        read_filter: Which records count; defaults to :class:`ReadFilter` defaults.
        min_base_quality: Bases below this quality are not read (SNV, MNV, complex, and the
            substitution background).
        min_flank: Aligned bases a read needs on each side of an indel's repeat to count.
        background_flank: Bases on each side of the site searched for background events.

    Returns:
        The counts; a site without reads gives zeros.

    Raises:
        RegionError: The marker's chromosome is not in the header, or the site lies past its end.
        InputFileError: The marker's REF differs from the reference the reads were aligned to
            (a marker file of another build), or the file is corrupt.
    """
    chrom = source.genome.chrom(marker.chrom)
    if chrom not in source.lengths:
        example = next(iter(source.lengths), "none")
        raise RegionError(
            f"marker {marker.label}: chromosome {chrom!r} is not in the header of {source.path} "
            f"(it names chromosomes like {example!r})"
        )
    length = source.lengths[chrom]
    last_base = marker.position + len(marker.ref) - 1
    if last_base > length:
        raise RegionError(
            f"marker {marker.label} lies past the end of {chrom} ({length:,} bp) in {source.path}"
        )
    region = Region(
        chrom,
        max(1, marker.position - background_flank),
        min(length, last_base + background_flank),
        marker.label,
    )
    counts = FilterCounts()
    reads = [
        read
        for read, reason in iter_region(source, region, read_filter, counts, allow_empty=True)
        if reason is None
    ]
    reference = _local_reference(reads)
    if reference is None:
        return SiteCount(marker, 0, 0, 0, None, None, 0, 0, counts)
    _check_ref(marker, reference, source)
    site = _site(marker, reference)
    # Normalisation may move an indel's zone left of the marker's POS; the window stays inside
    # the fetched region so every read over a background position was seen.
    window = (
        max(region.start - 1, site.zone_start - background_flank),
        min(region.end, site.zone_end + background_flank),
    )

    alt_codes, ref_codes = _codes(site.alt), _codes(site.ref)
    offset = site.start - window[0]
    by_template: dict[str, list[_ReadResult]] = defaultdict(list)
    for read in reads:
        blocks = _blocks(read)
        span = (int(read.reference_start), int(read.reference_end or read.reference_start))
        if site.kind == "substitution":
            codes = _read_codes(read, blocks, *window, min_base_quality)
            call = _substitution_call(codes[offset : offset + len(site.ref)], alt_codes, ref_codes)
            result = _ReadResult(call, codes, [], span)
        else:
            indels = _indels(read, reference)
            if site.kind == "complex":
                call = _complex_call(site, read, blocks, min_flank, min_base_quality)
            else:
                call = _indel_call(site, blocks, indels, min_flank)
            result = _ReadResult(call, None, indels, span)
        by_template[read.query_name or ""].append(result)

    alt = ref = conflicting = 0
    calls: dict[str, Call] = {}
    for name, results in by_template.items():
        verdict = _template_call(results)
        if verdict == "conflict":
            conflicting += 1
        elif verdict is not None:
            calls[name] = verdict
            if verdict == "alt":
                alt += 1
            else:
                ref += 1
    alt_molecules, ref_molecules = _molecules(reads, calls)

    if site.kind == "substitution":
        merged = [
            _merge_codes([r.codes for r in results if r.codes is not None])
            for results in by_template.values()
        ]
        background = _substitution_background(site, merged, reference, window)
    else:
        background = _indel_background(site, by_template.values(), window)
    background_alt, background_depth, event = background
    log.debug(
        "%s: %d ALT / %d REF templates (%d conflicting) in %s",
        marker.label,
        alt,
        ref,
        conflicting,
        source.path,
    )
    return SiteCount(
        marker=marker,
        alt_templates=alt,
        ref_templates=ref,
        conflicting=conflicting,
        alt_molecules=alt_molecules,
        ref_molecules=ref_molecules,
        background_alt=background_alt,
        background_depth=background_depth,
        read_filter=counts,
        background_event=event,
    )
