"""Duplication-aware realignment of reads against a reference window.

Aligners show an ITD in many ways (a CIGAR insertion, a soft clip, a split alignment, an
unmapped mate), and which one depends on the aligner, the read length and the ITD length. We do
not trust any of them: every read that does not align cleanly is placed again on the window from
its own bases. A read from an ITD allele reads ``ref[..p] + N + ref[q..]``: its left part lies
on one diagonal of the window, its right part on a diagonal ``L`` bases lower, where ``L`` is the
whole inserted length. That shift is measured from a single junction-spanning read, so an ITD
longer than the reads is still sized exactly.

Everything here works on plain strings and numpy arrays; nothing reads a BAM.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

ByteArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]

KMER = 12
"""Seed length: unique 12-mers of a few-kb window rarely occur by chance (about 1 in 10,000)."""

_PAD = 2048
_PAD_BYTE = 0  # never equal to a read base, so bases off the window always mismatch
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(sequence: str) -> str:
    """The other strand of a DNA sequence."""
    return sequence.translate(_COMPLEMENT)[::-1]


def as_bytes(sequence: str) -> ByteArray:
    """ASCII codes of a sequence, the form the match arithmetic works on."""
    return np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)


class PaddedSequence:
    """A sequence with sentinel padding, so a read can be compared at any offset near it."""

    def __init__(self, sequence: str) -> None:
        self.sequence = sequence
        pad = np.full(_PAD, _PAD_BYTE, dtype=np.uint8)
        self._padded = np.concatenate([pad, as_bytes(sequence), pad])

    def __len__(self) -> int:
        return len(self.sequence)

    def matches(self, read: ByteArray, offset: int) -> BoolArray:
        """Per-base equality of ``read`` placed with its first base at ``offset``."""
        start = offset + _PAD
        end = start + len(read)
        if start < 0 or end > len(self._padded):
            return np.zeros(len(read), dtype=np.bool_)
        return np.asarray(read == self._padded[start:end], dtype=np.bool_)

    def mismatches(self, read: ByteArray, offset: int) -> int:
        """Number of read bases that differ from the sequence at this placement."""
        return int(len(read) - self.matches(read, offset).sum())


class WindowIndex:
    """Unique k-mers of a reference window, for seeding read placements."""

    def __init__(self, sequence: str, k: int = KMER) -> None:
        self.k = k
        self.reference = PaddedSequence(sequence.upper())
        counts = Counter(sequence[i : i + k] for i in range(len(sequence) - k + 1))
        self._unique = {
            sequence[i : i + k]: i
            for i in range(len(sequence) - k + 1)
            if counts[sequence[i : i + k]] == 1
        }

    @property
    def sequence(self) -> str:
        """The window's bases (plus strand)."""
        return self.reference.sequence

    def seeds(self, read: str) -> list[tuple[int, int]]:
        """``(read position, diagonal)`` of every read k-mer found once in the window.

        The diagonal is ``window offset - read position``: all bases of an ungapped stretch
        share it.
        """
        k = self.k
        unique = self._unique
        hits = []
        for i in range(len(read) - k + 1):
            offset = unique.get(read[i : i + k])
            if offset is not None:
                hits.append((i, offset - i))
        return hits


@dataclass(frozen=True)
class Junction:
    """A read explained as two window stretches joined by an optional run of new bases.

    Attributes:
        left_diagonal: Diagonal of the read's left part.
        right_diagonal: Diagonal of the read's right part.
        split: Read position where the left part ends (exclusive).
        nontemplated: Read bases between the parts that match neither.
        left_anchor: Bases of the read on the left part.
        right_anchor: Bases of the read on the right part.
        mismatches: Mismatches of both parts together.
    """

    left_diagonal: int
    right_diagonal: int
    split: int
    nontemplated: str
    left_anchor: int
    right_anchor: int
    mismatches: int

    @property
    def shift(self) -> int:
        """Inserted length: positive for a duplication or insertion, negative for a deletion."""
        return self.left_diagonal - self.right_diagonal

    @property
    def left_end(self) -> int:
        """Window offset of the last base of the left part (``p``)."""
        return self.split - 1 + self.left_diagonal

    @property
    def right_start(self) -> int:
        """Window offset of the first base of the right part (``q``)."""
        return self.split + len(self.nontemplated) + self.right_diagonal


NONTEMPLATED_COST = 0.9
"""Cost of a base between the parts, just below a mismatch: at the junction a base that matches
neither side is more likely part of the insertion than a sequencing error."""


JUNCTION_CLEARANCE = 12
"""Bases on each side of a junction that must match their part exactly: as long as a seed, so
new bases that happen to match the reference for a few bases are still taken as new."""


def _clear_junction(
    miss_left: BoolArray, miss_right: BoolArray, split: int, new: int
) -> tuple[int, int]:
    """Move mismatches next to the junction into the non-templated run.

    New bases between the copies match the reference by chance about one time in four, so the
    cheapest split may hide a few of them in an anchor as "mismatches", and the allele rebuilt
    from reference bases would then be wrong for every read of the clone. Requiring the last
    and first few anchor bases to match puts them back where they belong. A true sequencing
    error there costs the read its clone (it forms its own tiny candidate, which the caller
    recognises as a shadow of the clone).
    """
    clearance = JUNCTION_CLEARANCE
    while True:
        changed = False
        low = max(0, split - clearance)
        near = np.flatnonzero(miss_left[low:split])
        if len(near):
            cut = low + int(near[0])
            new += split - cut
            split = cut
            changed = True
        start = split + new
        near = np.flatnonzero(miss_right[start : start + clearance])
        if len(near):
            new = start + int(near[-1]) + 1 - split
            changed = True
        if not changed:
            return split, new


def _end_diagonals(seeds: list[tuple[int, int]], min_run: int) -> tuple[int, int] | None:
    """Diagonals of the first and last well-supported stretch of a read, if they differ.

    A single 12-mer of a read matches some other unique 12-mer of a 2-kb window about once
    in a hundred reads, so the first or last seed alone would often found a junction on a
    chance match: at a million-fold depth a few such reads share a "duplication" of hundreds
    of bases. A stretch is trusted when ``min_run`` seeds share its diagonal, as an exact
    match of a whole anchor gives.
    """
    left = _first_trusted(seeds, min_run)
    if left is None:
        return None
    right = _first_trusted(reversed(seeds), min_run)
    return None if right is None or right == left else (left, right)


def _first_trusted(seeds: Iterable[tuple[int, int]], min_run: int) -> int | None:
    run, size = None, 0
    for _, diagonal in seeds:
        if diagonal == run:
            size += 1
        else:
            run, size = diagonal, 1
        if size >= min_run:
            return diagonal
    return None


def find_junction(
    index: WindowIndex,
    read: str,
    read_bytes: ByteArray,
    seeds: list[tuple[int, int]],
    *,
    min_anchor: int,
    max_mismatch_rate: float = 0.08,
    min_gain: int = 3,
) -> Junction | None:
    """Split a read into a left and a right window stretch, if its seeds lie on two diagonals.

    The diagonals of the leftmost and the rightmost trusted stretch (see
    :func:`_end_diagonals`) are taken as the two parts; the split point and any bases in
    between are then chosen to minimise mismatches, so a junction found from 12-mer seeds is
    placed to the base.

    A junction must also explain the read better than either part's diagonal alone, by
    ``min_gain`` mismatches: a sequencing error near a read's end can make its last bases match
    a diverged repeat copy elsewhere in the window (the FLT3 introns hold Alu elements), and the
    read would otherwise found a "duplication" of a thousand bases that fits it no better than
    the wild type does.

    Returns:
        The junction, or None when the read lies on one diagonal or a part is too short or
        too noisy to trust.
    """
    parts = _end_diagonals(seeds, min_run=max(1, min_anchor - index.k + 1))
    if parts is None:
        return None
    left, right = parts
    length = len(read)
    shift = left - right
    reference = index.reference
    miss_left = ~reference.matches(read_bytes, left)
    miss_right = ~reference.matches(read_bytes, right)
    prefix = np.concatenate([[0], np.cumsum(miss_left)])  # mismatches in read[:j] on left
    suffix = np.concatenate([np.cumsum(miss_right[::-1])[::-1], [0]])  # in read[j:] on right
    max_new = max(0, min(shift, length - 2 * min_anchor))
    # cost[n, j]: left part read[:j], n new bases, right part read[j + n:]. Row-major argmin
    # takes the fewest new bases, then the leftmost split, among equal costs.
    new = np.arange(max_new + 1)[:, None]
    split = np.arange(length + 1)[None, :]
    end = split + new
    cost = prefix[split] + suffix[np.minimum(end, length)] + NONTEMPLATED_COST * new
    cost = np.where(end <= length, cost, np.inf)
    n, j = (int(x) for x in np.unravel_index(int(np.argmin(cost)), cost.shape))
    j, n = _clear_junction(miss_left, miss_right, j, n)
    if n > max(shift, 0):
        return None
    left_anchor, right_anchor = j, length - j - n
    if left_anchor < min_anchor or right_anchor < min_anchor:
        return None
    mismatches = int(prefix[j] + suffix[j + n])
    if mismatches > 1 + max_mismatch_rate * (left_anchor + right_anchor):
        return None
    if mismatches > min(int(prefix[-1]), int(suffix[0])) - min_gain:
        return None
    return Junction(left, right, j, read[j : j + n], left_anchor, right_anchor, mismatches)


def left_normalise_insertion(reference: str, after: int, inserted: str) -> tuple[int, str]:
    """Shift an insertion as far left as the sequence allows, as VCF normalisation does.

    Args:
        reference: Window bases.
        after: 0-based offset of the base the insertion follows.
        inserted: Inserted bases.

    Returns:
        ``(after, inserted)`` of the leftmost equivalent insertion.
    """
    while after > 0 and reference[after] == inserted[-1]:
        inserted = reference[after] + inserted[:-1]
        after -= 1
    return after, inserted


@dataclass(frozen=True)
class Insertion:
    """An inserted allele of the window: ``inserted`` bases after window offset ``after``.

    Left-normalised on construction by :func:`insertion_allele`, so two reads of the same allele
    give equal keys however their aligner (or our split) placed the junction.
    """

    after: int
    inserted: str

    @property
    def length(self) -> int:
        """Inserted bases."""
        return len(self.inserted)


def insertion_allele(reference: str, junction: Junction) -> Insertion | None:
    """The left-normalised insertion a duplication-type junction implies, or None otherwise."""
    p, q = junction.left_end, junction.right_start
    if junction.shift <= 0 or q > p + 1 or p < 0 or p >= len(reference) - 1 or q < 0:
        return None
    inserted = junction.nontemplated + reference[q : p + 1]
    after, inserted = left_normalise_insertion(reference, p, inserted)
    return Insertion(after, inserted)


@dataclass(frozen=True)
class Duplication:
    """How an insertion decomposes into a tandem copy of window bases and new bases.

    The allele reads ``ref[: left_end + 1] + nontemplated + ref[right_start:]``, with the
    duplicated segment ``ref[right_start : left_end + 1]`` (empty for a plain insertion).
    Among equivalent splits the one with the fewest new bases is chosen, and then the
    leftmost segment, which for FLT3 on the minus strand is the HGVS 3' rule.
    """

    left_end: int
    right_start: int
    nontemplated: str

    @property
    def duplicated_length(self) -> int:
        """Length of the templated (duplicated) part."""
        return max(0, self.left_end - self.right_start + 1)


def decompose(reference: str, allele: Insertion) -> Duplication:
    """Find the duplicated segment and the non-templated bases of an insertion."""
    alt = reference[: allele.after + 1] + allele.inserted + reference[allele.after + 1 :]
    common_prefix = allele.after + 1
    while common_prefix < len(reference) and alt[common_prefix] == reference[common_prefix]:
        common_prefix += 1
    common_suffix = len(reference) - (allele.after + 1)
    while (
        common_suffix < len(reference)
        and alt[len(alt) - 1 - common_suffix] == reference[len(reference) - 1 - common_suffix]
    ):
        common_suffix += 1
    p = common_prefix - 1
    q = len(reference) - common_suffix
    new = allele.length + q - p - 1
    if new <= 0:
        # Pure tandem duplication: p and q may slide together; take the leftmost copy.
        q = len(reference) - common_suffix
        return Duplication(q + allele.length - 1, q, "")
    return Duplication(p, q, alt[p + 1 : p + 1 + new])


class Haplotype:
    """The window with one insertion, and the map from window to haplotype coordinates."""

    def __init__(self, reference: str, allele: Insertion) -> None:
        self.allele = allele
        self.duplication = decompose(reference, allele)
        self.sequence = (
            reference[: allele.after + 1] + allele.inserted + reference[allele.after + 1 :]
        )
        self.padded = PaddedSequence(self.sequence)

    @property
    def length(self) -> int:
        """Inserted bases (the shift between the two parts)."""
        return self.allele.length

    @cached_property
    def junction(self) -> tuple[int, int]:
        """Haplotype offsets of the last base before and first base after the new junction.

        Everything strictly between them is the non-templated run; a read must extend past
        both to prove the junction.
        """
        dup = self.duplication
        return dup.left_end, dup.left_end + len(dup.nontemplated) + 1

    def edge_offsets(self, left_base: int) -> list[int]:
        """Haplotype offsets where the window edge ``left_base | left_base + 1`` appears.

        A window edge inside the duplicated segment appears twice (once per copy).
        """
        dup = self.duplication
        places = []
        if left_base + 1 <= dup.left_end:
            places.append(left_base)
        if left_base >= dup.right_start:
            places.append(left_base + self.length)
        return places
