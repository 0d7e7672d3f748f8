"""Sample sheets for MRD monitoring: one row per sample, checked in full before any work starts.

A monitoring run reads many alignments and can take a while; a typo in the last row should not
surface after the first hour, and a user who fixes one problem should not be told about the next
one only on the following run. So :func:`read_samplesheet` reads the whole sheet, collects every
problem it finds (cells, names, dates, files, per-patient consistency) and raises one
:class:`SampleSheetError` whose message names the first problem, with its line and column, and
how many more there are. The full list stays on the exception for callers that want to show it.

Sample and patient names end up in file names and in HTML reports, so names that could escape a
folder, hide a file or inject markup are refused here rather than escaped later in many places.

Values that labs spell in many ways (timepoints, tissues, disease, therapy) are mapped onto a
small vocabulary, so later rules compare enums instead of guessing at strings.
"""

from __future__ import annotations

import csv
import datetime
import enum
import io
import math
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mrd.errors import InputFileError

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Disease",
    "Problem",
    "ReportedMutation",
    "SampleRow",
    "SampleSheet",
    "SampleSheetError",
    "Therapy",
    "Timepoint",
    "Tissue",
    "name_problem",
    "parse_disease",
    "parse_mutations",
    "parse_therapy",
    "parse_timepoint",
    "parse_tissue",
    "read_samplesheet",
]

REQUIRED_COLUMNS = ("patient", "sample", "bam", "date", "timepoint", "tissue")
"""Columns every sample sheet must have, in the order the demo sheet uses."""

OPTIONAL_COLUMNS = (
    "input_ng",
    "disease",
    "cytogenetics",
    "mutations",
    "therapy",
    "wbc",
    "markers",
    "reference",
    "tested_genes",
)
"""Columns a sheet may add; any other column is kept out and reported as a warning."""

MAX_NAME_BYTES = 128
"""Longest sample or patient name (UTF-8 bytes): it must fit in a file name with suffixes added."""

_E = TypeVar("_E", bound=enum.Enum)

_HTML_SPECIAL = "<>&\"'"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class Tissue(str, enum.Enum):
    """Where a sample was taken; blood and marrow MRD levels are not interchangeable."""

    PB = "PB"
    """Peripheral blood."""
    BM = "BM"
    """Bone marrow."""


class Timepoint(str, enum.Enum):
    """When in the course of treatment a sample was taken (the MRD time points of domain.md §4)."""

    DIAGNOSIS = "diagnosis"
    POST_CYCLE_1 = "post-cycle-1"
    POST_CYCLE_2 = "post-cycle-2"
    END_OF_INDUCTION = "end-of-induction"
    END_OF_CONSOLIDATION = "end-of-consolidation"
    PRE_TRANSPLANT = "pre-transplant"
    POST_TRANSPLANT = "post-transplant"
    FOLLOW_UP = "follow-up"
    RELAPSE = "relapse"


class Disease(str, enum.Enum):
    """The leukemia; it decides which risk classification applies (domain.md §3 or §3b)."""

    AML = "AML"
    T_ALL = "T-ALL"


class Therapy(str, enum.Enum):
    """Treatment intensity; ELN 2022 applies to intensive, ELN 2024 to less-intensive therapy."""

    INTENSIVE = "intensive"
    LESS_INTENSIVE = "less-intensive"


# Spellings are compared after lower-casing and dropping everything but letters and digits, so
# "Post cycle 2", "post_cycle_2" and "POST-CYCLE-2" are one key ("postcycle2").
_TIMEPOINT_ALIASES: dict[str, Timepoint] = {
    **dict.fromkeys(
        ("diagnosis", "dx", "diag", "baseline", "pretreatment", "initialdiagnosis"),
        Timepoint.DIAGNOSIS,
    ),
    **dict.fromkeys(
        ("endofinduction", "eoi", "postinduction", "afterinduction"), Timepoint.END_OF_INDUCTION
    ),
    **dict.fromkeys(
        ("endofconsolidation", "eoc", "postconsolidation", "afterconsolidation"),
        Timepoint.END_OF_CONSOLIDATION,
    ),
    **dict.fromkeys(("relapse", "rel", "suspectedrelapse", "molecularrelapse"), Timepoint.RELAPSE),
}
_TIMEPOINT_PATTERNS: tuple[tuple[re.Pattern[str], Timepoint | None], ...] = (
    (re.compile(r"(?:post|after)?(?:cycle|course|c)([12])"), None),  # cycle number decides
    (
        re.compile(r"(?:pre|before)(?:transplant|allohsct|hsct|sct|allo|bmt)"),
        Timepoint.PRE_TRANSPLANT,
    ),
    (
        re.compile(r"(?:post|after)(?:transplant|allohsct|hsct|sct|allo|bmt)(?:d|day)?\d*"),
        Timepoint.POST_TRANSPLANT,
    ),
    (re.compile(r"(?:fu|followup|monitoring|surveillance)\d*"), Timepoint.FOLLOW_UP),
)
_TISSUE_ALIASES: dict[str, Tissue] = {
    **dict.fromkeys(("pb", "blood", "peripheralblood"), Tissue.PB),
    **dict.fromkeys(("bm", "marrow", "bonemarrow"), Tissue.BM),
}
_DISEASE_ALIASES: dict[str, Disease] = {
    "aml": Disease.AML,
    **dict.fromkeys(("tall", "tcellall"), Disease.T_ALL),
}
_THERAPY_ALIASES: dict[str, Therapy] = {
    "intensive": Therapy.INTENSIVE,
    **dict.fromkeys(("lessintensive", "nonintensive", "lowintensity"), Therapy.LESS_INTENSIVE),
}


def _key(text: str) -> str:
    """Lower-case letters and digits only: the form spellings are compared in."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _accepted(values: Sequence[enum.Enum]) -> str:
    return ", ".join(str(v.value) for v in values)


def parse_timepoint(text: str) -> Timepoint:
    """Map a timepoint as labs write it ("C2", "EOC", "FU3", "post HSCT") onto the vocabulary.

    Raises:
        ValueError: The spelling is not recognised; the message lists the accepted values.
    """
    key = _key(text)
    if key in _TIMEPOINT_ALIASES:
        return _TIMEPOINT_ALIASES[key]
    for pattern, timepoint in _TIMEPOINT_PATTERNS:
        match = pattern.fullmatch(key)
        if match:
            if timepoint is None:
                return Timepoint.POST_CYCLE_1 if match.group(1) == "1" else Timepoint.POST_CYCLE_2
            return timepoint
    raise ValueError(f"unknown timepoint {_show(text)} (accepted: {_accepted(list(Timepoint))})")


def parse_tissue(text: str) -> Tissue:
    """Map "PB"/"blood" or "BM"/"marrow" (any case) onto :class:`Tissue`.

    Raises:
        ValueError: Neither blood nor marrow.
    """
    tissue = _TISSUE_ALIASES.get(_key(text))
    if tissue is None:
        raise ValueError(f"unknown tissue {_show(text)} (accepted: PB or blood, BM or marrow)")
    return tissue


def parse_disease(text: str) -> Disease:
    """Map "AML" or "T-ALL" (any case and punctuation) onto :class:`Disease`.

    Raises:
        ValueError: Another disease; only these two have risk rules here.
    """
    disease = _DISEASE_ALIASES.get(_key(text))
    if disease is None:
        raise ValueError(f"unknown disease {_show(text)} (accepted: {_accepted(list(Disease))})")
    return disease


def parse_therapy(text: str) -> Therapy:
    """Map "intensive" or "less-intensive" (also "non-intensive") onto :class:`Therapy`.

    Raises:
        ValueError: Another value.
    """
    therapy = _THERAPY_ALIASES.get(_key(text))
    if therapy is None:
        raise ValueError(f"unknown therapy {_show(text)} (accepted: {_accepted(list(Therapy))})")
    return therapy


@dataclass(frozen=True)
class ReportedMutation:
    """One entry of the ``mutations`` column: a gene found at diagnosis, with its VAF if given.

    Attributes:
        gene: The gene (or lesion, e.g. ``FLT3-ITD``) as written.
        vaf: Variant allele fraction in [0, 1], or None when the entry gives none.
    """

    gene: str
    vaf: float | None = None


def parse_mutations(text: str) -> tuple[ReportedMutation, ...]:
    """Parse ``"TP53:0.23;ASXL1"``: entries split on ``;`` or ``,``, each ``GENE`` or ``GENE:VAF``.

    A VAF may be a fraction (0.23) or a percentage (23%). The check is strict on the number
    because risk rules hinge on it (TP53 counts as adverse from VAF 10%), and 23 written for 23%
    would otherwise pass as an impossible fraction.

    Raises:
        ValueError: An entry without a gene, or a VAF that is not a number in [0, 1] (0-100%).
    """
    found: list[ReportedMutation] = []
    for raw in re.split(r"[;,]", text):
        entry = raw.strip()
        if not entry:
            continue
        gene, sep, value = entry.rpartition(":")
        if not sep:
            found.append(ReportedMutation(entry))
            continue
        gene = gene.strip()
        value = value.strip()
        if not gene:
            raise ValueError(f"mutation entry {_show(entry)} has no gene (expected GENE:VAF)")
        percent = value.endswith("%")
        try:
            vaf = float(value[:-1] if percent else value)
        except ValueError:
            raise ValueError(
                f"mutation entry {_show(entry)}: {_show(value)} is not a VAF "
                "(expected GENE or GENE:VAF, e.g. TP53:0.23 or TP53:23%)"
            ) from None
        if percent:
            vaf /= 100.0
        if not 0.0 <= vaf <= 1.0:  # also refuses NaN
            raise ValueError(
                f"mutation entry {_show(entry)}: VAF {_show(value)} is outside 0-1 "
                "(write a percentage with %, e.g. TP53:23%)"
            )
        found.append(ReportedMutation(gene, vaf))
    return tuple(found)


def name_problem(name: str) -> str | None:
    """Why a sample or patient name cannot be used, or None when it is safe.

    Names become file names and HTML text. A separator or ``..`` could write outside the output
    folder, a leading dot hides the file, control and format characters (including bidi
    overrides) make a name print as something else, and ``<>&"'`` are markup.
    """
    if not name:
        return "is empty"
    for separator in ("/", "\\"):
        if separator in name:
            return f"contains the path separator '{separator}' (names become file names)"
    if ".." in name:
        return "contains '..' (names become file names)"
    if name.startswith("."):
        return "starts with '.' (the file would be hidden)"
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return f"contains the control character U+{ord(ch):04X}"
        if ch in _HTML_SPECIAL:
            return f"contains {ch!r}, which is special in HTML reports"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes (names become file names)"
    return None


@dataclass(frozen=True)
class SampleRow:
    """One validated sample of the sheet.

    Attributes:
        patient: Patient identifier (safe as a file name).
        sample: Sample name, unique in the sheet (case-insensitively, for case-insensitive file
            systems).
        bam: The alignment file (BAM or CRAM), absolute; relative paths in the sheet are taken
            from the sheet's folder so a sheet can travel with its data.
        date: Sampling date.
        timepoint: Normalised timepoint.
        tissue: Blood or marrow.
        line: Line of the sheet this row came from (1 = header), for messages; 0 when built in
            code.
        input_ng: DNA input in ng, if known (bounds the genome equivalents, domain.md §5).
        disease: AML unless given; all rows of a patient share it.
        cytogenetics: Karyotype or fusion as free text (risk at diagnosis).
        mutations: Mutations found at diagnosis as written, e.g. ``TP53:0.23;ASXL1``.
        therapy: Treatment intensity, if given (chooses ELN 2022 or 2024).
        wbc: White-cell count at diagnosis, 10^9/L (T-ALL risk uses >= 200).
        tested_genes: Genes the diagnostic panel covered (``tested_genes`` column, separated by
            commas or semicolons), so a gene not in ``mutations`` counts as wild type for risk;
            None leaves such genes unknown.
        markers: A marker file for this sample, absolute.
        reference: The genome FASTA a CRAM needs, absolute.
    """

    patient: str
    sample: str
    bam: Path
    date: datetime.date
    timepoint: Timepoint
    tissue: Tissue
    line: int = 0
    input_ng: float | None = None
    disease: Disease = Disease.AML
    cytogenetics: str | None = None
    mutations: str | None = None
    therapy: Therapy | None = None
    wbc: float | None = None
    markers: Path | None = None
    reference: Path | None = None
    tested_genes: frozenset[str] | None = None

    @property
    def reported_mutations(self) -> tuple[ReportedMutation, ...]:
        """The ``mutations`` column parsed (checked when the sheet was read)."""
        return parse_mutations(self.mutations) if self.mutations else ()

    @property
    def is_diagnosis(self) -> bool:
        """Whether this is the patient's diagnosis sample (the reference for log reductions)."""
        return self.timepoint is Timepoint.DIAGNOSIS


def _chronological(row: SampleRow) -> tuple[datetime.date, int]:
    # Python's sort is stable, so rows of one day keep the sheet order after the diagnosis.
    return (row.date, 0 if row.is_diagnosis else 1)


@dataclass(frozen=True)
class SampleSheet:
    """A sample sheet that passed every check.

    Attributes:
        rows: The samples in sheet order.
        path: The sheet file.
        warnings: Things worth telling the user that do not stop the run (a patient without a
            diagnosis sample first, columns that are not used, two samples sharing one file).
    """

    rows: tuple[SampleRow, ...]
    path: Path
    warnings: tuple[str, ...] = ()

    def patients(self) -> dict[str, list[SampleRow]]:
        """Samples per patient (patients in sheet order), each list by date, diagnosis first."""
        grouped: dict[str, list[SampleRow]] = {}
        for row in self.rows:
            grouped.setdefault(row.patient, []).append(row)
        return {patient: sorted(rows, key=_chronological) for patient, rows in grouped.items()}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a sample sheet.

    Attributes:
        line: Line of the sheet (1 = first line), or None for the file as a whole.
        column: Column name, or None when the problem is not about one cell.
        text: What is wrong, for the user.
    """

    line: int | None
    column: str | None
    text: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return (", ".join(where) + ": " if where else "") + self.text


class SampleSheetError(InputFileError):
    """A sample sheet with problems: the message names the first, ``problems`` holds them all."""

    def __init__(self, path: Path, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = tuple(problems)
        message = f"sample sheet {_show_path(path)}, {self.problems[0]}"
        more = len(self.problems) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        super().__init__(message)


def _show(value: str, limit: int = 40) -> str:
    """Quote a user's value for a one-line message: non-printing characters escaped, long cut."""
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in value)
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return f"'{shown}'"


def _show_path(path: Path) -> str:
    return _show(str(path), limit=200)[1:-1]


def _file_problem(path: Path, what: str) -> str | None:
    """Why ``path`` is not a readable regular file, or None."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return f"{what} not found: {_show_path(path)}"
    except ValueError:  # an embedded NUL byte
        return f"{what} {_show(str(path))} is not a valid path"
    except OSError as exc:
        return f"cannot read {what} {_show_path(path)} ({exc.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return f"{what} is a directory: {_show_path(path)}"
    return None


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SampleSheetError(path, [Problem(None, None, "file not found")]) from None
    except IsADirectoryError:
        raise SampleSheetError(path, [Problem(None, None, "is a directory")]) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or "not a valid path"
        raise SampleSheetError(path, [Problem(None, None, f"cannot be read ({reason})")]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SampleSheetError(
            path, [Problem(line, None, "not UTF-8 text (save the sheet as UTF-8 TSV or CSV)")]
        ) from None


def _delimiter(path: Path, header_line: str) -> str:
    """Tab or comma: what the header line uses, else what the extension says (tab by default)."""
    tabs, commas = header_line.count("\t"), header_line.count(",")
    if tabs and not commas:
        return "\t"
    if commas and not tabs:
        return ","
    return "," if path.suffix.lower() == ".csv" else "\t"


@dataclass
class _Cells:
    """The cells of one data row by column name, and the problems found in it."""

    line: int
    values: Mapping[str, str]
    problems: list[Problem]

    def note(self, column: str | None, text: str) -> None:
        self.problems.append(Problem(self.line, column, text))

    def get(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class _Draft:
    """A row parsed as far as its cells allow; None where a cell was bad or missing."""

    line: int
    patient: str | None = None
    sample: str | None = None
    bam: Path | None = None
    date: datetime.date | None = None
    timepoint: Timepoint | None = None
    tissue: Tissue | None = None
    input_ng: float | None = None
    disease: Disease | None = None
    cytogenetics: str | None = None
    mutations: str | None = None
    therapy: Therapy | None = None
    wbc: float | None = None
    markers: Path | None = None
    reference: Path | None = None
    tested_genes: frozenset[str] | None = None


def _name(cells: _Cells, column: str) -> str | None:
    value = cells.get(column)
    if not value:
        return None  # reported as an empty required cell
    reason = name_problem(value)
    if reason:
        cells.note(column, f"{column} name {_show(value)} {reason}")
        return None
    return value


def _path(cells: _Cells, column: str, base: Path, what: str) -> Path | None:
    value = cells.get(column)
    if not value:
        return None
    path = Path(os.path.expanduser(value))  # Path.expanduser raises for an unknown ~user
    if not path.is_absolute():
        path = base / path
    path = path.absolute()
    reason = _file_problem(path, what)
    if reason:
        cells.note(column, reason)
        return None
    return path


def _number(cells: _Cells, column: str, what: str, *, positive: bool) -> float | None:
    value = cells.get(column)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        cells.note(column, f"{what} {_show(value)} is not a number")
        return None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        bound = "above 0" if positive else "0 or more"
        cells.note(column, f"{what} {_show(value)} must be a finite number {bound}")
        return None
    return number


def _date(cells: _Cells) -> datetime.date | None:
    value = cells.get("date")
    if not value:
        return None
    if _ISO_DATE.fullmatch(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    cells.note("date", f"date {_show(value)} is not a valid date in ISO form YYYY-MM-DD")
    return None


def _enum_cell(cells: _Cells, column: str, parse: Callable[[str], _E]) -> _E | None:
    value = cells.get(column)
    if not value:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        cells.note(column, str(exc))
        return None


def _parse_row(cells: _Cells, header: Sequence[str], base: Path) -> _Draft:
    for column in REQUIRED_COLUMNS:
        if column in header and not cells.get(column):
            cells.note(column, f"empty {column} cell")
    draft = _Draft(cells.line)
    draft.patient = _name(cells, "patient")
    draft.sample = _name(cells, "sample")
    draft.bam = _path(cells, "bam", base, "BAM")
    draft.date = _date(cells)
    draft.timepoint = _enum_cell(cells, "timepoint", parse_timepoint)
    draft.tissue = _enum_cell(cells, "tissue", parse_tissue)
    draft.input_ng = _number(cells, "input_ng", "input_ng", positive=True)
    draft.disease = _enum_cell(cells, "disease", parse_disease)
    draft.therapy = _enum_cell(cells, "therapy", parse_therapy)
    draft.wbc = _number(cells, "wbc", "wbc", positive=False)
    draft.cytogenetics = cells.get("cytogenetics") or None
    mutations = cells.get("mutations")
    if mutations:
        try:
            parse_mutations(mutations)
            draft.mutations = mutations
        except ValueError as exc:
            cells.note("mutations", str(exc))
    draft.markers = _path(cells, "markers", base, "marker file")
    tested = cells.get("tested_genes")
    if tested:
        genes = [g.strip().upper() for g in re.split(r"[;,\s]+", tested) if g.strip()]
        bad = [g for g in genes if not re.fullmatch(r"[A-Z0-9][A-Z0-9.\-]*", g)]
        if bad:
            cells.note("tested_genes", f"{_show(bad[0])} is not a gene symbol")
        else:
            draft.tested_genes = frozenset(genes)
    draft.reference = _path(cells, "reference", base, "reference FASTA")
    return draft


def _column_name(cell: str) -> str:
    """Header cells compare lower-case with spaces and hyphens as underscores ("Input ng")."""
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


def _is_comment(cells: Sequence[str]) -> bool:
    return bool(cells) and cells[0].lstrip().startswith("#")


def _is_blank(cells: Sequence[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _looks_like_header(cells: Sequence[str]) -> bool:
    names = {_column_name(cell.lstrip().lstrip("#")) for cell in cells}
    return "patient" in names or "sample" in names


def _header_text(text: str) -> str:
    """The line the header is on, to choose the delimiter before parsing quotes."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#") or "patient" in line.lower() or "sample" in line.lower():
            return line
    return ""


def _read_records(text: str, delimiter: str) -> tuple[list[tuple[int, list[str]]], Problem | None]:
    """The header and data records with their first line; blank and ``#`` lines dropped.

    A ``#`` line is a comment, except a first line like ``#patient<TAB>sample...``, which is the
    header written the way many tools write theirs.
    """
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for cells in reader:
            if not _is_blank(cells):
                if not records and _is_comment(cells) and _looks_like_header(cells):
                    cells = [cells[0].lstrip().lstrip("#"), *cells[1:]]
                    records.append((start, cells))
                elif not _is_comment(cells):
                    records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        return records, Problem(start, None, f"cannot be parsed ({exc})")
    return records, None


def _cross_row_problems(drafts: Sequence[_Draft]) -> list[Problem]:
    """Problems between rows: duplicate names, two diagnoses, a patient with two diseases."""
    problems: list[Problem] = []
    seen: dict[str, _Draft] = {}
    for draft in drafts:
        if draft.sample is None:
            continue
        first = seen.setdefault(draft.sample.casefold(), draft)
        if first is not draft:
            assert first.sample is not None
            same = "" if first.sample == draft.sample else f" {_show(first.sample)}, ignoring case,"
            problems.append(
                Problem(
                    draft.line,
                    "sample",
                    f"duplicate sample name {_show(draft.sample)} (as{same} on line {first.line})",
                )
            )
    by_patient: dict[str, list[_Draft]] = {}
    for draft in drafts:
        if draft.patient is not None:
            by_patient.setdefault(draft.patient, []).append(draft)
    for patient, rows in by_patient.items():
        diagnoses = [row for row in rows if row.timepoint is Timepoint.DIAGNOSIS]
        for extra in diagnoses[1:]:
            first = diagnoses[0]
            problems.append(
                Problem(
                    extra.line,
                    "timepoint",
                    f"patient {_show(patient)} has a second diagnosis sample (the first is on "
                    f"line {first.line}); one diagnosis is the reference for log reductions, "
                    "a later one is a 'relapse'",
                )
            )
        given = [row for row in rows if row.disease is not None]
        for row in given[1:]:
            assert row.disease is not None and given[0].disease is not None
            if row.disease is not given[0].disease:
                problems.append(
                    Problem(
                        row.line,
                        "disease",
                        f"patient {_show(patient)} is {row.disease.value} here but "
                        f"{given[0].disease.value} on line {given[0].line}",
                    )
                )
                break
    return problems


def _build(draft: _Draft, disease: Disease) -> SampleRow:
    assert draft.patient and draft.sample and draft.bam and draft.date
    assert draft.timepoint is not None and draft.tissue is not None
    return SampleRow(
        patient=draft.patient,
        sample=draft.sample,
        bam=draft.bam,
        date=draft.date,
        timepoint=draft.timepoint,
        tissue=draft.tissue,
        line=draft.line,
        input_ng=draft.input_ng,
        disease=disease,
        cytogenetics=draft.cytogenetics,
        mutations=draft.mutations,
        therapy=draft.therapy,
        wbc=draft.wbc,
        markers=draft.markers,
        reference=draft.reference,
        tested_genes=draft.tested_genes,
    )


def _sheet_warnings(sheet: SampleSheet) -> list[str]:
    """Things that are allowed but likely worth a look: they go in the report, not an error."""
    warnings: list[str] = []
    for patient, rows in sheet.patients().items():
        first = rows[0]
        diagnosis = next((row for row in rows if row.is_diagnosis), None)
        if diagnosis is None:
            warnings.append(
                f"patient {patient}: no diagnosis sample, so no log10 reduction from diagnosis "
                "can be given"
            )
        elif first is not diagnosis:
            warnings.append(
                f"patient {patient}: the first sample by date is {first.sample} "
                f"({first.timepoint.value}, {first.date.isoformat()}), before the diagnosis "
                f"sample {diagnosis.sample} ({diagnosis.date.isoformat()}); check the dates"
            )
    users: dict[Path, list[str]] = {}
    for row in sheet.rows:
        users.setdefault(row.bam, []).append(row.sample)
    for bam, samples in users.items():
        if len(samples) > 1:
            warnings.append(f"samples {', '.join(samples)} share one alignment file: {bam}")
    return warnings


def read_samplesheet(path: str | os.PathLike[str]) -> SampleSheet:
    """Read and fully check a sample sheet (TSV or CSV), before any alignment is opened.

    The delimiter is what the header line uses (tab or comma), falling back to the extension
    (``.csv``: comma, anything else: tab). Blank lines and lines starting with ``#`` are skipped.
    Column names are case-insensitive. Paths (bam, markers, reference) are taken relative to the
    sheet's folder and must exist.

    Args:
        path: The sample sheet.

    Returns:
        The validated sheet, with warnings for what is allowed but suspicious.

    Raises:
        SampleSheetError: (an :class:`~mrd.errors.InputFileError`) naming the first problem by
            line and column and counting the rest; ``problems`` lists them all.
    """
    sheet = Path(path)
    text = _decode(sheet)
    delimiter = _delimiter(sheet, _header_text(text))
    records, read_problem = _read_records(text, delimiter)
    problems: list[Problem] = [read_problem] if read_problem else []
    if not records:
        problems.append(Problem(None, None, "is empty (expected a header line naming the columns)"))
        raise SampleSheetError(sheet, problems)

    header_line, header_cells = records[0]
    columns: dict[str, int] = {}
    for index, cell in enumerate(header_cells):
        name = _column_name(cell)
        if not name:
            continue  # an unnamed column, e.g. after a trailing delimiter, holds nothing we read
        if name in columns:
            problems.append(Problem(header_line, name, "the column appears twice"))
        else:
            columns[name] = index
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            problems.append(
                Problem(
                    header_line,
                    name,
                    f"missing required column (required: {', '.join(REQUIRED_COLUMNS)})",
                )
            )
    unused = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if len(records) == 1 and read_problem is None:
        problems.append(Problem(header_line, None, "no samples below the header line"))

    base = sheet.parent
    drafts: list[_Draft] = []
    for line, cells in records[1:]:
        if len(cells) > len(header_cells) and not _is_blank(cells[len(header_cells) :]):
            separator = "tabs" if delimiter == "\t" else "commas"
            problems.append(
                Problem(
                    line,
                    None,
                    f"{len(cells)} fields where the header has {len(header_cells)} "
                    f"(a value with {separator} in it?)",
                )
            )
            continue
        values = {
            name: cells[index].strip() if index < len(cells) else ""
            for name, index in columns.items()
        }
        drafts.append(_parse_row(_Cells(line, values, problems), list(columns), base))
    problems.extend(_cross_row_problems(drafts))

    if problems:
        order = {name: index for index, name in enumerate(columns)}
        problems.sort(
            key=lambda p: (p.line or 0, -1 if p.column is None else order.get(p.column, -1))
        )
        raise SampleSheetError(sheet, problems)

    diseases: dict[str, Disease] = {}
    for draft in drafts:
        if draft.patient is not None and draft.disease is not None:
            diseases.setdefault(draft.patient, draft.disease)
    rows = tuple(_build(draft, diseases.get(draft.patient or "", Disease.AML)) for draft in drafts)
    result = SampleSheet(rows=rows, path=sheet)
    warnings = _sheet_warnings(result)
    if unused:
        warnings.append(f"columns not used: {', '.join(unused)}")
    return SampleSheet(rows=rows, path=sheet, warnings=tuple(warnings))
