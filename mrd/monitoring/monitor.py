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

import dataclasses
import datetime
import enum
import functools
import hashlib
import hmac
import json
import logging
import math
import os
import pickle
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mrd.assessment import finding_label
from mrd.call import CallResult, CallSettings, call_sample_or_error, normalised_key
from mrd.errors import InputFileError, OutputError
from mrd.genome import Build, bare_chrom
from mrd.markers.tracked import TrackedMarker, read_markers
from mrd.monitoring.config import MrdRules
from mrd.monitoring.parallel import Runner, SerialRunner, make_runner, one_line_error
from mrd.monitoring.samplesheet import SampleRow, SampleSheet, Timepoint, read_samplesheet
from mrd.monitoring.timeline import Measurement, TimelineEntry, follow_patient
from mrd.ngs.filters import ReadFilter
from mrd.output import file_stem
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
        name = finding_label(data)
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
    result, error = call_sample_or_error(
        row.bam, reference=row.reference, settings=settings, sample=row.sample
    )
    if error is not None:
        log.error("%s: %s", row.sample, error)
    return SampleOutcome(row, result=result, error=error)


def _call_task(task: tuple[SampleRow, CallSettings]) -> tuple[CallResult | None, str | None]:
    """One sample's call as a worker runs it: module level so that it pickles by name.

    Only the result and the error travel back; the caller pairs them with its own row object,
    since the risk rules find the diagnosis outcome by identity.
    """
    outcome = _call(*task)
    return outcome.result, outcome.error


@dataclass(frozen=True)
class SampleDone:
    """Progress: one more sample finished (called now, or taken from an earlier run).

    Attributes:
        outcome: The sample's call or error.
        done: Samples finished so far in this run, this one included.
        total: Samples in the sample sheet.
        resumed: True when the call was read back from ``samples/`` instead of computed.
    """

    outcome: SampleOutcome
    done: int
    total: int
    resumed: bool


@dataclass
class _Course:
    """One patient while the run is under way: what is known before and after the diagnosis."""

    report: PatientReport
    sheet_markers: list[TrackedMarker]
    diagnosis: SampleRow | None
    build: Build | None = None
    """The diagnosis sample's genome build, once called: the build the markers are in."""

    @classmethod
    def plan(cls, rows: Sequence[SampleRow]) -> _Course:
        ordered = sorted(rows, key=lambda r: (r.date, r.timepoint is not Timepoint.DIAGNOSIS))
        sheet_markers: list[TrackedMarker] = []
        for row in ordered:
            if row.markers is not None:
                read = read_markers(row.markers)
                _check_risk_genes(row.markers, read)
                sheet_markers.extend(m for m in read if m not in sheet_markers)
        diagnosis = next((r for r in ordered if r.timepoint is Timepoint.DIAGNOSIS), None)
        report = PatientReport(ordered[0].patient, list(ordered), markers=list(sheet_markers))
        if diagnosis is None:
            report.warnings.append(
                "no diagnosis sample: only the sample sheet's markers are tracked, and no risk "
                "or log reduction from diagnosis can be given"
            )
        return cls(report, sheet_markers, diagnosis)

    @property
    def follow_ups(self) -> list[SampleRow]:
        return [row for row in self.report.rows if row is not self.diagnosis]

    def take_diagnosis(self, outcome: SampleOutcome | None) -> None:
        """Fix the tracked markers: the sheet's, plus what the diagnosis found."""
        markers = list(self.sheet_markers)
        if outcome is not None and outcome.result is not None:
            # Compare normalised forms: a sheet may spell an insertion right-aligned in its
            # repeat, the call reports it left-normalised; it is one marker either way.
            build = self.build = outcome.result.genome.build
            known = {normalised_key(m, build) for m in markers}
            markers.extend(
                m
                for m in diagnosis_markers(outcome.result)
                if normalised_key(m, build) not in known
            )
        elif outcome is not None:
            self.report.warnings.append(f"the diagnosis sample failed: {outcome.error}")
        self.report.markers = markers
        if not markers:
            self.report.warnings.append("no marker to track: follow-up samples cannot be assessed")

    def check_build(self, outcome: SampleOutcome) -> SampleOutcome:
        """Fail a follow-up aligned to another build than its diagnosis sample.

        The diagnosis findings become markers at that build's coordinates; searched for in a
        BAM of the other build they find no reads, and the sample would quietly come out not
        evaluable (or a relapse be missed) instead of naming the real problem.
        """
        result = outcome.result
        if result is None or self.build is None or outcome.row is self.diagnosis:
            return outcome
        if result.genome.build is self.build:
            return outcome
        diagnosis = self.diagnosis.sample if self.diagnosis is not None else "the diagnosis"
        error = (
            f"{outcome.row.bam} is {result.genome.build.value} but the diagnosis sample "
            f"{diagnosis} is {self.build.value}; markers cannot be followed across genome "
            "builds: align both to one build"
        )
        log.error("%s: %s", outcome.row.sample, error)
        return SampleOutcome(outcome.row, error=error)

    def finish(self, rules: MrdRules) -> PatientReport:
        """States and risk, once every sample of the patient is in."""
        report = self.report
        report.outcomes.sort(key=lambda o: report.rows.index(o.row))
        report.timeline = follow_patient([_measurement(o) for o in report.outcomes], rules)
        report.risk, report.flags = _risk(report, self.diagnosis)
        return report


def _run(
    courses: Sequence[_Course],
    settings: MonitorSettings,
    runner: Runner[tuple[int, SampleRow], tuple[SampleRow, CallSettings], Any],
    *,
    store: SampleStore | None = None,
    on_done: Callable[[SampleDone], None] | None = None,
) -> None:
    """Call every sample of ``courses``, each patient's diagnosis before its follow-ups.

    A follow-up is submitted the moment its own diagnosis is back, not when all diagnoses are,
    so one slow diagnosis holds up only its own patient. Samples whose files in ``store`` are
    complete and current are read back instead of called.
    """
    total = sum(len(c.report.rows) for c in courses)
    ready: deque[tuple[int, SampleOutcome, bool]] = deque()
    fingerprints: dict[str, str] = {}
    done = 0

    def start(index: int, row: SampleRow, markers: Sequence[TrackedMarker]) -> None:
        call_settings = settings.call_settings(markers)
        if store is not None:
            fingerprint = store.fingerprint(row, call_settings)
            stored = store.load(row, fingerprint)
            if stored is not None:
                ready.append((index, SampleOutcome(row, result=stored), True))
                return
            if fingerprint is not None:
                fingerprints[row.sample] = fingerprint
        runner.submit((index, row), _call_task, (row, call_settings))

    def land(index: int, outcome: SampleOutcome, resumed: bool) -> None:
        nonlocal done
        course = courses[index]
        checked = course.check_build(outcome)
        if checked is not outcome:  # a failure now: files from an earlier run must go
            outcome, resumed = checked, False
        course.report.outcomes.append(outcome)
        if store is not None and not resumed:
            if outcome.result is not None:
                store.save(outcome, fingerprints.get(outcome.row.sample))
            else:
                store.forget(outcome.row)
        done += 1
        if on_done is not None:
            on_done(SampleDone(outcome, done, total, resumed))
        if outcome.row is course.diagnosis:
            course.take_diagnosis(outcome)
            for row in course.follow_ups:
                start(index, row, course.report.markers)

    def drain() -> None:
        while ready:
            land(*ready.popleft())

    for index, course in enumerate(courses):
        if course.diagnosis is not None:
            start(index, course.diagnosis, course.sheet_markers)
        else:
            course.take_diagnosis(None)
            for row in course.follow_ups:
                start(index, row, course.report.markers)
    drain()
    for (index, row), returned in runner.completed():
        if isinstance(returned, BaseException):
            error = one_line_error(returned)
            log.error("%s: %s", row.sample, error)
            land(index, SampleOutcome(row, error=error), False)
        else:
            result, message = returned
            land(index, SampleOutcome(row, result=result, error=message), False)
        drain()


def follow(
    rows: Sequence[SampleRow],
    settings: MonitorSettings,
    *,
    on_sample: Callable[[SampleOutcome], None] | None = None,
) -> PatientReport:
    """Call one patient's samples (diagnosis first), then give them states and risk."""
    course = _Course.plan(rows)
    notify = (lambda event: on_sample(event.outcome)) if on_sample is not None else None
    _run([course], settings, SerialRunner(), on_done=notify)
    return course.finish(settings.rules)


def _check_risk_genes(path: Path, markers: Sequence[TrackedMarker]) -> None:
    """Refuse a sheet marker whose gene the risk models cannot read, before any BAM is opened.

    The risk step takes the gene of every sheet marker (as :mod:`mrd.monitoring.risk_inputs`
    does, for markers not from an ``mrd call``) as a mutation at diagnosis. Found only there,
    a gene such as ``FLT3_ITD`` would stop the run after every sample was called, with files
    in OUT and no report.

    Raises:
        InputFileError: Naming the marker file and the marker.
    """
    from mrd.risk import Mutation, RiskInputError

    for marker in markers:
        if marker.gene and marker.source_marker is None:
            try:
                Mutation(marker.gene, marker.diagnosis_vaf)
            except RiskInputError as exc:
                raise InputFileError(
                    f"marker file {path}: marker {marker.label}: {exc} (the risk models read it)"
                ) from None


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
    on_done: Callable[[SampleDone], None] | None = None,
    workers: int = 1,
    dask_scheduler: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> MonitorResult:
    """Run every patient of a sample sheet: calls, states, risk.

    The sample sheet is validated completely before any BAM is opened, so a typo in row 40
    fails in a second, not after an hour of work. Samples run in this process, in ``workers``
    local processes, or on a Dask cluster; the result is the same either way. Without
    ``out_dir`` nothing is written. With it, each sample's files go to ``out_dir/samples/`` as
    soon as the sample is done, so a run that is killed keeps its finished samples, and
    ``resume`` reads them back instead of calling them again (run-level reports are still
    :func:`write_outputs`' job).

    Args:
        samplesheet: The sample sheet (see :mod:`mrd.monitoring.samplesheet`).
        settings: Rules, read filter and caller settings.
        on_sample: Called with each sample's outcome as it finishes.
        on_done: Called likewise with a progress event (count, total, resumed or not).
        workers: Local processes to call samples in; 1 calls them in this process.
        dask_scheduler: Address of a Dask scheduler to call samples on instead.
        out_dir: Folder whose ``samples/`` receives per-sample files as they finish.
        resume: Take samples whose files in ``out_dir`` are complete and current as done.

    Raises:
        InputFileError: For a malformed sample sheet or marker file (one line naming the row).
        MrdError: For bad ``workers``/``dask_scheduler`` options or an unreachable scheduler.
    """
    if resume and out_dir is None:
        raise ValueError("resume needs out_dir: it reads back the files of an earlier run")
    active = settings or MonitorSettings()
    sheet = read_samplesheet(samplesheet)
    courses = [_Course.plan(rows) for rows in sheet.patients().values()]

    def notify(event: SampleDone) -> None:
        if on_sample is not None:
            on_sample(event.outcome)
        if on_done is not None:
            on_done(event)

    # The runner first: a bad --workers/--dask-scheduler must fail before OUT is created.
    runner = make_runner(workers, dask_scheduler, preload=(__name__,))
    try:
        store = SampleStore(out_dir, resume=resume) if out_dir is not None else None
        _run(courses, active, runner, store=store, on_done=notify)
    finally:
        runner.close()
    return MonitorResult(sheet, active, [c.finish(active.rules) for c in courses])


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
                    "label": finding_label(data),
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


SAMPLE_DONE_SCHEMA = "mrd-sample-done"
"""Schema of ``samples/<sample>.done.json``, the marker that a sample's files are complete."""


def _canonical(value: Any) -> Any:
    """Settings as plain JSON with a stable order, so equal settings hash alike in any process.

    ``pickle`` or ``repr`` would not do: set order and reprs of floats in containers may differ
    between interpreters, and a fingerprint that changes for equal settings breaks resume.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "@": type(value).__qualname__,
            **{f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        pairs = [
            (json.dumps(_canonical(k), sort_keys=True), _canonical(v)) for k, v in value.items()
        ]
        return [list(pair) for pair in sorted(pairs, key=lambda pair: str(pair[0]))]
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, float):
        return repr(value)  # NaN and infinities too, which JSON itself cannot hold
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _canonical(value.tolist())
    return repr(value)


def _file_stamp(path: Path | None) -> list[Any] | None:
    if path is None:
        return None
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


RESUME_KEY_ENV = "MRD_RESUME_KEY_FILE"
"""Environment variable naming the resume key file instead of ``~/.config/mrd/resume.key``."""


def resume_key(*, create: bool = True) -> bytes | None:
    """The user's secret that signs saved results, so resume unpickles only the user's own.

    A done file's checksums show a file is whole, not who wrote it: anyone who can write into
    OUT could replace a result and its checksums, and unpickling runs code. The key lives in
    the user's configuration folder (mode 0600), out of OUT's reach. Without a usable key
    nothing is signed and nothing is resumed; samples are then simply called again.
    """
    configured = os.environ.get(RESUME_KEY_ENV)
    if configured:
        path = Path(configured)
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        path = Path(base) / "mrd" / "resume.key"
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            return resume_key(create=False)
        except OSError as exc:
            log.info("no resume key (%s): samples cannot be resumed later", exc.strerror)
            return None
        key = secrets.token_bytes(32)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
        return key
    except OSError as exc:
        log.info("cannot read resume key %s (%s): samples cannot be resumed", path, exc)
        return None
    return key if len(key) >= 32 else None


def _signature(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


class SampleStore:
    """Per-sample files in ``OUT/samples/``, written as each sample finishes, and read back.

    Per sample: ``<sample>.json`` (the ``mrd-call`` result), ``.tsv``, ``.vcf.gz``,
    ``.call.pickle`` (the result object, which the risk rules and the report need and which the
    JSON cannot rebuild) and, written last, ``.done.json``: the mrd version, a fingerprint of
    everything that decides the call (caller settings with the patient's markers, the BAM's
    path, size and modification time, the reference's) and a SHA-256 of each of the four files.
    Every file is renamed into place complete, so a killed run leaves whole files or none; a
    sample counts as done only when its done file matches all of that.

    The pickle is only ever loaded after its checksum matched the done file and its signature
    matched the user's own key (:func:`resume_key`), which is kept outside ``OUT``.
    """

    SUFFIXES: ClassVar[dict[str, str]] = {
        "json": ".json",
        "tsv": ".tsv",
        "vcf": ".vcf.gz",
        "state": ".call.pickle",
    }

    def __init__(self, out_dir: str | os.PathLike[str], *, resume: bool = False) -> None:
        self.folder = Path(out_dir) / "samples"
        self.resume = resume
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.folder}: {exc.strerror}") from None
        if resume:  # a killed run's staged files, never renamed into place: not results
            for stale in self.folder.glob(".*.part*"):
                stale.unlink(missing_ok=True)
            if resume_key(create=False) is None:
                log.warning(
                    "no resume key (%s, or %s): every sample is called again",
                    "~/.config/mrd/resume.key",
                    RESUME_KEY_ENV,
                )

    def paths(self, sample: str) -> dict[str, Path]:
        """The sample's files by kind (``json``, ``tsv``, ``vcf``, ``state``, ``done``)."""
        name = file_stem(sample)
        paths = {kind: self.folder / f"{name}{suffix}" for kind, suffix in self.SUFFIXES.items()}
        paths["done"] = self.folder / f"{name}.done.json"
        return paths

    def fingerprint(self, row: SampleRow, settings: CallSettings) -> str | None:
        """What decides the sample's call, hashed; None when the BAM cannot be read (no resume)."""
        try:
            payload = {
                "sample": row.sample,
                "bam": _file_stamp(Path(row.bam)),
                "reference": _file_stamp(Path(row.reference) if row.reference else None),
                "settings": _canonical(settings),
            }
        except OSError:
            return None
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def _check(self, sample: str, fingerprint: str | None) -> str | None:
        """Why the sample's files are not a complete, current result; None when they are."""
        from mrd import __version__
        from mrd.call import SCHEMA as CALL_SCHEMA

        if fingerprint is None:
            return "its input cannot be read"
        paths = self.paths(sample)
        try:
            done = json.loads(paths["done"].read_text(encoding="utf-8"))
            call = json.loads(paths["json"].read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "its files are missing or unreadable"
        if not isinstance(done, dict) or done.get("schema") != SAMPLE_DONE_SCHEMA:
            return "its done file is not an mrd-sample-done file"
        if not isinstance(call, dict) or call.get("schema") != CALL_SCHEMA:
            return "its JSON is not an mrd-call result"
        if done.get("mrd_version") != __version__ or call.get("mrd_version") != __version__:
            return f"it was made by another mrd version than {__version__}"
        if done.get("fingerprint") != fingerprint:
            return "its BAM, reference, markers or settings changed"
        digests = done.get("files")
        for kind in self.SUFFIXES:
            try:
                if not isinstance(digests, dict) or digests.get(kind) != _digest(paths[kind]):
                    return f"its {kind} file changed or is incomplete"
            except OSError:
                return f"its {kind} file is missing"
        return None

    def is_current(self, outcome: SampleOutcome) -> bool:
        """Whether the files of a called sample are already written for exactly this call."""
        if outcome.result is None:
            return False
        fingerprint = self.fingerprint(outcome.row, outcome.result.settings)
        return self._check(outcome.row.sample, fingerprint) is None

    def load(self, row: SampleRow, fingerprint: str | None) -> CallResult | None:
        """The earlier call of ``row`` when resuming and its files are complete and current."""
        if not self.resume:
            return None
        reason = self._check(row.sample, fingerprint)
        if reason is None:
            reason = self._unsigned(row.sample)
        if reason is None:
            try:
                result = pickle.loads(self.paths(row.sample)["state"].read_bytes())
            except Exception as exc:  # an unpicklable file is just not a result to reuse
                reason = f"its result cannot be read back ({one_line_error(exc)})"
            else:
                if isinstance(result, CallResult):
                    log.info("%s: resumed from %s", row.sample, self.folder)
                    return result
                reason = "its result file holds something else"
        log.info("%s: calling again: %s", row.sample, reason)
        return None

    @functools.cached_property
    def _key(self) -> bytes | None:
        """The user's resume key, read (or made) once per run rather than once per sample."""
        return resume_key()

    def _unsigned(self, sample: str) -> str | None:
        """Why the saved result is not known to be the user's own; None when it is."""
        key = self._key
        if key is None:
            return "there is no resume key to check its result with"
        paths = self.paths(sample)
        try:
            signed = json.loads(paths["done"].read_text(encoding="utf-8")).get("state_signature")
            state = paths["state"].read_bytes()
        except (OSError, ValueError, AttributeError):
            return "its files are missing or unreadable"
        if not isinstance(signed, str) or not hmac.compare_digest(signed, _signature(key, state)):
            return "its result was not saved by this user (signature does not match)"
        return None

    def save(self, outcome: SampleOutcome, fingerprint: str | None = None) -> dict[str, str]:
        """Write a called sample's files, the done file last; returns paths relative to OUT.

        ``fingerprint`` should be taken before the call, so a BAM replaced during the call is
        not recorded as the one called.
        """
        from mrd import __version__
        from mrd.output import atomic_path, write_json
        from mrd.report import write_findings_tsv, write_findings_vcf

        result = outcome.result
        if result is None:
            raise ValueError(f"sample {outcome.row.sample} has no call to write")
        paths = self.paths(outcome.row.sample)
        paths["done"].unlink(missing_ok=True)  # not done while its files are being replaced
        data = result.as_dict()
        write_json(paths["json"], data)
        write_findings_tsv(data, paths["tsv"])
        write_findings_vcf(data, paths["vcf"])
        state = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        with atomic_path(paths["state"]) as tmp:
            tmp.write_bytes(state)
        key = self._key
        if fingerprint is None:
            fingerprint = self.fingerprint(outcome.row, result.settings)
        if fingerprint is not None:
            write_json(
                paths["done"],
                {
                    "schema": SAMPLE_DONE_SCHEMA,
                    "sample": outcome.row.sample,
                    "mrd_version": __version__,
                    "fingerprint": fingerprint,
                    "files": {kind: _digest(paths[kind]) for kind in self.SUFFIXES},
                    "state_signature": _signature(key, state) if key is not None else None,
                },
            )
        return self.relative(outcome.row.sample)

    def relative(self, sample: str) -> dict[str, str]:
        """The sample's report files as ``monitor.json`` lists them (relative to OUT)."""
        paths = self.paths(sample)
        return {kind: f"samples/{paths[kind].name}" for kind in ("json", "tsv", "vcf")}

    def forget(self, row: SampleRow) -> None:
        """Remove a sample's files: it failed now, so earlier files would contradict the run."""
        paths = self.paths(row.sample)
        for kind in ("done", *self.SUFFIXES):
            paths[kind].unlink(missing_ok=True)
        paths["vcf"].with_name(paths["vcf"].name + ".tbi").unlink(missing_ok=True)


def write_outputs(result: MonitorResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the run's files into ``out_dir`` (created if missing), each atomically.

    Files: ``monitor.json``, ``report.html``, ``markers.tsv`` (one row per sample and marker),
    ``mrd_mqc.json`` (MultiQC general statistics) and per sample ``samples/<sample>.json``,
    ``.tsv`` and ``.vcf.gz`` (with the bookkeeping files of :class:`SampleStore`). Per-sample
    files that :func:`monitor` already wrote for the same call are kept, not rewritten. Nothing
    is written outside ``out_dir``.

    Returns:
        The paths written, by name.
    """
    from mrd.output import write_json
    from mrd.report.html import write_html_report
    from mrd.report.multiqc import write_multiqc

    out = Path(out_dir)
    store = SampleStore(out)
    written: dict[str, Path] = {}
    data = result.as_dict()
    outcomes = {o.row.sample: o for p in result.patients for o in p.outcomes}
    for entry in data["samples"]:
        outcome = outcomes[entry["sample"]]
        if outcome.result is None:
            continue
        if store.is_current(outcome):
            entry["files"] = store.relative(outcome.row.sample)
        else:
            entry["files"] = store.save(outcome)
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
