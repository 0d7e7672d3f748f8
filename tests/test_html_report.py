"""The HTML report, its kinetics plots and the MultiQC custom content of a monitor result."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from mrd.report.html import write_html_report
from mrd.report.multiqc import write_multiqc
from mrd.report.plots import format_vaf, kinetics_svg

pytest.importorskip("matplotlib")

CAVEAT = (
    "NGS-MRD is not a stand-alone test: interpret it together with flow cytometry, qPCR and the "
    "clinical course."
)
EVIL_PATIENT = "<script>alert(1)</script>"
AMP_SAMPLE = "R&D-2 <b>FU</b>"
FAILED_SAMPLE = "R&D-3"


def _assessment(call: str, lod: float, alt: int, depth: int, **extra: Any) -> dict[str, Any]:
    return {
        "call": call,
        "alt": alt,
        "depth": depth,
        "unit": "templates",
        "vaf": alt / depth,
        "lob": 1,
        "lob_vaf": 1 / depth,
        "lod": lod,
        "lod_one_in": round(1 / lod),
        "p_value": 1e-12 if call == "POSITIVE" else 0.6,
        "alt_threshold": 3,
        "background_source": "panel of normals",
        **extra,
    }


def _npm1(alt: int, depth: int, call: str, lod: float) -> dict[str, Any]:
    return {
        "marker": "NPM1",
        "gene": "NPM1",
        "chrom": "chr5",
        "position": 171410539,
        "ref": "C",
        "alt": "CTCTG",
        "hgvs_c": "c.860_863dup",
        "hgvs_p": "p.(Trp288CysfsTer12)",
        "npm1_type": "A",
        "alt_count": alt,
        "wt_count": depth - alt,
        "depth": depth,
        "depth_unit": "templates",
        "vaf": alt / depth,
        "vaf_ci_low": alt / depth * 0.9,
        "vaf_ci_high": alt / depth * 1.1 + 1e-5,
        "mrd": _assessment(call, lod, alt, depth),
    }


def _call(sample: str, alt: int, depth: int, call: str, lod: float) -> dict[str, Any]:
    return {
        "schema": "mrd-call",
        "schema_version": "1.0",
        "sample": sample,
        "bam": f"/data/{sample}.bam",
        "genome_build": "GRCh38",
        "library": "capture",
        "read_filter": {"used": 15230, "duplicate": 1204, "low_mapq": 31},
        "targets": [
            {
                "gene": "FLT3",
                "region": "chr13:28033000-28035000",
                "analysed": True,
                "library": "capture",
                "candidates": 2,
                "read_filter": {"used": 7001, "duplicate": 600, "low_mapq": 30},
            },
            {
                "gene": "NPM1",
                "region": "chr5:171409000-171411000",
                "analysed": True,
                "library": "capture",
                "candidates": 1,
                "read_filter": {"used": 8229, "duplicate": 604, "low_mapq": 1},
            },
        ],
        "findings": [_npm1(alt, depth, call, lod)],
        "mrd": {
            **_assessment(call, lod, alt, depth),
            "markers": ["NPM1 type A"],
            "left_out": [{"marker": "DNMT3A R882H", "reason": "DTA gene"}],
        },
    }


def _entry(
    sample: str,
    date: str,
    timepoint: str,
    call: str,
    level: float | None,
    lod: float,
    state: str,
    **extra: Any,
) -> dict[str, Any]:
    marker_vaf = level if level is not None else 0.0
    return {
        "sample": sample,
        "date": date,
        "timepoint": timepoint,
        "tissue": "BM",
        "call": call,
        "level": level,
        "lod": lod,
        "lod_one_in": round(1 / lod),
        "state": state,
        "confirmed": None,
        "log10_reduction_from_diagnosis": None,
        "reduction_is_bound": False,
        "log10_change_from_previous": None,
        "rules": [f"{state.lower()}: rule text for {sample}"],
        "markers": [
            {
                "label": "NPM1 type A",
                "vaf": marker_vaf,
                "alt_count": 40,
                "depth": 99940,
                "depth_unit": "templates",
                "call": call,
                "lod": lod * 1.5,
            }
        ],
        **extra,
    }


def _monitor() -> dict[str, Any]:
    p1 = [
        _entry(
            "P001-DX",
            "2025-01-14",
            "diagnosis",
            "POSITIVE",
            0.35,
            3.1e-4,
            "DIAGNOSIS",
            rules=["diagnosis: reference level 0.35"],
        ),
        _entry(
            "P001-C2",
            "2025-03-02",
            "post_cycle_2",
            "NEGATIVE",
            None,
            9.5e-5,
            "CR_MRD_NEGATIVE",
            log10_reduction_from_diagnosis=3.52,
            reduction_is_bound=True,
        ),
        _entry(
            "P001-EOC",
            "2025-06-20",
            "end_of_consolidation",
            "POSITIVE_BELOW_LOQ",
            8e-5,
            3e-5,
            "MRD_LOW_LEVEL",
            log10_reduction_from_diagnosis=3.64,
        ),
        _entry(
            "P001-FU1",
            "2025-09-22",
            "follow_up",
            "POSITIVE",
            2.4e-3,
            3e-5,
            "MOLECULAR_RELAPSE",
            confirmed=False,
            log10_change_from_previous=1.48,
        ),
    ]
    p2 = [
        _entry("R&D-1", "2025-02-01", "diagnosis", "POSITIVE", 0.2, 2e-4, "DIAGNOSIS"),
        _entry(AMP_SAMPLE, "2025-05-01", "follow_up", "NOT_EVALUABLE", None, 9e-4, "NOT_EVALUABLE"),
    ]
    calls = {
        "P001-DX": _call("P001-DX", 4013, 9994, "POSITIVE", 3.1e-4),
        "P001-C2": _call("P001-C2", 0, 31500, "NEGATIVE", 9.5e-5),
        "P001-EOC": _call("P001-EOC", 8, 100000, "POSITIVE_BELOW_LOQ", 3e-5),
        "P001-FU1": _call("P001-FU1", 240, 100000, "POSITIVE", 3e-5),
        "R&D-1": _call("R&D-1", 2000, 10000, "POSITIVE", 2e-4),
        AMP_SAMPLE: _call(AMP_SAMPLE, 0, 3300, "NOT_EVALUABLE", 9e-4),
    }
    samples: list[dict[str, Any]] = [
        {
            "sample": name,
            "patient": "P001" if name.startswith("P001") else EVIL_PATIENT,
            "call": call,
            "files": {"json": f"samples/{name}.json", "tsv": f"samples/{name}.tsv"},
            "error": None,
        }
        for name, call in calls.items()
    ]
    samples.append(
        {
            "sample": FAILED_SAMPLE,
            "patient": EVIL_PATIENT,
            "files": {},
            "error": "cannot open /data/R&D-3.bam: <no such file>",
        }
    )
    markers = [
        {
            "label": "NPM1 type A",
            "marker": "NPM1",
            "gene": "NPM1",
            "chrom": "chr5",
            "position": 171410539,
            "ref": "C",
            "alt": "CTCTG",
            "diagnosis_vaf": 0.40,
            "pooled": True,
            "left_out_reason": None,
        },
        {
            "label": "DNMT3A R882H",
            "marker": "SNV",
            "gene": "DNMT3A",
            "chrom": "chr2",
            "position": 25234373,
            "ref": "C",
            "alt": "T",
            "diagnosis_vaf": 0.31,
            "pooled": False,
            "left_out_reason": "DTA gene (clonal haematopoiesis)",
        },
    ]
    return {
        "schema": "mrd-monitor",
        "schema_version": "1.0",
        "mrd_version": "0.1.0",
        "created": "2026-11-24T09:30:00",
        "samplesheet": "examples/demo/samplesheet.tsv",
        "rules": {"positive_vaf": 0.001, "required_sensitivity": 1e-4, "progression_log10": 1.0},
        "caveat": CAVEAT,
        "patients": [
            {
                "patient": "P001",
                "disease": "AML",
                "diagnosis_sample": "P001-DX",
                "markers": markers,
                "timeline": p1,
                "risk": [
                    {
                        "model": "ELN2022",
                        "category": "favorable",
                        "rules_fired": ["NPM1 mutated without FLT3-ITD: favorable"],
                        "missing": ["karyotype"],
                        "caveats": ["karyotype not given"],
                    },
                    {
                        "model": "ELN2017",
                        "category": "favorable",
                        "rules_fired": ["NPM1"],
                        "missing": [],
                        "caveats": [],
                    },
                ],
                "mrd_flags": [
                    {
                        "flag": "npm1_pb_positive_after_c2",
                        "raised": False,
                        "inputs": {"sample": "P001-C2", "call": "NEGATIVE"},
                        "text": "NPM1 MRD in blood after cycle 2 predicts relapse",
                    },
                    {
                        "flag": "molecular_relapse",
                        "raised": True,
                        "inputs": {"level": 0.0024},
                        "text": "Conversion to MRD positive after negativity",
                    },
                ],
                "warnings": ["P001-FU1: relapse awaits confirmation by the next sample"],
            },
            {
                "patient": EVIL_PATIENT,
                "disease": "AML",
                "diagnosis_sample": "R&D-1",
                "markers": markers[:1],
                "timeline": p2,
                "risk": [],
                "mrd_flags": [],
                "warnings": [f"{FAILED_SAMPLE}: failed, left out of the timeline"],
            },
        ],
        "samples": samples,
    }


class _Page(HTMLParser):
    """Tags, attributes, text and tables of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.tables: list[dict[str, Any]] = []
        self._table: dict[str, Any] | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]
        if tag == "table":
            self._depth += 1
            if self._depth == 1:
                self._table = {"header": [], "rows": []}
        elif self._depth == 1 and tag == "tr":
            self._row = []
        elif self._depth == 1 and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._depth -= 1
            if self._depth == 0 and self._table is not None:
                self.tables.append(self._table)
                self._table = None
        elif self._depth == 1 and tag in ("td", "th") and self._cell is not None:
            assert self._row is not None
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif self._depth == 1 and tag == "tr" and self._row is not None:
            assert self._table is not None
            if self._table["header"] or any(t == "td" for t in self.tags[-len(self._row) :]):
                self._table["rows"].append(self._row)
            else:
                self._table["header"] = self._row
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _tables(page: _Page, first_header: str) -> list[dict[str, Any]]:
    return [t for t in page.tables if t["header"] and t["header"][0] == first_header]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, _Page]:
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_html_report(_monitor(), path)
    raw = path.read_text(encoding="utf-8")
    return path, raw, _parse(raw)


def test_page_is_self_contained_and_scriptless(report: tuple[Path, str, _Page]) -> None:
    _, raw, page = report
    assert raw.startswith("<!DOCTYPE html>")
    assert "script" not in page.tags
    assert "<script" not in raw.lower()
    assert not [a for a in page.attrs if a[1].startswith("on")], "no event handler attributes"
    for tag, name, value in page.attrs:
        if name in {"src", "href", "xlink:href", "action", "data", "poster"}:
            assert value is not None and value.startswith(("#", "data:")), (tag, name, value)
    assert not re.search(r"url\(\s*['\"]?(?!#)", raw), "CSS urls only to ids in the page"
    assert not re.search(r"(?<!xmlns=\")(?<!xmlns:xlink=\")https?://", raw)
    for tag in ("link", "img", "iframe", "object", "embed"):
        assert tag not in page.tags
    # One inline plot per patient.
    assert page.tags.count("svg") == 2


def test_user_strings_are_escaped(report: tuple[Path, str, _Page]) -> None:
    _, raw, page = report
    text = "".join(page.text)
    # Shown as text...
    assert EVIL_PATIENT in text
    assert AMP_SAMPLE in text
    assert "cannot open /data/R&D-3.bam: <no such file>" in text
    # ...and never as markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert "R&amp;D-2 &lt;b&gt;FU&lt;/b&gt;" in raw
    assert "R&D" not in raw
    assert "<b>" not in raw
    assert "<no such file>" not in raw


def test_caveat_is_prominent(report: tuple[Path, str, _Page]) -> None:
    _, raw, page = report
    text = " ".join(" ".join(page.text).split())
    assert CAVEAT in text
    # Before the first patient, not only in a footer.
    assert raw.index("stand-alone") < raw.index('class="patient"')
    assert ("aside", "class", "caveat") in page.attrs


def test_summary_lists_counts_and_failed_samples(report: tuple[Path, str, _Page]) -> None:
    _, _, page = report
    (counts,) = _tables(page, "Samples")
    assert counts["rows"] == [["7", "6", "1", "2"]]
    (failed,) = _tables(page, "Sample")
    assert failed["rows"] == [
        [FAILED_SAMPLE, EVIL_PATIENT, "cannot open /data/R&D-3.bam: <no such file>"]
    ]
    (patients,) = _tables(page, "Patient")
    assert [row[0] for row in patients["rows"]] == ["P001", EVIL_PATIENT]
    assert patients["rows"][0][3] == "Molecular relapse unconfirmed"


def test_timeline_tables(report: tuple[Path, str, _Page]) -> None:
    _, _, page = report
    p1, p2 = _tables(page, "Date")
    assert [row[1] for row in p1["rows"]] == ["P001-DX", "P001-C2", "P001-EOC", "P001-FU1"]
    assert [row[1] for row in p2["rows"]] == ["R&D-1", AMP_SAMPLE]
    header = p1["header"]
    dx, c2, eoc, fu1 = (dict(zip(header, row, strict=True)) for row in p1["rows"])
    assert dx["State"] == "Diagnosis"
    assert dx["Level (VAF)"] == "35%"
    assert dx["LoD"] == "1 in 3,226"
    assert dx["Rules fired"] == "diagnosis: reference level 0.35"
    assert c2["MRD call"] == "Negative"
    assert c2["Level (VAF)"] == "< 0.0095%"
    assert c2["log10 reduction from diagnosis"] == "≥ 3.52"
    assert eoc["MRD call"] == "Positive, not quantifiable"
    assert eoc["log10 reduction from diagnosis"] == "3.64"
    assert fu1["State"] == "Molecular relapse unconfirmed"
    assert fu1["log10 change from previous"] == "+1.48"
    ne = dict(zip(header, p2["rows"][1], strict=True))
    assert ne["MRD call"] == "Negative, insufficient sensitivity"
    assert ne["State"] == "Not evaluable"


def test_marker_risk_and_flag_tables(report: tuple[Path, str, _Page]) -> None:
    _, _, page = report
    p1_markers, p2_markers = _tables(page, "Label")
    assert [row[0] for row in p2_markers["rows"]] == ["NPM1 type A"]
    assert p1_markers["rows"][0][-1] == "pooled"
    assert p1_markers["rows"][1][-1] == "left out: DTA gene (clonal haematopoiesis)"
    assert p1_markers["rows"][0][3] == "chr5:171,410,539 C>CTCTG"
    (risk,) = _tables(page, "Model")
    assert [row[:2] for row in risk["rows"]] == [["ELN2022", "favorable"], ["ELN2017", "favorable"]]
    assert risk["rows"][0][3] == "karyotype"
    (flags,) = _tables(page, "Flag")
    assert [row[:2] for row in flags["rows"]] == [
        ["npm1_pb_positive_after_c2", "not raised"],
        ["molecular_relapse", "raised"],
    ]
    assert "sample: P001-C2" in flags["rows"][0][3]


def test_sample_sections(report: tuple[Path, str, _Page]) -> None:
    _, _, page = report
    findings = _tables(page, "Marker")
    assert len(findings) == 6  # one per analysed sample; the failed one has none
    row = dict(zip(findings[0]["header"], findings[0]["rows"][0], strict=True))
    assert row["Marker"] == "NPM1 type A"
    assert row["HGVS"] == "c.860_863dup p.(Trp288CysfsTer12)"
    assert row["VAF (95% CI)"].startswith("40% (36%")
    assert row["Mutant / depth"] == "4,013 / 9,994 templates"
    assert row["MRD call"] == "Positive"
    assert row["LoD"] == "1 in 3,226"
    filters = _tables(page, "Target")
    assert len(filters) == 6
    assert filters[0]["header"] == [
        "Target",
        "Region",
        "Analysed",
        "Library",
        "used",
        "duplicate",
        "low_mapq",
    ]
    assert filters[0]["rows"][0] == [
        "FLT3",
        "chr13:28033000-28035000",
        "yes",
        "capture",
        "7,001",
        "600",
        "30",
    ]
    assert filters[0]["rows"][-1][0] == "all targets"
    text = " ".join(" ".join(page.text).split())
    # The verdict on sensitivity is given for results with nothing detected only.
    assert "Sensitivity reached: LoD 1 in 10,526 (0.0095%); meets the required 1 in 10,000" in text
    assert "LoD 1 in 1,111 (0.090%); does not meet the required 1 in 10,000" in text
    assert "Sensitivity reached: LoD 1 in 3,226 (0.031%) " in text
    assert "Left out: DNMT3A R882H (DTA gene)" in text
    assert "Failed: cannot open /data/R&D-3.bam: <no such file>" in text


def test_report_is_deterministic_and_tolerates_sparse_input(tmp_path: Path) -> None:
    monitor = _monitor()
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    write_html_report(monitor, first)
    write_html_report(copy.deepcopy(monitor), second)
    assert first.read_bytes() == second.read_bytes()

    sparse = {"patients": [{"patient": "X", "timeline": [{"sample": "X1"}]}], "samples": [{}]}
    write_html_report(sparse, tmp_path / "sparse.html")
    page = _parse((tmp_path / "sparse.html").read_text(encoding="utf-8"))
    assert page.tags.count("svg") == 1
    assert "not a stand-alone test" in "".join(page.text)


def test_kinetics_svg_is_inline_and_deterministic() -> None:
    patient = _monitor()["patients"][0]
    svg = kinetics_svg(patient, 1e-3)
    assert svg == kinetics_svg(copy.deepcopy(patient), 1e-3)
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert "<dc:date>" not in svg and "<metadata>" not in svg
    assert "<text" in svg  # text kept as text: no glyph paths, no fonts to load
    assert "@font-face" not in svg
    # Every label drawn, in plot order.
    for label in ("Dx", "MRD neg", "low level", "relapse?", "NPM1 type A", "pooled LoD"):
        assert label in svg
    assert "positive ≥ 0.10%" in svg
    # Ids are the plot's own: prefixed, and every reference points at one of them.
    ids = re.findall(r' id="([^"]*)"', svg)
    assert ids and len(ids) == len(set(ids))
    refs = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', svg))
    assert refs and refs <= set(ids)
    other = kinetics_svg(dict(patient, patient="P999"), 1e-3)
    assert not set(ids) & set(re.findall(r' id="([^"]*)"', other))
    assert set(re.findall(r' id="([^"]*)"', kinetics_svg(patient, 1e-3, id_prefix="plot-2-")))
    with pytest.raises(ValueError, match="prefix"):
        kinetics_svg(patient, id_prefix='x" onload="')


def test_page_ids_are_unique(report: tuple[Path, str, _Page]) -> None:
    _, _, page = report
    ids = [value for _, name, value in page.attrs if name == "id"]
    assert len(ids) == len(set(ids))


def test_format_vaf() -> None:
    assert [format_vaf(v) for v in (0.4, 0.035, 1e-3, 3.1e-4, 1e-5)] == [
        "40%",
        "3.5%",
        "0.10%",
        "0.031%",
        "0.0010%",
    ]


def test_multiqc_content(tmp_path: Path) -> None:
    path = tmp_path / "mrd_mqc.json"
    write_multiqc(_monitor(), path)
    content = json.loads(path.read_text(encoding="utf-8"))
    assert content["id"] == "mrd"
    assert content["section_name"] == "MRD"
    assert content["plot_type"] == "generalstats"
    assert set(content["pconfig"]) == {
        "MRD call",
        "Pooled VAF",
        "LoD (1 in N)",
        "State",
        "Reads used",
    }
    data = content["data"]
    assert set(data) == {
        "P001-DX",
        "P001-C2",
        "P001-EOC",
        "P001-FU1",
        "R&D-1",
        AMP_SAMPLE,
        FAILED_SAMPLE,
    }
    assert data["P001-DX"] == {
        "MRD call": "POSITIVE",
        "Pooled VAF": pytest.approx(35.0),
        "LoD (1 in N)": 3226,
        "State": "DIAGNOSIS",
        "Reads used": 15230,
    }
    assert data["P001-C2"]["MRD call"] == "NEGATIVE"
    assert "Pooled VAF" in data["P001-C2"]  # from the call: 0 of 28,500, a number
    assert data[FAILED_SAMPLE] == {"MRD call": "FAILED"}
    for row in data.values():
        for key in ("Pooled VAF", "LoD (1 in N)", "Reads used"):
            if key in row:
                assert isinstance(row[key], (int, float)) and not isinstance(row[key], bool)
        for key in ("MRD call", "State"):
            if key in row:
                assert isinstance(row[key], str)


def test_multiqc_name_must_end_with_mqc_json(tmp_path: Path) -> None:
    for name in ("mrd.json", "mrd_mqc.yaml", "mrd_mqc.json.gz"):
        with pytest.raises(ValueError, match=r"_mqc\.json"):
            write_multiqc(_monitor(), tmp_path / name)
        assert not (tmp_path / name).exists()


def test_multiqc_reads_the_file(tmp_path: Path) -> None:
    pytest.importorskip("multiqc")
    folder = tmp_path / "qc"
    folder.mkdir()
    write_multiqc(_monitor(), folder / "mrd_mqc.json")
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "multiqc",
            str(folder),
            "-o",
            str(out),
            "-f",
            "-q",
            "--no-version-check",
            "--no-ai",
            "--no-megaqc-upload",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, "MULTIQC_NO_VERSION_CHECK": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stats = (out / "multiqc_data" / "multiqc_general_stats.txt").read_text(encoding="utf-8")
    for sample in ("P001-DX", "P001-FU1", "R&D-1", FAILED_SAMPLE):
        assert sample in stats
    assert "MOLECULAR_RELAPSE" in stats
    assert "FAILED" in stats
    assert (out / "multiqc_report.html").read_text(encoding="utf-8").count("MRD") > 0


def test_chromium_renders_the_page(report: tuple[Path, str, _Page], tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not on PATH")
    np = pytest.importorskip("numpy")
    image = pytest.importorskip("matplotlib.image")
    path, _, _ = report
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000
    pixels = np.asarray(image.imread(str(shot)))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    rgb = pixels[..., :3].reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 50  # text, tables and a plot, not a blank page
    assert float(rgb.std()) > 0.05
