"""The ``mrd`` command line: parse options, call one library function, write results, exit.

Commands hold no domain logic. Problems with the user's input arrive as :class:`MrdError` and are
printed as one line (``mrd: error: ...``) with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from mrd import __version__
from mrd.errors import MrdError, user_error_behind
from mrd.memory import return_freed_memory

if TYPE_CHECKING:
    from mrd.call import CallSettings
    from mrd.genome import Build

log = logging.getLogger("mrd")


def _configure_logging(verbose: int, quiet: bool) -> None:
    """Send library log records to stderr at a level chosen by -v/--quiet."""
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    if verbose == 0 and not quiet:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    from mrd.ngs.alignment import show_htslib_messages

    show_htslib_messages(level <= logging.DEBUG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mrd")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--quiet", is_flag=True, help="Only errors on stderr.")
def cli(verbose: int, quiet: bool) -> None:
    """Molecular MRD monitoring in acute leukemia from NGS alignments (BAM/CRAM)."""
    _configure_logging(verbose, quiet)


_BUILD_CHOICE = click.Choice(["GRCh37", "GRCh38", "hg19", "hg38", "b37"], case_sensitive=False)

MAX_PLANNING_DEPTH = 10**9
"""Largest ``mrd lod --depth``: a billion reads at one site is beyond any sequencing run, and
counts past 64 bits would break the statistics rather than give a clear message."""

MAX_PLANNING_INPUT_NG = 1e6
"""Largest ``mrd lod --input-ng`` (1 mg of DNA), for the same reason as the depth limit."""

MIN_PLANNING_ERROR_RATE = 1e-12
"""Smallest non-zero ``mrd lod --error-rate``: at most 10^9 reads expect 0.001 errors from it,
which changes no LoD, while rates near the smallest float overflow scipy's binomial."""


def _planning_error_rate(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """Refuse a non-zero error rate too small to matter (and too small to compute with)."""
    if 0 < value < MIN_PLANNING_ERROR_RATE:
        raise click.BadParameter(
            f"{value:g} is below {MIN_PLANNING_ERROR_RATE:g}, too small to change any LoD; "
            "give 0 for an error-free background.",
            ctx,
            param,
        )
    return value


class _FiniteFloatRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and infinities.

    Click checks a range with ``<`` and ``>``, which are all False for NaN, so ``nan`` would
    pass any range: it then fails deep in the library with a traceback, or (as a read-filter
    threshold) silently filters nothing.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse and range-check as click does, then refuse what is not a finite number."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class _FilePath(click.Path):
    """A :class:`click.Path` that reports every problem with the path itself, not only absence.

    Without ``exists=True`` click ignores a failed ``stat``, so a name too long for the file
    system or a path through a regular file would surface later as a traceback from whichever
    ``open`` or ``is_dir`` met it first. A missing file is left to the command, which says what
    it expected there in its own words.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Convert as click does, then refuse a path the operating system cannot even look up."""
        try:
            path = super().convert(value, param, ctx)
        except UnicodeEncodeError:  # a surrogate no file name's bytes decode to: click stats it
            self.fail(f"{value!r} is not a file name the file system can encode.", param, ctx)
        try:
            os.stat(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.fail(f"{click.format_filename(path)!r}: {exc.strerror}.", param, ctx)
        except ValueError:  # a NUL byte: no shell passes one, but a script might
            self.fail(f"{click.format_filename(path)!r} contains a NUL byte.", param, ctx)
        return path


def _safe_sample_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Hold ``--sample`` to the sample sheet's naming rules.

    The name goes into the JSON, TSV and VCF, and from there into reports and file names of
    later steps; a name the sample sheet would refuse (a path separator, HTML markup, control
    characters) is refused here too rather than escaped differently in each of them.
    """
    from mrd.monitoring.samplesheet import name_problem

    problem = None if value is None else name_problem(value)
    if problem is not None:
        raise click.BadParameter(f"sample name {value!r} {problem}.", ctx, param)
    return value


def _check_outputs(inputs: dict[str, str | None], outputs: dict[str, str | None]) -> None:
    """Fail before any work when an output path is empty, repeated, or one of the inputs.

    An empty path (an unset shell variable) would otherwise be skipped silently; two options
    naming one file would leave only the last writer's content; and an output named like an
    input would overwrite the user's data.

    Raises:
        OutputError: Naming the option and the problem, or the path's own problem.
    """
    from mrd.errors import OutputError
    from mrd.output import check_replaceable, input_clash
    from mrd.simulate.output import check_writable

    given = {option: Path(path) for option, path in inputs.items() if path}
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        if not path.strip():
            raise OutputError(f"{option} needs a file name, not an empty path")
        target = Path(path)
        try:
            check_replaceable(target)
            check_writable(target)
            resolved = target.resolve()
        except OSError as exc:
            raise OutputError(f"{option} {path}: {exc.strerror}") from None
        if resolved in seen:
            raise OutputError(f"{option} and {seen[resolved]} name the same file: {path}")
        seen[resolved] = option
        clash = input_clash({option: target}, given)
        if clash is not None:
            raise OutputError(f"{option} {path} would overwrite the {clash[1]} input")


F = TypeVar("F", bound=Callable[..., Any])


def _read_filter_options(command: F) -> F:
    """The read-filter options every command that reads alignments takes, defined once."""
    options = (
        click.option("--min-mapq", default=20, show_default=True, type=click.IntRange(0, 255)),
        click.option(
            "--min-base-quality",
            default=20.0,
            show_default=True,
            type=_FiniteFloatRange(0, 93),
            help="Minimum mean base quality of a read.",
        ),
        click.option(
            "--keep-duplicates", is_flag=True, help="Count 0x400 records (amplicon or UMI data)."
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _parallel_options(command: F) -> F:
    """The --workers and --dask-scheduler options shared by the commands that take many samples."""
    for option in reversed(
        (
            click.option(
                "--workers",
                default=1,
                show_default=True,
                type=click.IntRange(1),
                help="Samples called at once, each in its own process (same results as 1); "
                "for one file given to mrd call, its gene windows (2 at most).",
            ),
            click.option(
                "--dask-scheduler",
                metavar="ADDRESS",
                help="Call samples on this Dask scheduler instead (needs mrd[dask]; shared "
                "file system).",
            ),
        )
    ):
        command = option(command)
    return command


@cli.command("inspect")
@click.argument("alignments", nargs=-1, required=True, type=_FilePath(dir_okay=False))
@click.option("--reference", type=_FilePath(dir_okay=False), help="Genome FASTA (CRAM needs it).")
@click.option("--build", type=_BUILD_CHOICE, help="Expected genome build; must match the header.")
@click.option("--index", "make_index", is_flag=True, help="Build a missing index beside the file.")
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="Target CHROM:START-END (repeatable); default the FLT3 and NPM1 catalog windows.",
)
@_read_filter_options
@click.option("--json", "json_out", type=_FilePath(dir_okay=False), help="Write a JSON summary.")
def inspect_command(
    alignments: tuple[str, ...],
    reference: str | None,
    build: str | None,
    make_index: bool,
    regions: tuple[str, ...],
    min_mapq: int,
    min_base_quality: float,
    keep_duplicates: bool,
    json_out: str | None,
) -> None:
    """Check BAM/CRAM files: build, naming, samples, and reads kept or dropped per target."""
    from mrd.ngs import ReadFilter, Region
    from mrd.ngs.summary import summarize_alignments
    from mrd.output import write_json

    _check_outputs({f"ALIGNMENT {a}": a for a in alignments}, {"--json": json_out})
    read_filter = ReadFilter(min_mapq, min_base_quality, drop_duplicates=not keep_duplicates)
    parsed = [Region.parse(text) for text in regions]
    summaries = [
        summarize_alignments(
            path,
            reference=reference,
            build=build,
            make_index=make_index,
            regions=parsed or None,
            read_filter=read_filter,
        )
        for path in alignments
    ]
    for summary in summaries:
        samples = ", ".join(summary.samples) or "no read group"
        click.echo(f"{summary.path}\t{summary.format}\t{summary.build} ({summary.chrom_style})")
        click.echo(f"  samples: {samples}")
        for target in summary.targets:
            counts = target.counts.as_dict()
            dropped = ", ".join(
                f"{k} {v:,}" for k, v in counts.items() if k not in ("fetched", "used") and v
            )
            click.echo(
                f"  {target.region.name or 'target'} {target.region}: {counts['fetched']:,} "
                f"records, {counts['used']:,} used; dropped: {dropped or 'none'}"
            )
    if json_out:
        write_json(json_out, {"alignments": [s.as_dict() for s in summaries]})


@cli.command("call")
@click.argument("alignments", nargs=-1, required=True, type=_FilePath(dir_okay=False))
@click.option(
    "--out-dir",
    type=_FilePath(file_okay=False),
    help="Many files: write <sample>.call.json, .findings.tsv and .vcf.gz per sample and "
    "calls.tsv here (an existing folder).",
)
@click.option("--json", "json_out", type=_FilePath(dir_okay=False), help="Write the result JSON.")
@click.option("--tsv", "tsv_out", type=_FilePath(dir_okay=False), help="Write findings as TSV.")
@click.option(
    "--vcf", "vcf_out", type=_FilePath(dir_okay=False), help="Write findings as VCF (.vcf.gz ok)."
)
@click.option(
    "--sample",
    callback=_safe_sample_name,
    help="Sample name [default: read-group SM, else the file name].",
)
@click.option("--reference", type=_FilePath(dir_okay=False), help="Genome FASTA (CRAM needs it).")
@click.option("--build", type=_BUILD_CHOICE, help="Expected genome build; must match the header.")
@click.option("--index", "make_index", is_flag=True, help="Build a missing index beside the file.")
@click.option(
    "--library",
    type=click.Choice(["auto", "capture", "amplicon"]),
    default="auto",
    show_default=True,
    help="How reads were made; auto judges it from read start positions.",
)
@_read_filter_options
@click.option(
    "--min-alt",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="Templates showing an insertion's junction needed to report it.",
)
@click.option(
    "--markers",
    "markers_file",
    type=_FilePath(dir_okay=False),
    help="Patient markers to track: VCF, TSV/CSV, or the --json of the diagnosis call.",
)
@click.option(
    "--required-sensitivity",
    default=1e-4,
    show_default=True,
    type=_FiniteFloatRange(0, 1, min_open=True),
    help="LoD (VAF) a NEGATIVE must reach; a sample that cannot is NOT_EVALUABLE.",
)
@click.option(
    "--background",
    "background_file",
    type=_FilePath(dir_okay=False),
    help="Error model from normals (mrd background build); default: from the sample itself.",
)
@click.option("--include-dta", is_flag=True, help="Pool DNMT3A/TET2/ASXL1 markers too.")
@click.option("--include-germline", is_flag=True, help="Pool likely germline markers too.")
@click.option(
    "--microclone-ratio",
    default=0.05,
    show_default=True,
    type=_FiniteFloatRange(0, 1, min_open=True),
    help="Allelic ratio below which an ITD is flagged a microclone.",
)
@_parallel_options
def call_command(
    alignments: tuple[str, ...],
    out_dir: str | None,
    json_out: str | None,
    tsv_out: str | None,
    vcf_out: str | None,
    sample: str | None,
    reference: str | None,
    build: str | None,
    make_index: bool,
    library: str,
    min_mapq: int,
    min_base_quality: float,
    keep_duplicates: bool,
    min_alt: int,
    markers_file: str | None,
    required_sensitivity: float,
    background_file: str | None,
    include_dta: bool,
    include_germline: bool,
    microclone_ratio: float,
    workers: int,
    dask_scheduler: str | None,
) -> int:
    """Find and quantify FLT3-ITD and NPM1 clones in BAM/CRAM files; print, write JSON/TSV/VCF.

    One file prints its findings and writes what --json/--tsv/--vcf ask for (--workers 2
    reads its FLT3 and NPM1 windows at once). Several files (or --out-dir) are called in
    parallel (--workers, --dask-scheduler) into --out-dir; a file that fails is listed and the
    exit code is 1.
    """
    from mrd.background import BackgroundModel
    from mrd.call import CallSettings, call_sample
    from mrd.genome import Build
    from mrd.markers.flt3_itd import ItdSettings
    from mrd.markers.npm1 import Npm1Settings
    from mrd.markers.tracked import read_markers
    from mrd.ngs import ReadFilter
    from mrd.output import write_json
    from mrd.report import write_findings_tsv, write_findings_vcf
    from mrd.stats.sensitivity import SensitivitySettings

    batch = out_dir is not None or len(alignments) > 1
    if batch:
        if out_dir is None:
            raise click.UsageError("several files need --out-dir for their results")
        given = [name for name, value in (("--json", json_out), ("--tsv", tsv_out),
                 ("--vcf", vcf_out), ("--sample", sample)) if value is not None]  # fmt: skip
        if given:
            raise click.UsageError(
                f"{', '.join(given)} name one sample's output; with --out-dir each sample's "
                "files are named after it"
            )
    elif dask_scheduler is not None:
        raise click.UsageError("--dask-scheduler is for several files")
    alignment = alignments[0]
    _check_outputs(  # fail before the work, not after it
        {
            **(
                {"ALIGNMENT": alignment}
                if len(alignments) == 1
                else {f"ALIGNMENT {a}": a for a in alignments}
            ),
            "--markers": markers_file,
            "--background": background_file,
            "--reference": reference,
        },
        {"--json": json_out, "--tsv": tsv_out, "--vcf": vcf_out},
    )
    settings = CallSettings(
        itd=ItdSettings(
            min_alt_templates=min_alt,
            microclone_ratio=microclone_ratio,
            library=library,  # type: ignore[arg-type]
        ),
        npm1=Npm1Settings(min_alt_templates=min_alt, library=library),  # type: ignore[arg-type]
        read_filter=ReadFilter(min_mapq, min_base_quality, drop_duplicates=not keep_duplicates),
        sensitivity=SensitivitySettings(required_sensitivity=required_sensitivity),
        markers=tuple(read_markers(markers_file)) if markers_file else (),
        include_dta=include_dta,
        include_germline=include_germline,
        background=BackgroundModel.load(background_file) if background_file else None,
    )
    if batch:
        assert out_dir is not None
        return _call_many(
            alignments,
            Path(out_dir),
            settings=settings,
            reference=reference,
            build=Build.parse(build) if build else None,
            make_index=make_index,
            workers=workers,
            dask_scheduler=dask_scheduler,
            inputs=[path for path in (markers_file, background_file) if path],
        )
    result = call_sample(
        alignment,
        reference=reference,
        build=build,
        settings=settings,
        sample=sample,
        make_index=make_index,
        workers=workers,
    )
    data = result.as_dict()
    click.echo(
        f"{data['sample']}\t{data['genome_build']}\t{data['library']} library\t"
        f"{len(data['findings'])} finding(s)"
    )
    for target in data["targets"]:
        if not target["analysed"]:
            click.echo(f"  {target['gene']}: no reads in {target['region']}; not analysed")
    for f in data["findings"]:
        name = f"type {f['npm1_type']}" if f.get("npm1_type") else f.get("domain") or ""
        ratio = f.get("allelic_ratio")
        ar = f"\tAR {ratio:.3g}" if ratio is not None else ""
        flags = " microclone" if f.get("microclone") else ""
        vaf = "-" if f.get("vaf") is None else f"{f['vaf']:.4g}"
        click.echo(
            f"  {f['marker']}\t{f['chrom']}:{f['position']}\t{f.get('length', '-')} bp\t"
            f"{f.get('hgvs_c') or f.get('name') or ''}\t"
            f"{name}\tVAF {vaf} [{f['vaf_ci_low']:.3g}-{f['vaf_ci_high']:.3g}]{ar}"
            f"\t{f['alt_count']}/{f['depth']} {f['depth_unit']}{flags}"
            f"\t{_mrd_text(f.get('mrd'))}"
        )
    pooled = data.get("mrd") or {}
    if pooled.get("call"):
        click.echo(f"  sample MRD: {_mrd_text(pooled)} over {', '.join(pooled['markers'])}")
    for left in pooled.get("left_out", []):
        click.echo(f"  not pooled: {left['marker']} ({left['reason']})")
    if json_out:
        write_json(json_out, data)
    if tsv_out:
        write_findings_tsv(data, tsv_out)
    if vcf_out:
        write_findings_vcf(data, vcf_out)
    return 0


def _call_many(
    alignments: tuple[str, ...],
    out_dir: Path,
    *,
    settings: CallSettings,
    reference: str | None,
    build: Build | None,
    make_index: bool,
    workers: int,
    dask_scheduler: str | None,
    inputs: list[str],
) -> int:
    """`mrd call` on several files: progress per sample, a line per failure, exit 1 if any."""
    from mrd.batch import CALLS_TABLE, BatchOutcome, call_batch
    from mrd.monitoring.parallel import ProgressLine

    line = ProgressLine()

    def progress(done: int, total: int, outcome: BatchOutcome) -> None:
        status = "failed" if outcome.error is not None else "done"
        line.show(done, total, outcome.sample, status, False)

    result = call_batch(
        alignments,
        out_dir,
        settings=settings,
        reference=reference,
        build=build,
        make_index=make_index,
        workers=workers,
        dask_scheduler=dask_scheduler,
        progress=progress,
        inputs=inputs,
    )
    ok = len(result.outcomes) - len(result.failed)
    click.echo(f"{ok} of {len(result.outcomes)} file(s) called; summary: {out_dir / CALLS_TABLE}")
    for outcome in result.failed:
        click.echo(f"mrd: {outcome.alignment} failed: {_one_line(str(outcome.error))}", err=True)
    return 1 if result.failed else 0


@cli.command("lod")
@click.argument("alignment", required=False, type=_FilePath(dir_okay=False))
@click.option(
    "--depth",
    type=click.IntRange(1, MAX_PLANNING_DEPTH),
    help="Planning: reads (or pairs) at the site.",
)
@click.option(
    "--input-ng",
    type=_FiniteFloatRange(0, MAX_PLANNING_INPUT_NG, min_open=True),
    help="Planning: DNA input in ng.",
)
@click.option(
    "--family-size",
    default=1.0,
    show_default=True,
    type=_FiniteFloatRange(1),
    help="Planning: mean reads per UMI family.",
)
@click.option("--duplex", is_flag=True, help="Planning: molecules need both strands.")
@click.option(
    "--error-rate",
    default=0.0,
    show_default=True,
    type=_FiniteFloatRange(0, 0.5),
    callback=_planning_error_rate,
    help="Planning: background error rate per molecule at the site.",
)
@click.option("--markers", "markers_file", type=_FilePath(dir_okay=False), help="BAM: markers.")
@click.option(
    "--background", "background_file", type=_FilePath(dir_okay=False), help="BAM: error model."
)
@click.option("--keep-duplicates", is_flag=True, help="BAM: count 0x400 records.")
@click.option("--reference", type=_FilePath(dir_okay=False), help="BAM: FASTA for CRAM.")
@click.option("--json", "json_out", type=_FilePath(dir_okay=False), help="Write the figures.")
def lod_command(
    alignment: str | None,
    depth: int | None,
    input_ng: float | None,
    family_size: float,
    duplex: bool,
    error_rate: float,
    markers_file: str | None,
    background_file: str | None,
    keep_duplicates: bool,
    reference: str | None,
    json_out: str | None,
) -> int:
    """The LoD a run can reach (plan: --depth/--input-ng), or that a BAM did reach per marker."""
    from mrd.output import write_json
    from mrd.stats.sensitivity import DEFAULT_SETTINGS, Background, planning_lod

    _check_outputs(
        {
            "ALIGNMENT": alignment,
            "--markers": markers_file,
            "--background": background_file,
            "--reference": reference,
        },
        {"--json": json_out},
    )
    if alignment is None:
        if depth is None and input_ng is None:
            raise click.UsageError("give a BAM, or --depth and/or --input-ng to plan a run")
        try:
            plan = planning_lod(
                depth=depth,
                input_ng=input_ng,
                family_size=family_size,
                background=Background(error_rate, source="given error rate"),
                duplex=duplex,
                min_alt=DEFAULT_SETTINGS.min_alt,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        for key, value in plan.items():
            click.echo(f"{key}\t{value:.4g}")
        if plan["lod"] < 1:
            click.echo(
                f"LoD95 {plan['lod']:.3g}: a negative would mean below 1 in "
                f"{plan['lod_one_in']:,.0f}"
            )
        else:  # "below 1 in 0" would read as a sensitivity; there is none
            click.echo(
                f"LoD95 {plan['lod']:.3g}: above a VAF of 1, so even a clonal mutation could be "
                "missed; no negative result is possible with this depth and input"
            )
        if json_out:
            write_json(json_out, {"plan": plan})
        return 0
    from mrd.background import BackgroundModel
    from mrd.call import CallSettings, call_sample
    from mrd.markers.tracked import read_markers
    from mrd.ngs import ReadFilter

    settings = CallSettings(
        read_filter=ReadFilter(drop_duplicates=not keep_duplicates),
        markers=tuple(read_markers(markers_file)) if markers_file else (),
        background=BackgroundModel.load(background_file) if background_file else None,
    )
    data = call_sample(alignment, reference=reference, settings=settings).as_dict()
    rows = []
    for f in data["findings"]:
        mrd = f["mrd"]
        label = f.get("name") or f"{f['marker']} {f.get('hgvs_c') or ''}".strip()
        one_in = mrd.get("lod_one_in")
        click.echo(
            f"{label}\t{mrd['depth']} {mrd['unit']}\tLoB {mrd['lob']}\tLoD95 "
            f"{format(mrd['lod'], '.3g') if mrd['lod'] is not None else '-'}\t"
            f"{f'1 in {one_in:,.0f}' if one_in else '-'}\t{mrd['call']}"
        )
        rows.append({"marker": label, **mrd})
    if json_out:
        write_json(json_out, {"sample": data["sample"], "markers": rows, "pooled": data["mrd"]})
    return 0


@cli.command("monitor")
@click.argument("samplesheet", type=_FilePath(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=_FilePath(file_okay=False),
    help="Folder for the reports (created; no result is written outside it).",
)
@click.option(
    "--rules", "rules_file", type=_FilePath(dir_okay=False), help="MRD rules (TOML/JSON)."
)
@click.option(
    "--required-sensitivity",
    type=_FiniteFloatRange(0, 1, min_open=True),
    help="Override the rules' required sensitivity (LoD a NEGATIVE must reach).",
)
@click.option(
    "--background", "background_file", type=_FilePath(dir_okay=False), help="Error model."
)
@_read_filter_options
@_parallel_options
@click.option(
    "--resume",
    is_flag=True,
    help="Keep samples whose files in OUT/samples are complete and made with the same "
    "inputs and settings; call only the rest.",
)
def monitor_command(
    samplesheet: str,
    out_dir: str,
    rules_file: str | None,
    required_sensitivity: float | None,
    background_file: str | None,
    keep_duplicates: bool,
    min_mapq: int,
    min_base_quality: float,
    workers: int,
    dask_scheduler: str | None,
    resume: bool,
) -> int:
    """Follow every patient of a sample sheet: markers, MRD states, risk, and the reports."""
    import dataclasses

    from mrd.background import BackgroundModel
    from mrd.call import CallSettings
    from mrd.errors import OutputError
    from mrd.monitoring import MrdRules, load_rules
    from mrd.monitoring.monitor import MonitorSettings, SampleDone, monitor, write_outputs
    from mrd.monitoring.parallel import ProgressLine
    from mrd.ngs import ReadFilter

    if not out_dir.strip():  # an unset shell variable: "" would mean the working directory
        raise OutputError("--out needs a folder name, not an empty path")
    parent = Path(out_dir).resolve().parent
    if not parent.is_dir():
        raise OutputError(f"cannot create {out_dir}: {parent} does not exist")
    rules = load_rules(rules_file) if rules_file else MrdRules()
    if required_sensitivity is not None:
        rules = dataclasses.replace(rules, required_sensitivity=required_sensitivity)
    settings = MonitorSettings(
        rules=rules,
        read_filter=ReadFilter(min_mapq, min_base_quality, drop_duplicates=not keep_duplicates),
        call=CallSettings(
            background=BackgroundModel.load(background_file) if background_file else None
        ),
    )

    line = ProgressLine()

    def progress(event: SampleDone) -> None:
        outcome = event.outcome
        if outcome.error is not None:
            status = f"FAILED ({outcome.error})"
        else:
            pooled = outcome.result.pooled if outcome.result is not None else None
            status = (pooled.as_dict().get("call") if pooled is not None else None) or "no marker"
        line.show(event.done, event.total, outcome.row.sample, status, event.resumed)

    result = monitor(
        samplesheet,
        settings,
        on_done=progress,
        workers=workers,
        dask_scheduler=dask_scheduler,
        out_dir=out_dir,
        resume=resume,
    )
    written = write_outputs(result, out_dir)
    for patient in result.as_dict()["patients"]:
        click.echo(f"{patient['patient']} ({patient['disease']})")
        for entry in patient["timeline"]:
            confirmed = {True: " (confirmed)", False: " (unconfirmed)"}.get(entry["confirmed"], "")
            level = "-" if entry["level"] is None else f"{entry['level']:.3g}"
            reach = f"1 in {entry['lod_one_in']:,.0f}" if entry["lod_one_in"] else "-"
            click.echo(
                f"  {entry['date']}\t{entry['timepoint']}\t{entry['state']}{confirmed}\t"
                f"level {level}\tLoD {reach}"
            )
        for risk in patient["risk"]:
            missing = f" (missing: {', '.join(risk['missing'])})" if risk.get("missing") else ""
            click.echo(f"  risk {risk['model']}: {risk['category'] or 'not determined'}{missing}")
    click.echo(f"reports: {written['html']}, {written['json']}, {written['markers']}")
    failed = result.failed
    for outcome in failed:
        click.echo(
            f"mrd: sample {outcome.row.sample} failed: {_one_line(str(outcome.error))}", err=True
        )
    return 1 if failed else 0


def _mrd_text(mrd: dict[str, Any] | None) -> str:
    """One line of an MRD assessment: the call and the sensitivity behind it."""
    if not mrd or not mrd.get("call"):
        return ""
    one_in = mrd.get("lod_one_in")
    reach = f"LoD 1 in {one_in:,.0f}" if one_in else "no sensitivity (no depth)"
    return f"{mrd['call']} ({reach}, p={mrd['p_value']:.2g})"


@cli.group("background")
def background_group() -> None:
    """Panel-of-normals background model: per-site, per-allele error rates for MRD calls."""


@background_group.command("build")
@click.argument("normals", nargs=-1, required=True, type=_FilePath(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=_FilePath(dir_okay=False, path_type=Path),
    help="Model JSON to write.",
)
@click.option(
    "--markers",
    "markers_file",
    type=_FilePath(dir_okay=False),
    help="Patient markers whose sites to fit too: VCF, TSV/CSV, or an mrd call JSON.",
)
@click.option("--reference", type=_FilePath(dir_okay=False), help="Genome FASTA (CRAM needs it).")
@click.option("--build", type=_BUILD_CHOICE, help="Genome build every normal must be.")
@_read_filter_options
def background_build_command(
    normals: tuple[str, ...],
    output: Path,
    markers_file: str | None,
    reference: str | None,
    build: str | None,
    min_mapq: int,
    min_base_quality: float,
    keep_duplicates: bool,
) -> int:
    """Fit a background model from normal BAM/CRAM files.

    Use the read-filter options the samples will be called with; the model records them.
    """
    from mrd.background import GENES, build_background
    from mrd.markers.tracked import read_markers
    from mrd.ngs import ReadFilter
    from mrd.simulate.output import check_writable

    check_writable(output)  # fail before the work, not after it
    model = build_background(
        normals,
        markers=read_markers(markers_file) if markers_file else (),
        read_filter=ReadFilter(min_mapq, min_base_quality, drop_duplicates=not keep_duplicates),
        reference=reference,
        build=build,
    )
    model.save(output)
    click.echo(
        f"wrote {output}: {len(model.samples)} normals, {model.build}, counts in {model.unit}"
    )
    for gene in GENES:
        rate = model.insertion.get(gene)
        if rate is None:
            click.echo(f"  {gene}: no reads in any normal; not in the model")
        else:
            click.echo(
                f"  {gene}: false insertion junctions {rate.mu:.3g} per template and site "
                f"(rho {rate.rho:.3g}, {rate.label})"
            )
    click.echo(f"  alleles: {len(model.alleles)}; sites: {len(model.sites)}")
    return 0


_SPEC_OPTIONS = (
    "build", "naming", "sample", "genes", "mode", "amplicon", "depth", "depth_of",
    "read_length", "insert_size", "insert_sd", "fraction_kind", "itd", "npm1", "snv", "indel",
    "umi", "duplex", "umi_length", "family_size", "umi_in_name", "mark_duplicates", "aligner",
    "no_errors", "binned_qualities",
)  # fmt: skip


@cli.command("simulate")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=_FilePath(dir_okay=False, path_type=Path),
    help="Output BAM (sorted, indexed).",
)
@click.option(
    "--truth",
    type=_FilePath(dir_okay=False, path_type=Path),
    help="Truth JSON path [default: <bam stem>.truth.json].",
)
@click.option(
    "--spec",
    "spec_file",
    type=_FilePath(dir_okay=False, path_type=Path),
    help="JSON spec (or a truth JSON) for full control; excludes the options below.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Random seed: the same seed gives the same reads.",
)
@click.option(
    "--build",
    default="GRCh38",
    show_default=True,
    help="GRCh38/hg38, GRCh37/b37 (13) or hg19 (chr13).",
)
@click.option(
    "--naming",
    type=click.Choice(["auto", "chr", "plain"]),
    default="auto",
    show_default=True,
    help="Chromosome names chr13 or 13 (auto: the build's usual).",
)
@click.option("--sample", default="SIM", show_default=True, help="Sample name (SM).")
@click.option("--genes", default="FLT3,NPM1", show_default=True, help="Gene windows to sequence.")
@click.option(
    "--mode",
    type=click.Choice(["capture", "amplicon"]),
    default="capture",
    show_default=True,
    help="Random capture fragments or one amplicon per gene.",
)
@click.option(
    "--amplicon",
    multiple=True,
    metavar="GENE:FIRST-LAST",
    help="Custom amplicon span (repeatable).",
)
@click.option(
    "--depth",
    type=float,
    default=1000.0,
    show_default=True,
    help="Mean target depth (amplicon mode: read pairs per amplicon).",
)
@click.option(
    "--depth-of",
    type=click.Choice(["reads", "molecules"]),
    default="reads",
    show_default=True,
    help="Whether --depth counts reads or unique molecules.",
)
@click.option("--read-length", type=int, default=150, show_default=True)
@click.option(
    "--insert-size",
    type=float,
    default=250.0,
    show_default=True,
    help="Mean fragment length (capture).",
)
@click.option("--insert-sd", type=float, default=50.0, show_default=True)
@click.option(
    "--fraction-kind",
    type=click.Choice(["allele", "cell"]),
    default="allele",
    show_default=True,
    help="Fractions are VAFs or heterozygous cell fractions.",
)
@click.option(
    "--itd",
    multiple=True,
    metavar="LENGTH[@END]:FRACTION[:NT]",
    help="FLT3-ITD; END = 1-based position of the last duplicated base (repeatable).",
)
@click.option(
    "--npm1",
    multiple=True,
    metavar="TYPE:FRACTION",
    help="NPM1 type (A:0.4) or c.863_864insCATG:0.1 (repeatable).",
)
@click.option("--snv", multiple=True, metavar="POS:REF>ALT:FRACTION", help="SNV (repeatable).")
@click.option(
    "--indel",
    multiple=True,
    metavar="POS:REF>ALT:FRACTION",
    help="Indel as VCF alleles (repeatable).",
)
@click.option("--umi", is_flag=True, help="Add UMIs (RX tag) and PCR-duplicate families.")
@click.option("--duplex", is_flag=True, help="Duplex UMIs, both strands sequenced (implies --umi).")
@click.option("--umi-length", type=int, default=8, show_default=True)
@click.option(
    "--family-size",
    type=float,
    default=3.0,
    show_default=True,
    help="Mean read pairs per UMI family (per strand).",
)
@click.option("--umi-in-name", is_flag=True, help="UMI as last read-name field, not RX.")
@click.option("--mark-duplicates", is_flag=True, help="Run samtools fixmate + markdup.")
@click.option("--aligner", type=click.Choice(["mappy", "bwa"]), default="mappy", show_default=True)
@click.option("--no-errors", is_flag=True, help="Error-free reads (quality 40).")
@click.option("--binned-qualities", is_flag=True, help="NovaSeq-style 4-level qualities.")
@click.pass_context
def simulate(
    ctx: click.Context,
    /,
    output: Path,
    truth: Path | None,
    spec_file: Path | None,
    seed: int,
    **options: Any,
) -> int:
    """Simulate a realistic FLT3/NPM1 BAM with known variants (and a truth JSON).

    Positions are 1-based on the chosen build. Example (GRCh38):

    mrd simulate -o dx.bam --itd 42@28034169:0.25 --npm1 A:0.4
    """
    from mrd import simulate as sim

    if spec_file is not None:
        given = [
            f"--{name.replace('_', '-')}"
            for name in _SPEC_OPTIONS
            if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
        ]
        if given:
            raise sim.SpecError(f"--spec cannot be combined with {', '.join(given)}")
        spec = sim.load_spec(spec_file)
    else:
        build, chr_prefix = sim.parse_build(options["build"], options["naming"])
        variants = (
            [sim.parse_itd(t) for t in options["itd"]]
            + [sim.parse_npm1(t) for t in options["npm1"]]
            + [sim.parse_snv(t) for t in options["snv"]]
            + [sim.parse_indel(t) for t in options["indel"]]
        )
        umi = None
        if options["umi"] or options["duplex"] or options["umi_in_name"]:
            umi = sim.UmiSpec(
                length=options["umi_length"],
                duplex=options["duplex"],
                family_size_mean=options["family_size"],
                in_name=options["umi_in_name"],
            )
        spec = sim.SimulationSpec.of(
            *variants,
            genes=tuple(g.strip() for g in options["genes"].split(",") if g.strip()),
            build=build,
            chr_prefix=chr_prefix,
            sample=options["sample"],
            mode=options["mode"],
            amplicons=dict(sim.parse_amplicon(a) for a in options["amplicon"]),
            depth=options["depth"],
            depth_of=options["depth_of"],
            read_length=options["read_length"],
            insert_mean=options["insert_size"],
            insert_sd=options["insert_sd"],
            fraction_kind=options["fraction_kind"],
            umi=umi,
            errors=sim.ErrorModel(
                enabled=not options["no_errors"], binned=options["binned_qualities"]
            ),
            aligner=options["aligner"],
            mark_duplicates=options["mark_duplicates"],
        )
    result = sim.simulate(spec, output, seed=seed, truth_path=truth)
    pairs = sum(gene["read_pairs"] for gene in result.truth["genes"].values())
    click.echo(
        f"wrote {result.bam} ({pairs:,} read pairs), index {result.index}, "
        f"truth {result.truth_path}"
    )
    return 0


def _one_line(message: str) -> str:
    """A message as one printable line, whatever it quotes.

    Messages quote file names and cells, which may hold a newline, a terminal escape or bytes
    that are not UTF-8; escaped, they can neither split the error line nor fail to print.
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)


def _show_click_error(exc: click.ClickException) -> None:
    """A bad option or argument as the same one ``mrd: error:`` line as any other bad input.

    click's own form puts usage lines above its ``Error:`` line; pipelines that keep the last
    stderr line, and people scanning a log, then see only part of it. The help pointer stays
    on the line. A bare ``mrd`` (click >= 8.2 raises an error that is the help) shows the help.
    """
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()
        return
    message = _one_line(exc.format_message())
    context = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and context is not None:
        message = f"{message.rstrip('.')}; see '{context.command_path} --help'"
    click.echo(f"mrd: error: {message}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the click group and turn user-input errors into one line and exit 2."""
    # A file name that is not UTF-8 reaches Python as surrogates; on a strict stdout (the
    # default under most UTF-8 locales) echoing it would crash after all the work was done.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    return_freed_memory()  # a deep window's freed arrays must not stay resident for the next
    try:
        result = cli.main(args=argv, prog_name="mrd", standalone_mode=False)
        # Commands return an exit code or None; never hand another object to sys.exit.
        return result if isinstance(result, int) else 0
    except MrdError as exc:
        click.echo(f"mrd: error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("mrd: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        _show_click_error(exc)
        sys.exit(exc.exit_code)
    except OSError as exc:
        cause = user_error_behind(exc)  # e.g. closing a file that a read error broke
        if cause is None:
            raise
        click.echo(f"mrd: error: {_one_line(str(cause))}", err=True)
        sys.exit(cause.exit_code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
