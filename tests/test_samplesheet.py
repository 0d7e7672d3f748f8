"""Sample sheets: the demo parses, each problem is one clear line, fuzzing never crashes."""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrd.errors import InputFileError
from mrd.monitoring import (
    Disease,
    ReportedMutation,
    SampleSheet,
    SampleSheetError,
    Therapy,
    Timepoint,
    Tissue,
    name_problem,
    parse_mutations,
    parse_timepoint,
    read_samplesheet,
)

DEMO_SHEET = Path(__file__).resolve().parents[1] / "examples" / "demo" / "samplesheet.tsv"
HEADER = ("patient", "sample", "bam", "date", "timepoint", "tissue")


def good_rows() -> list[list[str]]:
    return [
        ["P1", "P1-DX", "P1-DX.bam", "2025-01-14", "diagnosis", "BM"],
        ["P1", "P1-C2", "P1-C2.bam", "2025-03-18", "post-cycle-2", "PB"],
        ["P1", "P1-FU1", "P1-FU1.bam", "2025-09-23", "follow-up", "BM"],
    ]


def write_sheet(
    folder: Path,
    rows: Sequence[Sequence[str]],
    header: Sequence[str] = HEADER,
    name: str = "sheet.tsv",
    delimiter: str = "\t",
    make_bams: bool = True,
) -> Path:
    """Write a sheet and, unless told not to, an empty file for every bam cell it names."""
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if make_bams and "bam" in header:
        column = list(header).index("bam")
        for row in rows:
            if column < len(row) and row[column] and "\0" not in row[column]:
                bam = folder / row[column]
                if bam.parent == folder:
                    bam.touch()
    return path


def problem_of(path: Path) -> SampleSheetError:
    with pytest.raises(SampleSheetError) as caught:
        read_samplesheet(path)
    error = caught.value
    assert isinstance(error, InputFileError)
    assert "\n" not in str(error) and "\r" not in str(error)
    return error


# --- the demo sheet ------------------------------------------------------------------------


def test_demo_sheet_parses_in_place() -> None:
    sheet = read_samplesheet(DEMO_SHEET)
    assert [row.sample for row in sheet.rows] == [
        "P001-DX",
        "P001-C2",
        "P001-EOC",
        "P001-FU1",
        "P001-FU2",
    ]
    assert sheet.warnings == ()
    first = sheet.rows[0]
    assert first.patient == "P001"
    assert first.timepoint is Timepoint.DIAGNOSIS
    assert first.tissue is Tissue.BM
    assert first.date == datetime.date(2025, 1, 14)
    assert first.bam == DEMO_SHEET.parent / "P001-DX.bam"
    assert first.bam.is_absolute() and first.bam.is_file()
    assert first.disease is Disease.AML
    assert first.line == 2
    assert [row.timepoint for row in sheet.rows[1:]] == [
        Timepoint.POST_CYCLE_2,
        Timepoint.END_OF_CONSOLIDATION,
        Timepoint.FOLLOW_UP,
        Timepoint.FOLLOW_UP,
    ]
    assert sheet.rows[1].tissue is Tissue.PB


def test_demo_sheet_copied_with_empty_bams(tmp_path: Path) -> None:
    copy = tmp_path / "samplesheet.tsv"
    shutil.copy(DEMO_SHEET, copy)
    for name in ("DX", "C2", "EOC", "FU1", "FU2"):
        (tmp_path / f"P001-{name}.bam").touch()
    sheet = read_samplesheet(str(copy))
    assert isinstance(sheet, SampleSheet)
    assert sheet.path == copy
    assert all(row.bam.parent == tmp_path for row in sheet.rows)
    assert list(sheet.patients()) == ["P001"]


def test_bams_resolve_from_the_sheet_folder_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    path = write_sheet(tmp_path / "data", good_rows())
    monkeypatch.chdir(tmp_path)
    sheet = read_samplesheet(Path("data") / "sheet.tsv")
    assert sheet.rows[0].bam == (tmp_path / "data" / "P1-DX.bam").absolute()
    assert path.exists()


# --- formats -------------------------------------------------------------------------------


def test_csv_with_quoted_cells(tmp_path: Path) -> None:
    header = (*HEADER, "cytogenetics", "mutations")
    rows = [
        [*good_rows()[0], '"t(8;21), -Y"', '"TP53:0.23,ASXL1"'],
        [*good_rows()[1], "", ""],
    ]
    path = write_sheet(tmp_path, rows, header, name="sheet.csv", delimiter=",")
    sheet = read_samplesheet(path)
    assert sheet.rows[0].cytogenetics == "t(8;21), -Y"
    assert sheet.rows[0].reported_mutations == (
        ReportedMutation("TP53", 0.23),
        ReportedMutation("ASXL1", None),
    )
    assert sheet.rows[1].cytogenetics is None


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [("sheet.txt", "\t"), ("sheet.csv", "\t"), ("sheet.tsv", ","), ("sheet", ",")],
)
def test_delimiter_is_sniffed_from_the_header(tmp_path: Path, name: str, delimiter: str) -> None:
    path = write_sheet(tmp_path, good_rows(), name=name, delimiter=delimiter)
    assert len(read_samplesheet(path).rows) == 3


def test_comments_blank_lines_bom_crlf_and_hash_header(tmp_path: Path) -> None:
    rows = good_rows()
    text = (
        "\ufeff# exported from the LIMS\r\n"
        "#" + "\t".join(h.upper() for h in HEADER) + "\r\n"
        "\r\n"
        + "\t".join(rows[0])
        + "\r\n# a comment between samples\r\n"
        + "\t".join(rows[1])
        + "\r\n"
    )
    path = tmp_path / "sheet.tsv"
    path.write_text(text, encoding="utf-8", newline="")
    for row in rows[:2]:
        (tmp_path / row[2]).touch()
    sheet = read_samplesheet(path)
    assert [row.sample for row in sheet.rows] == ["P1-DX", "P1-C2"]
    assert [row.line for row in sheet.rows] == [4, 6]


def test_missing_trailing_optional_cells_are_empty(tmp_path: Path) -> None:
    header = (*HEADER, "input_ng", "wbc")
    rows = [[*good_rows()[0], "50"], good_rows()[1]]
    sheet = read_samplesheet(write_sheet(tmp_path, rows, header))
    assert sheet.rows[0].input_ng == 50.0
    assert sheet.rows[1].input_ng is None and sheet.rows[1].wbc is None


# --- optional columns and normalisation ------------------------------------------------------


def test_optional_columns(tmp_path: Path) -> None:
    header = (
        *HEADER,
        "input_ng",
        "disease",
        "cytogenetics",
        "mutations",
        "therapy",
        "wbc",
        "markers",
        "reference",
    )
    (tmp_path / "markers.vcf").touch()
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "genome.fa").touch()
    rows = [
        [
            *good_rows()[0],
            "100.5",
            "t-all",
            "",
            "NOTCH1;FBXW7:12%",
            "Intensive",
            "250",
            "markers.vcf",
            "ref/genome.fa",
        ],
        [*good_rows()[1], "", "", "", "", "", "", "", ""],
    ]
    sheet = read_samplesheet(write_sheet(tmp_path, rows, header))
    dx, c2 = sheet.rows
    assert dx.input_ng == 100.5
    assert dx.disease is Disease.T_ALL
    assert c2.disease is Disease.T_ALL  # a patient has one disease: later rows inherit it
    assert dx.therapy is Therapy.INTENSIVE and c2.therapy is None
    assert dx.wbc == 250.0
    assert dx.markers == tmp_path / "markers.vcf"
    assert dx.reference == tmp_path / "ref" / "genome.fa"
    assert dx.reported_mutations == (ReportedMutation("NOTCH1"), ReportedMutation("FBXW7", 0.12))
    assert c2.markers is None and c2.reported_mutations == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("diagnosis", Timepoint.DIAGNOSIS),
        ("Dx", Timepoint.DIAGNOSIS),
        ("baseline", Timepoint.DIAGNOSIS),
        ("C1", Timepoint.POST_CYCLE_1),
        ("post cycle 1", Timepoint.POST_CYCLE_1),
        ("post_cycle_2", Timepoint.POST_CYCLE_2),
        ("after course 2", Timepoint.POST_CYCLE_2),
        ("EOI", Timepoint.END_OF_INDUCTION),
        ("post-induction", Timepoint.END_OF_INDUCTION),
        ("EOC", Timepoint.END_OF_CONSOLIDATION),
        ("End of consolidation", Timepoint.END_OF_CONSOLIDATION),
        ("pre-HSCT", Timepoint.PRE_TRANSPLANT),
        ("pre transplant", Timepoint.PRE_TRANSPLANT),
        ("post-allo", Timepoint.POST_TRANSPLANT),
        ("post-HSCT d100", Timepoint.POST_TRANSPLANT),
        ("FU3", Timepoint.FOLLOW_UP),
        ("Follow up", Timepoint.FOLLOW_UP),
        ("followup", Timepoint.FOLLOW_UP),
        ("Relapse", Timepoint.RELAPSE),
    ],
)
def test_timepoint_spellings(text: str, expected: Timepoint) -> None:
    assert parse_timepoint(text) is expected


@pytest.mark.parametrize("text", ["week 12", "C3", "cycle", "remission", ""])
def test_unknown_timepoints_list_the_vocabulary(text: str) -> None:
    with pytest.raises(ValueError, match="accepted: diagnosis, post-cycle-1") as caught:
        parse_timepoint(text)
    assert "relapse" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PB", Tissue.PB),
        ("pb", Tissue.PB),
        ("blood", Tissue.PB),
        ("Peripheral blood", Tissue.PB),
        ("BM", Tissue.BM),
        ("bm", Tissue.BM),
        ("Marrow", Tissue.BM),
        ("bone marrow", Tissue.BM),
    ],
)
def test_tissue_spellings(tmp_path: Path, text: str, expected: Tissue) -> None:
    rows = good_rows()[:1]
    rows[0][5] = text
    assert read_samplesheet(write_sheet(tmp_path, rows)).rows[0].tissue is expected


def test_parse_mutations() -> None:
    assert parse_mutations("TP53:0.23;ASXL1") == (
        ReportedMutation("TP53", 0.23),
        ReportedMutation("ASXL1"),
    )
    assert parse_mutations(" FLT3-ITD : 25% ; ;NPM1") == (
        ReportedMutation("FLT3-ITD", 0.25),
        ReportedMutation("NPM1"),
    )
    for bad in ("TP53:23", "TP53:high", ":0.2", "TP53:nan", "TP53:-0.1"):
        with pytest.raises(ValueError, match="mutation entry"):
            parse_mutations(bad)


# --- patients and warnings -------------------------------------------------------------------


def test_patients_by_date_diagnosis_first_on_a_tie(tmp_path: Path) -> None:
    rows = [
        ["P2", "P2-FU", "P2-FU.bam", "2025-05-01", "FU", "PB"],
        ["P1", "P1-C2", "P1-C2.bam", "2025-03-18", "C2", "PB"],
        ["P2", "P2-SAME", "P2-SAME.bam", "2025-01-01", "follow-up", "PB"],
        ["P2", "P2-DX", "P2-DX.bam", "2025-01-01", "diagnosis", "BM"],
        ["P1", "P1-DX", "P1-DX.bam", "2025-01-14", "diagnosis", "BM"],
    ]
    sheet = read_samplesheet(write_sheet(tmp_path, rows))
    patients = sheet.patients()
    assert list(patients) == ["P2", "P1"]
    assert [row.sample for row in patients["P2"]] == ["P2-DX", "P2-SAME", "P2-FU"]
    assert [row.sample for row in patients["P1"]] == ["P1-DX", "P1-C2"]
    assert sheet.warnings == ()


def test_first_sample_not_a_diagnosis_is_a_warning_not_an_error(tmp_path: Path) -> None:
    rows = [
        ["P1", "P1-C2", "P1-C2.bam", "2025-01-01", "post-cycle-2", "PB"],
        ["P1", "P1-DX", "P1-DX.bam", "2025-02-01", "diagnosis", "BM"],
        ["P2", "P2-FU", "P2-FU.bam", "2025-02-01", "follow-up", "BM"],
    ]
    sheet = read_samplesheet(write_sheet(tmp_path, rows))
    assert len(sheet.rows) == 3
    assert len(sheet.warnings) == 2
    assert "patient P1" in sheet.warnings[0] and "before the diagnosis" in sheet.warnings[0]
    assert "patient P2" in sheet.warnings[1] and "no diagnosis sample" in sheet.warnings[1]


def test_unused_columns_and_shared_bams_are_warnings(tmp_path: Path) -> None:
    rows = [[*row, "x"] for row in good_rows()]
    rows[1][2] = "P1-DX.bam"
    sheet = read_samplesheet(write_sheet(tmp_path, rows, (*HEADER, "comment")))
    assert any("columns not used: comment" in w for w in sheet.warnings)
    assert any("P1-DX, P1-C2 share one alignment file" in w for w in sheet.warnings)


# --- every kind of problem -------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    error = problem_of(tmp_path / "nope.tsv")
    assert "nope.tsv" in str(error) and "not found" in str(error)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert "directory" in str(problem_of(tmp_path))


@pytest.mark.parametrize("text", ["", "\n\n  \n", "# only a comment\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sheet.tsv"
    path.write_text(text)
    assert "is empty" in str(problem_of(path))


def test_header_without_samples(tmp_path: Path) -> None:
    error = problem_of(write_sheet(tmp_path, []))
    assert "line 1" in str(error) and "no samples" in str(error)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sheet.tsv"
    path.write_bytes(("\t".join(HEADER) + "\nP1\tMüller").encode("latin-1"))
    error = problem_of(path)
    assert "line 2" in str(error) and "UTF-8" in str(error)


def test_missing_required_column(tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "date"]
    rows = [[c for i, c in enumerate(row) if i != 3] for row in good_rows()]
    error = problem_of(write_sheet(tmp_path, rows, header))
    assert str(error).startswith(f"sample sheet {tmp_path / 'sheet.tsv'}, line 1, column 'date'")
    assert "missing required column" in str(error)


def test_duplicate_column(tmp_path: Path) -> None:
    rows = [[*row, "BM"] for row in good_rows()]
    error = problem_of(write_sheet(tmp_path, rows, (*HEADER, "Tissue")))
    assert "line 1, column 'tissue'" in str(error) and "twice" in str(error)


CELL_PROBLEMS = [
    # (row index, column, value, text in the message)
    (1, "patient", "", "empty patient cell"),
    (1, "tissue", "", "empty tissue cell"),
    (0, "bam", "", "empty bam cell"),
    (1, "date", "2025-13-01", "not a valid date"),
    (1, "date", "18/03/2025", "YYYY-MM-DD"),
    (1, "date", "2025-3-18", "YYYY-MM-DD"),
    (1, "date", "20250318", "YYYY-MM-DD"),
    (1, "tissue", "CSF", "unknown tissue 'CSF'"),
    (1, "timepoint", "week 12", "unknown timepoint 'week 12' (accepted: diagnosis"),
    (2, "bam", "missing.bam", "BAM not found"),
    (2, "bam", "sub/missing.bam", "BAM not found"),
    (2, "bam", "~nosuchuser-mrd/x.bam", "BAM not found"),
    (1, "sample", "P1-DX", "duplicate sample name 'P1-DX' (as on line 2)"),
    (1, "sample", "p1-dx", "duplicate sample name 'p1-dx' (as 'P1-DX', ignoring case, on line 2)"),
    (1, "sample", "a/b", "path separator '/'"),
    (1, "sample", "a\\b", "path separator '\\'"),
    (1, "sample", "..", "'..'"),
    (1, "sample", "x..y", "'..'"),
    (1, "sample", ".hidden", "hidden"),
    (1, "sample", "a\x07b", "control character U+0007"),
    (1, "sample", "a\u202eb", "control character U+202E"),
    (1, "sample", "<script>", "special in HTML"),
    (1, "sample", "A&B", "special in HTML"),
    (1, "sample", 'say"hi', "special in HTML"),
    (1, "sample", "it's", "special in HTML"),
    (1, "sample", "x" * 200, "longer than 128 bytes"),
    (1, "patient", "../P1", "patient name '../P1' contains"),
    (2, "timepoint", "Dx", "second diagnosis sample (the first is on line 2)"),
]


@pytest.mark.parametrize(("row", "column", "value", "expected"), CELL_PROBLEMS)
def test_cell_problem_is_one_line_with_line_and_column(
    tmp_path: Path, row: int, column: str, value: str, expected: str
) -> None:
    rows = good_rows()
    rows[row][HEADER.index(column)] = value
    path = write_sheet(tmp_path, rows, make_bams=False)
    for good in good_rows():
        (tmp_path / good[2]).touch()
    error = problem_of(path)
    message = str(error)
    assert f"line {row + 2}, column '{column}': " in message
    assert expected in message
    assert error.problems[0].line == row + 2 and error.problems[0].column == column


OPTIONAL_PROBLEMS = [
    ("input_ng", "ten", "input_ng 'ten' is not a number"),
    ("input_ng", "0", "above 0"),
    ("input_ng", "-5", "above 0"),
    ("input_ng", "inf", "finite"),
    ("wbc", "high", "wbc 'high' is not a number"),
    ("wbc", "-1", "0 or more"),
    ("disease", "CLL", "unknown disease 'CLL' (accepted: AML, T-ALL)"),
    ("therapy", "palliative", "unknown therapy 'palliative'"),
    ("mutations", "TP53:23", "outside 0-1"),
    ("markers", "nowhere.vcf", "marker file not found"),
    ("reference", "nowhere.fa", "reference FASTA not found"),
]


@pytest.mark.parametrize(("column", "value", "expected"), OPTIONAL_PROBLEMS)
def test_optional_cell_problems(tmp_path: Path, column: str, value: str, expected: str) -> None:
    rows = [[*row, ""] for row in good_rows()]
    rows[2][-1] = value
    error = problem_of(write_sheet(tmp_path, rows, (*HEADER, column)))
    assert f"line 4, column '{column}': " in str(error)
    assert expected in str(error)


def test_patient_with_two_diseases(tmp_path: Path) -> None:
    rows = [[*row, d] for row, d in zip(good_rows(), ("AML", "", "T-ALL"), strict=True)]
    error = problem_of(write_sheet(tmp_path, rows, (*HEADER, "disease")))
    assert "line 4, column 'disease'" in str(error)
    assert "T-ALL here but AML on line 2" in str(error)


def test_too_many_fields(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1] = [*rows[1], "extra"]
    error = problem_of(write_sheet(tmp_path, rows))
    assert "line 3: 7 fields where the header has 6" in str(error)


def test_all_problems_are_collected_and_counted(tmp_path: Path) -> None:
    rows = good_rows()
    rows[2][3] = "yesterday"  # line 4, date
    rows[1][5] = "CSF"  # line 3, tissue
    rows[1][3] = "2025-02-30"  # line 3, date (comes first: date is left of tissue)
    rows[2][2] = "gone.bam"  # line 4, bam
    path = write_sheet(tmp_path, rows, make_bams=False)
    for good in good_rows():
        (tmp_path / good[2]).touch()
    error = problem_of(path)
    assert str(error).endswith("(and 3 more problems)")
    assert "line 3, column 'date'" in str(error)
    assert [(p.line, p.column) for p in error.problems] == [
        (3, "date"),
        (3, "tissue"),
        (4, "bam"),
        (4, "date"),
    ]


def test_one_more_problem_is_singular(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1][5] = "CSF"
    rows[2][5] = "lymph node"
    assert str(problem_of(write_sheet(tmp_path, rows))).endswith("(and 1 more problem)")


def test_control_characters_never_break_the_message_line(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1][4] = "week\x0b12\x1b[31m"
    message = str(problem_of(write_sheet(tmp_path, rows)))
    assert "\x0b" not in message and "\x1b" not in message
    assert "\\x0b" in message


@pytest.mark.parametrize(
    "name", ["P1-DX", "patient 7", "Müller_2025", "S.1", "AML-001_PB_C2", "x" * 128]
)
def test_safe_names(name: str) -> None:
    assert name_problem(name) is None


# --- fuzzing -----------------------------------------------------------------------------------

_FUZZ_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_FUZZ_SETTINGS
@given(text=st.text())
def test_fuzz_any_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.tsv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        result = read_samplesheet(path)
    except InputFileError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(result, SampleSheet)


@_FUZZ_SETTINGS
@given(data=st.binary())
def test_fuzz_any_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        read_samplesheet(path)
    except InputFileError as error:
        assert "\n" not in str(error)


_CELL = st.one_of(
    st.sampled_from(
        [
            "",
            "P1",
            "P1-DX",
            "P1-C2",
            "a.bam",
            "b.bam",
            "2025-01-14",
            "2025-02-30",
            "diagnosis",
            "C2",
            "FU",
            "BM",
            "blood",
            "12.5",
            "nan",
            "T-ALL",
            "TP53:0.2",
            '"',
            "#",
            "..",
            "/",
        ]
    ),
    st.text(max_size=12),
)


@_FUZZ_SETTINGS
@given(
    header=st.lists(st.sampled_from([*HEADER, "input_ng", "wbc", "disease", "x", ""]), max_size=9),
    rows=st.lists(st.lists(_CELL, max_size=9), max_size=6),
    delimiter=st.sampled_from(["\t", ","]),
)
def test_fuzz_structured_sheets(
    tmp_path: Path, header: list[str], rows: list[list[str]], delimiter: str
) -> None:
    (tmp_path / "a.bam").touch()
    (tmp_path / "b.bam").touch()
    path = tmp_path / "fuzz.txt"
    lines = [delimiter.join(header), *(delimiter.join(row) for row in rows)]
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        sheet = read_samplesheet(path)
    except InputFileError as error:
        assert "\n" not in str(error)
    else:
        for row in sheet.rows:
            assert name_problem(row.sample) is None and name_problem(row.patient) is None
            assert row.bam.is_file()
        assert len({row.sample.casefold() for row in sheet.rows}) == len(sheet.rows)
