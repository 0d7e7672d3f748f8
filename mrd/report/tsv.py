"""Findings of a call result as a tab-separated table, one row per finding.

The table is for spreadsheets and quick ``grep``/``awk`` work, so it is flat: the per-sample
fields (sample, genome build) are repeated on each row, letting tables of many samples be
concatenated without losing which row came from where. Columns are fixed and shared by all
marker kinds; a field a marker does not have is an empty cell, so the header never depends on
what was found.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from mrd.output import atomic_open

# Per-sample columns, taken from the top level of the result.
_SAMPLE_COLUMNS = ("sample", "genome_build")

# Per-finding columns, in the order a reader scans them: what and where, then how much.
_FINDING_COLUMNS = (
    "marker",
    "gene",
    "chrom",
    "position",
    "ref",
    "alt",
    "length",
    "inserted_sequence",
    "duplicated_length",
    "in_frame",
    "exon",
    "domain",
    "hgvs_c",
    "hgvs_p",
    "alt_count",
    "wt_count",
    "depth",
    "depth_unit",
    "vaf",
    "vaf_ci_low",
    "vaf_ci_high",
    "allelic_ratio",
    "allelic_ratio_ci_low",
    "allelic_ratio_ci_high",
    "microclone",
    "quantification",
    "npm1_type",
)

TSV_COLUMNS: tuple[str, ...] = _SAMPLE_COLUMNS + _FINDING_COLUMNS
"""The header of every findings TSV, in order."""

# Characters that would break the one-line-per-row, tab-between-cells layout.
_LAYOUT_BREAKERS = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def write_findings_tsv(result: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the findings of ``result`` as a TSV table at ``path``, atomically.

    A result without findings still gives the header line, so a downstream merge sees a sample
    that was analysed and found negative rather than a missing file.

    Args:
        result: A call result (schema ``mrd-call``); extra keys are ignored, missing optional
            keys become empty cells.
        path: Destination file; its folder must exist.

    Raises:
        OutputError: When the destination folder does not exist or is not writable.
    """
    rows = [_row(result, finding) for finding in _findings(result)]
    with atomic_open(path) as handle:
        # Values are cleaned of tabs and newlines beforehand, so no quoting is ever needed and
        # the file stays readable by tools that split on tabs (cut, awk, R's read.delim).
        writer = csv.writer(
            handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, quotechar=None
        )
        writer.writerow(TSV_COLUMNS)
        writer.writerows(rows)


def _findings(result: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    findings = result.get("findings") or []
    return list(findings)


def _row(result: Mapping[str, Any], finding: Mapping[str, Any]) -> list[str]:
    cells = [_cell(result.get(column)) for column in _SAMPLE_COLUMNS]
    cells += [_cell(finding.get(column)) for column in _FINDING_COLUMNS]
    return cells


def _cell(value: Any) -> str:
    """Render one value the way the JSON spells it, so TSV and JSON read the same."""
    if value is None:
        return ""
    # bool before int: True is an int in Python, but the JSON says "true".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = _float(value)
    elif isinstance(value, (Mapping, list, tuple)):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    else:
        text = str(value)
    return text.translate(_LAYOUT_BREAKERS)


def _float(value: float) -> str:
    """Six significant digits: more than any VAF or its interval can be trusted to."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return format(value, ".6g")
