"""A first look at an alignment file: build, naming, samples and what the filters keep per target.

This is the check a lab runs before trusting any call: is this the build we think, do the marker
regions have reads, and how many of them survive the filters, by reason.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrd.catalog import CATALOG_VERSION, verify_reference
from mrd.errors import RegionError
from mrd.genome import Build
from mrd.ngs.alignment import open_alignments
from mrd.ngs.fetch import count_region
from mrd.ngs.filters import FilterCounts, ReadFilter
from mrd.ngs.region import Region, marker_regions, merge_regions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetCounts:
    """Filter counts of one target region."""

    region: Region
    counts: FilterCounts

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"region": str(self.region), "name": self.region.name, **self.counts.as_dict()}


@dataclass(frozen=True)
class AlignmentSummary:
    """What :func:`summarize_alignments` learnt about one file.

    Attributes:
        path: The file.
        format: ``BAM`` or ``CRAM``.
        build: Detected genome build.
        chrom_style: How the header names chromosome 13 (``chr13`` or ``13``).
        samples: Sample names from the read groups.
        targets: Per-target filter counts, in region order.
    """

    path: Path
    format: str
    build: Build
    chrom_style: str
    samples: tuple[str, ...]
    targets: tuple[TargetCounts, ...]

    @property
    def total(self) -> FilterCounts:
        """Counts summed over all targets."""
        return FilterCounts.total(t.counts for t in self.targets)

    @property
    def empty_targets(self) -> tuple[Region, ...]:
        """Targets the file has no records in."""
        return tuple(t.region for t in self.targets if t.counts.fetched == 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the catalog version the targets came from."""
        return {
            "path": str(self.path),
            "format": self.format,
            "genome_build": self.build.value,
            "chrom_style": self.chrom_style,
            "samples": list(self.samples),
            "catalog_version": CATALOG_VERSION,
            "targets": [t.as_dict() for t in self.targets],
            "total": self.total.as_dict(),
        }


def summarize_alignments(
    path: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | None = None,
    build: Build | str | None = None,
    make_index: bool = False,
    regions: Sequence[Region] | None = None,
    read_filter: ReadFilter | None = None,
) -> AlignmentSummary:
    """Open, check and count one alignment file over the marker targets.

    Args:
        path: BAM or CRAM.
        reference: Genome FASTA (required for CRAM); when given it must match the catalog.
        build: Expected build; must agree with the header.
        make_index: Build a missing index next to the file.
        regions: Targets to count; default the catalog's FLT3 and NPM1 windows. Regions the
            user names must hold reads.
        read_filter: Filter settings.

    Raises:
        MrdError: For any input problem (see :func:`open_alignments`), a reference that
            disagrees with the catalog, a user region without reads, or no reads at any
            catalog target.
    """
    with open_alignments(path, reference=reference, build=build, make_index=make_index) as source:
        if reference is not None:
            verify_reference(reference, source.genome)
        if regions:
            targets = merge_regions(list(regions))
        else:
            targets = []
            for region in marker_regions(source.genome):
                if region.chrom in source.lengths:
                    targets.append(region)
                else:
                    log.warning(
                        "%s: header lacks %s; %s not checked", path, region.chrom, region.name
                    )
        counted: list[TargetCounts] = []
        for region in targets:
            counts = count_region(source, region, read_filter)
            if counts.fetched == 0 and regions:
                raise RegionError(f"no reads in target region {region} of {source.path}")
            counted.append(TargetCounts(region, counts))
        summary = AlignmentSummary(
            path=source.path,
            format=source.format.value,
            build=source.genome.build,
            chrom_style=source.genome.chrom("13"),
            samples=tuple(source.samples),
            targets=tuple(counted),
        )
    if len(summary.empty_targets) == len(summary.targets):
        names = ", ".join(f"{r.name} {r}" for r in summary.empty_targets)
        raise RegionError(f"no reads at any marker target of {summary.path} ({names})")
    for region in summary.empty_targets:
        log.warning("%s: no reads in %s target %s", summary.path, region.name, region)
    return summary
