"""Reference windows around FLT3 exons 13-15 and the NPM1 last exon, for both builds.

The sequences ship inside the package (plus strand, genomic coordinates in each FASTA header), so
marker code and the simulator never need the user's genome FASTA. When a user does pass one, we
compare it with ours: a FASTA of the other build, or a patched one, must not silently shift calls.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pysam

from mrd.errors import InputFileError, ReferenceMismatchError
from mrd.genome import Build, GenomeInfo, bare_chrom

_DATA = resources.files("mrd.catalog") / "data"


@functools.cache
def catalog_data() -> dict[str, object]:
    """The parsed catalog JSON, loaded once per process."""
    loaded: dict[str, object] = json.loads((_DATA / "catalog.json").read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True)
class ReferenceWindow:
    """A stretch of the plus strand with its genomic placement.

    Attributes:
        gene: Gene the window covers (``FLT3`` or ``NPM1``).
        build: Assembly of the coordinates.
        chrom: Chromosome without ``chr`` (``13`` or ``5``); name it per header with
            :meth:`GenomeInfo.chrom`.
        start: 1-based position of the first base.
        end: 1-based position of the last base (inclusive).
        sequence: Upper-case plus-strand bases, ``end - start + 1`` long.
    """

    gene: str
    build: Build
    chrom: str
    start: int
    end: int
    sequence: str

    def __len__(self) -> int:
        return len(self.sequence)

    def contains(self, position: int) -> bool:
        """Whether a 1-based genomic position lies in the window."""
        return self.start <= position <= self.end

    def base(self, position: int) -> str:
        """The reference base at a 1-based genomic position."""
        return self.slice(position, position)

    def slice(self, first: int, last: int) -> str:
        """Bases from ``first`` to ``last`` (1-based, inclusive), which must lie in the window."""
        if not (self.start <= first <= last + 1 and last <= self.end):
            raise ValueError(
                f"{self.chrom}:{first}-{last} is outside the {self.gene} window "
                f"{self.chrom}:{self.start}-{self.end}"
            )
        return self.sequence[first - self.start : last - self.start + 1]

    def region(self, genome: GenomeInfo) -> str:
        """The window as a samtools-style region string named the way ``genome`` names it."""
        return f"{genome.chrom(self.chrom)}:{self.start}-{self.end}"


def _parse_header(name: str, comment: str | None) -> tuple[str, str, int, int]:
    chrom, span = name.rsplit(":", 1)
    first, last = (int(x) for x in span.split("-"))
    gene = (comment or "").split()[0] if comment else ""
    return gene, bare_chrom(chrom), first, last


@functools.cache
def _windows(build: Build) -> dict[str, ReferenceWindow]:
    files = catalog_data()["windows"]
    assert isinstance(files, dict)
    path = _DATA / files[build.value]
    found: dict[str, ReferenceWindow] = {}
    with resources.as_file(path) as real_path, pysam.FastxFile(str(real_path)) as fasta:
        for record in fasta:
            if record.name is None or record.sequence is None:
                raise RuntimeError(f"catalog file {path} has an empty record")
            gene, chrom, first, last = _parse_header(record.name, record.comment)
            seq = record.sequence.upper()
            if len(seq) != last - first + 1:
                raise RuntimeError(f"catalog window {record.name} has {len(seq)} bases")
            found[gene] = ReferenceWindow(gene, build, chrom, first, last, seq)
    return found


def reference_window(gene: str, build: Build | str) -> ReferenceWindow:
    """The built-in window for ``gene`` (``FLT3`` or ``NPM1``) on ``build``."""
    wanted = Build.parse(build) if isinstance(build, str) else build
    windows = _windows(wanted)
    try:
        return windows[gene.upper()]
    except KeyError:
        raise ValueError(f"no catalog window for gene {gene!r}; known: {sorted(windows)}") from None


def all_windows(build: Build) -> list[ReferenceWindow]:
    """Every catalog window of a build, in a fixed order (by chromosome, then position)."""
    return sorted(_windows(build).values(), key=lambda w: (w.chrom, w.start))


def verify_reference(fasta_path: str | os.PathLike[str], genome: GenomeInfo) -> None:
    """Check that a user's genome FASTA carries the catalog's sequence in every window.

    Raises:
        InputFileError: When the FASTA cannot be opened or lacks an index it cannot build.
        ReferenceMismatchError: When a window is missing or its bases differ, which means the
            FASTA is of another build or naming than the alignments.
    """
    path = Path(fasta_path)
    if not path.is_file():
        raise InputFileError(f"reference FASTA not found: {path}")
    try:
        fasta = pysam.FastaFile(str(path))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot open reference FASTA {path}: {exc}") from None
    with fasta:
        for window in all_windows(genome.build):
            chrom = genome.chrom(window.chrom)
            if chrom not in fasta.references:
                raise ReferenceMismatchError(
                    f"reference FASTA {path} has no sequence {chrom!r}, needed for {window.gene} "
                    f"on {genome.label}"
                )
            try:
                theirs = fasta.fetch(chrom, window.start - 1, window.end).upper()
            except (ValueError, OSError) as exc:  # e.g. a .fai made for another file
                raise InputFileError(
                    f"cannot read {chrom}:{window.start}-{window.end} from reference FASTA "
                    f"{path} ({exc}); is its .fai index stale? Re-create it with samtools faidx"
                ) from None
            if theirs != window.sequence:
                mismatches = sum(a != b for a, b in zip(theirs, window.sequence, strict=False))
                mismatches += abs(len(window.sequence) - len(theirs))  # bases it does not have
                raise ReferenceMismatchError(
                    f"reference FASTA {path} disagrees with the {genome.build} catalog at "
                    f"{window.gene} {chrom}:{window.start}-{window.end} ({mismatches} of "
                    f"{len(window)} bases differ); is it the wrong genome build?"
                )
