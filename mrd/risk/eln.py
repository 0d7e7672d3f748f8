"""ELN genetic risk of AML at diagnosis, and the MRD findings that qualify it.

Models: ELN 2022, ELN 2017 for comparison, ELN 2024 for less-intensive therapy (domain.md §3);
flags from MRD and FLT3-ITD clone findings (domain.md §2 and §4).

Each model is a table of facts (lesion present / absent) and one ordered list of rules, the
precedence. Facts that were not given are not guessed: :func:`mrd.risk.inputs.resolve_call`
tries both values of each and states a category only when they all agree. This is why, for
example, a known TP53 mutation with a missing karyotype gives no category: the karyotype could
hold a t(9;11), which outranks adverse gene mutations.

Where domain.md gives no precedence between two lesions, the choice made here is written in the
rule text and in the call's caveats (and in docs/risk.md), never applied silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mrd.risk.inputs import (
    ADVERSE_CYTOGENETICS,
    CBF_LESIONS,
    T911_LESIONS,
    Decision,
    DiagnosisGenetics,
    RiskCall,
    RiskInputError,
    Unknown,
    altered,
    gene_group,
    resolve_call,
)

__all__ = [
    "ADVERSE_CYTOGENETICS",
    "CBF_LESIONS",
    "ELN2017_ITD_HIGH_RATIO",
    "MICROCLONE_RATIO",
    "MR_GENES",
    "NPM1_LOG_REDUCTION_TARGET",
    "T911_LESIONS",
    "TP53_ADVERSE_VAF",
    "MrdFlag",
    "eln2017",
    "eln2022",
    "eln2024_less_intensive",
    "mrd_informed_flags",
]


# Beside t(9;11), "KMT2A-r" is the same rearrangement and a complex karyotype is not counted
# (complex karyotypes are defined without class-defining translocations); these stay adverse.
_ADVERSE_BESIDE_T911 = ADVERSE_CYTOGENETICS - {"KMT2A-r", "complex"}

MR_GENES = ("ASXL1", "BCOR", "EZH2", "RUNX1", "SF3B1", "SRSF2", "STAG2", "U2AF1", "ZRSR2")
"""Myelodysplasia-related genes: adverse, but not over a favorable subtype (ELN 2022)."""

TP53_ADVERSE_VAF = 0.10
"""ELN 2022: a TP53 mutation is adverse from this VAF."""

ELN2017_ITD_HIGH_RATIO = 0.5
"""ELN 2017: a FLT3-ITD allelic ratio at or above this is "high"."""

MICROCLONE_RATIO = 0.05
"""FLT3-ITD allelic ratio below which an ITD is a microclone (ALFA/FILO BIG-1)."""

NPM1_LOG_REDUCTION_TARGET = 4.0
"""log10 fall of NPM1 after induction that marks a good response (Balsat, JCO 2017)."""

Edition = Literal["2022", "2017"]

_NOT_STANDALONE = (
    "genetic risk at diagnosis: a guide for the clinician, not a stand-alone test; MRD during "
    "treatment may change it"
)
_PANEL_UNKNOWN = (
    "tested_genes not given: a gene without a listed mutation counts as not tested, not as "
    "wild type"
)


def _require_aml(g: DiagnosisGenetics, model: str) -> None:
    if g.disease != "AML":
        raise RiskInputError(f"{model} classifies AML; this diagnosis is {g.disease}")


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------

_BZIP = re.compile(r"b-?zip", re.IGNORECASE)
_IN_FRAME = re.compile(r"in[- ]?frame", re.IGNORECASE)
_OUT_OF_FRAME = re.compile(
    r"frame[- ]?shift|\bfs\b|nonsense|\bstop\b|truncat|out[- ]of[- ]frame", re.IGNORECASE
)
_OTHER_REGION = re.compile(r"\btad\b|n[- ]?term|transactivation", re.IGNORECASE)


def _bzip_in_frame(detail: str | None) -> bool | None:
    """Whether a CEBPA mutation's detail says bZIP in-frame.

    True when it says so, False when it says otherwise (frameshift, TAD), None when it cannot
    tell (no detail, an HGVS string): that case is asked for, not guessed.
    """
    if not detail:
        return None
    if _OUT_OF_FRAME.search(detail):
        return False
    if _BZIP.search(detail):
        return True if _IN_FRAME.search(detail) else None
    if _OTHER_REGION.search(detail):
        return False
    return None


def _fact(
    facts: dict[str, bool], unknowns: list[Unknown], key: str, value: bool | None, label: str
) -> None:
    if value is None:
        unknowns.append(Unknown(key, (label,)))
    else:
        facts[key] = value


def _cebpa(g: DiagnosisGenetics) -> tuple[bool | None, str]:
    found = g.found("CEBPA")
    if not found:
        return g.status("CEBPA"), "CEBPA status"
    reads = [_bzip_in_frame(m.detail) for m in found]
    if any(reads):
        return True, ""
    if all(r is False for r in reads):
        return False, ""
    return None, "CEBPA mutation type (bZIP in-frame or not)"


def _tp53_high(g: DiagnosisGenetics) -> tuple[bool | None, str]:
    found = g.found("TP53")
    if not found:
        return g.status("TP53"), "TP53 status"
    if any(m.vaf is not None and m.vaf >= TP53_ADVERSE_VAF for m in found):
        return True, ""
    if all(m.vaf is not None for m in found):
        return False, ""
    return None, "TP53 VAF"


def _karyotype_facts(g: DiagnosisGenetics, facts: dict[str, bool], unknowns: list[Unknown]) -> None:
    """Known lesions, and what a missing karyotype could hide.

    A missing karyotype could hide a core-binding-factor fusion, a t(9;11) or an adverse lesion.
    One assumption is made: a second class-defining translocation is not looked for beside a
    known one (CBF beside t(9;11) or KMT2A-r, or the reverse), since they do not co-occur in
    practice and the question would otherwise make every such call undecidable.
    """
    tokens = set(g.cytogenetics)
    facts["cbf"] = bool(tokens & CBF_LESIONS)
    facts["t911"] = bool(tokens & T911_LESIONS)
    facts["kmt2a_r"] = "KMT2A-r" in tokens
    facts["complex"] = "complex" in tokens
    facts["adverse_cyto"] = bool(tokens & _ADVERSE_BESIDE_T911)
    translocation_known = facts["cbf"] or facts["t911"] or facts["kmt2a_r"]
    hidden = {
        "hidden_cbf": not g.cytogenetics_known and not translocation_known,
        "hidden_t911": not g.cytogenetics_known and not translocation_known,
        "hidden_adverse": not g.cytogenetics_known and not facts["adverse_cyto"],
    }
    for key, possible in hidden.items():
        if possible:
            unknowns.append(Unknown(key, ("karyotype",)))
        else:
            facts[key] = False


def _eln_facts(g: DiagnosisGenetics, edition: Edition) -> tuple[dict[str, bool], list[Unknown]]:
    facts: dict[str, bool] = {}
    unknowns: list[Unknown] = []
    _karyotype_facts(g, facts, unknowns)
    _fact(facts, unknowns, "npm1", g.npm1_status, "NPM1 status")
    _fact(facts, unknowns, "itd", g.flt3_itd_status, "FLT3-ITD status")
    if edition == "2017":
        ratio = g.flt3_itd_ratio
        high = None if ratio is None else ratio >= ELN2017_ITD_HIGH_RATIO
        if facts.get("itd") is False:
            high = False
        _fact(facts, unknowns, "itd_high", high, "FLT3-ITD allelic ratio")
    cebpa, cebpa_label = _cebpa(g)
    _fact(facts, unknowns, "cebpa", cebpa, cebpa_label)
    tp53, tp53_label = _tp53_high(g)
    _fact(facts, unknowns, "tp53", tp53, tp53_label)
    mr_facts, mr_unknowns = gene_group(g, MR_GENES, "mr")
    facts.update(mr_facts)
    unknowns.extend(mr_unknowns)
    return facts, unknowns


# --------------------------------------------------------------------------------------------
# ELN 2022 / 2017 rules
# --------------------------------------------------------------------------------------------


def _names(g: DiagnosisGenetics, group: frozenset[str]) -> str:
    found = [t for t in g.cytogenetics if t in group]
    return ", ".join(found) if found else "lesion not in the given karyotype"


def _eln_decide(g: DiagnosisGenetics, f: Mapping[str, bool], edition: Edition) -> Decision:
    """ELN 2022 precedence (and ELN 2017 with its FLT3-ITD allelic-ratio rules) on full facts.

    Order: TP53 >= 10% (unless t(9;11)); core-binding-factor fusion; t(9;11); adverse
    cytogenetics; NPM1 without FLT3-ITD; bZIP CEBPA; MR genes; FLT3-ITD; the rest.
    """
    cbf = f["cbf"] or f["hidden_cbf"]
    t911 = f["t911"] or f["hidden_t911"]
    core_adverse = f["adverse_cyto"] or f["hidden_adverse"]
    any_adverse_cyto = core_adverse or f["kmt2a_r"] or f["complex"]
    npm1, itd, cebpa, tp53, mr = f["npm1"], f["itd"], f["cebpa"], f["tp53"], f["mr"]
    itd_blocks_npm1 = itd and (edition == "2022" or f["itd_high"])
    favorable_npm1 = npm1 and not itd_blocks_npm1
    mr_text = ", ".join(altered(g, MR_GENES)) or "MR gene"
    tp53_text = ", ".join(altered(g, ["TP53"])) or "TP53"
    rules: list[str] = []
    caveats: list[str] = []

    def mr_spared() -> None:
        if mr:
            rules.append(f"MR-gene mutation ({mr_text}) does not override a favorable subtype")

    if tp53 and not t911:
        rules.append(f"TP53 mutated at VAF >= 10% ({tp53_text}): adverse")
        if cbf or favorable_npm1 or cebpa:
            caveats.append(
                "precedence choice: a TP53 mutation at VAF >= 10% outranks the favorable "
                "subtype; domain.md exempts only MR-gene mutations from overriding one"
            )
        return Decision("adverse", tuple(rules), tuple(caveats))

    if cbf:
        rules.append(f"core-binding-factor AML ({_names(g, CBF_LESIONS)}): favorable")
        if any_adverse_cyto:
            rules.append(
                f"additional cytogenetic lesions ({_names(g, ADVERSE_CYTOGENETICS)}) do not "
                "override a core-binding-factor fusion (precedence choice)"
            )
            caveats.append(
                "precedence choice: a core-binding-factor fusion stays favorable whatever "
                "cytogenetic lesions accompany it (complex and monosomal karyotypes are defined "
                "without it; domain.md gives no rule for this case)"
            )
        if t911:
            caveats.append("t(9;11) and a core-binding-factor fusion are both reported: check")
        mr_spared()
        return Decision("favorable", tuple(rules), tuple(caveats))

    if t911:
        if core_adverse:
            rules.append(
                f"t(9;11) with an adverse cytogenetic lesion "
                f"({_names(g, _ADVERSE_BESIDE_T911)}): adverse (precedence choice)"
            )
            caveats.append(
                "precedence choice: t(9;11) outranks adverse gene mutations but not other "
                "adverse cytogenetic lesions"
            )
            return Decision("adverse", tuple(rules), tuple(caveats))
        rules.append(f"t(9;11) MLLT3::KMT2A ({_names(g, T911_LESIONS)}): intermediate")
        if f["kmt2a_r"]:
            rules.append("KMT2A-r beside t(9;11) is read as the t(9;11) rearrangement itself")
        if f["complex"]:
            rules.append(
                "a complex karyotype is not counted beside the class-defining t(9;11) "
                "(precedence choice)"
            )
        if tp53 or mr:
            genes = ", ".join(altered(g, ["TP53", *MR_GENES]))
            rules.append(
                f"t(9;11) takes precedence over co-occurring adverse gene mutations ({genes})"
            )
            caveats.append(
                "precedence choice: t(9;11) outranks co-occurring adverse gene mutations "
                "(TP53, MR genes), as the published ELN 2022 footnote says; domain.md only "
                "lists t(9;11) as intermediate"
            )
        return Decision("intermediate", tuple(rules), tuple(caveats))

    if any_adverse_cyto:
        rules.append(f"adverse cytogenetics ({_names(g, ADVERSE_CYTOGENETICS)}): adverse")
        if f["kmt2a_r"]:
            caveats.append(
                "KMT2A-r is read as a KMT2A rearrangement with a partner other than MLLT3 "
                "(t(9;11) would be intermediate) and not as KMT2A-PTD"
            )
        if npm1:
            rules.append("NPM1 mutated with adverse cytogenetics: adverse")
        if cebpa:
            rules.append(
                "bZIP CEBPA with adverse cytogenetics: adverse (precedence choice, as for NPM1)"
            )
            caveats.append(
                "precedence choice: adverse cytogenetics outrank a bZIP CEBPA mutation, as "
                "domain.md says they outrank NPM1"
            )
        return Decision("adverse", tuple(rules), tuple(caveats))

    if favorable_npm1:
        if edition == "2022":
            rules.append("NPM1 mutated without FLT3-ITD: favorable")
        else:
            rules.append(
                "NPM1 mutated without FLT3-ITD or with a low-ratio one (AR < 0.5): favorable"
            )
        mr_spared()
        return Decision("favorable", tuple(rules), tuple(caveats))

    if cebpa:
        rules.append("bZIP in-frame CEBPA mutation: favorable")
        if itd:
            rules.append("FLT3-ITD does not override a bZIP CEBPA mutation (precedence choice)")
            caveats.append(
                "precedence choice: bZIP CEBPA stays favorable with FLT3-ITD; domain.md lists "
                "it as favorable without a FLT3-ITD condition"
            )
        mr_spared()
        return Decision("favorable", tuple(rules), tuple(caveats))

    if mr:
        rules.append(f"MR-gene mutation ({mr_text}) without a favorable subtype: adverse")
        return Decision("adverse", tuple(rules), tuple(caveats))

    if edition == "2017" and itd and f["itd_high"] and not npm1:
        rules.append("NPM1 wild type with a high-ratio FLT3-ITD (AR >= 0.5): adverse")
        return Decision("adverse", tuple(rules), tuple(caveats))
    if itd and npm1:
        if edition == "2022":
            rules.append(
                "NPM1 mutated with FLT3-ITD: intermediate (FLT3-ITD counts whatever its "
                "allelic ratio)"
            )
        else:
            rules.append("NPM1 mutated with a high-ratio FLT3-ITD (AR >= 0.5): intermediate")
        return Decision("intermediate", tuple(rules), tuple(caveats))
    if itd:
        if edition == "2022":
            rules.append(
                "FLT3-ITD without NPM1 mutation, favorable subtype or adverse lesion: "
                "intermediate (whatever its allelic ratio)"
            )
        else:
            rules.append(
                "low-ratio FLT3-ITD (AR < 0.5) without NPM1 mutation or adverse lesion: "
                "intermediate"
            )
        return Decision("intermediate", tuple(rules), tuple(caveats))
    rules.append("no favorable or adverse lesion among the known findings: intermediate")
    return Decision("intermediate", tuple(rules), tuple(caveats))


def _general_caveats(g: DiagnosisGenetics) -> list[str]:
    notes = [_NOT_STANDALONE]
    if g.tested_genes is None:
        notes.append(_PANEL_UNKNOWN)
    return notes


def eln2022(g: DiagnosisGenetics) -> RiskCall:
    """ELN 2022 genetic risk (Döhner et al., Blood 2022) as domain.md §3 gives it.

    Precedence (first rule that applies wins):

    1. TP53 mutated at VAF >= 10%: adverse, unless t(9;11) is present.
    2. Core-binding-factor fusion (t(8;21)/RUNX1::RUNX1T1, inv(16)/t(16;16)/CBFB::MYH11):
       favorable, whatever accompanies it apart from rule 1.
    3. t(9;11)/MLLT3::KMT2A: intermediate, over adverse gene mutations; adverse with another
       adverse cytogenetic lesion (a complex karyotype and KMT2A-r excepted).
    4. Adverse cytogenetics: adverse, also with mutated NPM1 or bZIP CEBPA.
    5. NPM1 mutated without FLT3-ITD: favorable (MR-gene mutations do not override).
    6. bZIP in-frame CEBPA: favorable (MR-gene mutations and FLT3-ITD do not override).
    7. Mutated ASXL1, BCOR, EZH2, RUNX1, SF3B1, SRSF2, STAG2, U2AF1 or ZRSR2: adverse.
    8. FLT3-ITD, with or without NPM1 mutation, whatever its allelic ratio: intermediate.
    9. Anything else: intermediate.

    Rules 1-3 and 6 settle cases domain.md leaves open; the call's caveats say so when they
    apply.

    Args:
        g: Genetics at diagnosis (AML).

    Returns:
        The call; its category is None when a missing input could change it.

    Raises:
        RiskInputError: The diagnosis is not AML.
    """
    _require_aml(g, "ELN 2022")
    facts, unknowns = _eln_facts(g, "2022")
    notes = _general_caveats(g)
    if g.therapy == "less-intensive":
        notes.append(
            "ELN 2022 was built for intensive therapy; ELN 2024 applies to less-intensive therapy"
        )
    return resolve_call("ELN2022", facts, unknowns, lambda f: _eln_decide(g, f, "2022"), notes)


def eln2017(g: DiagnosisGenetics) -> RiskCall:
    """ELN 2017 for comparison: the ELN 2022 rules with the 2017 FLT3-ITD allelic-ratio rules.

    NPM1 mutated without FLT3-ITD or with a low-ratio one (AR < 0.5) is favorable; NPM1 wild
    type with a high-ratio ITD (AR >= 0.5) is adverse; NPM1 mutated with a high-ratio ITD and NPM1
    wild type with a low-ratio ITD are intermediate. domain.md gives no more of ELN 2017, so
    every other lesion follows :func:`eln2022` (see the caveats).

    Raises:
        RiskInputError: The diagnosis is not AML.
    """
    _require_aml(g, "ELN 2017")
    facts, unknowns = _eln_facts(g, "2017")
    notes = _general_caveats(g)
    notes.append(
        "only ELN 2017's FLT3-ITD allelic-ratio rules (AR 0.5) from domain.md are encoded; "
        "other lesions follow ELN 2022, so ELN 2017 details beyond domain.md (e.g. biallelic "
        "CEBPA, TP53 at any VAF, its shorter adverse gene list) are not"
    )
    return resolve_call("ELN2017", facts, unknowns, lambda f: _eln_decide(g, f, "2017"), notes)


# --------------------------------------------------------------------------------------------
# ELN 2024, less-intensive therapy
# --------------------------------------------------------------------------------------------


def _eln2024_decide(g: DiagnosisGenetics, f: Mapping[str, bool]) -> Decision:
    rules: list[str] = []
    caveats: list[str] = []
    ras_text = ", ".join(altered(g, ["NRAS", "KRAS"]))
    drivers = [text for text, present in (("FLT3-ITD", f["itd"]), (ras_text, f["ras"])) if present]
    if f["tp53"]:
        rules.append(f"TP53 mutated ({', '.join(altered(g, ['TP53'])) or 'TP53'}): adverse")
        if f["ddx41"] or f["idh1"]:
            rules.append("TP53 outranks DDX41/IDH1 (precedence choice)")
            caveats.append(
                "precedence choice: a TP53 mutation outranks DDX41 and IDH1 (IDH1 is favorable "
                "only with wild-type TP53; DDX41 is treated alike)"
            )
        return Decision("adverse", tuple(rules), tuple(caveats))
    if f["ddx41"]:
        rules.append("DDX41 mutated: favorable")
        if drivers:
            rules.append(
                f"{' and '.join(drivers)} does not change DDX41's favorable risk (domain.md "
                "sets no condition on DDX41)"
            )
        return Decision("favorable", tuple(rules), tuple(caveats))
    if f["idh1"]:
        rules.append("IDH1 mutated with wild-type TP53: favorable")
        if drivers:
            rules.append(f"{' and '.join(drivers)} does not change IDH1's favorable risk")
        return Decision("favorable", tuple(rules), tuple(caveats))
    if drivers:
        rules.append(f"{' and '.join(drivers)} mutated with wild-type TP53: intermediate")
        return Decision("intermediate", tuple(rules), tuple(caveats))
    subtypes = [gene for gene in ("NPM1", "IDH2") if g.mutated(gene) or (gene == "NPM1" and g.npm1)]
    subject = f"{'/'.join(subtypes)} mutated" if subtypes else "other genetics"
    rules.append(f"{subject} without FLT3-ITD, NRAS/KRAS or TP53 mutation: favorable")
    return Decision("favorable", tuple(rules), tuple(caveats))


def eln2024_less_intensive(g: DiagnosisGenetics) -> RiskCall:
    """ELN 2024 genetic risk for less-intensive therapy (domain.md §3).

    Precedence: mutated TP53 (any VAF, as domain.md states it) adverse; DDX41 favorable; IDH1
    (with wild-type TP53) favorable; FLT3-ITD and/or NRAS/KRAS (with wild-type TP53)
    intermediate; anything else (NPM1, IDH2 or other) favorable. The karyotype does not enter.

    Raises:
        RiskInputError: The diagnosis is not AML.
    """
    _require_aml(g, "ELN 2024")
    facts: dict[str, bool] = {}
    unknowns: list[Unknown] = []
    _fact(facts, unknowns, "tp53", g.status("TP53"), "TP53 status")
    _fact(facts, unknowns, "ddx41", g.status("DDX41"), "DDX41 status")
    _fact(facts, unknowns, "idh1", g.status("IDH1"), "IDH1 status")
    _fact(facts, unknowns, "itd", g.flt3_itd_status, "FLT3-ITD status")
    ras_facts, ras_unknowns = gene_group(g, ("NRAS", "KRAS"), "ras")
    facts.update(ras_facts)
    unknowns.extend(ras_unknowns)
    notes = _general_caveats(g)
    if g.therapy is None:
        notes.append("therapy intensity not given: ELN 2024 applies to less-intensive therapy")
    elif g.therapy == "intensive":
        notes.append("therapy is intensive: ELN 2024 applies to less-intensive therapy")
    low_tp53 = [m for m in g.found("TP53") if m.vaf is not None and m.vaf < TP53_ADVERSE_VAF]
    if low_tp53:
        notes.append(
            "TP53 below 10% VAF counts as adverse here: domain.md gives ELN 2024 no VAF cut-off"
        )
    notes.append("the karyotype is not part of ELN 2024 (domain.md §3)")
    return resolve_call("ELN2024", facts, unknowns, lambda f: _eln2024_decide(g, f), notes)


# --------------------------------------------------------------------------------------------
# MRD-informed flags
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MrdFlag:
    """A finding during treatment (or at diagnosis) that raises the risk of relapse.

    Attributes:
        code: Stable identifier.
        text: The statement, as reports print it.
        inputs: The inputs it was raised from, as ``name=value``.
        source: Where the rule comes from, with its numbers.
    """

    code: str
    text: str
    inputs: tuple[str, ...]
    source: str

    def as_dict(self) -> dict[str, Any]:
        """The flag as JSON-ready data."""
        return {
            "code": self.code,
            "text": self.text,
            "inputs": list(self.inputs),
            "source": self.source,
        }


def _check_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise RiskInputError(f"{name} must be true, false or None, not {value!r}")


def _check_number(name: str, value: object, minimum: float | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RiskInputError(f"{name} must be a finite number, not {value!r}")
    if minimum is not None and value < minimum:
        raise RiskInputError(f"{name} must be at least {minimum:g}, not {value!r}")


def mrd_informed_flags(
    *,
    npm1_blood_mrd_positive_after_cycle2: bool | None = None,
    npm1_log10_reduction_after_induction: float | None = None,
    flt3_itd_ratio_at_diagnosis: float | None = None,
    flt3_itd_clones_at_diagnosis: int | None = None,
    flt3_itd_detected_before_transplant: bool | None = None,
    log_reduction_target: float = NPM1_LOG_REDUCTION_TARGET,
    microclone_ratio: float = MICROCLONE_RATIO,
) -> list[MrdFlag]:
    """Flags that qualify the risk at diagnosis with MRD and FLT3-ITD clone findings.

    Each flag needs its own input and is raised only when that input is given and meets the
    rule; a missing input raises nothing (these are warnings, not a category). MRD is read in
    complete remission (CR, CRi, CRh), so pass MRD inputs only from such samples.

    Args:
        npm1_blood_mrd_positive_after_cycle2: NPM1 MRD in peripheral blood after cycle 2.
        npm1_log10_reduction_after_induction: log10(diagnosis level / post-induction level) of
            NPM1.
        flt3_itd_ratio_at_diagnosis: Allelic ratio of the largest FLT3-ITD clone at diagnosis
            (0 or None: no ITD, no flag).
        flt3_itd_clones_at_diagnosis: Number of distinct FLT3-ITD clones at diagnosis.
        flt3_itd_detected_before_transplant: FLT3-ITD NGS-MRD detectable before transplant.
        log_reduction_target: The log10 fall that counts as a good response (default 4).
        microclone_ratio: The allelic ratio below which an ITD is a microclone (default 0.05).

    Returns:
        The flags raised, in the order above.

    Raises:
        RiskInputError: An input of the wrong type or range.
    """
    _check_bool("npm1_blood_mrd_positive_after_cycle2", npm1_blood_mrd_positive_after_cycle2)
    _check_bool("flt3_itd_detected_before_transplant", flt3_itd_detected_before_transplant)
    _check_number("npm1_log10_reduction_after_induction", npm1_log10_reduction_after_induction)
    _check_number("flt3_itd_ratio_at_diagnosis", flt3_itd_ratio_at_diagnosis, 0.0)
    _check_number("log_reduction_target", log_reduction_target, 0.0)
    _check_number("microclone_ratio", microclone_ratio, 0.0)
    clones = flt3_itd_clones_at_diagnosis
    if clones is not None and (isinstance(clones, bool) or not isinstance(clones, int)):
        raise RiskInputError(f"flt3_itd_clones_at_diagnosis must be a whole number, not {clones!r}")
    if clones is not None and clones < 0:
        raise RiskInputError(f"flt3_itd_clones_at_diagnosis must be at least 0, not {clones}")

    flags: list[MrdFlag] = []
    if npm1_blood_mrd_positive_after_cycle2:
        flags.append(
            MrdFlag(
                "npm1-blood-mrd-after-cycle-2",
                "NPM1 MRD positive in blood after cycle 2",
                ("npm1_blood_mrd_positive_after_cycle2=True",),
                "Ivey, NEJM 2016: 3-year relapse 82% vs 30%",
            )
        )
    reduction = npm1_log10_reduction_after_induction
    if reduction is not None and reduction < log_reduction_target:
        flags.append(
            MrdFlag(
                "npm1-log-reduction",
                f"less than {log_reduction_target:g}-log10 reduction of NPM1 after induction",
                (f"npm1_log10_reduction_after_induction={reduction:g}",),
                "Balsat, JCO 2017: relapse 20.5% (>= 4 log10 fall) vs 65.8%",
            )
        )
    ratio = flt3_itd_ratio_at_diagnosis
    if ratio is not None and 0 < ratio < microclone_ratio:
        flags.append(
            MrdFlag(
                "flt3-itd-microclone",
                f"FLT3-ITD microclone (AR < {microclone_ratio:g}) at diagnosis: raised relapse "
                "risk under intensive chemotherapy",
                (f"flt3_itd_ratio_at_diagnosis={ratio:g}",),
                "ALFA/FILO BIG-1, ASH 2025",
            )
        )
    if clones is not None and clones >= 2:
        flags.append(
            MrdFlag(
                "flt3-itd-several-clones",
                "several FLT3-ITD clones at diagnosis",
                (f"flt3_itd_clones_at_diagnosis={clones}",),
                "domain.md §1: a few patients carry several ITD clones; reported for the clinician",
            )
        )
    if flt3_itd_detected_before_transplant:
        flags.append(
            MrdFlag(
                "flt3-itd-before-transplant",
                "FLT3-ITD MRD detectable before transplant: predicts relapse",
                ("flt3_itd_detected_before_transplant=True",),
                "MORPHO; Pre-MEASURE (VAF >= 0.01% in blood)",
            )
        )
    return flags
