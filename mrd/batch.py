"""Many alignment files through one ``mrd call``: in parallel, each sample's files written whole.

``mrd monitor`` is the tool for patients followed over time; this is for a run's worth of BAMs
that only need calling (a sequencing run, a validation set). Samples are independent, so they go
to the same runners as a monitoring run (local processes or a Dask cluster), and a sample that
fails is listed with its one-line error while the others complete.

Sample names decide the file names, so they are settled before any work: from ``--sample``-like
overrides, else the read groups' SM, else the file name, exactly as :func:`mrd.call.call_sample`
names a single sample. Two files with the same sample name are refused up front rather than
written over each other.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrd.call import CallResult, CallSettings, call_sample_or_error, sample_name
from mrd.errors import InputFileError, MrdError, OutputError, user_error_behind
from mrd.genome import Build
from mrd.monitoring.parallel import make_runner, one_line_error
from mrd.ngs import open_alignments
from mrd.output import file_stem, input_clash

log = logging.getLogger(__name__)

CALLS_TABLE = "calls.tsv"
"""The batch's summary table, one line per input file, written last."""

OUTPUT_SUFFIXES = {"json": ".call.json", "tsv": ".findings.tsv", "vcf": ".vcf.gz"}
"""Files written per sample, named ``<sample><suffix>``."""


@dataclass(frozen=True)
class BatchTask:
    """One file to call, with everything a worker needs (it opens the file itself)."""

    alignment: str
    sample: str
    reference: str | None
    build: Build | None
    settings: CallSettings
    make_index: bool


@dataclass
class BatchOutcome:
    """One input file's call or error, and the files written for it (relative to the folder)."""

    alignment: str
    sample: str
    result: CallResult | None = None
    error: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the file was called and its files written."""
        return self.error is None


@dataclass(frozen=True)
class BatchResult:
    """All outcomes, in input order."""

    outcomes: tuple[BatchOutcome, ...]

    @property
    def failed(self) -> list[BatchOutcome]:
        """Outcomes with an error."""
        return [o for o in self.outcomes if not o.ok]


def _name_of(alignment: str, reference: str | None, make_index: bool) -> str:
    """The sample name :func:`call_sample` would give this file (read groups, else file name)."""
    with open_alignments(alignment, reference=reference, make_index=make_index) as source:
        return sample_name(source.samples, Path(alignment))


def plan_batch(
    alignments: Sequence[str],
    *,
    reference: str | None = None,
    samples: Sequence[str] | None = None,
    make_index: bool = False,
) -> tuple[list[tuple[str, str]], list[BatchOutcome]]:
    """Sample names for every file, and the files that cannot even be opened.

    Returns:
        ``(alignment, sample)`` pairs to call, and the outcomes of files refused already.

    Raises:
        MrdError: When two files would write the same sample's files, or ``samples`` does not
            name every file.
    """
    if samples is not None and len(samples) != len(alignments):
        raise MrdError(f"{len(samples)} sample names given for {len(alignments)} files")
    if len(set(alignments)) != len(alignments):
        raise MrdError("the same file is given more than once")
    planned: list[tuple[str, str]] = []
    refused: list[BatchOutcome] = []
    for index, alignment in enumerate(alignments):
        if samples is not None:
            planned.append((alignment, samples[index]))
            continue
        try:
            planned.append((alignment, _name_of(alignment, reference, make_index)))
        except (MrdError, OSError) as exc:
            cause = user_error_behind(exc) or InputFileError(f"{alignment}: {exc}")
            refused.append(BatchOutcome(alignment, Path(alignment).name, error=str(cause)))
    by_stem: dict[str, str] = {}
    for alignment, sample in planned:
        stem = file_stem(sample).lower()  # case-insensitive file systems exist
        if stem in by_stem:
            raise MrdError(
                f"{by_stem[stem]} and {alignment} are both sample {sample!r} (or a name that "
                "gives the same file name); rename a read group or call them separately"
            )
        by_stem[stem] = alignment
    return planned, refused


def _call_task(task: BatchTask) -> tuple[CallResult | None, str | None]:
    """One file's call as a worker runs it (module level, so it pickles by name)."""
    return call_sample_or_error(
        task.alignment,
        reference=task.reference,
        build=task.build,
        settings=task.settings,
        sample=task.sample,
        make_index=task.make_index,
    )


def output_paths(sample: str, out_dir: Path) -> dict[str, Path]:
    """Where a sample's files go (``vcf_index`` is the tabix index beside the VCF)."""
    stem = file_stem(sample)
    paths = {kind: out_dir / f"{stem}{suffix}" for kind, suffix in OUTPUT_SUFFIXES.items()}
    paths["vcf_index"] = out_dir / f"{stem}{OUTPUT_SUFFIXES['vcf']}.tbi"
    return paths


def write_sample(result: CallResult, out_dir: Path) -> dict[str, str]:
    """Write one sample's JSON, findings TSV and VCF; all of them, or none.

    Each file is renamed into place whole; if a later one fails (a full disk), the earlier
    ones are removed again, so a sample never has some of its files from this run.

    Raises:
        MrdError: For a file that cannot be written, naming it.
    """
    from mrd.output import write_json
    from mrd.report import write_findings_tsv, write_findings_vcf

    paths = output_paths(result.sample, out_dir)
    data = result.as_dict()
    try:
        write_json(paths["json"], data)
        write_findings_tsv(data, paths["tsv"])
        write_findings_vcf(data, paths["vcf"])
    except (MrdError, OSError) as exc:
        for path in paths.values():
            if path.is_file():  # what this call wrote (never a folder in the way)
                path.unlink()
        if isinstance(exc, MrdError):
            raise
        raise OutputError(f"cannot write {result.sample}'s files in {out_dir}: {exc}") from None
    return {kind: paths[kind].name for kind in OUTPUT_SUFFIXES}


def _check_inputs_safe(
    planned: Sequence[tuple[str, str]], out_dir: Path, inputs: Sequence[str]
) -> None:
    """Refuse a run whose outputs would replace one of its inputs (a marker file, say)."""
    sources = {path: Path(path) for path in inputs if path}
    for _, sample in planned:
        outputs = {str(path): path for path in output_paths(sample, out_dir).values()}
        clash = input_clash(outputs, sources)
        if clash is not None:
            raise OutputError(
                f"sample {sample!r} would write {clash[0]}, which is the input {clash[1]}; "
                "give another --out-dir"
            )


def call_batch(
    alignments: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    settings: CallSettings | None = None,
    reference: str | None = None,
    build: Build | None = None,
    make_index: bool = False,
    samples: Sequence[str] | None = None,
    workers: int = 1,
    dask_scheduler: str | None = None,
    progress: Callable[[int, int, BatchOutcome], None] | None = None,
    inputs: Sequence[str] = (),
) -> BatchResult:
    """Call every file, writing each sample's files as it finishes and ``calls.tsv`` last.

    Args:
        alignments: BAM/CRAM files, one sample each.
        out_dir: Existing folder for the outputs.
        settings: Caller settings shared by all files.
        reference: FASTA for CRAM input.
        build: Expected genome build of every file.
        make_index: Build missing indexes.
        samples: Sample names, one per file (default: from each file).
        workers: Local worker processes.
        dask_scheduler: Address of a Dask scheduler to run on instead.
        progress: Called with (done, total, outcome) as each file finishes.
        inputs: Other input files of the run (markers, background, reference), which no
            output may replace; the alignments are always protected.

    Returns:
        The outcomes in input order.

    Raises:
        MrdError: Before any work, for clashing sample names, a missing output folder or bad
            runner options.
    """
    folder = Path(out_dir)
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist (or is not a folder): {folder}")
    active = settings or CallSettings()
    planned, refused = plan_batch(
        alignments, reference=reference, samples=samples, make_index=make_index
    )
    _check_inputs_safe(planned, folder, [*alignments, *inputs, *([reference] if reference else [])])
    outcomes: dict[str, BatchOutcome] = {o.alignment: o for o in refused}
    total = len(alignments)
    done = 0
    for outcome in refused:
        done += 1
        if progress is not None:
            progress(done, total, outcome)
    by_alignment = dict(planned)
    runner = make_runner(workers, dask_scheduler, preload=("mrd.call",))
    try:
        for alignment, sample in planned:
            task = BatchTask(alignment, sample, reference, build, active, make_index)
            runner.submit(alignment, _call_task, task)
        for alignment, answer in runner.completed():
            outcome = BatchOutcome(alignment, by_alignment[alignment])
            if isinstance(answer, BaseException):
                outcome.error = one_line_error(answer)
            else:
                outcome.result, outcome.error = answer
            if outcome.result is not None:
                try:
                    outcome.files = write_sample(outcome.result, folder)
                except MrdError as exc:
                    outcome.result, outcome.error = None, str(exc)
            outcomes[alignment] = outcome
            done += 1
            if progress is not None:
                progress(done, total, outcome)
    finally:
        runner.close()
        # Also when the run stops early (Ctrl-C, a bug): say which files were not called.
        result = BatchResult(
            tuple(
                outcomes.get(a) or BatchOutcome(a, by_alignment.get(a, a), error="not run")
                for a in alignments
            )
        )
        write_calls_table(result, folder / CALLS_TABLE)
    return result


def _pooled_call(result: CallResult | None) -> str:
    if result is None or result.pooled is None or result.pooled.assessment is None:
        return ""
    return str(result.pooled.assessment.call.value)


def calls_table(result: BatchResult) -> str:
    """The summary table: one line per input file, its status, findings and files."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(["sample", "alignment", "status", "findings", "sample_mrd", "json", "error"])
    for o in result.outcomes:
        row: list[Any] = [
            o.sample,
            o.alignment,
            "ok" if o.ok else "failed",
            len(o.result.findings) if o.result is not None else "",
            _pooled_call(o.result),
            o.files.get("json", ""),
            o.error or "",
        ]
        writer.writerow(row)
    return buffer.getvalue()


def write_calls_table(result: BatchResult, path: Path) -> None:
    """Write :func:`calls_table` atomically."""
    from mrd.output import write_text

    write_text(path, calls_table(result))
