"""A patient's MRD course: states, confirmation, log reductions, and the rules file."""

from __future__ import annotations

import datetime
import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrd.errors import InputFileError
from mrd.monitoring import (
    Measurement,
    MrdRules,
    MrdState,
    TimelineEntry,
    follow_patient,
    load_rules,
    read_samplesheet,
)

DEMO_SHEET = Path(__file__).resolve().parents[1] / "examples" / "demo" / "samplesheet.tsv"

POS, LOQ, NEG, NE = "POSITIVE", "POSITIVE_BELOW_LOQ", "NEGATIVE", "NOT_EVALUABLE"
DEEP = 3e-5  # an LoD that reaches the default required sensitivity (1e-4)


def sample(
    name: str,
    month: int,
    call: str | None,
    level: float | None = None,
    lod: float | None = DEEP,
    timepoint: str = "follow-up",
) -> Measurement:
    return Measurement(name, datetime.date(2025, month, 1), timepoint, "BM", call, level, lod)


def dx(level: float = 0.4) -> Measurement:
    return sample("DX", 1, POS, level, 1e-5, timepoint="diagnosis")


def states(entries: list[TimelineEntry]) -> list[MrdState]:
    return [entry.state for entry in entries]


def confirmations(entries: list[TimelineEntry]) -> list[bool | None]:
    return [entry.confirmed for entry in entries]


# --- one sample on its own --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "level", "lod", "expected"),
    [
        (NEG, None, DEEP, MrdState.CR_MRD_NEGATIVE),
        (NEG, None, 1e-4, MrdState.CR_MRD_NEGATIVE),  # exactly the required sensitivity
        (NEG, None, None, MrdState.CR_MRD_NEGATIVE),  # trust the call when no LoD is given
        (NEG, None, 2e-4, MrdState.NOT_EVALUABLE),  # negative, insufficient sensitivity
        (NE, None, 2e-4, MrdState.NOT_EVALUABLE),
        (None, None, None, MrdState.NOT_EVALUABLE),  # no marker to assess
        (POS, 1e-3, DEEP, MrdState.MRD_POSITIVE),  # exactly positive_vaf
        (POS, 0.05, DEEP, MrdState.MRD_POSITIVE),
        (LOQ, 9.99e-4, DEEP, MrdState.MRD_LOW_LEVEL),
        (POS, 9.99e-4, DEEP, MrdState.MRD_LOW_LEVEL),
        (LOQ, 2e-3, DEEP, MrdState.MRD_POSITIVE),  # not quantifiable, but clearly above 0.1%
    ],
)
def test_state_of_a_first_sample_after_diagnosis(
    call: str | None, level: float | None, lod: float | None, expected: MrdState
) -> None:
    entries = follow_patient([dx(), sample("S", 3, call, level, lod)])
    assert states(entries) == [MrdState.DIAGNOSIS, expected]
    assert entries[1].confirmed is None
    assert entries[1].rules  # every state says why


def test_diagnosis_entry() -> None:
    (entry,) = follow_patient([dx(0.4)])
    assert entry.state is MrdState.DIAGNOSIS
    assert entry.confirmed is None
    assert entry.log10_reduction_from_diagnosis is None
    assert entry.rules == ("diagnosis: reference level 0.4 for log10 reductions",)


def test_positive_threshold_is_configurable() -> None:
    rules = MrdRules(positive_vaf=1e-2)
    entries = follow_patient([dx(), sample("S", 3, POS, 5e-3)], rules)
    assert entries[1].state is MrdState.MRD_LOW_LEVEL
    assert "5.0e-03 < 0.01 (positive_vaf)" in entries[1].rules[0]


def test_required_sensitivity_is_configurable() -> None:
    negative = sample("S", 3, NEG, None, 5e-4)
    assert follow_patient([dx(), negative])[1].state is MrdState.NOT_EVALUABLE
    lenient = MrdRules(required_sensitivity=1e-3)
    assert follow_patient([dx(), negative], lenient)[1].state is MrdState.CR_MRD_NEGATIVE


# --- molecular relapse -------------------------------------------------------------------------


def test_relapse_unconfirmed_then_confirmed() -> None:
    entries = follow_patient(
        [
            dx(),
            sample("FU1", 3, NEG),
            sample("FU2", 6, LOQ, 2e-4),
            sample("FU3", 9, POS, 3e-3),
            sample("FU4", 12, POS, 4e-3),
        ]
    )
    assert states(entries) == [
        MrdState.DIAGNOSIS,
        MrdState.CR_MRD_NEGATIVE,
        MrdState.MOLECULAR_RELAPSE,
        MrdState.MOLECULAR_RELAPSE,
        MrdState.MRD_POSITIVE,
    ]
    assert confirmations(entries) == [None, None, False, True, None]
    assert entries[2].confirms is None
    assert entries[3].confirms == "FU2"
    assert any("conversion from MRD negative (FU1)" in text for text in entries[2].rules)
    assert any(text.startswith("unconfirmed") for text in entries[2].rules)
    assert any("confirms the molecular relapse of FU2" in text for text in entries[3].rules)


def test_relapse_followed_by_a_negative_stays_unconfirmed() -> None:
    entries = follow_patient(
        [dx(), sample("FU1", 3, NEG), sample("FU2", 6, POS, 5e-3), sample("FU3", 9, NEG)]
    )
    assert states(entries)[2:] == [MrdState.MOLECULAR_RELAPSE, MrdState.CR_MRD_NEGATIVE]
    assert confirmations(entries)[2:] == [False, None]
    assert any("does not confirm the molecular relapse of FU2" in t for t in entries[3].rules)


def test_relapse_after_a_refuted_relapse_starts_again() -> None:
    entries = follow_patient(
        [
            dx(),
            sample("FU1", 3, NEG),
            sample("FU2", 4, POS, 5e-3),
            sample("FU3", 5, NEG),
            sample("FU4", 6, POS, 2e-3),
            sample("FU5", 7, POS, 3e-3),
        ]
    )
    assert states(entries)[2:] == [
        MrdState.MOLECULAR_RELAPSE,
        MrdState.CR_MRD_NEGATIVE,
        MrdState.MOLECULAR_RELAPSE,
        MrdState.MOLECULAR_RELAPSE,
    ]
    assert confirmations(entries)[2:] == [False, None, False, True]
    assert entries[5].confirms == "FU4"


def test_relapse_needs_positive_vaf_flag() -> None:
    series = [
        dx(),
        sample("FU1", 3, NEG),
        sample("FU2", 6, LOQ, 2e-4),
        sample("FU3", 9, POS, 3e-3),
        sample("FU4", 10, POS, 5e-4),
    ]
    entries = follow_patient(series, MrdRules(relapse_needs_positive_vaf=True))
    # A low-level detection neither triggers nor ends the negative phase; the positive one does.
    assert states(entries)[2:] == [
        MrdState.MRD_LOW_LEVEL,
        MrdState.MOLECULAR_RELAPSE,
        MrdState.MRD_LOW_LEVEL,  # detected, but below positive_vaf: does not confirm
    ]
    assert confirmations(entries)[2:] == [None, False, None]
    assert any("needs >= 1.0e-03" in text for text in entries[4].rules)


def test_confirm_consecutive_off_confirms_at_once() -> None:
    entries = follow_patient(
        [dx(), sample("FU1", 3, NEG), sample("FU2", 6, POS, 5e-3), sample("FU3", 9, POS, 6e-3)],
        MrdRules(confirm_consecutive=False),
    )
    assert states(entries)[2:] == [MrdState.MOLECULAR_RELAPSE, MrdState.MRD_POSITIVE]
    assert confirmations(entries)[2:] == [True, None]
    assert entries[3].confirms is None


# --- molecular progression ---------------------------------------------------------------------


def test_progression_by_exactly_one_log10_unconfirmed_then_confirmed() -> None:
    entries = follow_patient(
        [
            dx(),
            sample("C2", 3, LOQ, 1e-4),
            sample("EOC", 6, POS, 1e-3),  # log10(1e-3 / 1e-4) is 0.99999... in floating point
            sample("FU1", 9, POS, 1.2e-3),
        ]
    )
    assert states(entries)[1:] == [
        MrdState.MRD_LOW_LEVEL,
        MrdState.MOLECULAR_PROGRESSION,
        MrdState.MOLECULAR_PROGRESSION,
    ]
    assert confirmations(entries)[1:] == [None, False, True]
    assert entries[3].confirms == "EOC"
    assert any("rise of 1.00 log10 from C2" in text for text in entries[2].rules)


def test_progression_not_confirmed_when_the_next_sample_falls_back() -> None:
    entries = follow_patient(
        [dx(), sample("C2", 3, LOQ, 1e-4), sample("EOC", 6, POS, 2e-3), sample("FU1", 9, POS, 5e-4)]
    )
    assert states(entries)[2:] == [MrdState.MOLECULAR_PROGRESSION, MrdState.MRD_LOW_LEVEL]
    assert confirmations(entries)[2:] == [False, None]
    assert any("needs >= 1.0e-03" in text for text in entries[3].rules)


def test_rise_of_0_9_log10_is_not_progression() -> None:
    entries = follow_patient([dx(), sample("C2", 3, LOQ, 1e-4), sample("EOC", 6, POS, 10**-3.1)])
    assert entries[2].state is MrdState.MRD_LOW_LEVEL
    assert entries[2].log10_change_from_previous == pytest.approx(0.9)


def test_progression_threshold_is_configurable() -> None:
    series = [dx(), sample("C2", 3, LOQ, 1e-4), sample("EOC", 6, POS, 10**-3.1)]
    entries = follow_patient(series, MrdRules(progression_log10=0.5))
    assert entries[2].state is MrdState.MOLECULAR_PROGRESSION


def test_diagnosis_is_not_a_previous_positive_sample() -> None:
    # A first sample above the diagnosis level is refractory disease, not progression.
    entries = follow_patient([dx(0.01), sample("C1", 3, POS, 0.3)])
    assert entries[1].state is MrdState.MRD_POSITIVE
    assert entries[1].log10_change_from_previous == pytest.approx(math.log10(30))


# --- not-evaluable samples in between ----------------------------------------------------------


def test_not_evaluable_between_negative_and_positive_still_relapse() -> None:
    entries = follow_patient(
        [dx(), sample("FU1", 3, NEG), sample("FU2", 6, NE, None, 5e-4), sample("FU3", 9, POS, 2e-3)]
    )
    assert states(entries)[1:] == [
        MrdState.CR_MRD_NEGATIVE,
        MrdState.NOT_EVALUABLE,
        MrdState.MOLECULAR_RELAPSE,
    ]


def test_not_evaluable_neither_confirms_nor_refutes() -> None:
    entries = follow_patient(
        [
            dx(),
            sample("FU1", 3, NEG),
            sample("FU2", 6, POS, 2e-3),
            sample("FU3", 7, None, None, None),
            sample("FU4", 8, NEG, None, 3e-4),
            sample("FU5", 9, POS, 4e-3),
        ]
    )
    assert states(entries)[2:] == [
        MrdState.MOLECULAR_RELAPSE,
        MrdState.NOT_EVALUABLE,
        MrdState.NOT_EVALUABLE,
        MrdState.MOLECULAR_RELAPSE,
    ]
    assert confirmations(entries)[2:] == [False, None, None, True]
    assert entries[5].confirms == "FU2"
    assert any("neither confirms nor refutes FU2" in text for text in entries[3].rules)
    # The change is measured from the last evaluable sample.
    assert entries[5].log10_change_from_previous == pytest.approx(math.log10(2))


def test_progression_across_a_not_evaluable_sample() -> None:
    entries = follow_patient(
        [
            dx(),
            sample("C2", 3, LOQ, 1e-4),
            sample("X", 4, NE, None, 1e-3),
            sample("Y", 5, POS, 0.02),
        ]
    )
    assert entries[3].state is MrdState.MOLECULAR_PROGRESSION


# --- log10 reductions --------------------------------------------------------------------------


def test_log10_reductions_and_bounds() -> None:
    entries = follow_patient(
        [
            dx(0.4),
            sample("C2", 3, POS, 4e-3),  # 2 logs
            sample("EOC", 5, LOQ, 4e-5),  # 4 logs: meets the Balsat target
            sample("FU1", 7, NEG, None, 2e-5),  # >= 4.3 logs from the LoD
            sample("FU2", 9, NEG, None, 8e-5),  # >= 3.7: a bound below the target says nothing
            sample("FU3", 11, NE, None, 4e-4),  # not evaluable, still a bound: >= 3
            sample("FU4", 12, None, None, None),  # no marker: nothing
        ]
    )
    reductions = [entry.log10_reduction_from_diagnosis for entry in entries]
    assert reductions[0] is None
    assert reductions[1:6] == pytest.approx([2.0, 4.0, math.log10(2e4), math.log10(5e3), 3.0])
    assert reductions[6] is None
    assert [entry.reduction_is_bound for entry in entries] == [
        False,
        False,
        False,
        True,
        True,
        True,
        False,
    ]
    assert [entry.meets_reduction_target for entry in entries] == [
        None,
        False,
        True,
        True,
        None,
        None,
        None,
    ]
    assert any("4.00 reaches the 4 log10 target" in text for text in entries[2].rules)
    assert any(">= 4.30 reaches the 4 log10 target" in text for text in entries[3].rules)


def test_reduction_target_is_configurable() -> None:
    entries = follow_patient(
        [dx(0.4), sample("C2", 3, POS, 4e-3)], MrdRules(log_reduction_target=2)
    )
    assert entries[1].meets_reduction_target is True


def test_no_reductions_without_a_detected_diagnosis() -> None:
    no_dx = follow_patient([sample("C2", 3, POS, 4e-3), sample("FU", 5, NEG)])
    assert [e.log10_reduction_from_diagnosis for e in no_dx] == [None, None]
    undetected = sample("DX", 1, NEG, None, 1e-4, timepoint="diagnosis")
    entries = follow_patient([undetected, sample("C2", 3, POS, 4e-3)])
    assert entries[0].state is MrdState.DIAGNOSIS
    assert "no detected level" in entries[0].rules[0]
    assert entries[1].log10_reduction_from_diagnosis is None


def test_change_from_previous_needs_two_detected_samples() -> None:
    entries = follow_patient(
        [dx(0.4), sample("C2", 3, POS, 4e-3), sample("FU1", 5, NEG), sample("FU2", 7, POS, 1e-3)]
    )
    changes = [entry.log10_change_from_previous for entry in entries]
    assert changes[0] is None
    assert changes[1] == pytest.approx(-2.0)
    assert changes[2] is None and changes[3] is None


# --- ordering and input checks -----------------------------------------------------------------


def test_input_order_does_not_matter() -> None:
    series = [dx(), sample("FU1", 3, NEG), sample("FU2", 6, POS, 5e-3), sample("FU3", 9, POS, 6e-3)]
    shuffled = series[:]
    random.Random(4).shuffle(shuffled)
    assert follow_patient(shuffled) == follow_patient(series)


def test_diagnosis_first_on_the_same_day() -> None:
    same_day = sample("S", 1, POS, 0.3)
    entries = follow_patient([same_day, dx()])
    assert [e.measurement.sample for e in entries] == ["DX", "S"]


def test_two_diagnoses_are_refused() -> None:
    with pytest.raises(ValueError, match="one diagnosis sample"):
        follow_patient([dx(), sample("DX2", 5, POS, 0.3, timepoint="diagnosis")])


@pytest.mark.parametrize(
    ("call", "level", "lod"),
    [
        ("MAYBE", None, None),
        (POS, None, None),
        (POS, 0.0, None),
        (NEG, -1.0, None),
        (NEG, None, math.nan),
    ],
)
def test_impossible_measurements_are_refused(
    call: str, level: float | None, lod: float | None
) -> None:
    with pytest.raises(ValueError):
        sample("S", 2, call, level, lod)


# --- the demo patient --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fu1_lod", "fu1_state", "fu2_state"),
    [
        (5e-5, MrdState.CR_MRD_NEGATIVE, MrdState.MOLECULAR_RELAPSE),
        # FU1 cannot vouch for a negative: FU2 is compared with EOC (3e-4 -> 5e-3, +1.22 log10).
        (2e-4, MrdState.NOT_EVALUABLE, MrdState.MOLECULAR_PROGRESSION),
    ],
)
def test_demo_patient_story(fu1_lod: float, fu1_state: MrdState, fu2_state: MrdState) -> None:
    rows = read_samplesheet(DEMO_SHEET).patients()["P001"]
    results = {
        "P001-DX": (POS, 0.40, 1e-4),
        "P001-C2": (POS, 1e-2, 5e-5),
        "P001-EOC": (LOQ, 3e-4, 5e-5),
        "P001-FU1": (NEG, None, fu1_lod),
        "P001-FU2": (POS, 5e-3, 5e-5),
    }
    measurements = [
        Measurement(
            row.sample, row.date, row.timepoint.value, row.tissue.value, *results[row.sample]
        )
        for row in rows
    ]
    entries = follow_patient(measurements)
    assert states(entries) == [
        MrdState.DIAGNOSIS,
        MrdState.MRD_POSITIVE,
        MrdState.MRD_LOW_LEVEL,
        fu1_state,
        fu2_state,
    ]
    assert confirmations(entries) == [None, None, None, None, False]
    assert entries[1].log10_reduction_from_diagnosis == pytest.approx(math.log10(40))
    assert entries[2].log10_reduction_from_diagnosis == pytest.approx(math.log10(0.4 / 3e-4))
    assert entries[3].reduction_is_bound


# --- invariants under random series ------------------------------------------------------------

_RESULT = st.one_of(
    st.tuples(st.sampled_from([POS, LOQ]), st.floats(1e-6, 0.5), st.floats(1e-6, 1e-2)),
    st.tuples(st.sampled_from([NEG, NE]), st.none(), st.one_of(st.none(), st.floats(1e-6, 1e-2))),
    st.tuples(st.none(), st.none(), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(
    results=st.lists(_RESULT, max_size=10),
    confirm=st.booleans(),
    needs_positive=st.booleans(),
)
def test_confirmation_invariants(
    results: list[tuple[str | None, float | None, float | None]],
    confirm: bool,
    needs_positive: bool,
) -> None:
    series = [dx()] + [sample(f"S{i}", 2 + i, *r) for i, r in enumerate(results)]
    rules = MrdRules(confirm_consecutive=confirm, relapse_needs_positive_vaf=needs_positive)
    entries = follow_patient(series, rules)
    assert len(entries) == len(series)
    by_name = {entry.measurement.sample: entry for entry in entries}
    for entry in entries:
        needs = entry.state in (MrdState.MOLECULAR_RELAPSE, MrdState.MOLECULAR_PROGRESSION)
        assert (entry.confirmed is not None) == needs
        if not confirm and needs:
            assert entry.confirmed is True
        if entry.confirms is not None:
            earlier = by_name[entry.confirms]
            assert earlier.state is entry.state and earlier.confirmed is False
            assert earlier.measurement.date < entry.measurement.date
        if entry.state in (MrdState.CR_MRD_NEGATIVE, MrdState.NOT_EVALUABLE):
            assert not entry.measurement.detected


# --- rules files -------------------------------------------------------------------------------


def test_default_rules_follow_the_domain_facts() -> None:
    assert MrdRules().as_dict() == {
        "positive_vaf": 1e-3,
        "progression_log10": 1.0,
        "confirm_consecutive": True,
        "relapse_needs_positive_vaf": False,
        "required_sensitivity": 1e-4,
        "log_reduction_target": 4.0,
        "microclone_ratio": 0.05,
        "include_dta": False,
        "include_germline": False,
    }


def test_load_rules_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        "# lab-validated cut-offs\npositive_vaf = 2e-3\nconfirm_consecutive = false\n"
        "progression_log10 = 1\n"
    )
    rules = load_rules(path)
    assert rules == MrdRules(positive_vaf=2e-3, confirm_consecutive=False, progression_log10=1.0)
    assert isinstance(rules.progression_log10, float)


def test_load_rules_from_json_round_trip(tmp_path: Path) -> None:
    wanted = MrdRules(required_sensitivity=1e-5, include_dta=True, microclone_ratio=0.1)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(wanted.as_dict()))
    assert load_rules(str(path)) == wanted


def test_load_rules_sniffs_json_without_extension(tmp_path: Path) -> None:
    path = tmp_path / "rules"
    path.write_text('{"log_reduction_target": 3}')
    assert load_rules(path).log_reduction_target == 3.0


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "rules.toml",
            "positve_vaf = 0.002\n",
            "unknown key 'positve_vaf' (did you mean positive_vaf?)",
        ),
        ("rules.json", '{"colour": "red"}', "unknown key 'colour' (known: positive_vaf"),
        ("rules.toml", "positive_vaf = 'high'\n", "positive_vaf must be a number"),
        ("rules.toml", "positive_vaf = true\n", "positive_vaf must be a number"),
        ("rules.toml", "positive_vaf = 5\n", "below 1"),
        ("rules.toml", "progression_log10 = -1\n", "above 0"),
        ("rules.toml", "include_dta = 1\n", "include_dta must be true or false"),
        ("rules.json", '{"required_sensitivity": NaN}', "finite"),
        ("rules.toml", "positive_vaf = \n", "not valid TOML"),
        ("rules.json", "{", "not valid JSON (line 1"),
        ("rules.json", "[1, 2]", "table of settings"),
        ("rules.toml", "[rules]\npositive_vaf = 0.002\n", "unknown key 'rules'"),
    ],
)
def test_bad_rules_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputFileError) as caught:
        load_rules(path)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="rules file not found"):
        load_rules(tmp_path / "absent.toml")
