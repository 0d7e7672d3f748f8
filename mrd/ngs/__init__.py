"""Reading alignments: open BAM/CRAM, detect the build, fetch regions, filter reads, UMIs."""

from mrd.ngs.alignment import AlignmentFormat, AlignmentSource, open_alignments
from mrd.ngs.fetch import ClassifiedRead, count_region, has_records, iter_region
from mrd.ngs.filters import DropReason, FilterCounts, ReadFilter
from mrd.ngs.region import Region, marker_regions, merge_regions

__all__ = [
    "AlignmentFormat",
    "AlignmentSource",
    "ClassifiedRead",
    "DropReason",
    "FilterCounts",
    "ReadFilter",
    "Region",
    "count_region",
    "has_records",
    "iter_region",
    "marker_regions",
    "merge_regions",
    "open_alignments",
]
