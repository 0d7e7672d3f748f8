"""The MRD result of each sample as MultiQC custom content, for the run-level QC report.

Sequencing labs already collect every tool's QC in one MultiQC report; a file named
``*_mqc.json`` in the folder MultiQC scans is picked up as custom content without a plugin.
With ``plot_type: generalstats`` our columns join the General Statistics table, one row per
sample beside the read counts and duplication rates of the other tools, which is where a
failed or insensitive MRD sample is noticed.

Values are numbers where they are numbers (so MultiQC can colour-scale and sort them) and
strings where they are categories. A value that is unknown is left out rather than written as
null, which MultiQC would otherwise show as a zero or a placeholder that reads like a result.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mrd.output import write_text

__all__ = ["MULTIQC_COLUMNS", "multiqc_content", "write_multiqc"]

_SUFFIX = "_mqc.json"

# Column id -> MultiQC header config. The ids are also the data keys; MultiQC shows ``title``.
MULTIQC_COLUMNS: dict[str, dict[str, Any]] = {
    "MRD call": {
        "title": "MRD call",
        "description": "Pooled MRD call: POSITIVE, POSITIVE_BELOW_LOQ, NEGATIVE, NOT_EVALUABLE; "
        "FAILED when the sample could not be analysed",
    },
    "Pooled VAF": {
        "title": "Pooled VAF",
        "description": "Pooled variant allele fraction of the patient's MRD markers, in percent",
        "suffix": "%",
        "format": "{:,.4f}",
        "min": 0,
        "scale": "OrRd",
    },
    "LoD (1 in N)": {
        "title": "LoD (1 in N)",
        "description": "Sensitivity reached: the sample's LoD95 as 1 in N (higher is better)",
        "format": "{:,.0f}",
        "min": 0,
        "scale": "Greens",
    },
    "State": {
        "title": "MRD state",
        "description": "State given by the MRD monitoring rules (ELN MRD working party)",
    },
    "Reads used": {
        "title": "Reads used",
        "description": "Records in the target windows that passed the read filters",
        "format": "{:,.0f}",
        "min": 0,
        "scale": "Blues",
    },
}
"""The General Statistics columns written, with their MultiQC header configuration."""


def write_multiqc(monitor: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the MultiQC custom-content file of a monitor result at ``path``, atomically.

    Args:
        monitor: A monitor result (schema ``mrd-monitor``).
        path: Destination file; its name must end with ``_mqc.json``, which is how MultiQC
            recognises custom content, and its folder must exist.

    Raises:
        ValueError: When the file name does not end with ``_mqc.json``: MultiQC would skip it
            silently, so the mistake is reported here instead.
        OutputError: When the destination folder does not exist or is not writable.
    """
    if not Path(path).name.endswith(_SUFFIX):
        raise ValueError(
            f"MultiQC only reads custom content from files named *{_SUFFIX}, not {Path(path).name}"
        )
    content = multiqc_content(monitor)
    write_text(path, json.dumps(content, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def multiqc_content(monitor: Mapping[str, Any]) -> dict[str, Any]:
    """The custom-content document (``id``, ``section_name``, ``plot_type``, ``pconfig``, ``data``).

    Args:
        monitor: A monitor result (schema ``mrd-monitor``).

    Returns:
        A JSON-able dict; ``data`` maps each sample name to its columns.
    """
    timeline: dict[str, Mapping[str, Any]] = {}
    for patient in _list(monitor.get("patients")):
        if isinstance(patient, Mapping):
            for entry in _list(patient.get("timeline")):
                if isinstance(entry, Mapping) and entry.get("sample") is not None:
                    timeline[str(entry["sample"])] = entry

    data: dict[str, dict[str, Any]] = {}
    for sample in _list(monitor.get("samples")):
        if not isinstance(sample, Mapping) or sample.get("sample") is None:
            continue
        name = str(sample["sample"])
        data[name] = _row(sample, timeline.get(name, {}))
    # Timeline samples that have no sample entry still get their state.
    for name, entry in timeline.items():
        if name not in data:
            data[name] = _row({}, entry)

    return {
        "id": "mrd",
        "section_name": "MRD",
        "description": "Molecular MRD monitoring (mrd). NGS-MRD is not a stand-alone test.",
        "plot_type": "generalstats",
        "pconfig": {key: dict(config) for key, config in MULTIQC_COLUMNS.items()},
        "data": data,
    }


def _row(sample: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """One sample's columns; the monitor's timeline first, the sample's own call otherwise."""
    call = _map(sample.get("call"))
    pooled = _map(call.get("mrd"))
    row: dict[str, Any] = {}
    if sample.get("error"):
        row["MRD call"] = "FAILED"
    else:
        verdict = entry.get("call") or pooled.get("call")
        if verdict:
            row["MRD call"] = str(verdict)
    level = _number(entry.get("level"))
    if level is None:
        level = _number(pooled.get("vaf"))
    if level is not None:
        row["Pooled VAF"] = level * 100.0
    one_in = _number(entry.get("lod_one_in"))
    if one_in is None:
        one_in = _number(pooled.get("lod_one_in"))
    if one_in is None:
        lod = _number(entry.get("lod"))
        lod = _number(pooled.get("lod")) if lod is None else lod
        one_in = 1.0 / lod if lod is not None and lod > 0.0 else None
    if one_in is not None:
        row["LoD (1 in N)"] = round(one_in)
    if entry.get("state"):
        row["State"] = str(entry["state"])
    used = _number(_map(call.get("read_filter")).get("used"))
    if used is not None:
        row["Reads used"] = round(used)
    return row


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
