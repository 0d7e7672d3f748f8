"""mrd: molecular measurable residual disease monitoring in acute leukemia.

The public API is re-exported here; submodules are importable too, but names not listed in
``__all__`` may change between releases.
"""

from mrd.catalog import CATALOG_VERSION, flt3, npm1, reference_window, verify_reference
from mrd.errors import MrdError
from mrd.genome import Build, GenomeInfo, detect_genome

__version__ = "0.1.0"

__all__ = [
    "CATALOG_VERSION",
    "Build",
    "GenomeInfo",
    "MrdError",
    "__version__",
    "detect_genome",
    "flt3",
    "npm1",
    "reference_window",
    "verify_reference",
]
