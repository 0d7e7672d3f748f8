"""Shared fixtures: real files written with pysam, genome FASTAs for CRAM and --reference, small
simulated BAMs, and ways to run the ``mrd`` command line, in this process or as a real one."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pysam
import pytest

from mrd.catalog.windows import all_windows
from mrd.genome import Build, GenomeInfo, header_lengths

HeaderBam = Callable[..., Path]


@pytest.fixture
def header_bam(tmp_path: Path) -> HeaderBam:
    """Make an indexed, coordinate-sorted BAM with no reads and a chosen @SQ list."""

    def make(sq: list[tuple[str, int]], name: str = "header.bam", index: bool = True) -> Path:
        path = tmp_path / name
        header = {
            "HD": {"VN": "1.6", "SO": "coordinate"},
            "SQ": [{"SN": sn, "LN": ln} for sn, ln in sq],
            "RG": [{"ID": "rg1", "SM": "S1"}],
        }
        with pysam.AlignmentFile(str(path), "wb", header=header):
            pass
        if index:
            pysam.index(str(path))
        return path

    return make


def write_genome_fasta(
    path: Path, build: Build, chr_prefix: bool, *, alter: bool = False, flank: bool = False
) -> Path:
    """Write a bgzipped, faidx-indexed genome FASTA: N everywhere but the catalog windows.

    Chromosomes 13 and 5 get their true length so coordinates are real; the rest of the genome
    is left out, which is enough for CRAM decoding and --reference checks of targeted data.
    ``alter`` changes one base of each window, as a FASTA of a patched or other build would.
    ``flank`` puts an A ten bases past each window's end: outside what the reference check
    compares, but inside what reads crossing the window's edge cover.
    """
    genome = GenomeInfo(build, chr_prefix)
    lengths = dict(header_lengths(build, chr_prefix))
    line = 1_000_000
    with pysam.BGZFile(str(path), "wb") as out:
        for window in all_windows(build):
            chrom = genome.chrom(window.chrom)
            seq = window.sequence
            if alter:
                middle = len(seq) // 2
                seq = seq[:middle] + ("A" if seq[middle] != "A" else "C") + seq[middle + 1 :]
            out.write(f">{chrom}\n".encode())
            length = lengths[chrom]
            start = window.start - 1
            if flank:
                seq += "N" * 10 + "A"
            for offset in range(0, length, line):
                chunk_end = min(offset + line, length)
                chunk = bytearray(b"N" * (chunk_end - offset))
                lo, hi = max(start, offset), min(start + len(seq), chunk_end)
                if lo < hi:
                    chunk[lo - offset : hi - offset] = seq[lo - start : hi - start].encode()
                out.write(bytes(chunk) + b"\n")
    pysam.faidx(str(path))
    return path


@pytest.fixture(scope="session")
def grch38_fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GRCh38 (chr-named) FASTA holding the real FLT3 and NPM1 window sequences."""
    folder = tmp_path_factory.mktemp("ref38")
    return write_genome_fasta(folder / "GRCh38.fa.gz", Build.GRCH38, True)


@dataclass(frozen=True)
class CliRun:
    """What a shell sees of one ``mrd`` run: exit code, standard output, standard error."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """Non-empty stderr lines: a clean failure has one (click usage errors add a usage)."""
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_cli_process(args: Sequence[str]) -> CliRun:
    """Run ``python -m mrd.cli`` as a real process: for what worker processes write to stderr,
    which :func:`run_cli`'s in-process isolation cannot see."""
    command = [sys.executable, "-m", "mrd.cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return CliRun(done.returncode, done.stdout, done.stderr)


def copy_with_stale_index(bam: Path, folder: Path, name: str | None = None) -> Path:
    """A copy of ``bam`` (as ``name``) whose index is a minute older than it, so opening warns."""
    target = folder / (name or bam.name)
    shutil.copy(bam, target)
    index = Path(shutil.copy(f"{bam}.bai", f"{target}.bai"))
    os.utime(index, (index.stat().st_atime, target.stat().st_mtime - 60))
    return target


def corrupt_copy(bam: Path, target: Path) -> Path:
    """A copy of ``bam`` damaged inside its compressed blocks but complete at both ends (bit rot).

    The end-of-file marker is intact, so only reading the records can find the damage; several
    places are hit so that whichever gene window is read first meets one.
    """
    data = bytearray(bam.read_bytes())
    for share in (0.2, 0.4, 0.6, 0.8):
        start = int(len(data) * share)
        for i in range(start, start + 256):
            data[i] ^= 0xFF
    target.write_bytes(bytes(data))
    shutil.copy(f"{bam}.bai", f"{target}.bai")
    return target


def run_cli(args: Sequence[str]) -> CliRun:
    """Run ``mrd`` in this process through its console entry point, :func:`mrd.cli.main`.

    ``main`` (not the click group) is what turns an ``MrdError`` into one line and an exit
    code, so going through it tests what a user gets. Any exception other than ``SystemExit``
    propagates and fails the calling test: that is a traceback a user would see. Log handlers
    that ``main`` installs on the isolated stderr are removed again afterwards.
    """
    from click.testing import CliRunner

    from mrd.cli import main

    handlers, level = logging.root.handlers[:], logging.root.level
    try:
        with CliRunner().isolation() as (out, err, _):
            try:
                code = main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            stdout = out.getvalue().decode("utf-8", "replace")
            stderr = err.getvalue().decode("utf-8", "replace")
    finally:
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    return CliRun(code, stdout, stderr)


@pytest.fixture(scope="session")
def sim_bams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small simulated BAMs (depth 300, both genes), shared read-only by CLI tests.

    ``dx38``: GRCh38 diagnosis with a 60-bp FLT3-ITD and NPM1 type A; ``fu38``: a GRCh38
    follow-up with the same clones at 2%; ``dx37``: the diagnosis sample on GRCh37 (b37 names).
    Tests that damage a file copy it first.
    """
    from mrd.simulate import Flt3Itd, Npm1Insertion, SimulationSpec, simulate

    folder = tmp_path_factory.mktemp("sim_bams")
    specs = {
        "dx38": SimulationSpec.of(
            (Flt3Itd(60), 0.3), (Npm1Insertion("A"), 0.4), depth=300, sample="DX38"
        ),
        "fu38": SimulationSpec.of(
            (Flt3Itd(60), 0.02), (Npm1Insertion("A"), 0.02), depth=300, sample="FU38"
        ),
        "dx37": SimulationSpec.of(
            (Flt3Itd(60), 0.3),
            (Npm1Insertion("A"), 0.4),
            depth=300,
            sample="DX37",
            build=Build.GRCH37,
            chr_prefix=False,
        ),
    }
    return {
        name: simulate(spec, folder / f"{name}.bam", seed=seed).bam
        for seed, (name, spec) in enumerate(specs.items(), start=21)
    }


@pytest.fixture(autouse=True, scope="session")
def _resume_key_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Resume keys go to a temporary folder, not the user's ~/.config, while tests run."""
    import os

    from mrd.monitoring.monitor import RESUME_KEY_ENV

    before = os.environ.get(RESUME_KEY_ENV)
    os.environ[RESUME_KEY_ENV] = str(tmp_path_factory.mktemp("config") / "resume.key")
    yield
    if before is None:
        os.environ.pop(RESUME_KEY_ENV, None)
    else:
        os.environ[RESUME_KEY_ENV] = before
