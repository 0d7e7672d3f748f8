"""Target regions: parsing, validation against a header, and the catalog's marker windows.

Regions are shown 1-based inclusive (as samtools prints them) but handed to pysam 0-based
half-open; keeping both in one type avoids the off-by-one that otherwise creeps in at every call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mrd.catalog.windows import all_windows
from mrd.errors import RegionError
from mrd.genome import GenomeInfo

_REGION = re.compile(r"^(?P<chrom>[^\s:]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


@dataclass(frozen=True, order=True)
class Region:
    """A stretch of one chromosome.

    Attributes:
        chrom: Chromosome name as the alignment header spells it.
        start: First position, 1-based.
        end: Last position, 1-based inclusive.
        name: Label for reports (for example the gene).
    """

    chrom: str
    start: int
    end: int
    name: str = ""

    def __post_init__(self) -> None:
        if self.start < 1 or self.end < self.start:
            raise RegionError(f"invalid region {self.chrom}:{self.start}-{self.end}")

    @classmethod
    def parse(cls, text: str, name: str = "") -> Region:
        """Parse ``chr13:28,033,301-28,034,800`` (commas allowed) into a region.

        Raises:
            RegionError: When the text is not ``CHROM:START-END`` with START <= END.
        """
        match = _REGION.match(text.strip())
        if match is None:
            raise RegionError(f"cannot parse region {text!r}; expected CHROM:START-END")
        start = int(match["start"].replace(",", ""))
        end = int(match["end"].replace(",", ""))
        return cls(match["chrom"], start, end, name)

    @property
    def pysam_args(self) -> tuple[str, int, int]:
        """``(contig, start, stop)`` 0-based half-open, for ``AlignmentFile.fetch``."""
        return self.chrom, self.start - 1, self.end

    def __len__(self) -> int:
        return self.end - self.start + 1

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start}-{self.end}"

    def check_against(self, lengths: Mapping[str, int]) -> None:
        """Refuse a region whose chromosome the header lacks or that runs past its end.

        Raises:
            RegionError: With the header's naming style in the message, since ``13`` against a
                ``chr13`` header is the usual cause.
        """
        if self.chrom not in lengths:
            example = next(iter(lengths), "none")
            raise RegionError(
                f"chromosome {self.chrom!r} of region {self} is not in the alignment header "
                f"(it names chromosomes like {example!r})"
            )
        if self.end > lengths[self.chrom]:
            raise RegionError(
                f"region {self} runs past the end of {self.chrom} ({lengths[self.chrom]:,} bp)"
            )


def marker_regions(genome: GenomeInfo) -> list[Region]:
    """The catalog's FLT3 and NPM1 windows named the way ``genome`` names chromosomes."""
    return [
        Region(genome.chrom(w.chrom), w.start, w.end, w.gene) for w in all_windows(genome.build)
    ]


def merge_regions(regions: list[Region]) -> list[Region]:
    """Merge overlapping or touching regions so no read is fetched (and counted) twice."""
    merged: list[Region] = []
    for region in sorted(regions, key=lambda r: (r.chrom, r.start, r.end)):
        last = merged[-1] if merged else None
        if last is not None and last.chrom == region.chrom and region.start <= last.end + 1:
            label = last.name if region.name in ("", last.name) else f"{last.name}+{region.name}"
            merged[-1] = Region(last.chrom, last.start, max(last.end, region.end), label)
        else:
            merged.append(region)
    return merged
