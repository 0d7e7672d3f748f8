"""Realistic synthetic BAMs for tests, demos and in-silico limit-of-detection studies.

Reads are cut from haplotypes built on the catalog's FLT3 and NPM1 windows (wild type plus
FLT3-ITDs, NPM1 insertions, SNVs and indels at chosen fractions), given Illumina-like errors,
optionally UMIs and PCR-duplicate families, aligned with a real aligner (minimap2 through mappy,
or bwa mem) and written as a coordinate-sorted, indexed BAM at true genomic coordinates, with a
truth JSON beside it::

    from mrd.simulate import Flt3Itd, Npm1Insertion, SimulationSpec, simulate

    spec = SimulationSpec.of((Flt3Itd(60), 0.2), (Npm1Insertion("A"), 0.4), depth=500)
    result = simulate(spec, "sample.bam", seed=1)
"""

from mrd.errors import OutputError
from mrd.simulate.align import AlignerError
from mrd.simulate.core import SIMULATOR_VERSION, SimulationResult, default_truth_path, simulate
from mrd.simulate.haplotypes import default_amplicons, left_normalise
from mrd.simulate.parse import (
    parse_amplicon,
    parse_build,
    parse_indel,
    parse_itd,
    parse_npm1,
    parse_snv,
)
from mrd.simulate.spec import (
    ErrorModel,
    Flt3Itd,
    Haplotype,
    Indel,
    Npm1Insertion,
    SimulationSpec,
    Snv,
    SpecError,
    UmiSpec,
    Variant,
    load_spec,
    spec_from_dict,
)

__all__ = [
    "SIMULATOR_VERSION",
    "AlignerError",
    "ErrorModel",
    "Flt3Itd",
    "Haplotype",
    "Indel",
    "Npm1Insertion",
    "OutputError",
    "SimulationResult",
    "SimulationSpec",
    "Snv",
    "SpecError",
    "UmiSpec",
    "Variant",
    "default_amplicons",
    "default_truth_path",
    "left_normalise",
    "load_spec",
    "parse_amplicon",
    "parse_build",
    "parse_indel",
    "parse_itd",
    "parse_npm1",
    "parse_snv",
    "simulate",
    "spec_from_dict",
]
