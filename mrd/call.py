"""Call one sample: open the alignments, run each marker caller, gather one result.

This is the function behind ``mrd call``; the CLI only parses options, calls
:func:`call_sample` and writes what it returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrd.catalog import CATALOG_VERSION, reference_window
from mrd.errors import RegionError
from mrd.genome import Build, GenomeInfo
from mrd.markers.flt3_itd import ItdFinding, ItdSettings, call_flt3_itd
from mrd.markers.insertions import Library
from mrd.markers.npm1 import Npm1Finding, Npm1Settings, call_npm1
from mrd.ngs.alignment import AlignmentSource, open_alignments
from mrd.ngs.filters import FilterCounts, ReadFilter
from mrd.ngs.region import Region

SCHEMA = "mrd-call"
SCHEMA_VERSION = "1.0"
"""Version of the JSON written by ``mrd call``; the major number changes on breaking changes."""

GENES = ("FLT3", "NPM1")
"""Catalog genes ``mrd call`` looks at, in the order findings are listed."""

Finding = ItdFinding | Npm1Finding


@dataclass(frozen=True)
class CallSettings:
    """Everything that changes a call, gathered so a result can say how it was made."""

    itd: ItdSettings = field(default_factory=ItdSettings)
    npm1: Npm1Settings = field(default_factory=Npm1Settings)
    read_filter: ReadFilter = field(default_factory=ReadFilter)
    genes: tuple[str, ...] = GENES


@dataclass(frozen=True)
class TargetResult:
    """What was looked at in one gene window, so "no finding" can be told from "not covered".

    Attributes:
        gene: Catalog gene.
        region: The window, in the file's chromosome naming.
        analysed: False when the file has no reads there (a panel without this gene).
        library: How the window's reads were judged (None when not analysed).
        read_filter_counts: Records fetched from the window, used or dropped by reason.
        candidates: Candidate alleles quantified before reporting thresholds.
    """

    gene: str
    region: Region
    analysed: bool
    library: Library | None
    read_filter_counts: FilterCounts
    candidates: int

    def as_dict(self) -> dict[str, Any]:
        """The target as written to JSON."""
        return {
            "gene": self.gene,
            "region": str(self.region),
            "analysed": self.analysed,
            "library": self.library,
            "candidates": self.candidates,
            "read_filter": self.read_filter_counts.as_dict(),
        }


@dataclass(frozen=True)
class CallResult:
    """The findings of one sample and the facts needed to trust them."""

    sample: str
    bam: Path
    genome: GenomeInfo
    targets: tuple[TargetResult, ...]
    findings: tuple[Finding, ...]
    settings: CallSettings

    @property
    def library(self) -> str:
        """``capture`` or ``amplicon`` when all analysed windows agree, else ``mixed``."""
        kinds = {t.library for t in self.targets if t.library is not None}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def read_filter_counts(self) -> FilterCounts:
        """Record counts over all analysed windows."""
        return FilterCounts.total(t.read_filter_counts for t in self.targets)

    def as_dict(self) -> dict[str, Any]:
        """The result as written to JSON (schema ``mrd-call``, documented in docs/call-json.md)."""
        from mrd import __version__

        read_filter = self.settings.read_filter
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "mrd_version": __version__,
            "catalog_version": CATALOG_VERSION,
            "sample": self.sample,
            "bam": str(self.bam),
            "genome_build": self.genome.build.value,
            "chrom_prefix": self.genome.chr_prefix,
            "library": self.library,
            "settings": {
                "confidence_interval": {"method": "clopper-pearson", "level": 0.95},
                "itd": self.settings.itd.as_dict(),
                "npm1": self.settings.npm1.as_dict(),
                "read_filter": {
                    "min_mapq": read_filter.min_mapq,
                    "min_mean_base_quality": read_filter.min_mean_base_quality,
                    "drop_duplicates": read_filter.drop_duplicates,
                },
            },
            "read_filter": self.read_filter_counts.as_dict(),
            "targets": [t.as_dict() for t in self.targets],
            "findings": [f.as_dict() for f in self.findings],
        }


def _sample_name(read_group_samples: list[str], path: Path) -> str:
    if len(set(read_group_samples)) == 1:
        return read_group_samples[0]
    name = path.name
    for suffix in (".bam", ".cram"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _has_reads(source: AlignmentSource, region: Region) -> bool:
    region.check_against(source.lengths)
    return next(source.file.fetch(*region.pysam_args), None) is not None


def _call_gene(
    source: AlignmentSource, gene: str, settings: CallSettings
) -> tuple[TargetResult, tuple[Finding, ...]]:
    window = reference_window(gene, source.genome.build)
    region = Region(source.genome.chrom(window.chrom), window.start, window.end, gene)
    counts = FilterCounts()
    if not _has_reads(source, region):
        return TargetResult(gene, region, False, None, counts, 0), ()
    findings: tuple[Finding, ...]
    if gene == "FLT3":
        itd = call_flt3_itd(
            source, read_filter=settings.read_filter, settings=settings.itd, counts=counts
        )
        findings, library, candidates = itd.findings, itd.library, itd.candidates
    else:
        npm = call_npm1(
            source, read_filter=settings.read_filter, settings=settings.npm1, counts=counts
        )
        findings, library, candidates = npm.findings, npm.library, npm.candidates
    return TargetResult(gene, region, True, library, counts, candidates), findings


def call_sample(
    bam: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | None = None,
    build: Build | str | None = None,
    settings: CallSettings | None = None,
    sample: str | None = None,
    make_index: bool = False,
) -> CallResult:
    """Find and quantify the FLT3-ITD and NPM1 insertion clones of one BAM or CRAM.

    A gene window without reads is reported as not analysed (a panel may lack it); a file with
    reads in neither window is an error, since it is almost always the wrong file or panel.

    Args:
        bam: Coordinate-sorted, indexed BAM or CRAM.
        reference: FASTA for CRAM input (checked against the catalog windows).
        build: Genome build, when the header alone should not decide it.
        settings: Caller and read-filter settings.
        sample: Sample name; defaults to the read groups' SM, else the file name.
        make_index: Build a missing index instead of failing.

    Returns:
        The call result; nothing is written.

    Raises:
        MrdError: For unreadable input, the wrong build, a missing index or no reads in any
            target window, each with a one-line message.
    """
    active = settings or CallSettings()
    path = Path(bam)
    targets: list[TargetResult] = []
    findings: list[Finding] = []
    with open_alignments(path, reference=reference, build=build, make_index=make_index) as source:
        for gene in active.genes:
            target, found = _call_gene(source, gene, active)
            targets.append(target)
            findings.extend(found)
        name = sample or _sample_name(source.samples, path)
        genome = source.genome
    if not any(t.analysed for t in targets):
        windows = ", ".join(f"{t.gene} {t.region}" for t in targets)
        raise RegionError(
            f"no reads in any target window ({windows}) of {path}; is this the right sample "
            "and panel?"
        )
    return CallResult(
        sample=name,
        bam=path,
        genome=genome,
        targets=tuple(targets),
        findings=tuple(findings),
        settings=active,
    )
