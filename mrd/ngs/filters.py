"""Read filters that count every read they drop, by reason.

Every later step reports what it dropped and why, so a lab can tell a low-depth sample from an
over-strict filter. Each fetched record is counted exactly once: as used, or under the first
reason that applies, in the fixed order of :class:`DropReason`. Secondary and supplementary
records are *counted* as dropped for depth (they repeat a read already counted by its primary
record) but are still handed to marker code, because long FLT3-ITDs show up only there.
"""

from __future__ import annotations

import enum
import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pysam


class DropReason(str, enum.Enum):
    """Why a record does not count towards depth; the order is the order of precedence."""

    UNMAPPED = "unmapped"
    QC_FAIL = "qc_fail"
    DUPLICATE = "duplicate"
    SECONDARY = "secondary"
    SUPPLEMENTARY = "supplementary"
    LOW_MAPQ = "low_mapq"
    LOW_BASE_QUALITY = "low_base_quality"

    def __str__(self) -> str:
        return self.value

    @property
    def keeps_evidence(self) -> bool:
        """Whether marker code may still look at such a record for split-read evidence."""
        return self in (DropReason.SECONDARY, DropReason.SUPPLEMENTARY)


@dataclass(frozen=True)
class ReadFilter:
    """Which records count as depth.

    Attributes:
        min_mapq: Records with a lower mapping quality are dropped (``low_mapq``).
        min_mean_base_quality: Records whose mean base quality is lower are dropped
            (``low_base_quality``); records without stored qualities are dropped too, since
            their error rate cannot be judged.
        drop_duplicates: Drop records flagged 0x400. Turn off for amplicon data, where
            position-based duplicate marking flags nearly every read, and for UMI data, where
            families replace duplicate marking.
    """

    min_mapq: int = 20
    min_mean_base_quality: float = 20.0
    drop_duplicates: bool = True

    def classify(self, read: pysam.AlignedSegment) -> DropReason | None:
        """The first reason that drops ``read``, or None when it counts."""
        flag = read.flag
        if flag & 0x4:
            return DropReason.UNMAPPED
        if flag & 0x200:
            return DropReason.QC_FAIL
        if flag & 0x400 and self.drop_duplicates:
            return DropReason.DUPLICATE
        if flag & 0x100:
            return DropReason.SECONDARY
        if flag & 0x800:
            return DropReason.SUPPLEMENTARY
        if read.mapping_quality < self.min_mapq:
            return DropReason.LOW_MAPQ
        qualities = read.query_qualities
        if qualities is None or len(qualities) == 0:
            return DropReason.LOW_BASE_QUALITY
        if quality_sum(qualities) < self.min_mean_base_quality * len(qualities):
            return DropReason.LOW_BASE_QUALITY
        return None


_ADLER_MODULUS = 65521
_ADLER_EXACT = (_ADLER_MODULUS - 2) // 255  # 256 bytes: 1 + their sum stays below the modulus


def quality_sum(qualities: bytes | bytearray | memoryview | array[int]) -> int:
    """The sum of a read's base qualities, one byte each (pysam's ``array('B')``).

    Any buffer of one byte a quality works; a wider array would be misread. Every record is
    filtered, and ``sum()`` over pysam's array costs about 0.9 microseconds a read of 150
    bases, a tenth of ``mrd call``'s time. The first half of an Adler-32 checksum (zlib, in
    C) is one plus the byte sum, modulo 65521: exact for up to 256 bytes, whatever their
    values, and seven times faster. Longer reads are summed the slow way.
    """
    if len(qualities) <= _ADLER_EXACT:
        return (zlib.adler32(qualities) & 0xFFFF) - 1
    return sum(qualities)


@dataclass
class FilterCounts:
    """Records seen, used, and dropped per reason; ``fetched == used + sum(dropped)`` always.

    Attributes:
        fetched: Records the index returned.
        used: Records that count towards depth.
        dropped: Records dropped, per reason (every reason present, zero when unused).
    """

    fetched: int = 0
    used: int = 0
    dropped: dict[DropReason, int] = field(default_factory=lambda: dict.fromkeys(DropReason, 0))

    def record(self, reason: DropReason | None) -> None:
        """Count one fetched record under ``reason`` (None = used)."""
        self.fetched += 1
        if reason is None:
            self.used += 1
        else:
            self.dropped[reason] += 1

    def add(self, used: int, dropped: Mapping[DropReason, int]) -> None:
        """Count many records at once: ``used`` used, and ``dropped`` per reason."""
        self.used += used
        self.fetched += used
        for reason, count in dropped.items():
            self.dropped[reason] += count
            self.fetched += count

    @property
    def total_dropped(self) -> int:
        """All dropped records, whatever the reason."""
        return sum(self.dropped.values())

    def is_consistent(self) -> bool:
        """Whether every fetched record is accounted for exactly once."""
        return self.fetched == self.used + self.total_dropped

    def __add__(self, other: FilterCounts) -> FilterCounts:
        return FilterCounts(
            fetched=self.fetched + other.fetched,
            used=self.used + other.used,
            dropped={r: self.dropped[r] + other.dropped[r] for r in DropReason},
        )

    @classmethod
    def total(cls, parts: Iterable[FilterCounts]) -> FilterCounts:
        """Sum counts from several regions or samples."""
        result = cls()
        for part in parts:
            result = result + part
        return result

    def as_dict(self) -> dict[str, int]:
        """Flat mapping for JSON, TSV and MultiQC, reasons in precedence order."""
        flat = {"fetched": self.fetched, "used": self.used}
        flat.update({reason.value: self.dropped[reason] for reason in DropReason})
        return flat

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> FilterCounts:
        """Inverse of :meth:`as_dict`."""
        return cls(
            fetched=int(data["fetched"]),
            used=int(data["used"]),
            dropped={reason: int(data.get(reason.value, 0)) for reason in DropReason},
        )
