"""``mrd monitor``: a sequencing run's patients, from their BAMs to states, risk and reports.

Per patient the diagnosis sample is called first: its FLT3-ITD and NPM1 mutations (plus any
patient markers the sample sheet names) become the markers tracked in every later sample. Each
sample's pooled MRD result then feeds the ELN state machine (:mod:`mrd.monitoring.timeline`),
and the diagnosis findings with the sheet's clinical columns feed the risk models
(:mod:`mrd.risk`). One failing sample does not stop the run: it is listed with its error, and
the run result says some failed.

The work is a plain function returning a plain result; writing the report files is a separate
step (:func:`write_outputs`), so a pipeline can run one without the other.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrd.call import CallResult, CallSettings, call_sample
from mrd.errors import MrdError
from mrd.genome import bare_chrom
from mrd.markers.tracked import TrackedMarker, read_markers
from mrd.monitoring.config import MrdRules
from mrd.monitoring.samplesheet import SampleRow, SampleSheet, Timepoint, read_samplesheet
from mrd.monitoring.timeline import Measurement, TimelineEntry, follow_patient
from mrd.ngs.filters import ReadFilter
from mrd.stats.sensitivity import SensitivitySettings

log = logging.getLogger(__name__)

SCHEMA = "mrd-monitor"
SCHEMA_VERSION = "1.0"
CAVEAT = (
    "NGS-MRD is not a stand-alone test: interpret it with the clinical picture, morphology, "
    "flow cytometry and qPCR where available. A negative result only means negative down to "
    "the limit of detection stated for that sample."
)
TRACKED_FROM_DIAGNOSIS = ("FLT3-ITD", "NPM1")
"""Diagnosis findings that become tracked markers: the mutations labs follow as MRD."""


@dataclass(frozen=True)
class MonitorSettings:
    """What changes a monitoring run, in one place (rules file and options fill it).

    Attributes:
        rules: MRD thresholds and state rules (configurable, documented in docs/monitoring.md).
        read_filter: Read filter for every sample (amplicon or UMI data: keep duplicates).
        call: Caller settings other than markers, sensitivity and read filter.
    """

    rules: MrdRules = field(default_factory=MrdRules)
    read_filter: ReadFilter = field(default_factory=ReadFilter)
    call: CallSettings = field(default_factory=CallSettings)

    def call_settings(self, markers: Sequence[TrackedMarker]) -> CallSettings:
        """Caller settings for one sample, with the patient's markers and the run's rules."""
        base = self.call
        return CallSettings(
            itd=base.itd,
            npm1=base.npm1,
            read_filter=self.read_filter,
            genes=base.genes,
            sensitivity=SensitivitySettings(required_sensitivity=self.rules.required_sensitivity),
            markers=tuple(markers),
            include_dta=self.rules.include_dta,
            include_germline=self.rules.include_germline,
            background=base.background,
        )


@dataclass
class SampleOutcome:
    """One sample's call, or the one-line error that stopped it."""

    row: SampleRow
    result: CallResult | None = None
    error: str | None = None


@dataclass
class PatientReport:
    """One patient's course: markers, per-sample outcomes, states and risk."""

    patient: str
    rows: list[SampleRow]
    markers: list[TrackedMarker] = field(default_factory=list)
    outcomes: list[SampleOutcome] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    risk: list[dict[str, Any]] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class MonitorResult:
    """The whole run: every patient, every sample, and the settings used."""

    samplesheet: SampleSheet
    settings: MonitorSettings
    patients: list[PatientReport]
    created: str = field(default_factory=lambda: datetime.datetime.now().isoformat("T", "seconds"))

    @property
    def failed(self) -> list[SampleOutcome]:
        """Samples whose call failed."""
        return [o for p in self.patients for o in p.outcomes if o.error is not None]

    def as_dict(self) -> dict[str, Any]:
        """The run as written to ``monitor.json`` (schema ``mrd-monitor``, docs/monitoring.md)."""
        from mrd import __version__

        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "mrd_version": __version__,
            "created": self.created,
            "samplesheet": str(self.samplesheet.path),
            "rules": self.settings.rules.as_dict(),
            "caveat": CAVEAT,
            "warnings": list(self.samplesheet.warnings),
            "patients": [_patient_dict(p) for p in self.patients],
            "samples": [
                {
                    "sample": o.row.sample,
                    "patient": o.row.patient,
                    "timepoint": o.row.timepoint.value,
                    "call": o.result.as_dict() if o.result is not None else None,
                    "error": o.error,
                }
                for p in self.patients
                for o in p.outcomes
            ],
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _marker_key(chrom: str, position: int, ref: str, alt: str) -> tuple[str, int, str, str]:
    return bare_chrom(chrom), position, ref, alt


def diagnosis_markers(result: CallResult) -> list[TrackedMarker]:
    """The FLT3-ITD and NPM1 mutations of a diagnosis call, as markers to track."""
    markers = []
    for finding in result.findings:
        data = finding.as_dict()
        if data["marker"] not in TRACKED_FROM_DIAGNOSIS:
            continue
        if data["marker"] == "NPM1":
            name = f"NPM1 type {data['npm1_type']}" if data.get("npm1_type") else "NPM1"
            name = f"{name} {data['hgvs_c']}"
        else:
            name = f"FLT3-ITD {data['hgvs_c']} ({data['length']} bp)"
        markers.append(
            TrackedMarker(
                data["chrom"],
                data["position"],
                data["ref"],
                data["alt"],
                gene=data.get("gene"),
                name=name,
                source_marker=data["marker"],
                diagnosis_vaf=_finite(data.get("vaf")),
            )
        )
    return markers


def _measurement(outcome: SampleOutcome) -> Measurement:
    row = outcome.row
    pooled = outcome.result.pooled if outcome.result is not None else None
    assessment = pooled.assessment if pooled is not None else None
    return Measurement(
        sample=row.sample,
        date=row.date,
        timepoint=row.timepoint.value,
        tissue=row.tissue.value,
        call=assessment.call.value if assessment is not None else None,
        level=_finite(assessment.vaf) if assessment is not None else None,
        lod=_finite(assessment.lod) if assessment is not None else None,
    )


def _call(row: SampleRow, settings: CallSettings) -> SampleOutcome:
    try:
        result = call_sample(row.bam, reference=row.reference, settings=settings, sample=row.sample)
    except MrdError as exc:
        log.error("%s: %s", row.sample, exc)
        return SampleOutcome(row, error=str(exc))
    return SampleOutcome(row, result=result)


def follow(
    rows: Sequence[SampleRow],
    settings: MonitorSettings,
    *,
    on_sample: Callable[[SampleOutcome], None] | None = None,
) -> PatientReport:
    """Call one patient's samples (diagnosis first), then give them states and risk."""
    ordered = sorted(rows, key=lambda r: (r.date, r.timepoint is not Timepoint.DIAGNOSIS))
    report = PatientReport(ordered[0].patient, list(ordered))
    sheet_markers: list[TrackedMarker] = []
    for row in ordered:
        if row.markers is not None:
            sheet_markers.extend(m for m in read_markers(row.markers) if m not in sheet_markers)
    diagnosis = next((r for r in ordered if r.timepoint is Timepoint.DIAGNOSIS), None)
    markers = list(sheet_markers)
    if diagnosis is None:
        report.warnings.append(
            "no diagnosis sample: only the sample sheet's markers are tracked, and no risk "
            "or log reduction from diagnosis can be given"
        )
    else:
        outcome = _call(diagnosis, settings.call_settings(sheet_markers))
        report.outcomes.append(outcome)
        if on_sample is not None:
            on_sample(outcome)
        if outcome.result is not None:
            known = {m.key for m in markers}
            markers.extend(m for m in diagnosis_markers(outcome.result) if m.key not in known)
        else:
            report.warnings.append(f"the diagnosis sample failed: {outcome.error}")
    report.markers = markers
    if not markers:
        report.warnings.append("no marker to track: follow-up samples cannot be assessed")
    for row in ordered:
        if row is diagnosis:
            continue
        outcome = _call(row, settings.call_settings(markers))
        report.outcomes.append(outcome)
        if on_sample is not None:
            on_sample(outcome)
    report.outcomes.sort(key=lambda o: ordered.index(o.row))
    report.timeline = follow_patient([_measurement(o) for o in report.outcomes], settings.rules)
    report.risk, report.flags = _risk(report, diagnosis)
    return report


def _risk(
    report: PatientReport, diagnosis: SampleRow | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Risk calls and MRD-informed flags; filled by :mod:`mrd.monitoring.risk_inputs`."""
    from mrd.monitoring.risk_inputs import patient_risk

    return patient_risk(report, diagnosis)


def monitor(
    samplesheet: str | os.PathLike[str],
    settings: MonitorSettings | None = None,
    *,
    on_sample: Callable[[SampleOutcome], None] | None = None,
) -> MonitorResult:
    """Run every patient of a sample sheet: calls, states, risk. Nothing is written.

    The sample sheet is validated completely before any BAM is opened, so a typo in row 40
    fails in a second, not after an hour of work.

    Raises:
        InputFileError: For a malformed sample sheet or marker file (one line naming the row).
    """
    active = settings or MonitorSettings()
    sheet = read_samplesheet(samplesheet)
    patients = [follow(rows, active, on_sample=on_sample) for rows in sheet.patients().values()]
    return MonitorResult(sheet, active, patients)


# --------------------------------------------------------------------------------------------
# The result as JSON


def _entry_dict(entry: TimelineEntry, outcome: SampleOutcome) -> dict[str, Any]:
    m = entry.measurement
    markers = []
    if outcome.result is not None:
        for finding, assessment in zip(
            outcome.result.findings, outcome.result.assessments, strict=True
        ):
            data = finding.as_dict()
            if not data.get("tracked") and outcome.row.timepoint is not Timepoint.DIAGNOSIS:
                continue
            markers.append(
                {
                    "label": data.get("name") or f"{data['marker']} {data.get('hgvs_c') or ''}",
                    "marker": data["marker"],
                    "vaf": data.get("vaf"),
                    "alt_count": data["alt_count"],
                    "depth": data["depth"],
                    "depth_unit": data["depth_unit"],
                    "call": assessment.call.value,
                    "lod": _finite(assessment.lod),
                }
            )
    return {
        "sample": m.sample,
        "date": m.date.isoformat(),
        "timepoint": m.timepoint,
        "tissue": m.tissue,
        "call": m.call,
        "level": m.level,
        "lod": m.lod,
        "lod_one_in": 1 / m.lod if m.lod else None,
        "state": entry.state.value,
        "confirmed": entry.confirmed,
        "confirms": entry.confirms,
        "log10_reduction_from_diagnosis": entry.log10_reduction_from_diagnosis,
        "reduction_is_bound": entry.reduction_is_bound,
        "meets_reduction_target": entry.meets_reduction_target,
        "log10_change_from_previous": entry.log10_change_from_previous,
        "rules": list(entry.rules),
        "error": outcome.error,
        "markers": markers,
    }


def _patient_dict(report: PatientReport) -> dict[str, Any]:
    diagnosis = next((o for o in report.outcomes if o.row.timepoint is Timepoint.DIAGNOSIS), None)
    left_out: dict[str, str] = {}
    for outcome in report.outcomes:  # a marker left out anywhere is left out by rule
        if outcome.result is not None and outcome.result.pooled is not None:
            left_out.update(outcome.result.pooled.left_out)
    by_sample = {o.row.sample: o for o in report.outcomes}
    return {
        "patient": report.patient,
        "disease": report.rows[0].disease.value,
        "diagnosis_sample": diagnosis.row.sample if diagnosis is not None else None,
        "markers": [
            {
                "label": m.label,
                "marker": m.source_marker or m.kind,
                "gene": m.gene,
                "chrom": m.chrom,
                "position": m.position,
                "ref": m.ref,
                "alt": m.alt,
                "diagnosis_vaf": m.diagnosis_vaf,
                "pooled": m.label not in left_out,
                "left_out_reason": left_out.get(m.label),
            }
            for m in report.markers
        ],
        "timeline": [_entry_dict(e, by_sample[e.measurement.sample]) for e in report.timeline],
        "risk": report.risk,
        "mrd_flags": report.flags,
        "warnings": report.warnings,
    }


# --------------------------------------------------------------------------------------------
# Files


def _safe_name(sample: str) -> str:
    """A sample name as a file name; the sample sheet already refuses separators and '..'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in sample)


def write_outputs(result: MonitorResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the run's files into ``out_dir`` (created if missing), each atomically.

    Files: ``monitor.json``, ``report.html``, ``markers.tsv`` (one row per sample and marker),
    ``mrd_mqc.json`` (MultiQC general statistics) and per sample ``samples/<sample>.json``,
    ``.tsv`` and ``.vcf.gz``. Nothing is written outside ``out_dir``.

    Returns:
        The paths written, by name.
    """
    from mrd.output import write_json
    from mrd.report import write_findings_tsv, write_findings_vcf
    from mrd.report.html import write_html_report
    from mrd.report.multiqc import write_multiqc

    out = Path(out_dir)
    samples = out / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    data = result.as_dict()
    for entry in data["samples"]:
        call = entry["call"]
        if call is None:
            continue
        stem = samples / _safe_name(entry["sample"])
        write_json(stem.with_suffix(".json"), call)
        write_findings_tsv(call, stem.with_suffix(".tsv"))
        write_findings_vcf(call, stem.with_suffix(".vcf.gz"))
        entry["files"] = {
            "json": f"samples/{stem.name}.json",
            "tsv": f"samples/{stem.name}.tsv",
            "vcf": f"samples/{stem.name}.vcf.gz",
        }
    written["markers"] = out / "markers.tsv"
    _write_marker_table(data, written["markers"])
    written["json"] = out / "monitor.json"
    write_json(written["json"], data)
    written["html"] = out / "report.html"
    write_html_report(data, written["html"])
    written["multiqc"] = out / "mrd_mqc.json"
    write_multiqc(data, written["multiqc"])
    return written


MARKER_TABLE_COLUMNS = (
    "patient", "sample", "date", "timepoint", "tissue", "state", "confirmed", "marker",
    "vaf", "alt_count", "depth", "depth_unit", "call", "lod", "sample_call", "sample_level",
    "sample_lod", "log10_reduction_from_diagnosis",
)  # fmt: skip


def _write_marker_table(data: dict[str, Any], path: Path) -> None:
    """One row per sample and marker: the table a lab pastes into its records."""
    from mrd.output import atomic_open

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value).replace("\t", " ").replace("\n", " ")

    with atomic_open(path) as handle:
        handle.write("\t".join(MARKER_TABLE_COLUMNS) + "\n")
        for patient in data["patients"]:
            for entry in patient["timeline"]:
                shared = {
                    "patient": patient["patient"],
                    "sample": entry["sample"],
                    "date": entry["date"],
                    "timepoint": entry["timepoint"],
                    "tissue": entry["tissue"],
                    "state": entry["state"],
                    "confirmed": entry["confirmed"],
                    "sample_call": entry["call"],
                    "sample_level": entry["level"],
                    "sample_lod": entry["lod"],
                    "log10_reduction_from_diagnosis": entry["log10_reduction_from_diagnosis"],
                }
                for marker in entry["markers"] or [{}]:
                    row = {**shared, **{k: marker.get(k) for k in marker}}
                    row["marker"] = marker.get("label")
                    handle.write("\t".join(cell(row.get(c)) for c in MARKER_TABLE_COLUMNS) + "\n")
