"""One patient's MRD course: from each sample's call to the state the ELN rules give it.

A single MRD result says little on its own; relapse and progression are statements about a
*series*: conversion from MRD negative to positive, or a rise of at least 1 log10 between two
positive samples, each confirmed by the next sample (domain.md §4). :func:`follow_patient` walks
a patient's samples in date order and gives each one a state, the rules that led to it (as
text, with the numbers, so a report can say why) and its log10 reduction from diagnosis.

It is a pure function over already-called samples: no files, no statistics beyond log10, and
every threshold comes from :class:`~mrd.monitoring.config.MrdRules`.

Choices the rules leave open, made here:

* A not-evaluable sample (nothing detected at insufficient sensitivity, or no marker to assess)
  breaks nothing: it neither confirms nor refutes an earlier result, and the "previous" sample of
  every rule is the last *evaluable* one.
* "Positive" for conversion means any detection (also below ``positive_vaf`` or the LoQ), unless
  ``relapse_needs_positive_vaf`` asks for a level at or above ``positive_vaf``; then low-level
  detections after a negative neither trigger nor end the MRD-negative phase.
* A relapse or progression waits for the next evaluable sample, which confirms it when it is
  detected at or above the level that triggered the rule: any detection (or ``positive_vaf``)
  for relapse, the baseline level raised by ``progression_log10`` for progression. Entries are
  immutable, so the confirmation is carried by the later entry (same state, ``confirmed=True``,
  ``confirms=<earlier sample>``); the earlier entry stays ``confirmed=False`` either way.
* The diagnosis sample is the reference level, not a "previous positive sample": a refractory
  course is not molecular progression.
* A NEGATIVE call whose LoD misses ``required_sensitivity`` is read as not evaluable, so stricter
  rules than the ones used for calling still hold; nothing is ever upgraded.
"""

from __future__ import annotations

import datetime
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mrd.monitoring.config import MrdRules
from mrd.stats.sensitivity import MrdCall

__all__ = ["Measurement", "MrdState", "TimelineEntry", "follow_patient"]

DIAGNOSIS = "diagnosis"
"""The timepoint that marks the reference sample (see :class:`~mrd.monitoring.Timepoint`)."""

_LOG_TOLERANCE = 1e-9
"""Slack on log10 comparisons: log10(1e-2 / 1e-3) is 0.9999999999999998 in floating point."""

_DETECTED = frozenset({MrdCall.POSITIVE.value, MrdCall.POSITIVE_BELOW_LOQ.value})
_CALLS = frozenset(call.value for call in MrdCall)


@dataclass(frozen=True)
class Measurement:
    """One sample's pooled MRD result, as ``mrd call`` produced it.

    Attributes:
        sample: Sample name.
        date: Sampling date; the series is read in date order.
        timepoint: Timepoint (``"diagnosis"`` marks the reference sample).
        tissue: ``PB`` or ``BM``.
        call: ``POSITIVE``, ``POSITIVE_BELOW_LOQ``, ``NEGATIVE``, ``NOT_EVALUABLE``, or None when
            the sample could not be assessed at all (no marker).
        level: Pooled VAF; required (above 0) for a detected call, else may be None.
        lod: The sample's LoD95 (VAF), None when unknown.
    """

    sample: str
    date: datetime.date
    timepoint: str
    tissue: str
    call: str | None
    level: float | None
    lod: float | None

    def __post_init__(self) -> None:
        if self.call is not None and self.call not in _CALLS:
            raise ValueError(f"{self.sample}: unknown MRD call {self.call!r}")
        for name in ("level", "lod"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{self.sample}: {name} must be a finite VAF >= 0, not {value}")
        if self.detected and not self.level:
            raise ValueError(f"{self.sample}: a {self.call} result needs a level above 0")

    @property
    def detected(self) -> bool:
        """Whether the call is a detection (POSITIVE or POSITIVE_BELOW_LOQ)."""
        return self.call in _DETECTED

    @property
    def is_diagnosis(self) -> bool:
        """Whether this is the diagnosis (reference) sample."""
        return self.timepoint == DIAGNOSIS


class MrdState(str, enum.Enum):
    """Where a patient stands at one sample."""

    DIAGNOSIS = "DIAGNOSIS"
    """The diagnosis sample: the reference level for log10 reductions."""
    CR_MRD_NEGATIVE = "CR_MRD_NEGATIVE"
    """Nothing detected, at the required sensitivity."""
    MRD_LOW_LEVEL = "MRD_LOW_LEVEL"
    """Detected below ``positive_vaf``."""
    MRD_POSITIVE = "MRD_POSITIVE"
    """Detected at or above ``positive_vaf``."""
    MOLECULAR_PROGRESSION = "MOLECULAR_PROGRESSION"
    """A rise of at least ``progression_log10`` from the previous detected sample."""
    MOLECULAR_RELAPSE = "MOLECULAR_RELAPSE"
    """Detected after an MRD-negative sample."""
    NOT_EVALUABLE = "NOT_EVALUABLE"
    """Nothing detected at insufficient sensitivity, or no marker to assess."""


_NEEDS_CONFIRMATION = frozenset({MrdState.MOLECULAR_RELAPSE, MrdState.MOLECULAR_PROGRESSION})


@dataclass(frozen=True)
class TimelineEntry:
    """One sample of the course, with its state and why.

    Attributes:
        measurement: The sample's result.
        state: The state the rules give it.
        confirmed: For molecular relapse and progression, whether confirmed (False until the
            next evaluable sample confirms it; that sample's entry carries True); None for
            states that need no confirmation.
        log10_reduction_from_diagnosis: log10(diagnosis level / level); None without a detected
            diagnosis level, for the diagnosis itself, or with nothing to compare.
        log10_change_from_previous: log10(level / previous level), positive for a rise, when
            this and the previous evaluable sample (diagnosis included) are both detected.
        rules: The rules that fired, as text with their numbers.
        reduction_is_bound: True when nothing was detected and the reduction is computed from
            the LoD: the true reduction is at least this (">=").
        meets_reduction_target: Whether the reduction reaches ``log_reduction_target``; None when
            unknown (no reduction, or a bound below the target).
        confirms: The earlier sample this one confirms, if any.
    """

    measurement: Measurement
    state: MrdState
    confirmed: bool | None
    log10_reduction_from_diagnosis: float | None
    log10_change_from_previous: float | None
    rules: tuple[str, ...]
    reduction_is_bound: bool = False
    meets_reduction_target: bool | None = None
    confirms: str | None = None


@dataclass(frozen=True)
class _Pending:
    """An unconfirmed relapse or progression, and the level the next sample must reach."""

    sample: str
    state: MrdState
    threshold: float


def _vaf(value: float) -> str:
    return f"{value:.3g}" if value >= 1e-2 else f"{value:.1e}"


def _chronological(measurement: Measurement) -> tuple[datetime.date, int]:
    return (measurement.date, 0 if measurement.is_diagnosis else 1)


def _base_state(m: Measurement, rules: MrdRules) -> tuple[MrdState, str]:
    """The state of a sample on its own, before any comparison with earlier samples."""
    if m.call is None:
        return MrdState.NOT_EVALUABLE, "not evaluable: no marker to assess"
    if m.call == MrdCall.NOT_EVALUABLE.value:
        lod = f" (LoD {_vaf(m.lod)})" if m.lod is not None else ""
        return (
            MrdState.NOT_EVALUABLE,
            f"not evaluable: nothing detected, but the sample did not reach the required "
            f"sensitivity{lod}",
        )
    if m.call == MrdCall.NEGATIVE.value:
        required = rules.required_sensitivity
        if m.lod is None:
            return MrdState.CR_MRD_NEGATIVE, "MRD negative: nothing detected (LoD not given)"
        if m.lod > required * (1 + _LOG_TOLERANCE):
            return (
                MrdState.NOT_EVALUABLE,
                f"not evaluable: nothing detected, but LoD {_vaf(m.lod)} > required sensitivity "
                f"{_vaf(required)} (negative, insufficient sensitivity)",
            )
        return (
            MrdState.CR_MRD_NEGATIVE,
            f"MRD negative: nothing detected, LoD {_vaf(m.lod)} <= required sensitivity "
            f"{_vaf(required)}",
        )
    assert m.level is not None  # a detected Measurement always has one
    loq = "; positive, not quantifiable" if m.call == MrdCall.POSITIVE_BELOW_LOQ.value else ""
    if m.level >= rules.positive_vaf:
        return (
            MrdState.MRD_POSITIVE,
            f"MRD positive: detected at {_vaf(m.level)} >= {_vaf(rules.positive_vaf)} "
            f"(positive_vaf){loq}",
        )
    return (
        MrdState.MRD_LOW_LEVEL,
        f"MRD low level: detected at {_vaf(m.level)} < {_vaf(rules.positive_vaf)} "
        f"(positive_vaf){loq}",
    )


def _reduction(
    m: Measurement, reference: float | None, rules: MrdRules
) -> tuple[float | None, bool, bool | None, str | None]:
    """The log10 reduction from diagnosis, as (value, is a bound, meets the target, rule text)."""
    if reference is None:
        return None, False, None, None
    if m.detected:
        assert m.level is not None
        value, bound = math.log10(reference / m.level), False
    elif m.call is not None and m.lod:
        value, bound = math.log10(reference / m.lod), True
    else:
        return None, False, None, None
    target = rules.log_reduction_target
    shown = f"{'>= ' if bound else ''}{value:.2f}"
    if value < target - _LOG_TOLERANCE:
        # Below the target is not a rule firing; the field says so. A bound below it says
        # nothing either way: the true reduction may still reach the target.
        return value, bound, (None if bound else False), None
    text = (
        f"log10 reduction from diagnosis {shown} reaches the {target:g} log10 target "
        "(log_reduction_target)"
    )
    return value, bound, True, text


def follow_patient(
    measurements: Sequence[Measurement], rules: MrdRules | None = None
) -> list[TimelineEntry]:
    """Give each of one patient's samples its MRD state, in date order.

    Samples are sorted by date (the diagnosis first on a tie, otherwise input order), so the
    result is in date order whatever the input order.

    Args:
        measurements: One patient's results; at most one with timepoint ``"diagnosis"``.
        rules: Thresholds; the defaults of domain.md §4 when None.

    Returns:
        One entry per measurement, in date order.

    Raises:
        ValueError: Two diagnosis samples (the reference level would be ambiguous).
    """
    rules = rules if rules is not None else MrdRules()
    ordered = sorted(measurements, key=_chronological)
    diagnoses = [m for m in ordered if m.is_diagnosis]
    if len(diagnoses) > 1:
        names = ", ".join(m.sample for m in diagnoses)
        raise ValueError(f"a patient has one diagnosis sample, not {len(diagnoses)} ({names})")
    diagnosis = diagnoses[0] if diagnoses else None
    reference = diagnosis.level if diagnosis is not None and diagnosis.detected else None

    entries: list[TimelineEntry] = []
    last_evaluable: Measurement | None = None  # diagnosis included: for the change from previous
    previous: Measurement | None = None  # after diagnosis only: for relapse and progression
    pending: _Pending | None = None
    negative_phase = False  # MRD negative since the last sample that counted as positive
    for m in ordered:
        if m.is_diagnosis:
            text = (
                f"diagnosis: reference level {_vaf(reference)} for log10 reductions"
                if reference is not None
                else "diagnosis: no detected level, so no log10 reduction can be given"
            )
            entries.append(TimelineEntry(m, MrdState.DIAGNOSIS, None, None, None, (text,)))
            last_evaluable = m
            continue

        state, text = _base_state(m, rules)
        texts = [text]
        confirmed: bool | None = None
        confirms: str | None = None
        change: float | None = None
        if state is MrdState.NOT_EVALUABLE:
            if pending is not None:
                texts.append(
                    f"neither confirms nor refutes {pending.sample}: the next evaluable "
                    "sample decides"
                )
        else:
            level = m.level if m.detected else None
            if level is not None and last_evaluable is not None and last_evaluable.detected:
                assert last_evaluable.level is not None
                change = math.log10(level / last_evaluable.level)
            counts_positive = level is not None and (
                not rules.relapse_needs_positive_vaf or level >= rules.positive_vaf
            )
            if pending is not None:
                name = pending.state.value.lower().replace("_", " ")
                if level is not None and level >= pending.threshold * (1 - _LOG_TOLERANCE):
                    state, confirmed, confirms = pending.state, True, pending.sample
                    texts.append(
                        f"confirms the {name} of {pending.sample}: detected at {_vaf(level)} "
                        f">= {_vaf(pending.threshold)}"
                        if pending.threshold > 0
                        else f"confirms the {name} of {pending.sample}: still detected"
                    )
                else:
                    seen = f"detected at {_vaf(level)}" if level is not None else "not detected"
                    need = f" (needs >= {_vaf(pending.threshold)})" if pending.threshold else ""
                    texts.append(
                        f"does not confirm the {name} of {pending.sample}: {seen}{need}; "
                        f"{pending.sample} stays unconfirmed"
                    )
                pending = None
            if confirms is None and level is not None:
                threshold = 0.0
                rise = None
                if previous is not None and previous.detected:
                    assert previous.level is not None
                    rise = math.log10(level / previous.level)
                if counts_positive and negative_phase:
                    assert previous is not None
                    state = MrdState.MOLECULAR_RELAPSE
                    threshold = rules.positive_vaf if rules.relapse_needs_positive_vaf else 0.0
                    texts.append(
                        f"molecular relapse: conversion from MRD negative "
                        f"({_last_negative(entries)}) to detected at {_vaf(level)}"
                    )
                elif rise is not None and rise >= rules.progression_log10 - _LOG_TOLERANCE:
                    assert previous is not None and previous.level is not None
                    state = MrdState.MOLECULAR_PROGRESSION
                    threshold = previous.level * 10**rules.progression_log10
                    texts.append(
                        f"molecular progression: rise of {rise:.2f} log10 from "
                        f"{previous.sample} ({_vaf(previous.level)}) to {_vaf(level)}, "
                        f">= {rules.progression_log10:g} log10 (progression_log10)"
                    )
                if state in _NEEDS_CONFIRMATION:
                    if rules.confirm_consecutive:
                        confirmed = False
                        pending = _Pending(m.sample, state, threshold)
                        texts.append(
                            "unconfirmed: the next evaluable sample must confirm it "
                            "(confirm_consecutive)"
                        )
                    else:
                        confirmed = True
                        texts.append("confirmed at once (confirm_consecutive is off)")
            if state is MrdState.CR_MRD_NEGATIVE:
                negative_phase = True
            elif counts_positive:
                negative_phase = False
            previous = m
            last_evaluable = m

        reduction, bound, meets, target_text = _reduction(m, reference, rules)
        if target_text:
            texts.append(target_text)
        entries.append(
            TimelineEntry(
                measurement=m,
                state=state,
                confirmed=confirmed,
                log10_reduction_from_diagnosis=reduction,
                log10_change_from_previous=change,
                rules=tuple(texts),
                reduction_is_bound=bound,
                meets_reduction_target=meets,
                confirms=confirms,
            )
        )
    return entries


def _last_negative(entries: Sequence[TimelineEntry]) -> str:
    for entry in reversed(entries):
        if entry.state is MrdState.CR_MRD_NEGATIVE:
            return entry.measurement.sample
    return "none"  # pragma: no cover - the negative phase starts at a negative entry
