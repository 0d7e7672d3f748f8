"""BAM header, sorting, indexing, duplicate marking and all-or-nothing file placement.

Outputs appear under their final names only when complete: everything is written to temporary
names in the target directory (so the final rename cannot cross file systems) and renamed at the
end; on any error the temporary files are removed and an older output is left untouched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pysam
from pysam.utils import SamtoolsError

from mrd.errors import OutputError
from mrd.genome import header_lengths
from mrd.output import staged_path
from mrd.simulate.spec import SimulationSpec


def make_header(
    spec: SimulationSpec,
    read_group: str,
    aligner: tuple[str, str, str],
    simulator_command: str,
    simulator_version: str,
) -> dict[str, Any]:
    """A full-genome header of the spec's build and naming, with one read group and @PG lines.

    Args:
        spec: The simulation (build, naming, sample, library).
        read_group: ``ID`` of the read group every record carries.
        aligner: ``(name, version, command line)`` of the aligner used.
        simulator_command: Deterministic description of the simulator call (no paths or times,
            so a seed gives a byte-identical BAM).
        simulator_version: Version written in the simulator's @PG line.
    """
    name, version, command = aligner
    return {
        "HD": {"VN": "1.6", "SO": "unsorted", "GO": "query"},
        "SQ": [
            {"SN": chrom, "LN": length}
            for chrom, length in header_lengths(spec.build, spec.uses_chr_prefix)
        ],
        "RG": [
            {
                "ID": read_group,
                "SM": spec.sample,
                "LB": spec.library_name,
                "PL": "ILLUMINA",
                "PU": f"{read_group}.1",
            }
        ],
        "PG": [
            {"ID": name, "PN": name, "VN": version, "CL": command},
            {
                "ID": "mrd-simulate",
                "PN": "mrd simulate",
                "PP": name,
                "VN": simulator_version,
                "CL": simulator_command,
            },
        ],
    }


def check_writable(final: Path) -> None:
    """Fail early, with a clear message, when ``final`` cannot be created.

    Raises:
        OutputError: When its directory is missing or not writable, or it is a directory.
    """
    if final.is_dir():
        raise OutputError(f"output path is a directory: {final}")
    directory = final.parent
    if not directory.is_dir():
        raise OutputError(f"output directory does not exist: {directory}")
    if not os.access(directory, os.W_OK):
        raise OutputError(f"cannot write in {directory}: permission denied")


def finish_bam(
    unsorted: Path,
    final: Path,
    scratch: Path,
    *,
    mark_duplicates: bool,
    umi_in_name: bool,
    umi_tag: bool,
) -> None:
    """Sort (and optionally mark duplicates in) a name-grouped BAM, index it, move it into place.

    Duplicates are marked with ``samtools fixmate -m`` and ``samtools markdup``; UMIs are used
    as barcodes so molecules that share positions but not UMIs are not called duplicates.
    """
    source = unsorted
    if mark_duplicates:
        fixed = scratch / "fixmate.bam"
        _samtools(pysam.fixmate, "-m", "--no-PG", str(unsorted), str(fixed))
        source = fixed
    with staged_path(final, ".bam") as sorted_tmp, staged_path(final, ".bam.bai") as index_tmp:
        if mark_duplicates:
            coordinate = scratch / "coordinate.bam"
            _sort(source, coordinate, scratch)
            options = ["--no-PG"]
            if umi_tag:
                options += ["--barcode-tag", "RX"]
            elif umi_in_name:
                options += ["--barcode-rgx", "[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:([^:]+)"]
            _samtools(pysam.markdup, *options, str(coordinate), str(sorted_tmp))
        else:
            _sort(source, sorted_tmp, scratch)
        _samtools(pysam.index, "-o", str(index_tmp), str(sorted_tmp))
        os.replace(sorted_tmp, final)
        os.replace(index_tmp, Path(f"{final}.bai"))


def _sort(source: Path, target: Path, scratch: Path) -> None:
    _samtools(pysam.sort, "--no-PG", "-T", str(scratch / "sort"), "-o", str(target), str(source))


def _samtools(command: Any, *args: str) -> None:
    try:
        command(*args, catch_stdout=False)
    except SamtoolsError as exc:
        raise OutputError(f"samtools failed: {str(exc).strip()}") from None
