"""Shared fixtures: real files written with pysam, and genome FASTAs for CRAM and --reference."""

from __future__ import annotations

from collections.abc import Callable
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


def write_genome_fasta(path: Path, build: Build, chr_prefix: bool, *, alter: bool = False) -> Path:
    """Write a bgzipped, faidx-indexed genome FASTA: N everywhere but the catalog windows.

    Chromosomes 13 and 5 get their true length so coordinates are real; the rest of the genome
    is left out, which is enough for CRAM decoding and --reference checks of targeted data.
    ``alter`` changes one base of each window, as a FASTA of a patched or other build would.
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
