"""Genetic risk at diagnosis for AML (ELN) and T-ALL (oncogenetic classifiers).

:func:`classify_risk` runs every model that applies to a diagnosis and returns their calls.
The models are pure functions (no I/O) of a :class:`DiagnosisGenetics`; none guesses a missing
input: when one could change the category, the category is None and ``missing`` names it.
Rules, precedence choices and limits are described in docs/risk.md.
"""

from __future__ import annotations

from dataclasses import replace

from mrd.risk.eln import (
    MrdFlag,
    eln2017,
    eln2022,
    eln2024_less_intensive,
    mrd_informed_flags,
)
from mrd.risk.inputs import (
    CYTOGENETIC_TOKENS,
    DiagnosisGenetics,
    Factor,
    Mutation,
    RiskCall,
    RiskInputError,
    karyotype_failed,
    parse_cytogenetics,
    parse_mutations,
    unrecognised_cytogenetics,
)
from mrd.risk.tall import CombinedSettings, combined, four_gene, ngs_2024

__all__ = [
    "CYTOGENETIC_TOKENS",
    "CombinedSettings",
    "DiagnosisGenetics",
    "Factor",
    "MrdFlag",
    "Mutation",
    "RiskCall",
    "RiskInputError",
    "classify_risk",
    "combined",
    "eln2017",
    "eln2022",
    "eln2024_less_intensive",
    "four_gene",
    "karyotype_failed",
    "mrd_informed_flags",
    "ngs_2024",
    "parse_cytogenetics",
    "parse_mutations",
    "unrecognised_cytogenetics",
]


def classify_risk(
    g: DiagnosisGenetics,
    *,
    npm1_blood_mrd_positive_after_cycle2: bool | None = None,
    npm1_log10_reduction_after_induction: float | None = None,
    flt3_itd_clones_at_diagnosis: int | None = None,
    flt3_itd_detected_before_transplant: bool | None = None,
    tall_settings: CombinedSettings | None = None,
) -> list[RiskCall]:
    """Every risk model that applies to this diagnosis.

    AML: ELN 2022 and ELN 2017 always; ELN 2024 when therapy is less-intensive, or not given
    (then with the caveat "therapy intensity not given"), not when it is intensive. MRD-informed
    flags (:func:`mrd_informed_flags`) are added to each AML call's caveats as
    ``"MRD flag: ..."``; the FLT3-ITD allelic ratio for the microclone flag comes from
    ``g.flt3_itd_ratio``, the clone count from the argument or else from the FLT3-ITD entries of
    ``g.mutations``.

    T-ALL: the 4-gene classifier, the NGS 2024 classifier and the combined model. The flags
    are AML rules: for T-ALL a flag its inputs would raise is not applied, and each call says
    so in a caveat rather than dropping it silently.

    Args:
        g: Genetics at diagnosis.
        npm1_blood_mrd_positive_after_cycle2: NPM1 MRD in blood after cycle 2 (AML).
        npm1_log10_reduction_after_induction: log10 fall of NPM1 after induction (AML).
        flt3_itd_clones_at_diagnosis: FLT3-ITD clones at diagnosis (AML).
        flt3_itd_detected_before_transplant: FLT3-ITD MRD detectable before transplant (AML).
        tall_settings: Thresholds of the T-ALL combined model.

    Returns:
        One call per model, ELN 2022 (or the 4-gene classifier) first.

    Raises:
        RiskInputError: A flag input of the wrong type or range.
    """
    flags = mrd_informed_flags(
        npm1_blood_mrd_positive_after_cycle2=npm1_blood_mrd_positive_after_cycle2,
        npm1_log10_reduction_after_induction=npm1_log10_reduction_after_induction,
        flt3_itd_ratio_at_diagnosis=g.flt3_itd_ratio if g.flt3_itd_status else None,
        flt3_itd_clones_at_diagnosis=(
            flt3_itd_clones_at_diagnosis
            if flt3_itd_clones_at_diagnosis is not None
            else g.itd_clone_count
        ),
        flt3_itd_detected_before_transplant=flt3_itd_detected_before_transplant,
    )
    if g.disease == "T-ALL":
        calls = [four_gene(g), ngs_2024(g), combined(g, tall_settings)]
        notes = tuple(f"not applied (an AML rule): {flag.text}" for flag in flags)
    else:
        calls = [eln2022(g), eln2017(g)]
        if g.therapy != "intensive":
            calls.append(eln2024_less_intensive(g))
        notes = tuple(f"MRD flag: {flag.text} ({flag.source})" for flag in flags)
    return [replace(call, caveats=call.caveats + notes) for call in calls]
