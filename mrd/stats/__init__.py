"""Statistics behind an MRD result: error backgrounds, limits of blank and detection, calls.

Pure functions on counts (no files, no alignments), so every number in a report can be recomputed
from the counts it shows.
"""

from __future__ import annotations

from mrd.stats.sensitivity import (
    DEFAULT_SETTINGS,
    GENOME_EQUIVALENTS_PER_NG,
    LOD_FLOOR,
    NO_BACKGROUND,
    Background,
    MarkerAssessment,
    MrdCall,
    SensitivitySettings,
    assess_marker,
    detection_probability,
    detection_threshold,
    exact_interval,
    limit_of_blank,
    limit_of_detection,
    planning_lod,
    pooled_assessment,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "GENOME_EQUIVALENTS_PER_NG",
    "LOD_FLOOR",
    "NO_BACKGROUND",
    "Background",
    "MarkerAssessment",
    "MrdCall",
    "SensitivitySettings",
    "assess_marker",
    "detection_probability",
    "detection_threshold",
    "exact_interval",
    "limit_of_blank",
    "limit_of_detection",
    "planning_lod",
    "pooled_assessment",
]
