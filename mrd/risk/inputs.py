"""What the risk models read (the genetics at diagnosis) and what they return (a risk call).

The models in :mod:`mrd.risk.eln` and :mod:`mrd.risk.tall` are pure functions of one
:class:`DiagnosisGenetics`. Every input that a lab may not have is optional, and "not given" is
kept apart from "tested and normal": a model never fills a gap with a guess. Instead the shared
resolver here (:func:`resolve_call`) tries every value the missing inputs could take. When all of
them lead to the same category the call states it; otherwise the category is None and
``missing`` names the inputs that would decide it.

This module also turns the free text labs write into those inputs:

* :func:`parse_cytogenetics` reads karyotypes (ISCN), fusion names and a few plain-English
  phrases into the lesion tokens of :data:`CYTOGENETIC_TOKENS`; what it cannot read is reported
  by :func:`unrecognised_cytogenetics` rather than dropped silently, because a missed adverse
  lesion would turn into a wrong "intermediate".
* :func:`parse_mutations` reads cells such as ``TP53:0.23;ASXL1;CEBPA(bZIP in-frame)``.

Both are safe on arbitrary text: the cytogenetics parser never raises, the mutation parser
raises :class:`RiskInputError` (a :class:`ValueError`) with a one-line message.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mrd.errors import MrdError

__all__ = [
    "CYTOGENETIC_TOKENS",
    "DiagnosisGenetics",
    "Factor",
    "Mutation",
    "RiskCall",
    "RiskInputError",
    "karyotype_failed",
    "parse_cytogenetics",
    "parse_mutations",
    "unrecognised_cytogenetics",
]

Disease = Literal["AML", "T-ALL"]
Therapy = Literal["intensive", "less-intensive"]


class RiskInputError(MrdError, ValueError):
    """Risk inputs that cannot be read or contradict each other; the message is one line."""


def _show(text: str, limit: int = 60) -> str:
    """Quote user text for a one-line message: escaped (no raw newlines) and shortened."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


# --------------------------------------------------------------------------------------------
# Lesion vocabulary
# --------------------------------------------------------------------------------------------

CBF_LESIONS = frozenset({"t(8;21)", "RUNX1::RUNX1T1", "inv(16)", "t(16;16)", "CBFB::MYH11"})
"""Core-binding-factor AML: favorable."""

T911_LESIONS = frozenset({"t(9;11)", "MLLT3::KMT2A"})
"""t(9;11) MLLT3::KMT2A: intermediate, the one KMT2A rearrangement that is not adverse."""

ADVERSE_CYTOGENETICS = frozenset(
    {
        "t(6;9)",
        "DEK::NUP214",
        "KMT2A-r",
        "t(9;22)",
        "BCR::ABL1",
        "t(8;16)",
        "KAT6A::CREBBP",
        "inv(3)",
        "t(3;3)",
        "MECOM-r",
        "-5",
        "del(5q)",
        "-7",
        "-17",
        "abn(17p)",
        "complex",
        "monosomal",
    }
)
"""Adverse cytogenetic lesions of ELN 2022."""

CYTOGENETIC_TOKENS: frozenset[str] = CBF_LESIONS | T911_LESIONS | ADVERSE_CYTOGENETICS
"""Lesion tokens the risk models understand (domain.md §3).

``KMT2A-r`` is a KMT2A rearrangement whose partner is not MLLT3 (t(9;11) has its own tokens and
is intermediate, not adverse); ``MECOM-r`` is any other 3q26.2 (MECOM) rearrangement,
t(3q26.2;v), including GATA2::MECOM written as a fusion name.
"""


# --------------------------------------------------------------------------------------------
# Mutations and the genetics at diagnosis
# --------------------------------------------------------------------------------------------

_GENE_RE = re.compile(r"[A-Z][A-Z0-9]*(?:[-.][A-Z0-9]+)*", re.ASCII)
_SUFFIX_DETAILS = frozenset({"ITD", "TKD", "PTD"})
_ITD_RE = re.compile(r"\bITD\b", re.IGNORECASE)


@dataclass(frozen=True)
class Mutation:
    """One mutation (or gene alteration) found at diagnosis.

    Attributes:
        gene: HGNC symbol, stored upper-case (``TP53``, ``FLT3``, ``PTEN``).
        vaf: Variant allele fraction in [0, 1], None when not reported. Only some rules need it
            (TP53 in ELN 2022), and they report it missing rather than assume a value.
        detail: Free text the rules look into: ``"bZIP in-frame"`` for CEBPA, ``"ITD"`` or
            ``"TKD"`` for FLT3, ``"PTD"`` for KMT2A, ``"deletion"`` for a PTEN or IKZF1 loss.
    """

    gene: str
    vaf: float | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.gene, str):
            raise RiskInputError(f"mutation gene must be text, not {self.gene!r}")
        gene = self.gene.strip().upper()
        if not _GENE_RE.fullmatch(gene):
            raise RiskInputError(f"mutation gene {_show(self.gene)} is not a gene symbol")
        head, _, suffix = gene.partition("-")
        if suffix in _SUFFIX_DETAILS:  # "FLT3-ITD" is FLT3 with detail ITD
            gene = head
            extra = self.detail.strip() if isinstance(self.detail, str) else ""
            object.__setattr__(self, "detail", f"{suffix}; {extra}" if extra else suffix)
        object.__setattr__(self, "gene", gene)
        if self.vaf is not None:
            if isinstance(self.vaf, bool) or not isinstance(self.vaf, (int, float)):
                raise RiskInputError(f"{gene} VAF must be a number, not {self.vaf!r}")
            if not (math.isfinite(self.vaf) and 0.0 <= self.vaf <= 1.0):
                raise RiskInputError(f"{gene} VAF {self.vaf!r} is not a fraction in [0, 1]")
            object.__setattr__(self, "vaf", float(self.vaf))
        if self.detail is not None:
            if not isinstance(self.detail, str):
                raise RiskInputError(f"{gene} detail must be text, not {self.detail!r}")
            detail = " ".join(self.detail.split())
            object.__setattr__(self, "detail", detail or None)

    @property
    def is_itd(self) -> bool:
        """Whether this is a FLT3 internal tandem duplication."""
        return self.gene == "FLT3" and self.detail is not None and bool(_ITD_RE.search(self.detail))

    def __str__(self) -> str:
        text = self.gene
        if self.detail:
            text += f" ({self.detail})"
        if self.vaf is not None:
            text += f" VAF {self.vaf:.3g}"
        return text


def _optional_number(name: str, value: object, low: float, high: float) -> float | None:
    """Check an optional number lies in [low, high]; returns it as float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RiskInputError(f"{name} must be a number, not {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise RiskInputError(f"{name} {value!r} is outside [{low:g}, {high:g}]")
    return float(value)


def _optional_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise RiskInputError(f"{name} must be true, false or unknown (None), not {value!r}")


@dataclass(frozen=True)
class DiagnosisGenetics:
    """The genetics of one patient at diagnosis, as far as they are known.

    "Not known" (None, or a gene outside ``tested_genes``) is never read as "normal": the models
    report such inputs as missing when they could change the category.

    Attributes:
        disease: ``"AML"`` or ``"T-ALL"``; it decides which models apply.
        mutations: Mutations and gene alterations found. A gene listed here is altered.
        cytogenetics: Lesion tokens from :data:`CYTOGENETIC_TOKENS` (see
            :func:`parse_cytogenetics` for lab text).
        cytogenetics_known: True when a karyotype was obtained, so a lesion not listed is absent.
            False (the default, since it is the cautious reading) means the listed lesions were
            found (for instance a fusion by RT-PCR or FISH) but others cannot be excluded.
        flt3_itd: FLT3-ITD found (True), looked for and not found (False), unknown (None).
            A FLT3 mutation listed with detail ``ITD`` also counts as found. FLT3 in
            ``tested_genes`` does not rule an ITD out: NGS panels miss long ITDs (domain.md §2),
            so write ``"FLT3-ITD"`` in ``tested_genes`` when the assay did look for them.
        flt3_itd_ratio: FLT3-ITD allelic ratio (mutant / wild type) at diagnosis. A ratio
            above 0 means an ITD was found, 0 that none was.
        npm1: NPM1 mutated (True), wild type (False), unknown (None); an NPM1 entry in
            ``mutations`` or NPM1 in ``tested_genes`` also settles it.
        therapy: ``"intensive"``, ``"less-intensive"`` or None (not given).
        wbc: White-cell count at diagnosis, 10^9/L (T-ALL combined model).
        eoi_mrd: MRD at the end of induction as a fraction (T-ALL combined model).
        tested_genes: Genes the panel covered (a gene listed in ``mutations`` counts as covered
            too). None means not given: every gene without a listed mutation is then unknown.
    """

    disease: Disease
    mutations: tuple[Mutation, ...] = ()
    cytogenetics: tuple[str, ...] = ()
    cytogenetics_known: bool = False
    flt3_itd: bool | None = None
    flt3_itd_ratio: float | None = None
    npm1: bool | None = None
    therapy: Therapy | None = None
    wbc: float | None = None
    eoi_mrd: float | None = None
    tested_genes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        disease = str(getattr(self.disease, "value", self.disease))
        if disease not in ("AML", "T-ALL"):
            raise RiskInputError(f"disease must be AML or T-ALL, not {_show(disease)}")
        object.__setattr__(self, "disease", disease)
        if self.therapy is not None:
            therapy = str(getattr(self.therapy, "value", self.therapy))
            if therapy not in ("intensive", "less-intensive"):
                raise RiskInputError(
                    f"therapy must be intensive, less-intensive or None, not {_show(therapy)}"
                )
            object.__setattr__(self, "therapy", therapy)
        mutations = tuple(self.mutations)
        for mutation in mutations:
            if not isinstance(mutation, Mutation):
                raise RiskInputError(f"mutations must be Mutation objects, not {mutation!r}")
        object.__setattr__(self, "mutations", mutations)
        tokens = tuple(self.cytogenetics)
        for token in tokens:
            if token not in CYTOGENETIC_TOKENS:
                raise RiskInputError(
                    f"unknown cytogenetic token {_show(str(token))} "
                    "(use parse_cytogenetics for lab text)"
                )
        object.__setattr__(self, "cytogenetics", tuple(dict.fromkeys(tokens)))
        if not isinstance(self.cytogenetics_known, bool):
            raise RiskInputError("cytogenetics_known must be true or false")
        for name in ("flt3_itd", "npm1"):
            _optional_bool(name, getattr(self, name))
        ratio = _optional_number("flt3_itd_ratio", self.flt3_itd_ratio, 0.0, math.inf)
        object.__setattr__(self, "flt3_itd_ratio", ratio)
        object.__setattr__(self, "wbc", _optional_number("wbc", self.wbc, 0.0, math.inf))
        object.__setattr__(self, "eoi_mrd", _optional_number("eoi_mrd", self.eoi_mrd, 0.0, 1.0))
        if self.tested_genes is not None:
            if isinstance(self.tested_genes, str):
                raise RiskInputError("tested_genes must be a set of gene symbols, not one string")
            genes = frozenset(str(gene).strip().upper() for gene in self.tested_genes)
            object.__setattr__(self, "tested_genes", genes)
        self._check_consistent()

    def _check_consistent(self) -> None:
        """Refuse inputs that contradict each other rather than pick one of them."""
        listed_itd = any(m.is_itd for m in self.mutations)
        if self.flt3_itd is False and listed_itd:
            raise RiskInputError("flt3_itd is False but a FLT3-ITD is listed in mutations")
        ratio = self.flt3_itd_ratio
        if ratio is not None:
            if self.flt3_itd is False and ratio > 0:
                raise RiskInputError(f"flt3_itd is False but flt3_itd_ratio is {ratio:g}")
            if ratio == 0 and (self.flt3_itd is True or listed_itd):
                raise RiskInputError("a FLT3-ITD is reported but flt3_itd_ratio is 0")
        if self.npm1 is False and self.mutated("NPM1"):
            raise RiskInputError("npm1 is False but an NPM1 mutation is listed in mutations")

    # -- gene status --------------------------------------------------------------------------

    def found(self, gene: str) -> tuple[Mutation, ...]:
        """The listed mutations of one gene."""
        gene = gene.upper()
        return tuple(m for m in self.mutations if m.gene == gene)

    def mutated(self, gene: str) -> bool:
        """Whether the gene has a listed mutation or alteration."""
        return bool(self.found(gene))

    def status(self, gene: str) -> bool | None:
        """True when altered, False when tested without a finding, None when unknown."""
        if self.mutated(gene):
            return True
        if self.tested_genes is not None and gene.upper() in self.tested_genes:
            return False
        return None

    @property
    def npm1_status(self) -> bool | None:
        """NPM1 mutated, wild type, or unknown, from ``npm1``, ``mutations`` and the panel."""
        if self.npm1 is not None:
            return self.npm1
        return self.status("NPM1")

    @property
    def flt3_itd_status(self) -> bool | None:
        """FLT3-ITD found, not found, or unknown (see the ``flt3_itd`` attribute)."""
        if self.flt3_itd is not None:
            return self.flt3_itd
        if any(m.is_itd for m in self.mutations):
            return True
        if self.flt3_itd_ratio is not None:
            return self.flt3_itd_ratio > 0
        if self.tested_genes is not None and "FLT3-ITD" in self.tested_genes:
            return False
        return None

    @property
    def itd_clone_count(self) -> int | None:
        """FLT3-ITD entries listed in ``mutations`` (one per clone), None when none is listed."""
        count = sum(1 for m in self.mutations if m.is_itd)
        return count or None


# --------------------------------------------------------------------------------------------
# The call every model returns, and the resolver that keeps models from guessing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    """One input of a multi-factor model, reported with its value (T-ALL combined model).

    Attributes:
        name: What the factor is.
        value: Its value as text, None when missing.
        favourable: True when it points to lower risk, False to higher, None when missing.
    """

    name: str
    value: str | None
    favourable: bool | None

    def as_dict(self) -> dict[str, Any]:
        """The factor as JSON-ready data."""
        return {"name": self.name, "value": self.value, "favourable": self.favourable}


@dataclass(frozen=True)
class RiskCall:
    """The result of one risk model.

    Attributes:
        model: ``ELN2022``, ``ELN2024``, ``ELN2017``, ``TALL-4gene``, ``TALL-NGS2024`` or
            ``TALL-combined``.
        category: ``favorable``/``intermediate``/``adverse`` (ELN), ``low``/``high`` (T-ALL
            classifiers), ``low``/``intermediate``/``high`` (T-ALL combined); None when missing
            inputs could change it.
        rules_fired: The rules that gave the category, in the order of precedence applied.
        missing: Inputs that could change the category and were not given; empty exactly when
            ``category`` is set.
        caveats: What the reader must know: precedence choices, inputs that were unknown but
            could not matter, limits of the model.
        factors: The factors of a multi-factor model, each with its value (else empty).
    """

    model: str
    category: str | None
    rules_fired: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
    factors: tuple[Factor, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The call as JSON-ready data (lists for tuples)."""
        return {
            "model": self.model,
            "category": self.category,
            "rules_fired": list(self.rules_fired),
            "missing": list(self.missing),
            "caveats": list(self.caveats),
            "factors": [f.as_dict() for f in self.factors],
        }


@dataclass(frozen=True)
class Decision:
    """What a model's rules give for one complete set of facts."""

    category: str
    rules: tuple[str, ...]
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unknown:
    """A fact the model needs but was not given.

    Attributes:
        key: Name of the boolean fact in the model's fact table.
        labels: How it is reported in ``RiskCall.missing`` (several inputs may hide behind one
            fact, e.g. every untested gene of a group).
    """

    key: str
    labels: tuple[str, ...]


Decide = Callable[[Mapping[str, bool]], Decision]

MAX_UNKNOWNS = 12
"""More unknown facts than this would make exhaustive resolution slow; no model has as many."""


def resolve_call(
    model: str,
    facts: Mapping[str, bool],
    unknowns: Sequence[Unknown],
    decide: Decide,
    caveats: Iterable[str] = (),
    factors: tuple[Factor, ...] = (),
) -> RiskCall:
    """Apply a model's rules to every value its unknown facts could take.

    Why exhaustive: precedence makes "could this missing input matter?" hard to answer by
    reasoning rule by rule (a missing karyotype can hide a t(9;11) that outranks a known TP53
    mutation). With at most a handful of boolean unknowns, trying them all is exact and cheap.

    The known facts alone (every unknown set to False) give the rules reported when the
    category is settled, so ``rules_fired`` only ever cites findings that were given.

    Args:
        model: Model name for the call.
        facts: Known boolean facts.
        unknowns: Facts not known; their keys must not be in ``facts``.
        decide: The model's rules for one complete fact table.
        caveats: Model caveats that hold whatever the outcome.
        factors: Factors to report (multi-factor models).

    Returns:
        The call: a category when every completion agrees, else None with the inputs that
        would decide it.
    """
    if len(unknowns) > MAX_UNKNOWNS:  # pragma: no cover - a model bug, not user input
        raise AssertionError(f"{model}: too many unknown facts ({len(unknowns)})")
    keys = [u.key for u in unknowns]
    outcomes: dict[tuple[bool, ...], str] = {}
    for values in itertools.product((False, True), repeat=len(keys)):
        outcomes[values] = decide({**facts, **dict(zip(keys, values, strict=True))}).category
    categories = list(dict.fromkeys(outcomes.values()))
    relevant: list[Unknown] = []
    for index, unknown in enumerate(unknowns):
        for values, category in outcomes.items():
            if not values[index]:
                flipped = (*values[:index], True, *values[index + 1 :])
                if outcomes[flipped] != category:
                    relevant.append(unknown)
                    break
    notes = list(caveats)
    if len(categories) == 1:
        base = decide({**facts, **dict.fromkeys(keys, False)})
        notes.extend(base.caveats)
        idle = _labels(unknowns)
        if idle:
            notes.append("not known, but cannot change this category: " + ", ".join(idle))
        return RiskCall(model, base.category, base.rules, (), tuple(notes), factors)
    notes.append("possible categories with the missing inputs: " + ", ".join(sorted(categories)))
    return RiskCall(model, None, (), _labels(relevant), tuple(notes), factors)


def _labels(unknowns: Iterable[Unknown]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(label for u in unknowns for label in u.labels))


def gene_group(
    g: DiagnosisGenetics, genes: Sequence[str], key: str
) -> tuple[dict[str, bool], list[Unknown]]:
    """Fact and unknown for "any gene of this group altered".

    The group is known True when one of its genes is altered, known False when every gene was
    tested without a finding, and otherwise unknown, reported as the status of each untested
    gene.
    """
    statuses = {gene: g.status(gene) for gene in genes}
    if any(statuses.values()):
        return {key: True}, []
    untested = tuple(f"{gene} status" for gene, status in statuses.items() if status is None)
    if not untested:
        return {key: False}, []
    return {}, [Unknown(key, untested)]


def altered(g: DiagnosisGenetics, genes: Iterable[str]) -> list[str]:
    """Listed alterations of these genes, as text for rule messages."""
    return [str(m) for gene in genes for m in g.found(gene)]


# --------------------------------------------------------------------------------------------
# Cytogenetics text
# --------------------------------------------------------------------------------------------

# Gene names a fusion may be written with, mapped onto HGNC symbols.
_FUSION_ALIASES: dict[str, str] = {
    "RUNX1": "RUNX1",
    "AML1": "RUNX1",
    "RUNX1T1": "RUNX1T1",
    "ETO": "RUNX1T1",
    "CBFA2T1": "RUNX1T1",
    "CBFB": "CBFB",
    "MYH11": "MYH11",
    "KMT2A": "KMT2A",
    "MLL": "KMT2A",
    "MLLT3": "MLLT3",
    "AF9": "MLLT3",
    "DEK": "DEK",
    "NUP214": "NUP214",
    "CAN": "NUP214",
    "BCR": "BCR",
    "ABL1": "ABL1",
    "ABL": "ABL1",
    "KAT6A": "KAT6A",
    "MOZ": "KAT6A",
    "MYST3": "KAT6A",
    "CREBBP": "CREBBP",
    "CBP": "CREBBP",
    "GATA2": "GATA2",
    "MECOM": "MECOM",
    "EVI1": "MECOM",
}
_FUSIONS: dict[frozenset[str], str] = {
    frozenset({"RUNX1", "RUNX1T1"}): "RUNX1::RUNX1T1",
    frozenset({"CBFB", "MYH11"}): "CBFB::MYH11",
    frozenset({"MLLT3", "KMT2A"}): "MLLT3::KMT2A",
    frozenset({"DEK", "NUP214"}): "DEK::NUP214",
    frozenset({"BCR", "ABL1"}): "BCR::ABL1",
    frozenset({"KAT6A", "CREBBP"}): "KAT6A::CREBBP",
}
# Words after KMT2A-/MECOM- that are not fusion partners.
_NOT_PARTNERS = frozenset({"PTD", "ITD", "TKD", "AMP", "DUP", "DEL", "FISH", "PCR", "NGS"})
_FUSION_RE = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]{1,9})\s*(?:::|[-/])\s*([A-Za-z][A-Za-z0-9]{1,9})"
    r"(?![A-Za-z0-9])",
    re.ASCII,
)
_NEGATION_RE = re.compile(
    r"(?<![A-Za-z])(?:negative|neg|not|no|absent|without|excluded|wt|wild[- ]?type)(?![A-Za-z])",
    re.IGNORECASE | re.ASCII,
)
_FAILED_RE = re.compile(
    r"(?<![A-Za-z])(?:fail(?:ed|ure)?|no\s+(?:metaphases?|mitos[ie]s|growth|result)"
    r"|not\s+(?:done|performed|available|evaluable)|n/?a|unknown|insufficient|inconclusive)"
    r"(?![A-Za-z])",
    re.IGNORECASE | re.ASCII,
)

_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern + r"(?![A-Za-z0-9])", re.IGNORECASE | re.ASCII), meaning)
    for pattern, meaning in (
        (r"complex(?:\s+(?:aberrant\s+)?karyotype)?", "complex"),
        (r"monosomal(?:\s+karyotype)?", "monosomal"),
        (r"(?:kmt2a|mll)[-\s]?ptd", "neutral"),
        (r"(?:kmt2a|mll|11q23(?:\.3)?)(?:[-\s]?r|\s*-?\s*rearrange(?:d|ments?))", "KMT2A-r"),
        (r"(?:mecom|evi1|3q26(?:\.2)?)(?:[-\s]?r|\s*-?\s*rearrange(?:d|ments?))", "MECOM-r"),
        (r"abn\(17p\)", "abn(17p)"),
        (r"(?:normal(?:\s+(?:male|female))?(?:\s+karyotype)?|nk)", "neutral"),
        (r"monosomy\s*(\d{1,2}|x|y)", "loss"),
        (r"trisomy\s*(\d{1,2}|x|y)", "gain"),
        (r"(\d{1,2})([pq])\s*(?:-|\s+deletion|\s+del)(?![0-9])", "arm-loss"),
        (r"del(?:etion)?\s*(?:of\s+)?(\d{1,2})([pq])", "arm-loss"),
        (r"\[(?:cp)?\d+\]", "neutral"),
        (
            r"(?:idem|sl|sdl\d*|cp|inc|karyotypes?|cytogenetics|fish|and|with|plus|&|in|of"
            r"|metaphases?|cells?|positive|pos|detected|present|fusion|transcripts?|by"
            r"|(?:rt-?)?q?pcr)",
            "neutral",
        ),
        (r"\d{2,3}(?:~\d{2,3})?(?:<\d?n>)?", "neutral"),
        (r"X{1,4}Y{0,3}|Y{1,2}", "neutral"),
        (r"[+-]\s*(?:\d{1,2}~)?\d*\s*(?:mar|dmin)\d*", "marker"),
        (r"([+-])\s*(\d{1,2}|X|Y)(?:\s*[x\u00d7]\s*\d)?c?", "numerical"),
    )
)
_STRUCTURE_KINDS = (
    "t|inv|del|add|dup|ins|i|idic|dic|der|ider|r|trp|hsr|rob|tas|fis|qdp|tan|trc|inc|dmin"
)
_STRUCTURAL_RE = re.compile(
    rf"[+-]?(?:(?:{_STRUCTURE_KINDS})\([^()]*\)(?:\([^()]*\))?)+c?(?![A-Za-z0-9])",
    re.IGNORECASE | re.ASCII,
)
_GROUP_RE = re.compile(rf"({_STRUCTURE_KINDS})\(([^()]*)\)(?:\(([^()]*)\))?", re.IGNORECASE)
_CHROM_RE = re.compile(r"(\d{1,2}|X|Y|V)([pq][0-9.]*)?", re.IGNORECASE | re.ASCII)
_BAND_RE = re.compile(r"[pq](?:\d+(?:\.\d+)?|ter|cen)?", re.IGNORECASE)
# Chromosomes whose rearrangements can define risk: a band-less abnormality of one of them
# cannot be placed, so it is reported rather than passed as harmless.
_RISK_CHROMOSOMES = frozenset({"3", "5", "11", "17"})


@dataclass
class _Scan:
    """What the cytogenetics scanner found."""

    tokens: list[str] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)
    abnormalities: dict[str, str] = field(default_factory=dict)  # item -> gain/loss/structural
    autosomal_losses: set[str] = field(default_factory=set)

    def add(self, token: str) -> None:
        if token not in self.tokens:
            self.tokens.append(token)


def _split_top(text: str, separators: str) -> list[str]:
    """Split on separators outside parentheses and brackets (ISCN nests ';' inside them)."""
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(depth - 1, 0)
        elif depth == 0 and char in separators:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _fusion_token(left: str, right: str) -> str | None:
    """The token of a fusion written as two gene names, None when it is not one we know."""
    a, b = _FUSION_ALIASES.get(left.upper()), _FUSION_ALIASES.get(right.upper())
    if a and b and frozenset({a, b}) in _FUSIONS:
        return _FUSIONS[frozenset({a, b})]
    for hub, token in (("KMT2A", "KMT2A-r"), ("MECOM", "MECOM-r")):
        if hub in (a, b):
            other = right if a == hub else left
            # A partner must look like a gene symbol (capitals), so "KMT2A-rearranged" is not one.
            if other.isupper() and other.upper() not in _NOT_PARTNERS and other.upper() != hub:
                return token
    return None


def _bands(chrom_entries: list[tuple[str, str]], bands_text: str | None) -> dict[str, list[str]]:
    """Bands per chromosome of one ISCN group, e.g. t(9;11)(p21;q23) -> 9: [p21], 11: [q23]."""
    per_chrom: dict[str, list[str]] = {}
    pieces = bands_text.split(";") if bands_text else []
    for index, (chrom, arm) in enumerate(chrom_entries):
        found = [arm] if arm else []
        if index < len(pieces):
            found += _BAND_RE.findall(pieces[index])
        per_chrom.setdefault(chrom, []).extend(b.lower() for b in found)
    return per_chrom


# Translocations with a token of their own, keyed by their chromosomes sorted as text, with
# the band (prefix) each chromosome must break in when bands are written.
_NAMED_TRANSLOCATIONS: dict[tuple[str, str], tuple[str, dict[str, tuple[str, ...]]]] = {
    ("21", "8"): ("t(8;21)", {"8": ("q22",), "21": ("q22",)}),
    ("16", "16"): ("t(16;16)", {"16": ("p13", "q22")}),
    ("11", "9"): ("t(9;11)", {"9": ("p2",), "11": ("q23",)}),
    ("6", "9"): ("t(6;9)", {"6": ("p2",), "9": ("q34",)}),
    ("22", "9"): ("t(9;22)", {"9": ("q34",), "22": ("q11",)}),
    ("16", "8"): ("t(8;16)", {"8": ("p11",), "16": ("p13",)}),
    ("3", "3"): ("t(3;3)", {"3": ("q26",)}),
}


def _has(bands: list[str], *prefixes: str) -> bool:
    return any(band.startswith(prefix) for band in bands for prefix in prefixes)


def _classify_group(kind: str, chroms_text: str, bands_text: str | None) -> str | None:
    """Risk token of one ISCN group; "" when harmless; None when it cannot be placed."""
    entries: list[tuple[str, str]] = []
    for entry in chroms_text.split(";"):
        match = _CHROM_RE.fullmatch(entry.strip())
        if not match:
            return None
        entries.append((match.group(1).upper(), (match.group(2) or "").lower()))
    chroms = [c for c, _ in entries]
    bands = _bands(entries, bands_text)
    placed = any(bands.get(c) for c in chroms)
    kind = kind.lower()
    pair = sorted(chroms)

    def fits(wanted: dict[str, tuple[str, ...]]) -> bool | None:
        """True when bands match, None when no bands given, False when they contradict."""
        if not placed:
            return None
        return all(_has(bands.get(c, []), *prefixes) for c, prefixes in wanted.items())

    if kind in ("t", "ins") and len(chroms) == 2:
        named = _NAMED_TRANSLOCATIONS.get((pair[0], pair[1]))
        if named is not None:
            return named[0] if fits(named[1]) is not False else None
        if pair == ["15", "17"]:
            return None  # t(15;17): acute promyelocytic leukemia, outside these risk models
    if kind == "inv" and chroms == ["16"]:
        return "inv(16)" if fits({"16": ("p13",)}) is not False else None
    if kind == "inv" and chroms == ["3"]:
        return "inv(3)" if fits({"3": ("q26",)}) is not False else None
    if kind in ("t", "ins", "inv") and _has(bands.get("11", []), "q23"):
        return "KMT2A-r"
    if kind in ("t", "ins", "inv") and _has(bands.get("3", []), "q26"):
        return "MECOM-r"
    if "17" in chroms and (
        kind in ("i", "idic")
        or (kind in ("del", "add", "t", "der", "dic") and _has(bands["17"], "p"))
    ):
        return "abn(17p)"
    if kind == "del" and chroms == ["5"] and _has(bands["5"], "q"):
        return "del(5q)"
    if kind == "der" and not placed:
        return ""  # the rearrangement that made it follows, or it is reported by band below
    risky = [c for c in chroms if c in _RISK_CHROMOSOMES]
    if risky and not all(bands.get(c) for c in risky):
        return None
    return ""


def _classify_structural(item: str) -> str | None:
    """Risk token of a structural item, "" when harmless, None when it cannot be placed."""
    groups = _GROUP_RE.findall(item)
    results = [_classify_group(kind, chroms, bands or None) for kind, chroms, bands in groups]
    tokens = [r for r in results if r]
    if tokens:
        return tokens[0]
    if any(r is None for r in results):
        return None
    return ""


def _scan_piece(piece: str, scan: _Scan) -> None:
    """Read one clone or fragment, token by token; unreadable words go to ``unrecognised``."""
    pos = 0
    length = len(piece)
    while pos < length:
        if piece[pos].isspace():
            pos += 1
            continue
        structural = _STRUCTURAL_RE.match(piece, pos)
        if structural:
            item = structural.group(0)
            pos = structural.end()
            if item.lower().endswith("c"):
                continue  # constitutional (inborn), not part of the leukemia
            meaning = _classify_structural(item)
            if meaning is None:
                scan.unrecognised.append(item)
            else:
                if meaning:
                    scan.add(meaning)
                key = item.lstrip("+-").lower()
                chroms = {c for _, c, _ in _GROUP_RE.findall(item)}
                if not chroms <= {"X", "Y", "x", "y"}:
                    scan.abnormalities[key] = "structural"
            continue
        for pattern, meaning in _PHRASES:
            match = pattern.match(piece, pos)
            if not match:
                continue
            _apply_phrase(meaning, match, scan)
            pos = match.end()
            break
        else:
            word = re.match(r"\S+", piece[pos:])
            assert word is not None  # pos is at a non-space character
            scan.unrecognised.append(word.group(0))
            pos += word.end()


def _apply_phrase(meaning: str, match: re.Match[str], scan: _Scan) -> None:
    """Record what a matched phrase means."""
    if meaning in ("complex", "monosomal", "KMT2A-r", "MECOM-r", "abn(17p)"):
        scan.add(meaning)
    elif meaning in ("loss", "gain", "numerical"):
        if match.group(0).lower().endswith("c"):
            return  # constitutional (inborn), e.g. +21c in Down syndrome
        if meaning == "numerical":
            sign, chrom = match.group(1), match.group(2).upper()
        else:
            sign, chrom = ("-" if meaning == "loss" else "+"), match.group(1).upper()
        if chrom in ("X", "Y"):
            return  # sex-chromosome gains and losses count toward neither complex nor monosomal
        if not 1 <= int(chrom) <= 22:
            scan.unrecognised.append(match.group(0))
            return
        scan.abnormalities[f"{sign}{chrom}"] = "loss" if sign == "-" else "gain"
        if sign == "-":
            scan.autosomal_losses.add(chrom)
            if chrom in ("5", "7", "17"):
                scan.add(f"-{chrom}")
    elif meaning == "arm-loss":
        chrom, arm = match.group(1), match.group(2).lower()
        scan.abnormalities[f"del({chrom}{arm})"] = "structural"
        if chrom == "5" and arm == "q":
            scan.add("del(5q)")
        elif chrom == "17" and arm == "p":
            scan.add("abn(17p)")
    elif meaning == "marker":
        scan.abnormalities[match.group(0).replace(" ", "").lstrip("+-").lower()] = "structural"


def _scan(text: str) -> _Scan:
    scan = _Scan()
    if not isinstance(text, str):
        raise RiskInputError(f"cytogenetics must be text, not {type(text).__name__}")
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-")
    for fragment in _split_top(text, ",;|\n\r\t"):
        if _NEGATION_RE.search(fragment):
            # "BCR::ABL1 negative", "no t(8;21)": a negative result is not a lesion, and where
            # the negation points cannot be told reliably, so the fragment is left to a reader.
            scan.unrecognised.append(fragment)
            continue
        rest = fragment
        for match in list(_FUSION_RE.finditer(fragment)):
            token = _fusion_token(match.group(1), match.group(2))
            if token is not None:
                scan.add(token)
                rest = rest.replace(match.group(0), " ", 1)
        for piece in _split_top(rest, "/"):
            _scan_piece(piece, scan)
    kinds = list(scan.abnormalities.values())
    if len(kinds) >= 3 and any(kind != "gain" for kind in kinds):
        scan.add("complex")
    structural = kinds.count("structural")
    losses = len(scan.autosomal_losses)
    if losses >= 2 or (losses >= 1 and structural >= 1):
        scan.add("monosomal")
    return scan


def parse_cytogenetics(text: str) -> tuple[str, ...]:
    """Read lab cytogenetics text into the lesion tokens of :data:`CYTOGENETIC_TOKENS`.

    Recognised, case-insensitively:

    * ISCN karyotypes: ``46,XX,t(8;21)(q22;q22)[20]``, clones split on ``/``, ``idem``, modal
      numbers, sex chromosomes, cell counts. Translocations and inversions are named by their
      chromosomes and checked against their bands when bands are given (t(9;11) needs 9p2x and
      11q23); any other t/ins/inv at 11q23 is ``KMT2A-r`` and at 3q26 ``MECOM-r``;
      ``del(5)(q..)``/``del(5q)``/``5q-`` is ``del(5q)``; a 17p break, ``i(17q)`` or
      ``idic(17)`` is ``abn(17p)``; ``-5``, ``-7``, ``-17`` and ``monosomy 7`` are kept.
    * Fusion names with ``::``, ``-`` or ``/`` and common aliases (``AML1-ETO``, ``BCR/ABL``,
      ``MLL-AF9``); KMT2A or MECOM with any other partner gives ``KMT2A-r``/``MECOM-r``.
    * Phrases: ``complex karyotype``, ``monosomal karyotype``, ``KMT2A rearranged``/``MLL-r``,
      ``MECOM rearranged``, ``normal karyotype``.

    Derived: ``complex`` when the karyotype holds three or more distinct abnormalities that are
    not all chromosome gains (hyperdiploid karyotypes of trisomies only are excluded, as in
    the ELN 2022 definition); ``monosomal`` with two autosomal monosomies, or one plus a
    structural abnormality. Sex-chromosome gains and losses count toward neither. Abnormalities
    are pooled over all clones.

    Not interpreted, and reported by :func:`unrecognised_cytogenetics` instead: fragments with
    a negation ("BCR::ABL1 negative", "no t(8;21)"), a band-less abnormality of chromosome 3, 5,
    11 or 17 other than the named ones (its risk depends on the band), a named translocation
    whose bands contradict it, other fusions (e.g. PML::RARA), and any other word.

    Args:
        text: Free text from a lab report or sample sheet.

    Returns:
        Tokens in the order found, without duplicates.
    """
    return tuple(_scan(text).tokens)


def unrecognised_cytogenetics(text: str) -> list[str]:
    """Fragments of cytogenetics text that :func:`parse_cytogenetics` did not interpret.

    Why it exists: a karyotype is only useful to the risk models when every abnormality in it
    was read. Anything listed here needs a human to translate it into tokens.
    """
    return list(_scan(text).unrecognised)


def karyotype_failed(text: str) -> bool:
    """Whether cytogenetics text says no karyotype result exists ("failed", "no metaphases").

    Such text must give ``cytogenetics_known=False``; reading it as a normal karyotype would
    rule out every unseen adverse lesion.
    """
    return bool(_FAILED_RE.search(text))


# --------------------------------------------------------------------------------------------
# Mutation text
# --------------------------------------------------------------------------------------------

_ENTRY_RE = re.compile(
    r"(?P<gene>[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*)"
    r"\s*(?:\((?P<d1>[^()]*)\))?"
    r"\s*(?:(?:[:=@]|\s)\s*(?:vaf\s*[:=]?\s*)?(?P<vaf>\d+(?:\.\d*)?|\.\d+)\s*(?P<pct>%)?)?"
    r"\s*(?:\((?P<d2>[^()]*)\))?",
    re.ASCII | re.IGNORECASE,
)


def parse_mutations(text: str) -> tuple[Mutation, ...]:
    """Read a mutations cell such as ``TP53:0.23;ASXL1;CEBPA(bZIP in-frame)``.

    Entries are split on ``;``, ``,``, ``|`` or new lines (not inside parentheses). Each is
    ``GENE``, optionally ``(detail)``, optionally a VAF after ``:``, ``=``, ``@`` or a space,
    as a fraction (``0.23``) or a percentage (``23%``). ``FLT3-ITD``, ``FLT3-TKD`` and
    ``KMT2A-PTD`` become the gene with that detail.

    A VAF above 1 without ``%`` is refused: risk rules hinge on VAF (TP53 from 10%), and
    ``TP53:23`` could mean 23% or be a typo.

    Raises:
        RiskInputError: An entry that is not of that form, or a VAF outside 0-1 (0-100%); the
            message is one line and quotes the entry.
    """
    if not isinstance(text, str):
        raise RiskInputError(f"mutations must be text, not {type(text).__name__}")
    found: list[Mutation] = []
    for entry in _split_top(text, ";,|\n\r"):
        match = _ENTRY_RE.fullmatch(entry)
        if match is None:
            raise RiskInputError(
                f"mutation entry {_show(entry)} is not GENE, GENE:VAF or GENE(detail) "
                "(e.g. TP53:0.23, CEBPA(bZIP in-frame))"
            )
        gene = match.group("gene").upper()
        details = [d.strip() for d in (match.group("d1"), match.group("d2")) if d and d.strip()]
        vaf: float | None = None
        if match.group("vaf") is not None:
            vaf = float(match.group("vaf"))
            if match.group("pct"):
                vaf /= 100.0
            if not 0.0 <= vaf <= 1.0:
                raise RiskInputError(
                    f"mutation entry {_show(entry)}: VAF is outside 0-1 "
                    "(write a percentage with %, e.g. TP53:23%)"
                )
        found.append(Mutation(gene, vaf, "; ".join(details) or None))
    return tuple(found)
