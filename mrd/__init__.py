"""mrd: molecular measurable residual disease monitoring in acute leukemia.

The public API is re-exported here; submodules are importable too, but names not listed in
``__all__`` may change between releases.
"""

from mrd.call import CallResult, CallSettings, call_sample
from mrd.catalog import CATALOG_VERSION, flt3, npm1, reference_window, verify_reference
from mrd.errors import MrdError
from mrd.genome import Build, GenomeInfo, detect_genome
from mrd.markers.flt3_itd import ItdFinding, ItdSettings, call_flt3_itd
from mrd.ngs import (
    AlignmentSource,
    DropReason,
    FilterCounts,
    ReadFilter,
    Region,
    iter_region,
    marker_regions,
    open_alignments,
)
from mrd.ngs.summary import AlignmentSummary, summarize_alignments

__version__ = "0.1.0"

__all__ = [
    "CATALOG_VERSION",
    "AlignmentSource",
    "AlignmentSummary",
    "Build",
    "CallResult",
    "CallSettings",
    "DropReason",
    "FilterCounts",
    "GenomeInfo",
    "ItdFinding",
    "ItdSettings",
    "MrdError",
    "ReadFilter",
    "Region",
    "__version__",
    "call_flt3_itd",
    "call_sample",
    "detect_genome",
    "flt3",
    "iter_region",
    "marker_regions",
    "npm1",
    "open_alignments",
    "reference_window",
    "summarize_alignments",
    "verify_reference",
]
