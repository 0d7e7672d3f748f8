"""MRD monitoring across a patient's samples: the sample sheet, the rules, the course.

:mod:`~mrd.monitoring.samplesheet` reads and fully checks the sheet that lists the samples
before any alignment is read; :mod:`~mrd.monitoring.config` holds the configurable MRD
thresholds; :mod:`~mrd.monitoring.timeline` turns one patient's per-sample calls into states
(MRD negative, low level, positive, molecular relapse or progression, confirmed or not).
"""

from __future__ import annotations

from mrd.monitoring.config import MrdRules, load_rules
from mrd.monitoring.samplesheet import (
    Disease,
    Problem,
    ReportedMutation,
    SampleRow,
    SampleSheet,
    SampleSheetError,
    Therapy,
    Timepoint,
    Tissue,
    name_problem,
    parse_mutations,
    parse_timepoint,
    read_samplesheet,
)
from mrd.monitoring.timeline import Measurement, MrdState, TimelineEntry, follow_patient

__all__ = [
    "Disease",
    "Measurement",
    "MrdRules",
    "MrdState",
    "Problem",
    "ReportedMutation",
    "SampleRow",
    "SampleSheet",
    "SampleSheetError",
    "Therapy",
    "TimelineEntry",
    "Timepoint",
    "Tissue",
    "follow_patient",
    "load_rules",
    "name_problem",
    "parse_mutations",
    "parse_timepoint",
    "read_samplesheet",
]
