"""Patient-specific markers: variants found at diagnosis and searched for again at follow-up.

At diagnosis a lab reports the leukemia's own mutations (SNVs, indels, an FLT3-ITD or an NPM1
insertion). Follow-up samples are then searched for exactly those alleles, which is far more
sensitive than calling variants afresh. This module holds the marker type, reads marker files
the way labs actually have them (a VCF, a TSV or CSV table, or an ``mrd call`` result) and
writes them back as a TSV.

Two kinds of diagnostic variants are flagged rather than trusted, following the ELN MRD working
party: mutations in the clonal-haematopoiesis genes DNMT3A, TET2 and ASXL1 ("DTA"), which persist
in remission without predicting relapse, and variants whose diagnostic VAF says they are probably
germline (they never disappear). Both are left out of a pooled MRD test by default; the
defaults are configurable (see :func:`select_for_pooling`).

Every problem with a marker file is raised as :class:`~mrd.errors.InputFileError` with one line
naming the file, the row and the column, never as a traceback.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import math
import os
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pysam

from mrd.errors import GenomeBuildError, InputFileError
from mrd.genome import Build, bare_chrom, detect_genome
from mrd.output import atomic_open

MarkerKind = Literal["SNV", "MNV", "insertion", "deletion", "complex"]

DTA_GENES = frozenset({"DNMT3A", "TET2", "ASXL1"})
"""Clonal-haematopoiesis genes left out of pooled MRD by default (ELN MRD 2021)."""

GERMLINE_HET_VAF = (0.4, 0.6)
"""Diagnostic VAF range (inclusive) of a likely heterozygous germline variant."""

GERMLINE_HOM_VAF = 0.9
"""Diagnostic VAF from which a variant is likely homozygous germline."""

SOMATIC_SOURCES = frozenset({"FLT3-ITD", "NPM1"})
"""``mrd call`` markers that are somatic by nature, so a high VAF never makes them germline.

NPM1 exon 12 insertions and FLT3-ITDs are acquired in the leukemia; in a marrow full of blasts
they often sit near 0.5 (NPM1) or above (FLT3-ITD with loss of the wild type). Calling them
germline would drop the best MRD marker a patient has.
"""

CALL_MARKERS = frozenset({"FLT3-ITD", "FLT3-insertion", "NPM1", "NPM1-insertion"})
"""Findings of an ``mrd call`` result that are read as tracked markers."""

TSV_COLUMNS = ("chrom", "pos", "ref", "alt", "gene", "name", "vaf", "source_marker")
"""Columns of the marker TSV that :func:`write_markers_tsv` writes."""

# Header names accepted for each column, lower case. "start" is left out on purpose: in BED
# files it is 0-based, and a silent off-by-one would track the wrong base.
_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "chrom": ("chrom", "chr", "chromosome", "contig"),
    "pos": ("pos", "position"),
    "ref": ("ref",),
    "alt": ("alt",),
    "gene": ("gene",),
    "name": ("name",),
    "vaf": ("vaf", "af"),
    "source_marker": ("source_marker",),
}
_REQUIRED = ("chrom", "pos", "ref", "alt")

_BASES = re.compile(r"[ACGT]+")
_POSITIVE_INT = re.compile(r"\+?[0-9]{1,18}")
_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
_HEAD_BYTES = 1 << 16

_Fail = Callable[[str], InputFileError]


@dataclass(frozen=True)
class TrackedMarker:
    """One allele to search for in follow-up samples.

    The chromosome is kept without ``chr`` and the bases in upper case (both are canonicalised on
    construction), so markers from a ``chr13`` VCF and a ``13`` table compare equal and a
    follow-up BAM of either naming can be searched with :meth:`mrd.genome.GenomeInfo.chrom`.
    Text fields are stripped and blank ones become None, as a table cell would read back.

    Attributes:
        chrom: Chromosome without ``chr`` (``"13"``, ``"X"``, ``"MT"``).
        position: 1-based VCF POS.
        ref: VCF REF, bases ACGT.
        alt: VCF ALT, one allele, bases ACGT.
        gene: Gene symbol, when known.
        name: Human name (``"NPM1 type A"``); :attr:`label` falls back to the coordinates.
        source_marker: The ``mrd call`` marker (``"FLT3-ITD"``, ``"NPM1"``...) it came from.
        diagnosis_vaf: VAF in the diagnostic sample, a fraction in [0, 1].
        build: The genome build the coordinates are in, when the file says (an ``mrd call``
            result does; a VCF does through its contig lengths; a table cannot). Not part of
            the marker's identity.

    Raises:
        ValueError: When a field is malformed; readers check files first and raise
            :class:`~mrd.errors.InputFileError` instead, so this signals a programming error.
    """

    chrom: str
    position: int
    ref: str
    alt: str
    gene: str | None = None
    name: str | None = None
    source_marker: str | None = None
    diagnosis_vaf: float | None = None
    build: Build | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "chrom", bare_chrom(self.chrom.strip()))
        object.__setattr__(self, "ref", self.ref.upper())
        object.__setattr__(self, "alt", self.alt.upper())
        for name in ("gene", "name", "source_marker"):
            object.__setattr__(self, name, _optional_text(getattr(self, name)))
        problems = [
            _chrom_problem(self.chrom),
            _position_problem(self.position),
            _bases_problem(self.ref),
            _bases_problem(self.alt),
            "REF and ALT are the same allele" if self.ref == self.alt else None,
            _text_problem(self.gene),
            _text_problem(self.name),
            _text_problem(self.source_marker),
            _vaf_problem(self.diagnosis_vaf),
        ]
        found = [p for p in problems if p]
        if found:
            raise ValueError(f"invalid tracked marker {self.label}: {found[0]}")

    @property
    def kind(self) -> MarkerKind:
        """What sort of change the alleles describe, as written (call :func:`normalise` first).

        A follow-up search counts an SNV base by base but an indel by its junction, so the kind
        decides how the marker is looked for.
        """
        ref, alt = self.ref, self.alt
        if len(ref) == len(alt):
            return "SNV" if len(ref) == 1 else "MNV"
        if len(alt) > len(ref) and alt.startswith(ref):
            return "insertion"
        if len(ref) > len(alt) and ref.startswith(alt):
            return "deletion"
        return "complex"

    @property
    def is_dta(self) -> bool:
        """True in DNMT3A, TET2 or ASXL1: clonal haematopoiesis that outlasts remission."""
        return self.gene is not None and self.gene.strip().upper() in DTA_GENES

    @property
    def likely_germline(self) -> bool:
        """True when the diagnostic VAF looks germline (0.4 to 0.6, or 0.9 and above).

        A germline variant is in every cell, so it never falls in remission and would read as
        persistent disease. FLT3-ITD and NPM1 from ``mrd call`` are somatic by nature and never
        flagged. Other thresholds: :func:`looks_germline`.
        """
        if self.source_marker in SOMATIC_SOURCES:
            return False
        return self.diagnosis_vaf is not None and looks_germline(self.diagnosis_vaf)

    @property
    def label(self) -> str:
        """The name, or ``13:28034127A>ACTT`` when there is none: for reports and messages."""
        return self.name or f"{self.chrom}:{self.position}{self.ref}>{self.alt}"

    @property
    def key(self) -> tuple[str, int, str, str]:
        """``(chrom, position, ref, alt)``: two markers with the same key are the same allele."""
        return (self.chrom, self.position, self.ref, self.alt)


def looks_germline(
    vaf: float,
    het_range: tuple[float, float] = GERMLINE_HET_VAF,
    hom_min: float = GERMLINE_HOM_VAF,
) -> bool:
    """Tell whether a diagnostic VAF is what a germline variant would show.

    The ranges are wide because tumour content and copy number move a germline VAF around; the
    defaults are the usual ones and can be changed by labs with other evidence (a skin or
    remission sample).

    Args:
        vaf: The diagnostic VAF, a fraction.
        het_range: Inclusive range of a heterozygous germline variant.
        hom_min: VAF from which a variant is taken as homozygous germline.
    """
    low, high = het_range
    return low <= vaf <= high or vaf >= hom_min


def exclusion_reason(
    marker: TrackedMarker, *, include_dta: bool = False, include_germline: bool = False
) -> str | None:
    """Say why a marker is left out of pooled MRD, or None when it is used.

    Reports list left-out markers with the reason, so a reader can see the test was not simply
    blind to them.
    """
    if marker.is_dta and not include_dta:
        return f"{marker.gene} is a clonal-haematopoiesis (DTA) gene"
    if marker.likely_germline and not include_germline:
        return f"diagnosis VAF {marker.diagnosis_vaf:.3g} suggests a germline variant"
    return None


def select_for_pooling(
    markers: Iterable[TrackedMarker], *, include_dta: bool = False, include_germline: bool = False
) -> list[TrackedMarker]:
    """Keep the markers a pooled MRD test should use (ELN defaults: no DTA, no likely germline).

    Args:
        markers: The patient's markers.
        include_dta: Keep DNMT3A, TET2 and ASXL1 markers.
        include_germline: Keep markers whose diagnostic VAF looks germline.
    """
    return [
        m
        for m in markers
        if exclusion_reason(m, include_dta=include_dta, include_germline=include_germline) is None
    ]


def normalise(marker: TrackedMarker, sequence: str, offset: int) -> TrackedMarker:
    """Give the marker its leftmost, shortest form on the reference, as ``bcftools norm`` does.

    An indel in a repeat can be written at several positions; diagnosis and follow-up tools
    often choose differently. Normalising both sides makes the same event compare equal. Shared
    trailing bases are trimmed (extending to the left when an allele would become empty), then
    shared leading bases; SNVs come back unchanged. If the stretch ends before the repeat does,
    the marker is shifted as far as the stretch allows.

    Args:
        marker: The marker as read.
        sequence: A stretch of the reference around the marker.
        offset: 1-based position of the first base of ``sequence``.

    Returns:
        The normalised marker (the same object when nothing changes); other fields are kept.

    Raises:
        InputFileError: When REF disagrees with the reference or lies outside the stretch,
            usually a marker file from another genome build.
    """
    seq = sequence.upper()
    start = marker.position - offset
    end = start + len(marker.ref)
    if start < 0 or end > len(seq):
        last = marker.position + len(marker.ref) - 1
        raise InputFileError(
            f"marker {marker.label}: REF {marker.chrom}:{marker.position}-{last} lies outside "
            f"the reference stretch {offset}-{offset + len(seq) - 1}"
        )
    found = seq[start:end]
    if found != marker.ref:
        raise InputFileError(
            f"marker {marker.label}: REF {marker.ref} does not match the reference {found} at "
            f"{marker.chrom}:{marker.position}; is the marker file from another genome build?"
        )
    if marker.kind == "SNV":
        return marker
    pos, ref, alt = marker.position, marker.ref, marker.alt
    while ref[-1] == alt[-1]:
        if min(len(ref), len(alt)) > 1:
            ref, alt = ref[:-1], alt[:-1]
            continue
        if pos - 1 < offset:
            break  # the stretch ends here; the caller gave too little sequence to go further
        before = seq[pos - 1 - offset]
        ref, alt, pos = before + ref[:-1], before + alt[:-1], pos - 1
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    if (pos, ref, alt) == (marker.position, marker.ref, marker.alt):
        return marker
    return dataclasses.replace(marker, position=pos, ref=ref, alt=alt)


def read_markers(path: str | os.PathLike[str]) -> list[TrackedMarker]:
    """Read a patient's markers from a VCF/BCF, a TSV or CSV table, or an ``mrd call`` result.

    The format is told from the content where it is unambiguous (a VCF header, BCF or JSON) and
    otherwise from the extension, so a VCF saved as ``.txt`` still reads. Gzip-compressed files
    are accepted.

    * VCF/BCF: one marker per ALT allele of each record whose FILTER is PASS or ``.``; gene from
      INFO ``GENE`` (or the SYMBOL of ``ANN``/``CSQ``), diagnostic VAF from INFO ``AF`` or else
      the first sample's FORMAT ``AF``; the ID, when there is one, names single-ALT records.
    * TSV or CSV: a header with ``chrom``, ``pos`` (or ``position``), ``ref``, ``alt`` and
      optionally ``gene``, ``name``, ``vaf`` (fraction, or percent with ``%``),
      ``source_marker``; any case, extra columns ignored, ``#`` comment lines allowed (a
      ``#chrom ...`` line is taken as the header).
    * JSON: an ``mrd call`` result; each FLT3-ITD, FLT3-insertion, NPM1 or NPM1-insertion
      finding becomes a marker named after its NPM1 type or HGVS.

    Returns:
        The markers in file order.

    Raises:
        InputFileError: When the file is missing, empty or not one of the formats above, or a
            row is malformed (position, bases, symbolic allele, REF equal to ALT, VAF), or two
            rows give the same allele. The message names the file, row and column.
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except FileNotFoundError:
        raise InputFileError(f"marker file not found: {file}") from None
    except IsADirectoryError:
        raise InputFileError(f"marker file is a directory: {file}") from None
    except OSError as exc:
        raise InputFileError(f"cannot read marker file {file}: {exc.strerror}") from None
    if not head.strip():
        raise InputFileError(f"marker file {file} is empty")
    lower = file.name.lower()
    compressed = head[:2] == b"\x1f\x8b"
    text_head = _gunzip_head(head) if compressed else head
    if _is_vcf_content(head, text_head) or lower.endswith(_VCF_SUFFIXES):
        return _check_unique(file, _read_vcf(file, head, text_head))
    text = _read_text(file, compressed)
    if not text.strip():
        raise InputFileError(f"marker file {file} is empty")
    stem = lower.removesuffix(".gz")
    if stem.endswith(".json") or text.lstrip().startswith(("{", "[")):
        return _check_unique(file, _read_call_json(file, text))
    delimiter = "," if stem.endswith(".csv") else "\t" if stem.endswith((".tsv", ".txt")) else None
    return _check_unique(file, _read_table(file, text, delimiter))


def write_markers_tsv(markers: Iterable[TrackedMarker], path: str | os.PathLike[str]) -> None:
    """Write markers as a TSV that :func:`read_markers` reads back unchanged.

    This is how a diagnosis call becomes the marker file of the patient's follow-up: a lab can
    open it, check it and add its own SNVs before the first follow-up sample is run. The file
    appears only when complete.

    Args:
        markers: Markers to write, in the order given.
        path: Destination; columns are :data:`TSV_COLUMNS`, empty cells for unknown values.

    Raises:
        OutputError: When the destination folder does not exist or cannot be written.
    """
    with atomic_open(path) as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(TSV_COLUMNS)
        for m in markers:
            vaf = "" if m.diagnosis_vaf is None else repr(float(m.diagnosis_vaf))
            writer.writerow(
                [
                    m.chrom,
                    m.position,
                    m.ref,
                    m.alt,
                    m.gene or "",
                    m.name or "",
                    vaf,
                    m.source_marker or "",
                ]
            )


# --- checks shared by the constructor and the readers -------------------------------------------


def _chrom_problem(chrom: str) -> str | None:
    if not chrom:
        return "the chromosome is empty"
    if chrom[0] in "#*=" or any(c.isspace() or not c.isprintable() for c in chrom):
        return f"{_short(chrom)} is not a chromosome name"
    return None


def _position_problem(position: int) -> str | None:
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        return f"position {position!r} is not a positive integer"
    return None


def _bases_problem(bases: str) -> str | None:
    if _BASES.fullmatch(bases):
        return None
    if not bases or bases == ".":
        return "the allele is empty; write indels VCF-style with the base before them"
    if bases.startswith("<") or bases == "*" or "[" in bases or "]" in bases:
        return f"symbolic allele {bases!r} cannot be tracked; give the sequence"
    if "," in bases:
        return f"{_short(bases)} holds several alleles; give one ALT allele per row"
    if bases == "-":
        return "'-' is not an allele; write indels VCF-style with the base before them"
    if "N" in bases and set(bases) <= set("ACGTN"):
        return f"allele {_short(bases)} contains N; a tracked marker needs exact bases"
    return f"allele {_short(bases)} is not made of the bases A, C, G, T"


def _text_problem(text: str | None) -> str | None:
    """Refuse control characters and line breaks: a marker TSV must keep one row per line."""
    if text is not None and any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text):
        return f"{_short(text)} contains control characters or line breaks"
    return None


def _vaf_problem(vaf: float | None) -> str | None:
    if vaf is None:
        return None
    if isinstance(vaf, bool) or not isinstance(vaf, (int, float)):
        return f"VAF {vaf!r} is not a number"
    if not math.isfinite(vaf) or not 0.0 <= vaf <= 1.0:
        return f"VAF {vaf!r} is not a fraction between 0 and 1"
    return None


def _one_line(error: BaseException) -> str:
    """Library errors can span lines; the CLI prints one."""
    return " ".join(str(error).split()) or type(error).__name__


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _optional_text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _check_unique(file: Path, rows: list[tuple[str, TrackedMarker]]) -> list[TrackedMarker]:
    """Refuse the same allele twice: pooled MRD would count its reads twice."""
    seen: dict[tuple[str, int, str, str], str] = {}
    for where, marker in rows:
        if marker.key in seen:
            raise InputFileError(
                f"{file}, {where}: marker {marker.chrom}:{marker.position}{marker.ref}>"
                f"{marker.alt} is listed twice (first at {seen[marker.key]})"
            )
        seen[marker.key] = where
    return [marker for _, marker in rows]


# --- text and compression -----------------------------------------------------------------------


def _is_vcf_content(head: bytes, text_head: bytes) -> bool:
    """BCF (plain or BGZF) or text VCF, whatever the file is called."""
    return head.startswith(b"BCF") or text_head.startswith((b"BCF", b"##fileformat=VCF"))


def _gunzip_head(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(wbits=31).decompress(head, _HEAD_BYTES)
    except zlib.error:
        return b""


def _read_text(file: Path, compressed: bool) -> str:
    try:
        if compressed:
            with gzip.open(file, "rb") as handle:
                data = handle.read()
        else:
            data = file.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise InputFileError(f"cannot read marker file {file}: {_one_line(exc)}") from None
    try:
        # utf-8-sig: spreadsheet programs put a byte-order mark before the header.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"marker file {file} is not UTF-8 text (byte {exc.start}); save it as UTF-8, "
            "or give a VCF, TSV, CSV or mrd call JSON"
        ) from None


# --- TSV / CSV ----------------------------------------------------------------------------------


def _header_columns(cells: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """Map our column keys to indexes; also return keys named twice (``pos`` and ``position``)."""
    names = [c.strip().lower() for c in cells]
    columns: dict[str, int] = {}
    twice: list[str] = []
    for key, aliases in _COLUMN_ALIASES.items():
        hits = [i for i, n in enumerate(names) if n in aliases]
        if hits:
            columns[key] = hits[0]
        if len(hits) > 1:
            twice.append(key)
    return columns, twice


def _split_header(line: str, delimiter: str | None) -> tuple[list[str], str]:
    if delimiter is None:
        delimiter = "\t" if "\t" in line else ","
    try:
        cells = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        cells = line.split(delimiter)
    return cells, delimiter


def _read_table(file: Path, text: str, delimiter: str | None) -> list[tuple[str, TrackedMarker]]:
    lines = text.split("\n")
    header_index = None
    columns: dict[str, int] = {}
    twice: list[str] = []
    for index, raw in enumerate(lines):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        # A "#chrom pos ..." line (BED and VCF habit) is the header, other "#" lines comments.
        comment = line.startswith("#")
        cells, sep = _split_header(line.lstrip("#") if comment else line, delimiter)
        found, found_twice = _header_columns(cells)
        if comment and not all(k in found for k in _REQUIRED):
            continue
        header_index, columns, twice, delimiter = index, found, found_twice, sep
        break
    if header_index is None or delimiter is None:
        raise InputFileError(f"marker file {file} has no header line, only comments")
    header_row = header_index + 1
    if twice:
        key = twice[0]
        raise InputFileError(
            f"{file}, row {header_row}: the header has two {key!r} columns "
            f"({' or '.join(_COLUMN_ALIASES[key])})"
        )
    missing = [k for k in _REQUIRED if k not in columns]
    if missing:
        raise InputFileError(
            f"{file}, row {header_row}: the header lacks column(s) {', '.join(missing)}; "
            f"a marker table needs {', '.join(_REQUIRED)} (pos may be called position)"
        )
    rows: list[tuple[str, TrackedMarker]] = []
    body = io.StringIO("\n".join(lines[header_index + 1 :]), newline="")
    # strict: an unclosed quote would otherwise swallow every later row into one cell.
    reader = csv.reader(body, delimiter=delimiter, strict=True)
    line_before = 0
    try:
        for cells in reader:
            row = header_row + line_before + 1
            line_before = reader.line_num
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            rows.append((f"row {row}", _table_marker(file, row, cells, columns)))
    except csv.Error as exc:
        raise InputFileError(
            f"{file}, row {header_row + line_before + 1}: cannot split the row: {_one_line(exc)}"
        ) from None
    return rows


def _table_marker(
    file: Path, row: int, cells: Sequence[str], columns: dict[str, int]
) -> TrackedMarker:
    def cell(key: str) -> str | None:
        index = columns.get(key)
        if index is None or index >= len(cells):
            return None
        return cells[index].strip()

    def fail(key: str, problem: str) -> InputFileError:
        return InputFileError(f"{file}, row {row}, column {key!r}: {problem}")

    for key in _REQUIRED:
        if not cell(key):
            raise fail(key, "the value is missing")
    chrom = bare_chrom(cell("chrom") or "")
    problem = _chrom_problem(chrom)
    if problem:
        raise fail("chrom", problem)
    pos_text = cell("pos") or ""
    if not _POSITIVE_INT.fullmatch(pos_text) or int(pos_text) < 1:
        raise fail("pos", f"{_short(pos_text)} is not a positive integer (a 1-based position)")
    ref = (cell("ref") or "").upper()
    alt = (cell("alt") or "").upper()
    for key, bases in (("ref", ref), ("alt", alt)):
        problem = _bases_problem(bases)
        if problem:
            raise fail(key, problem)
    if ref == alt:
        raise fail("alt", f"ALT {_short(alt)} is the same as REF; that is no variant")
    text_fields: dict[str, str | None] = {}
    for key in ("gene", "name", "source_marker"):
        value = _optional_text(cell(key))
        problem = _text_problem(value)
        if problem:
            raise fail(key, problem)
        text_fields[key] = value
    vaf = _parse_vaf(cell("vaf"), lambda problem: fail("vaf", problem))
    return TrackedMarker(
        chrom=chrom,
        position=int(pos_text),
        ref=ref,
        alt=alt,
        gene=text_fields["gene"],
        name=text_fields["name"],
        source_marker=text_fields["source_marker"],
        diagnosis_vaf=vaf,
    )


def _parse_vaf(text: str | None, fail: _Fail) -> float | None:
    if not text or text in (".", "NA", "na"):
        return None
    percent = text.endswith("%")
    try:
        value = float(text.rstrip("%").strip())
    except ValueError:
        raise fail(f"{_short(text)} is not a number") from None
    if percent:
        value /= 100.0
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        hint = f"; write {value / 100:g} or {text}%" if not percent and 1.0 < value <= 100 else ""
        raise fail(f"{_short(text)} is not a fraction between 0 and 1{hint}")
    return value


# --- VCF / BCF ----------------------------------------------------------------------------------


def _read_vcf(file: Path, head: bytes, text_head: bytes) -> list[tuple[str, TrackedMarker]]:
    # Check the magic ourselves: a clear "not a VCF" beats htslib's error codes, and garbage
    # never reaches the C parser.
    if not _is_vcf_content(head, text_head):
        if head[:2] == b"\x1f\x8b" and not text_head:
            raise InputFileError(f"marker file {file} is not valid gzip or BGZF")
        raise InputFileError(
            f"marker file {file} is not a VCF: it does not start with ##fileformat=VCF"
        )
    verbosity = pysam.set_verbosity(0)  # htslib warnings (undeclared contigs) are noise here
    try:
        try:
            vcf = pysam.VariantFile(str(file), "r")
        except (ValueError, OSError) as exc:
            raise InputFileError(f"cannot read marker VCF {file}: {_one_line(exc)}") from None
        with vcf:
            return list(_vcf_markers(file, vcf))
    finally:
        pysam.set_verbosity(verbosity)


def _vcf_build(vcf: Any) -> Build | None:
    """The build a VCF's ``##contig`` lengths say, or None when they do not tell."""
    lengths = {
        str(name): int(contig.length)
        for name, contig in vcf.header.contigs.items()
        if contig.length is not None
    }
    try:
        return detect_genome(lengths).build
    except GenomeBuildError:
        return None


def _vcf_markers(file: Path, vcf: Any) -> Iterator[tuple[str, TrackedMarker]]:
    csq_symbol = _csq_symbol_index(vcf.header)
    build = _vcf_build(vcf)
    number = 0
    records = iter(vcf)
    while True:
        number += 1
        where = f"record {number}"
        try:
            record = next(records)
        except StopIteration:
            return
        except (ValueError, OSError, KeyError, TypeError) as exc:
            raise InputFileError(
                f"{file}, {where}: cannot parse the VCF record: {_one_line(exc)}"
            ) from None
        try:
            chrom, pos = str(record.chrom), int(record.pos)
            where = f"record {number} ({chrom}:{pos})"
            filters = list(record.filter.keys())
            if filters and filters != ["PASS"]:
                continue
            alts = tuple(record.alts or ())
            ref = str(record.ref or "").upper()
            fields = _vcf_fields(record, csq_symbol)
        except (ValueError, OSError, KeyError, TypeError, IndexError) as exc:
            raise InputFileError(
                f"{file}, {where}: cannot parse the VCF record: {_one_line(exc)}"
            ) from None
        chrom = bare_chrom(chrom)
        problem = _chrom_problem(chrom)
        if problem:
            raise InputFileError(f"{file}, {where}, column CHROM: {problem}")
        if pos < 1:
            raise InputFileError(f"{file}, {where}, column POS: {pos} is not a positive position")
        problem = _bases_problem(ref)
        if problem:
            raise InputFileError(f"{file}, {where}, column REF: {problem}")
        for index, alt_raw in enumerate(alts):
            alt = str(alt_raw).upper()
            problem = _bases_problem(alt)
            if problem:
                raise InputFileError(f"{file}, {where}, column ALT: {problem}")
            if alt == ref:
                raise InputFileError(f"{file}, {where}, column ALT: {alt} is the same as REF")
            vaf = _pick(fields["info_af"], index) if fields["info_af"] is not None else None
            if vaf is None and fields["format_af"] is not None:
                vaf = _pick(fields["format_af"], index)
            column = "INFO AF" if fields["info_af"] is not None else "FORMAT AF"
            vaf_value = _vcf_vaf(vaf, _failer(f"{file}, {where}, {column}"))
            gene = fields["gene"].get(alt) or fields["gene"].get("")
            problem = _text_problem(gene)
            if problem:
                raise InputFileError(f"{file}, {where}, INFO GENE: {problem}")
            name = fields["id"] if len(alts) == 1 else None
            if _text_problem(name):
                name = None
            marker = TrackedMarker(
                chrom, pos, ref, alt, gene=gene, name=name, diagnosis_vaf=vaf_value, build=build
            )
            yield where, marker


def _failer(prefix: str) -> _Fail:
    def fail(problem: str) -> InputFileError:
        return InputFileError(f"{prefix}: {problem}")

    return fail


def _vcf_fields(record: Any, csq_symbol: int | None) -> dict[str, Any]:
    info = record.info
    # Not info.get(): pysam raises "Invalid header" for a key the header does not declare.
    info_af = info["AF"] if "AF" in info else None  # noqa: SIM401
    format_af = None
    if "AF" in record.format and len(record.samples) > 0:
        format_af = record.samples[0]["AF"]
    genes: dict[str, str] = {}
    if "GENE" in info:
        gene = _pick(info["GENE"], 0)
        if gene:
            genes[""] = str(gene)
    if not genes and "ANN" in info:
        # SnpEff ANN: Allele | Annotation | Impact | Gene_Name | ...
        for entry in _as_tuple(info["ANN"]):
            parts = str(entry).split("|")
            if len(parts) > 3 and parts[3]:
                genes.setdefault(parts[0].upper(), parts[3])
                genes.setdefault("", parts[3])
    if not genes and "CSQ" in info and csq_symbol is not None:
        # VEP writes alleles trimmed of the anchor base, so match on the first entry only.
        for entry in _as_tuple(info["CSQ"]):
            parts = str(entry).split("|")
            if len(parts) > csq_symbol and parts[csq_symbol]:
                genes.setdefault("", parts[csq_symbol])
    record_id = record.id
    return {
        "info_af": info_af,
        "format_af": format_af,
        "gene": {k: _optional_text(v) for k, v in genes.items()},
        "id": _optional_text(str(record_id)) if record_id not in (None, ".") else None,
    }


def _csq_symbol_index(header: Any) -> int | None:
    try:
        description = str(header.info["CSQ"].description)
    except (KeyError, AttributeError, ValueError):
        return None
    _, _, layout = description.partition("Format:")
    fields = [f.strip() for f in layout.strip().strip('"').split("|")]
    return fields.index("SYMBOL") if "SYMBOL" in fields else None


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, tuple):
        return value
    return (value,)


def _pick(value: Any, index: int) -> Any:
    values = _as_tuple(value)
    if len(values) == 1:
        return values[0]
    return values[index] if index < len(values) else None


def _vcf_vaf(value: Any, fail: _Fail) -> float | None:
    if value is None:
        return None
    try:
        vaf = float(value)
    except (TypeError, ValueError):
        raise fail(f"{value!r} is not a number") from None
    if not math.isfinite(vaf) or not 0.0 <= vaf <= 1.0:
        raise fail(f"{value!r} is not a fraction between 0 and 1")
    return vaf


# --- mrd call JSON ------------------------------------------------------------------------------


def _read_call_json(file: Path, text: str) -> list[tuple[str, TrackedMarker]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{file}, row {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputFileError(f"{file}: JSON nested too deeply to be an mrd call result") from None
    if not isinstance(data, dict) or data.get("schema") != "mrd-call":
        raise InputFileError(f'{file} is JSON but not an mrd call result (no "schema": "mrd-call")')
    version = data.get("schema_version")
    if not isinstance(version, str) or version.split(".")[0] != "1":
        raise InputFileError(
            f"{file}: mrd call schema_version {version!r} is not supported; this mrd reads 1.x"
        )
    findings = data.get("findings")
    if not isinstance(findings, list):
        raise InputFileError(f"{file}: the mrd call result has no findings list")
    build_text = data.get("genome_build")
    try:
        build = Build.parse(build_text) if isinstance(build_text, str) else None
    except GenomeBuildError:
        raise InputFileError(f"{file}: genome_build {build_text!r} is not a known build") from None
    rows: list[tuple[str, TrackedMarker]] = []
    for number, finding in enumerate(findings, start=1):
        where = f"finding {number}"
        if not isinstance(finding, dict):
            raise InputFileError(f"{file}, {where}: a finding must be a JSON object")
        source = finding.get("marker")
        if not isinstance(source, str) or source not in CALL_MARKERS:
            continue  # readers of 1.x ignore markers they do not know
        marker = _finding_marker(file, where, source, finding)
        rows.append((where, dataclasses.replace(marker, build=build)))
    return rows


def _finding_marker(file: Path, where: str, source: str, finding: dict[str, Any]) -> TrackedMarker:
    def fail(key: str, problem: str) -> InputFileError:
        return InputFileError(f"{file}, {where} ({source}), key {key!r}: {problem}")

    chrom_value = finding.get("chrom")
    if not isinstance(chrom_value, str):
        raise fail("chrom", "missing or not a string")
    chrom = bare_chrom(chrom_value)
    problem = _chrom_problem(chrom)
    if problem:
        raise fail("chrom", problem)
    position = finding.get("position")
    problem = _position_problem(position) if position is not None else "missing"
    if problem:
        raise fail("position", problem)
    bases: dict[str, str] = {}
    for key in ("ref", "alt"):
        value = finding.get(key)
        if not isinstance(value, str):
            raise fail(key, "missing or not a string")
        problem = _bases_problem(value.upper())
        if problem:
            raise fail(key, problem)
        bases[key] = value.upper()
    if bases["ref"] == bases["alt"]:
        raise fail("alt", "ALT is the same as REF")
    gene = finding.get("gene")
    if gene is not None and not isinstance(gene, str):
        raise fail("gene", "not a string")
    gene = _optional_text(gene) or source.split("-")[0]
    vaf = finding.get("vaf")
    problem = _vaf_problem(vaf)
    if problem:
        raise fail("vaf", problem)
    npm1_type = finding.get("npm1_type")
    hgvs_c = finding.get("hgvs_c")
    name: str | None = None
    if source.startswith("NPM1") and isinstance(npm1_type, str) and npm1_type.strip():
        name = f"NPM1 type {npm1_type.strip()}"
    elif isinstance(hgvs_c, str) and hgvs_c.strip():
        name = f"{gene} {hgvs_c.strip()}"
    for key, value in (("gene", gene), ("name", name)):
        problem = _text_problem(value)
        if problem:
            raise fail(key, problem)
    return TrackedMarker(
        chrom=chrom,
        position=int(position),  # type: ignore[arg-type]
        ref=bases["ref"],
        alt=bases["alt"],
        gene=gene,
        name=name,
        source_marker=source,
        diagnosis_vaf=None if vaf is None else float(vaf),
    )
