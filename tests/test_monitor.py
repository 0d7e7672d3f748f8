"""mrd monitor on the demo patient: the expected course, risk, and every report file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pysam
import pytest

from mrd.cli import main

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("monitor") / "report"
    sheet = str(DEMO / "samplesheet.tsv")
    assert main(["monitor", sheet, "--out", str(out), "--keep-duplicates"]) == 0
    data: dict[str, Any] = json.loads((out / "monitor.json").read_text())
    return out, data


def test_demo_patient_course(run: tuple[Path, dict[str, Any]]) -> None:
    _, data = run
    [patient] = data["patients"]
    states = [(e["sample"], e["state"], e["confirmed"]) for e in patient["timeline"]]
    assert states == [
        ("P001-DX", "DIAGNOSIS", None),
        ("P001-C2", "MRD_POSITIVE", None),
        ("P001-EOC", "MRD_LOW_LEVEL", None),
        ("P001-FU1", "CR_MRD_NEGATIVE", None),
        ("P001-FU2", "MOLECULAR_RELAPSE", False),
    ]
    fu1 = patient["timeline"][3]
    assert fu1["lod_one_in"] > 10_000 and fu1["reduction_is_bound"]
    assert fu1["log10_reduction_from_diagnosis"] > 3
    assert {m["marker"] for m in patient["markers"]} == {"FLT3-ITD", "NPM1"}
    assert all(m["pooled"] for m in patient["markers"])


def test_demo_patient_risk(run: tuple[Path, dict[str, Any]]) -> None:
    _, data = run
    [patient] = data["patients"]
    risk = {r["model"]: r for r in patient["risk"]}
    assert risk["ELN2022"]["category"] == "intermediate" and not risk["ELN2022"]["missing"]
    # ELN 2017 still used the allelic ratio: a low-ratio ITD with NPM1 was favourable.
    assert risk["ELN2017"]["category"] == "favorable"
    assert "ELN2024" not in risk  # intensive therapy
    codes = [f["code"] for f in patient["mrd_flags"]]
    assert codes == ["npm1-blood-mrd-after-cycle-2"]


def test_report_files(run: tuple[Path, dict[str, Any]]) -> None:
    out, data = run
    html = (out / "report.html").read_text()
    assert "not a stand-alone test" in html and "<svg" in html and "P001-FU2" in html
    mqc = json.loads((out / "mrd_mqc.json").read_text())
    assert mqc["plot_type"] == "generalstats" and "P001-DX" in mqc["data"]
    rows = (out / "markers.tsv").read_text().splitlines()
    assert len(rows) == 1 + 5 * 2  # header, then every sample with both markers
    for entry in data["samples"]:
        stem = out / "samples" / entry["sample"]
        call = json.loads(stem.with_suffix(".json").read_text())
        assert call["sample"] == entry["sample"]
        with pysam.VariantFile(str(stem.with_suffix(".vcf.gz"))) as vcf:
            records = list(vcf)
        assert len(records) == len(call["findings"])
        for record, finding in zip(records, sorted(call["findings"], key=_vcf_order), strict=True):
            assert record.pos == finding["position"]
            assert record.samples[entry["sample"]]["AD"][1] == finding["alt_count"]


def _vcf_order(finding: dict[str, Any]) -> tuple[int, int]:
    return (0 if finding["chrom"].endswith("5") else 1, finding["position"])


def test_a_failing_sample_does_not_stop_the_run(tmp_path: Path) -> None:
    for path in DEMO.iterdir():
        shutil.copy(path, tmp_path / path.name)
    truncated = tmp_path / "P001-EOC.bam"
    truncated.write_bytes(truncated.read_bytes()[:-4000])
    out = tmp_path / "out"
    assert (
        main(["monitor", str(tmp_path / "samplesheet.tsv"), "--out", str(out), "--keep-duplicates"])
        == 1
    )
    data = json.loads((out / "monitor.json").read_text())
    failed = [s for s in data["samples"] if s["error"]]
    assert [s["sample"] for s in failed] == ["P001-EOC"]
    assert "\n" not in failed[0]["error"]
    states = {e["sample"]: e["state"] for e in data["patients"][0]["timeline"]}
    assert states["P001-EOC"] == "NOT_EVALUABLE" and states["P001-FU2"] == "MOLECULAR_RELAPSE"
    assert not (out / "samples" / "P001-EOC.json").exists()


def test_malformed_sheet_fails_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "sheet.tsv"
    lines = (DEMO / "samplesheet.tsv").read_text().splitlines()
    lines[3] = lines[3].replace("2025-06-24", "2025-13-40")
    sheet.write_text("\n".join(lines) + "\n")
    for path in DEMO.glob("*.bam*"):
        shutil.copy(path, tmp_path / path.name)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["monitor", str(sheet), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mrd: error:") and "line 4" in err[-1] and "date" in err[-1]
    assert not out.exists()


def test_monitor_json_follows_its_published_schemas(run: tuple[Path, dict[str, Any]]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    _, data = run
    schemas = Path(__file__).resolve().parents[1] / "docs" / "schemas"
    monitor_schema = json.loads((schemas / "mrd-monitor-1.schema.json").read_text())
    call_schema = json.loads((schemas / "mrd-call-1.schema.json").read_text())
    jsonschema.validate(data, monitor_schema)
    for sample in data["samples"]:
        jsonschema.validate(sample["call"], call_schema)
