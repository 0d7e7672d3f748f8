"""Oncogenetic risk of T-cell acute lymphoblastic leukemia (domain.md §3b).

Two classifiers sort T-ALL into low and high risk from the mutations found at diagnosis:

* the GRAALL 4-gene classifier (NOTCH1/FBXW7 against NRAS/KRAS/PTEN);
* the NGS classifier of 2024 (72-gene panel), which adds PHF6 and EP300 to the low-risk genes
  and more genes to the excluding ones.

The combined model adds the white-cell count at diagnosis and MRD at the end of induction. Its
published point scheme is not available (domain.md marks it *configurable default*), so the
scheme here is a documented default in :class:`CombinedSettings` and every factor is reported
with its value.

Like the ELN models, these never assume an untested gene is wild type: a gene outside
``tested_genes`` is unknown, and the call says when that could change the category.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mrd.risk.inputs import (
    Decision,
    DiagnosisGenetics,
    Factor,
    RiskCall,
    RiskInputError,
    Unknown,
    altered,
    gene_group,
    resolve_call,
)

__all__ = [
    "FOUR_GENE_LOW",
    "FOUR_GENE_OVERRIDE",
    "NGS2024_EXCLUDING",
    "NGS2024_LOW",
    "TALL_EOI_MRD_POSITIVE",
    "TALL_WBC_HIGH",
    "CombinedSettings",
    "combined",
    "four_gene",
    "ngs_2024",
]

FOUR_GENE_LOW = ("NOTCH1", "FBXW7")
"""4-gene classifier: a mutation of one of these points to low risk (N/F)."""

FOUR_GENE_OVERRIDE = ("NRAS", "KRAS", "PTEN")
"""4-gene classifier: an alteration of one of these makes the risk high (R/P)."""

NGS2024_LOW = ("NOTCH1", "FBXW7", "PHF6", "EP300")
"""NGS 2024 classifier: a mutation of one of these points to low risk."""

NGS2024_EXCLUDING = (
    "NRAS",
    "KRAS",
    "PTEN",
    "PIK3CA",
    "PIK3R1",
    "TP53",
    "DNMT3A",
    "IDH1",
    "IDH2",
    "IKZF1",
)
"""NGS 2024 classifier: an alteration of one of these makes the risk high."""

TALL_WBC_HIGH = 200.0
"""White-cell count at diagnosis (10^9/L) from which it counts against the patient."""

TALL_EOI_MRD_POSITIVE = 1e-4
"""End-of-induction MRD level from which it is positive."""

_NOT_STANDALONE = "oncogenetic risk at diagnosis: a guide for the clinician, not a stand-alone test"
_PANEL_UNKNOWN = (
    "tested_genes not given: a gene without a listed mutation counts as not tested, not as "
    "wild type"
)


def _require_tall(g: DiagnosisGenetics, model: str) -> None:
    if g.disease != "T-ALL":
        raise RiskInputError(f"{model} classifies T-ALL; this diagnosis is {g.disease}")


def _notes(g: DiagnosisGenetics) -> list[str]:
    notes = [_NOT_STANDALONE]
    if g.tested_genes is None:
        notes.append(_PANEL_UNKNOWN)
    return notes


def _classifier(
    g: DiagnosisGenetics,
    model: str,
    low_genes: tuple[str, ...],
    excluding: tuple[str, ...],
    low_label: str,
    excluding_label: str,
    extra_notes: tuple[str, ...] = (),
) -> RiskCall:
    """Low risk = a low-risk gene mutated and no excluding gene altered; high = the rest."""
    facts: dict[str, bool] = {}
    unknowns: list[Unknown] = []
    for genes, key in ((low_genes, "low_gene"), (excluding, "excluding")):
        known, unknown = gene_group(g, genes, key)
        facts.update(known)
        unknowns.extend(unknown)

    def decide(f: Mapping[str, bool]) -> Decision:
        if f["excluding"]:
            found = ", ".join(altered(g, excluding)) or excluding_label
            return Decision("high", (f"{excluding_label} altered ({found}): high risk",))
        if f["low_gene"]:
            found = ", ".join(altered(g, low_genes)) or low_label
            return Decision(
                "low",
                (f"{low_label} mutated ({found}) with no {excluding_label} alteration: low risk",),
            )
        return Decision("high", (f"no {low_label} mutation: high risk",))

    notes = _notes(g)
    notes.extend(extra_notes)
    return resolve_call(model, facts, unknowns, decide, notes)


def four_gene(g: DiagnosisGenetics) -> RiskCall:
    """The GRAALL 4-gene oncogenetic classifier (domain.md §3b).

    Low risk: NOTCH1 and/or FBXW7 mutated (N/F) and no NRAS/KRAS or PTEN alteration (R/P).
    High risk: everything else (N/F wild type, or any R/P alteration). A PTEN deletion counts
    as an alteration: list it as ``Mutation("PTEN", detail="deletion")``.

    Raises:
        RiskInputError: The diagnosis is not T-ALL.
    """
    _require_tall(g, "the 4-gene classifier")
    return _classifier(
        g, "TALL-4gene", FOUR_GENE_LOW, FOUR_GENE_OVERRIDE, "NOTCH1/FBXW7", "NRAS/KRAS/PTEN"
    )


def ngs_2024(g: DiagnosisGenetics) -> RiskCall:
    """The NGS-based T-ALL classifier (Blood 2024;144:1570; domain.md §3b).

    Low risk: NOTCH1/FBXW7, PHF6 or EP300 mutated, with no alteration of NRAS/KRAS, PTEN,
    PIK3CA, PIK3R1, TP53, DNMT3A, IDH1/IDH2 or IKZF1. High risk: the rest. 5-year cumulative
    incidence of relapse 21% (low) vs 47% (high), independent of MRD and white-cell count.

    Raises:
        RiskInputError: The diagnosis is not T-ALL.
    """
    _require_tall(g, "the NGS 2024 classifier")
    return _classifier(
        g,
        "TALL-NGS2024",
        NGS2024_LOW,
        NGS2024_EXCLUDING,
        "NOTCH1/FBXW7/PHF6/EP300",
        "RAS/PI3K/TP53/DNMT3A/IDH/IKZF1",
        ("defined on a 72-gene panel: genes outside the panel used here are reported missing",),
    )


@dataclass(frozen=True)
class CombinedSettings:
    """The T-ALL combined model's thresholds and scheme (a *configurable default*).

    Attributes:
        wbc_high: White-cell count at diagnosis (10^9/L) from which it is unfavourable.
        eoi_mrd_positive: End-of-induction MRD level from which it is positive (unfavourable).
        classifier: Which oncogenetic classifier is the first factor: ``"NGS2024"`` (the 2024
            model) or ``"4-gene"`` (as in the FRALLE2000T children).
    """

    wbc_high: float = TALL_WBC_HIGH
    eoi_mrd_positive: float = TALL_EOI_MRD_POSITIVE
    classifier: Literal["NGS2024", "4-gene"] = "NGS2024"

    def __post_init__(self) -> None:
        for name in ("wbc_high", "eoi_mrd_positive"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise RiskInputError(f"{name} must be a number, not {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise RiskInputError(f"{name} must be a finite number above 0, not {value!r}")
        if self.eoi_mrd_positive >= 1:
            raise RiskInputError("eoi_mrd_positive is a fraction and must be below 1")
        if self.classifier not in ("NGS2024", "4-gene"):
            raise RiskInputError(f"classifier must be NGS2024 or 4-gene, not {self.classifier!r}")


def combined(g: DiagnosisGenetics, settings: CombinedSettings | None = None) -> RiskCall:
    """The T-ALL combined model: classifier, white-cell count and end-of-induction MRD.

    Each factor is favourable or not: classifier low risk; WBC below 200 x 10^9/L; MRD below
    1e-4. The category is ``low`` when all three are favourable, ``high`` when none is, else
    ``intermediate``. This three-factor rule is a default (domain.md: the 2024 point scheme was
    not published); the reported factors let a reader apply another.

    A missing factor leaves the category open only when it could change it: two known factors
    that disagree already make it intermediate.

    Args:
        g: Genetics at diagnosis (T-ALL), with ``wbc`` and ``eoi_mrd``.
        settings: Thresholds and classifier; defaults from domain.md §3b.

    Raises:
        RiskInputError: The diagnosis is not T-ALL.
    """
    _require_tall(g, "the T-ALL combined model")
    settings = settings or CombinedSettings()
    classifier_call = ngs_2024(g) if settings.classifier == "NGS2024" else four_gene(g)
    facts: dict[str, bool] = {}
    unknowns: list[Unknown] = []

    classifier_name = f"oncogenetic classifier ({settings.classifier})"
    if classifier_call.category is None:
        unknowns.append(Unknown("classifier_ok", classifier_call.missing))
        clf_factor = Factor(classifier_name, None, None)
    else:
        facts["classifier_ok"] = classifier_call.category == "low"
        clf_factor = Factor(classifier_name, classifier_call.category, facts["classifier_ok"])

    if g.wbc is None:
        unknowns.append(Unknown("wbc_ok", ("white-cell count at diagnosis",)))
        wbc_factor = Factor("white-cell count at diagnosis", None, None)
    else:
        facts["wbc_ok"] = g.wbc < settings.wbc_high
        wbc_factor = Factor("white-cell count at diagnosis", f"{g.wbc:g} x10^9/L", facts["wbc_ok"])

    if g.eoi_mrd is None:
        unknowns.append(Unknown("mrd_ok", ("end-of-induction MRD",)))
        mrd_factor = Factor("end-of-induction MRD", None, None)
    else:
        facts["mrd_ok"] = g.eoi_mrd < settings.eoi_mrd_positive
        mrd_factor = Factor("end-of-induction MRD", f"{g.eoi_mrd:g}", facts["mrd_ok"])

    factors = (clf_factor, wbc_factor, mrd_factor)
    lines = {
        "classifier_ok": (
            f"classifier {classifier_call.category} risk: "
            + ("favourable" if facts.get("classifier_ok") else "unfavourable")
        ),
        "wbc_ok": (
            f"white-cell count {g.wbc:g} x10^9/L "
            + (
                f"< {settings.wbc_high:g}: favourable"
                if facts.get("wbc_ok")
                else f">= {settings.wbc_high:g}: unfavourable"
            )
            if g.wbc is not None
            else ""
        ),
        "mrd_ok": (
            f"end-of-induction MRD {g.eoi_mrd:g} "
            + (
                f"< {settings.eoi_mrd_positive:g}: negative, favourable"
                if facts.get("mrd_ok")
                else f">= {settings.eoi_mrd_positive:g}: positive, unfavourable"
            )
            if g.eoi_mrd is not None
            else ""
        ),
    }

    def decide(f: Mapping[str, bool]) -> Decision:
        given = [lines[key] for key in ("classifier_ok", "wbc_ok", "mrd_ok") if key in facts]
        values = [f["classifier_ok"], f["wbc_ok"], f["mrd_ok"]]
        if all(values):
            return Decision("low", (*given, "all three factors favourable: low"))
        if not any(values):
            return Decision("high", (*given, "all three factors unfavourable: high"))
        return Decision(
            "intermediate", (*given, "favourable and unfavourable factors: intermediate")
        )

    notes = [
        "configurable default: the published point scheme of the 2024 combined model is not "
        "available; this scheme (all favourable = low, none = high, else intermediate) is a "
        f"default, with WBC >= {settings.wbc_high:g} x10^9/L and end-of-induction MRD >= "
        f"{settings.eoi_mrd_positive:g} unfavourable",
        "NGS-MRD and this model are not stand-alone tests",
    ]
    return resolve_call("TALL-combined", facts, unknowns, decide, notes, factors)
