"""MRD calls on the demo patient: diagnosis markers tracked into follow-ups, with stated limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mrd.call import CallSettings, call_sample
from mrd.cli import main
from mrd.markers.tracked import TrackedMarker, read_markers
from mrd.ngs import ReadFilter
from mrd.stats.sensitivity import SensitivitySettings

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
AMPLICON = ReadFilter(drop_duplicates=False)  # the demo is amplicon data


def _call(name: str, **settings: Any) -> dict[str, Any]:
    result = call_sample(
        DEMO / f"{name}.bam", settings=CallSettings(read_filter=AMPLICON, **settings)
    )
    data: dict[str, Any] = result.as_dict()
    return data


@pytest.fixture(scope="module")
def diagnosis_markers(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrackedMarker, ...]:
    out = tmp_path_factory.mktemp("dx") / "dx.json"
    assert main(["call", str(DEMO / "P001-DX.bam"), "--keep-duplicates", "--json", str(out)]) == 0
    markers = tuple(read_markers(out))
    assert sorted(m.source_marker or "" for m in markers) == ["FLT3-ITD", "NPM1"]
    return markers


def test_diagnosis_findings_are_positive_and_pooled() -> None:
    data = _call("P001-DX")
    assert {f["marker"]: f["mrd"]["call"] for f in data["findings"]} == {
        "FLT3-ITD": "POSITIVE",
        "NPM1": "POSITIVE",
    }
    assert data["mrd"]["call"] == "POSITIVE" and len(data["mrd"]["markers"]) == 2
    for finding in data["findings"]:
        mrd = finding["mrd"]
        assert mrd["lod"] < finding["vaf"] and mrd["lod_one_in"] == pytest.approx(1 / mrd["lod"])
        assert mrd["background_source"].startswith("sample")


def test_negative_follow_up_states_the_sensitivity_it_reached(
    diagnosis_markers: tuple[TrackedMarker, ...],
) -> None:
    data = _call("P001-FU1", markers=diagnosis_markers)
    findings = {f["marker"]: f for f in data["findings"]}
    assert set(findings) == {"FLT3-ITD", "NPM1"}
    assert all(f["tracked"] and f["alt_count"] == 0 for f in findings.values())
    # 50,000 NPM1 templates reach 1 in 10,000; 5,000 FLT3 templates cannot, so the ITD alone
    # is not evaluable rather than "negative".
    npm1, itd = findings["NPM1"], findings["FLT3-ITD"]
    assert npm1["depth"] > 45_000 and npm1["mrd"]["lod"] <= 1e-4
    assert npm1["mrd"]["call"] == "NEGATIVE"
    assert itd["mrd"]["call"] == "NOT_EVALUABLE" and itd["mrd"]["lod"] > 1e-4
    assert data["mrd"]["call"] == "NEGATIVE" and data["mrd"]["lod_one_in"] > 10_000
    # The same NPM1 depth cannot vouch for 1 in 100,000.
    strict = _call(
        "P001-FU1",
        markers=diagnosis_markers,
        sensitivity=SensitivitySettings(required_sensitivity=1e-5),
    )
    assert {f["mrd"]["call"] for f in strict["findings"]} == {"NOT_EVALUABLE"}


def test_low_level_follow_up_is_positive_below_quantification(
    diagnosis_markers: tuple[TrackedMarker, ...],
) -> None:
    data = _call("P001-EOC", markers=diagnosis_markers)
    npm1 = next(f for f in data["findings"] if f["marker"] == "NPM1")
    assert npm1["alt_count"] == 3 and npm1["mrd"]["call"] == "POSITIVE_BELOW_LOQ"
    assert npm1["mrd"]["p_value"] < 1e-6
    assert data["mrd"]["call"] in ("POSITIVE", "POSITIVE_BELOW_LOQ")


def test_relapse_sample_is_positive(diagnosis_markers: tuple[TrackedMarker, ...]) -> None:
    data = _call("P001-FU2", markers=diagnosis_markers)
    npm1 = next(f for f in data["findings"] if f["marker"] == "NPM1")
    assert npm1["mrd"]["call"] == "POSITIVE" and npm1["alt_count"] >= 10


def test_site_markers_and_pooling_rules() -> None:
    from mrd.catalog import reference_window
    from mrd.genome import Build

    window = reference_window("FLT3", Build.GRCH38)

    def other(position: int) -> str:
        return "G" if window.base(position) != "G" else "T"

    # Positions inside the demo's FLT3 amplicon, with made-up genes for the pooling rules.
    snv = TrackedMarker("13", 28034000, window.base(28034000), other(28034000), name="FLT3 SNV")
    dta = TrackedMarker("13", 28034010, window.base(28034010), other(28034010), gene="DNMT3A")
    germline = TrackedMarker(
        "13", 28034020, window.base(28034020), other(28034020), gene="FLT3", diagnosis_vaf=0.5
    )
    data = _call("P001-FU1", markers=(snv, dta, germline), genes=())
    sites = data["findings"]
    assert [f["marker"] for f in sites] == ["SNV", "SNV", "SNV"]
    assert all(f["alt_count"] == 0 and f["depth"] > 1000 for f in sites)
    assert all(f["mrd"]["call"] in ("NEGATIVE", "NOT_EVALUABLE") for f in sites)
    assert data["mrd"]["markers"] == ["FLT3 SNV"]
    reasons = {m["reason"].split()[0] for m in data["mrd"]["left_out"]}
    assert len(data["mrd"]["left_out"]) == 2 and "DNMT3A" in reasons


def test_marker_of_another_build_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markers = tmp_path / "markers.tsv"
    # An NPM1 insertion whose REF is not the GRCh38 base there (C): another build's marker.
    markers.write_text("chrom\tpos\tref\talt\n5\t171410539\tG\tGTCTG\n")
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "call",
                str(DEMO / "P001-FU1.bam"),
                "--markers",
                str(markers),
                "--json",
                str(tmp_path / "o.json"),
            ]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mrd: error:") and "\n" not in err
    assert not (tmp_path / "o.json").exists()
    json.dumps(err)


def test_results_validate_against_the_published_schema(
    diagnosis_markers: tuple[TrackedMarker, ...], tmp_path: Path
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(__file__).resolve().parents[1] / "docs" / "schemas"
    schema = json.loads((schema_path / "mrd-call-1.schema.json").read_text())
    tracked = TrackedMarker("13", 28034000, "A", "G", name="site marker")
    for name, markers in (("P001-DX", ()), ("P001-FU1", (*diagnosis_markers, tracked))):
        result = call_sample(
            DEMO / f"{name}.bam", settings=CallSettings(read_filter=AMPLICON, markers=markers)
        )
        jsonschema.validate(json.loads(json.dumps(result.as_dict())), schema)


def test_lod_command_plans_and_reports(
    tmp_path: Path, diagnosis_markers: tuple[TrackedMarker, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.json"
    assert main(["lod", "--depth", "30000", "--input-ng", "100", "--json", str(plan)]) == 0
    figures = json.loads(plan.read_text())["plan"]
    # 100 ng is about 30,300 genome equivalents; the reads then limit it to 30,000 molecules.
    assert figures["genome_equivalents"] == pytest.approx(30303, rel=0.01)
    assert figures["molecules"] == pytest.approx(30000)
    assert figures["lod"] == pytest.approx(4.74 / 30000, rel=0.02)
    out = tmp_path / "lod.json"
    markers = tmp_path / "markers.tsv"
    from mrd.markers.tracked import write_markers_tsv

    write_markers_tsv(diagnosis_markers, markers)
    bam = str(DEMO / "P001-FU1.bam")
    assert (
        main(["lod", bam, "--keep-duplicates", "--markers", str(markers), "--json", str(out)]) == 0
    )
    reached = json.loads(out.read_text())
    assert len(reached["markers"]) == 2
    calls = {m["marker"].split()[0][:4]: m["call"] for m in reached["markers"]}
    assert calls == {"NPM1": "NEGATIVE", "FLT3": "NOT_EVALUABLE"}
    assert all(m["lod"] < 1e-3 for m in reached["markers"])
    with pytest.raises(SystemExit):
        main(["lod"])


def test_a_marker_spelled_right_aligned_keeps_its_name_and_rules(tmp_path: Path) -> None:
    # NPM1 type A written after c.863 (as HGVS places it), not left-normalised as calls are.
    marker = TrackedMarker("5", 171410543, "G", "GTCTG", gene="NPM1", name="NPM1-A-dx")
    data = _call("P001-FU2", markers=(marker,))
    [npm1] = [f for f in data["findings"] if f["marker"] == "NPM1"]
    assert npm1["tracked"] and npm1["name"] == "NPM1-A-dx" and npm1["position"] == 171410539
    assert data["mrd"]["markers"] == ["NPM1-A-dx"]
