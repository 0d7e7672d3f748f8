"""Gather a patient's risk inputs from the diagnosis call, the later samples and the sheet.

The risk models (:mod:`mrd.risk`) take plain facts; this module is the one place that decides
which fact comes from where, so a report can say it:

* NPM1 and FLT3-ITD status come from the diagnosis call when its window was analysed (found,
  or looked for and not found); otherwise they are unknown, never assumed wild type.
* Other mutations, cytogenetics, therapy and white-cell count come from the sample sheet.
* MRD-informed inputs come from the course: NPM1 in blood after cycle 2, the NPM1 log10 fall
  after induction, the number of FLT3-ITD clones and the largest clone's allelic ratio.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mrd.monitoring.samplesheet import SampleRow, Timepoint, Tissue
from mrd.risk import classify_risk, mrd_informed_flags
from mrd.risk.inputs import (
    DiagnosisGenetics,
    Mutation,
    karyotype_failed,
    parse_cytogenetics,
    parse_mutations,
    unrecognised_cytogenetics,
)

if TYPE_CHECKING:
    from mrd.monitoring.monitor import PatientReport, SampleOutcome

_DETECTED = ("POSITIVE", "POSITIVE_BELOW_LOQ")
_AFTER_INDUCTION = (Timepoint.END_OF_INDUCTION, Timepoint.POST_CYCLE_1)


def _findings(outcome: SampleOutcome | None) -> list[dict[str, Any]]:
    if outcome is None or outcome.result is None:
        return []
    result = outcome.result
    return [
        {**f.as_dict(), "mrd": a.as_dict()}
        for f, a in zip(result.findings, result.assessments, strict=True)
    ]


def _analysed(outcome: SampleOutcome | None, gene: str) -> bool:
    if outcome is None or outcome.result is None:
        return False
    return any(t.gene == gene and t.analysed for t in outcome.result.targets)


def _npm1_level(outcome: SampleOutcome) -> tuple[float | None, str | None]:
    """NPM1 VAF and MRD call of a sample, if it was measured.

    The tracked NPM1 marker comes first: at a follow-up another NPM1 insertion (a second type,
    or an artefact) must not stand in for the patient's own mutation.
    """
    npm1 = [f for f in _findings(outcome) if f["marker"] == "NPM1"]
    npm1.sort(key=lambda f: not f.get("tracked"))
    if npm1:
        return npm1[0].get("vaf"), npm1[0]["mrd"]["call"]
    return None, None


def genetics(report: PatientReport, diagnosis: SampleRow | None) -> DiagnosisGenetics:
    """The patient's diagnosis genetics, from the diagnosis call and the sheet."""
    outcome = next((o for o in report.outcomes if o.row is diagnosis), None)
    row = diagnosis or report.rows[0]
    found = _findings(outcome)
    itds = [f for f in found if f["marker"] == "FLT3-ITD"]
    npm1 = [f for f in found if f["marker"] == "NPM1"]
    mutations: list[Mutation] = [Mutation("FLT3", f.get("vaf"), detail="ITD") for f in itds] + [
        Mutation("NPM1", f.get("vaf")) for f in npm1[:1]
    ]
    if row.mutations:
        sheet = [m for m in parse_mutations(row.mutations) if m.gene not in ("NPM1",)]
        mutations.extend(m for m in sheet if not (m.gene == "FLT3" and m.detail == "ITD"))
    for marker in report.markers:
        if marker.gene and marker.source_marker is None:
            mutations.append(Mutation(marker.gene, marker.diagnosis_vaf))
    ratios = [f["allelic_ratio"] for f in itds if f.get("allelic_ratio") is not None]
    flt3_known = _analysed(outcome, "FLT3")
    npm1_known = _analysed(outcome, "NPM1")
    eoi = next((o for o in report.outcomes if o.row.timepoint is Timepoint.END_OF_INDUCTION), None)
    eoi_mrd = None
    if eoi is not None and eoi.result is not None and eoi.result.pooled is not None:
        pooled = eoi.result.pooled.assessment
        if pooled is not None and pooled.call.value in _DETECTED:
            eoi_mrd = pooled.vaf
        elif pooled is not None and pooled.call.value == "NEGATIVE":
            eoi_mrd = 0.0
    cytogenetics = row.cytogenetics or ""
    return DiagnosisGenetics(
        disease=row.disease.value,
        mutations=tuple(_unique(mutations)),
        cytogenetics=parse_cytogenetics(cytogenetics) if cytogenetics else (),
        # A failed karyotype is not a normal one: the lesions it could show stay unknown.
        cytogenetics_known=bool(cytogenetics) and not karyotype_failed(cytogenetics),
        flt3_itd=True if itds else (False if flt3_known else None),
        flt3_itd_ratio=max(ratios) if ratios else (0.0 if flt3_known and not itds else None),
        npm1=True if npm1 else (False if npm1_known else None),
        therapy=row.therapy.value if row.therapy is not None else None,
        wbc=row.wbc,
        eoi_mrd=eoi_mrd,
        tested_genes=_tested(report, row, outcome),
    )


def _tested(
    report: PatientReport, row: SampleRow, outcome: SampleOutcome | None
) -> frozenset[str] | None:
    """Genes the sheet says the panel covered, plus what our own call looked at."""
    sheet = next((r.tested_genes for r in report.rows if r.tested_genes is not None), None)
    if sheet is None:
        return None
    ours = {"NPM1"} if _analysed(outcome, "NPM1") else set()
    if _analysed(outcome, "FLT3"):
        ours |= {"FLT3", "FLT3-ITD"}
    return frozenset(sheet | ours)


def _unique(mutations: list[Mutation]) -> list[Mutation]:
    seen: set[tuple[str, str | None]] = set()
    kept = []
    for mutation in mutations:
        key = (mutation.gene, mutation.detail)
        if mutation.gene == "FLT3" and mutation.detail == "ITD":
            kept.append(mutation)  # each ITD clone counts
        elif key not in seen:
            seen.add(key)
            kept.append(mutation)
    return kept


def course_inputs(report: PatientReport, diagnosis: SampleRow | None) -> dict[str, Any]:
    """MRD-informed inputs from the course (None where the course does not tell)."""
    outcomes = report.outcomes
    dx = next((o for o in outcomes if o.row is diagnosis), None)
    pb_c2 = next(
        (
            o
            for o in outcomes
            if o.row.timepoint is Timepoint.POST_CYCLE_2 and o.row.tissue is Tissue.PB
        ),
        None,
    )
    after_c2: bool | None = None
    if pb_c2 is not None:
        _, call = _npm1_level(pb_c2)
        after_c2 = None if call in (None, "NOT_EVALUABLE") else call in _DETECTED
    reduction: float | None = None
    induction = next((o for o in outcomes if o.row.timepoint in _AFTER_INDUCTION), None)
    if dx is not None and induction is not None:
        dx_level, _ = _npm1_level(dx)
        level, call = _npm1_level(induction)
        if dx_level and level and call in _DETECTED:
            reduction = math.log10(dx_level / level)
    itds = [f for f in _findings(dx) if f["marker"] == "FLT3-ITD"]
    return {
        "npm1_blood_mrd_positive_after_cycle2": after_c2,
        "npm1_log10_reduction_after_induction": reduction,
        "flt3_itd_clones_at_diagnosis": len(itds) if dx is not None and dx.result else None,
    }


def patient_risk(
    report: PatientReport, diagnosis: SampleRow | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Risk calls of every applicable model, and the MRD-informed flags raised."""
    if diagnosis is None:
        return [], []
    if diagnosis.cytogenetics:
        unread = unrecognised_cytogenetics(diagnosis.cytogenetics)
        if unread:
            report.warnings.append(
                "cytogenetics not read (translate into recognised lesions by hand): "
                + "; ".join(unread)
            )
    g = genetics(report, diagnosis)
    inputs = course_inputs(report, diagnosis)
    calls = classify_risk(g, **inputs)
    flags = mrd_informed_flags(
        **inputs,
        flt3_itd_ratio_at_diagnosis=g.flt3_itd_ratio if g.flt3_itd else None,
    )
    return [c.as_dict() for c in calls], [f.as_dict() for f in flags]
