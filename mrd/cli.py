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
