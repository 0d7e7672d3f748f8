"""mrd: molecular measurable residual disease monitoring in acute leukemia.

The public API is re-exported here; submodules are importable too, but names not listed in
``__all__`` may change between releases.
"""

from mrd.background import BackgroundModel, build_background
from mrd.batch import BatchResult, call_batch
from mrd.call import CallResult, CallSettings, call_sample
from mrd.catalog import CATALOG_VERSION, flt3, npm1, reference_window, verify_reference
from mrd.errors import MrdError
from mrd.genome import Build, GenomeInfo, detect_genome
from mrd.markers.flt3_itd import ItdFinding, ItdSettings, call_flt3_itd
from mrd.markers.npm1 import Npm1Finding, Npm1Settings, call_npm1
from mrd.markers.tracked import TrackedMarker, read_markers
from mrd.monitoring import MrdRules, load_rules, read_samplesheet
from mrd.monitoring.monitor import MonitorResult, MonitorSettings, monitor, write_outputs
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
from mrd.risk import DiagnosisGenetics, Mutation, RiskCall, classify_risk
from mrd.stats.sensitivity import Background, MrdCall, SensitivitySettings, assess_marker

__version__ = "0.1.0"

__all__ = [
    "CATALOG_VERSION",
    "AlignmentSource",
    "AlignmentSummary",
    "Background",
    "BackgroundModel",
    "BatchResult",
    "Build",
    "CallResult",
    "CallSettings",
    "DiagnosisGenetics",
    "DropReason",
    "FilterCounts",
    "GenomeInfo",
    "ItdFinding",
    "ItdSettings",
    "MonitorResult",
    "MonitorSettings",
    "MrdCall",
    "MrdError",
    "MrdRules",
    "Mutation",
    "Npm1Finding",
    "Npm1Settings",
    "ReadFilter",
    "Region",
    "RiskCall",
    "SensitivitySettings",
    "TrackedMarker",
    "__version__",
    "assess_marker",
    "build_background",
    "call_batch",
    "call_flt3_itd",
    "call_npm1",
    "call_sample",
    "classify_risk",
    "detect_genome",
    "flt3",
    "iter_region",
    "load_rules",
    "marker_regions",
    "monitor",
    "npm1",
    "open_alignments",
    "read_markers",
    "read_samplesheet",
    "reference_window",
    "summarize_alignments",
    "verify_reference",
    "write_outputs",
]
