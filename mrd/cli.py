"""The ``mrd`` command line: parse options, call one library function, write results, exit.

Commands hold no domain logic. Problems with the user's input arrive as :class:`MrdError` and are
printed as one line (``mrd: error: ...``) with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from mrd import __version__
from mrd.errors import MrdError

log = logging.getLogger("mrd")


def _configure_logging(verbose: int, quiet: bool) -> None:
    """Send library log records to stderr at a level chosen by -v/--quiet."""
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    if verbose == 0 and not quiet:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mrd")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--quiet", is_flag=True, help="Only errors on stderr.")
def cli(verbose: int, quiet: bool) -> None:
    """Molecular MRD monitoring in acute leukemia from NGS alignments (BAM/CRAM)."""
    _configure_logging(verbose, quiet)


_BUILD_CHOICE = click.Choice(["GRCh37", "GRCh38", "hg19", "hg38", "b37"], case_sensitive=False)


@cli.command("inspect")
@click.argument("alignments", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--reference", type=click.Path(dir_okay=False), help="Genome FASTA (CRAM needs it).")
@click.option("--build", type=_BUILD_CHOICE, help="Expected genome build; must match the header.")
@click.option("--index", "make_index", is_flag=True, help="Build a missing index beside the file.")
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="Target CHROM:START-END (repeatable); default the FLT3 and NPM1 catalog windows.",
)
@click.option("--min-mapq", default=20, show_default=True, type=click.IntRange(0, 255))
@click.option(
    "--min-base-quality",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0, 93),
    help="Minimum mean base quality of a read.",
)
@click.option("--keep-duplicates", is_flag=True, help="Count 0x400 records (amplicon or UMI data).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write a JSON summary.")
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


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the click group and turn user-input errors into one line and exit 2."""
    try:
        result = cli.main(args=argv, prog_name="mrd", standalone_mode=False)
        # Commands return an exit code or None; never hand another object to sys.exit.
        return result if isinstance(result, int) else 0
    except MrdError as exc:
        click.echo(f"mrd: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("mrd: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
