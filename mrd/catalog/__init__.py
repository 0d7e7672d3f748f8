"""Built-in marker catalog: reference windows and annotation for FLT3 and NPM1 on both builds.

Marker code takes its local reference from here, so a lab needs no genome FASTA to call FLT3-ITD
or NPM1. The data are versioned (:data:`CATALOG_VERSION`) and every result should carry the
version it was made with.
"""

from mrd.catalog.annotation import (
    CATALOG_VERSION,
    Exon,
    Flt3Annotation,
    Npm1Annotation,
    Npm1Type,
    flt3,
    npm1,
)
from mrd.catalog.windows import ReferenceWindow, reference_window, verify_reference

__all__ = [
    "CATALOG_VERSION",
    "Exon",
    "Flt3Annotation",
    "Npm1Annotation",
    "Npm1Type",
    "ReferenceWindow",
    "flt3",
    "npm1",
    "reference_window",
    "verify_reference",
]
