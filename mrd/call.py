"""Call one sample: open the alignments, run each marker caller, gather one result.

This is the function behind ``mrd call``; the CLI only parses options, calls
:func:`call_sample` and writes what it returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrd.catalog import CATALOG_VERSION
from mrd.genome import Build, GenomeInfo
from mrd.markers.flt3_itd import ItdFinding, ItdResult, ItdSettings, call_flt3_itd
from mrd.markers.insertions import Library
from mrd.ngs.alignment import open_alignments
from mrd.ngs.filters import FilterCounts, ReadFilter

SCHEMA = "mrd-call"
SCHEMA_VERSION = "1.0"
"""Version of the JSON written by ``mrd call``; the major number changes on breaking changes."""


@dataclass(frozen=True)
class CallSettings:
    """Everything that changes a call, gathered so a result can say how it was made."""

    itd: ItdSettings = field(default_factory=ItdSettings)
    read_filter: ReadFilter = field(default_factory=ReadFilter)


@dataclass(frozen=True)
class CallResult:
    """The findings of one sample and the facts needed to trust them."""

    sample: str
    bam: Path
    genome: GenomeInfo
    library: Library
    findings: tuple[ItdFinding, ...]
    read_filter_counts: FilterCounts
    settings: CallSettings

    def as_dict(self) -> dict[str, Any]:
        """The result as written to JSON (schema ``mrd-call``, documented in docs/call-json.md)."""
        from mrd import __version__

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
                "read_filter": {
                    "min_mapq": self.settings.read_filter.min_mapq,
                    "min_mean_base_quality": self.settings.read_filter.min_mean_base_quality,
                    "drop_duplicates": self.settings.read_filter.drop_duplicates,
                },
            },
            "read_filter": self.read_filter_counts.as_dict(),
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


def call_sample(
    bam: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | None = None,
    build: Build | str | None = None,
    settings: CallSettings | None = None,
    sample: str | None = None,
    make_index: bool = False,
) -> CallResult:
    """Find and quantify the FLT3-ITD clones of one BAM or CRAM.

    Args:
        bam: Coordinate-sorted, indexed BAM or CRAM covering FLT3 exons 14-15.
        reference: FASTA for CRAM input (checked against the catalog windows).
        build: Genome build, when the header alone should not decide it.
        settings: Caller and read-filter settings.
        sample: Sample name; defaults to the read groups' SM, else the file name.
        make_index: Build a missing index instead of failing.

    Returns:
        The call result; nothing is written.

    Raises:
        MrdError: For unreadable input, the wrong build, a missing index or no FLT3 reads,
            each with a one-line message.
    """
    active = settings or CallSettings()
    path = Path(bam)
    counts = FilterCounts()
    with open_alignments(path, reference=reference, build=build, make_index=make_index) as source:
        result: ItdResult = call_flt3_itd(
            source, read_filter=active.read_filter, settings=active.itd, counts=counts
        )
        name = sample or _sample_name(source.samples, path)
        genome = source.genome
    return CallResult(
        sample=name,
        bam=path,
        genome=genome,
        library=result.library,
        findings=result.findings,
        read_filter_counts=counts,
        settings=active,
    )
