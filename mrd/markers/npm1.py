"""NPM1: every insertion in the last exon, named by type, counted however the aligner placed it.

NPM1 mutations are (mostly 4-bp) insertions in a short repeat near c.863; aligners put them at
the left or right end of the repeat, or soft-clip them near a read end. The insertion engine
(:mod:`mrd.markers.insertions`) realigns such reads from their own bases and keys each allele
by its left-normalised form, so every representation counts as the same event. This module
names the allele on the plus-strand transcript (NM_002520): HGVS 3'-shifted, as the catalog
stores the known types, so types A, B and D (and the rarer ones the catalog lists) are matched
exactly; any other frameshift insertion in the coding part of the last exon is an ``NPM1``
finding with its HGVS name and no type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mrd.catalog import ReferenceWindow, npm1, reference_window
from mrd.catalog.annotation import Npm1Annotation
from mrd.markers.insertions import (
    InsertionClone,
    InsertionScan,
    InsertionSettings,
    Library,
    Proportion,
    scan_insertions,
)
from mrd.markers.protein import protein_change
from mrd.markers.realign import Insertion
from mrd.ngs.alignment import AlignmentSource
from mrd.ngs.filters import FilterCounts, ReadFilter
from mrd.ngs.region import Region

MARKER_NPM1 = "NPM1"
MARKER_OTHER = "NPM1-insertion"
"""An insertion in the window that is not an NPM1 mutation: in frame, or outside the coding
part of the last exon. Reported, so nothing seen is hidden, but never as an NPM1 mutation."""

_CDS_FIRST_C = 847  # first base of codon 283, where the region NPM1 mutations hit begins


@dataclass(frozen=True)
class Npm1Settings(InsertionSettings):
    """Insertion-caller thresholds for the NPM1 window (the defaults suit it as they are)."""


def right_shift(reference: str, allele: Insertion) -> tuple[int, str]:
    """The 3'-most equivalent of an insertion (HGVS places insertions there on a plus strand).

    Returns:
        ``(after, inserted)``: window offset of the base the shifted insertion follows.
    """
    after, inserted = allele.after, allele.inserted
    while after + 1 < len(reference) and reference[after + 1] == inserted[0]:
        inserted = inserted[1:] + reference[after + 1]
        after += 1
    return after, inserted


@dataclass(frozen=True)
class Npm1Finding:
    """One NPM1-window insertion allele, named and counted.

    ``position`` is the VCF anchor of the left-normalised insertion; ``hgvs_c`` uses the
    3'-shifted form, as HGVS asks, which is also how the catalog stores the known types.
    """

    marker: str
    chrom: str
    position: int
    ref: str
    alt: str
    inserted_sequence: str
    npm1_type: str | None
    hgvs_c: str
    hgvs_p: str | None
    frameshift: bool
    in_coding_region: bool
    vaf: Proportion
    quantification: str
    depth_unit: str
    reads: Proportion
    tracked: bool
    evidence: dict[str, int]

    @property
    def length(self) -> int:
        """Inserted bases."""
        return len(self.inserted_sequence)

    def as_dict(self) -> dict[str, Any]:
        """The finding as written to JSON (schema ``mrd-call`` 1.x, see docs/call-json.md)."""
        vaf = self.vaf
        return {
            "marker": self.marker,
            "gene": "NPM1",
            "chrom": self.chrom,
            "position": self.position,
            "ref": self.ref,
            "alt": self.alt,
            "length": self.length,
            "inserted_sequence": self.inserted_sequence,
            "npm1_type": self.npm1_type,
            "hgvs_c": self.hgvs_c,
            "hgvs_p": self.hgvs_p,
            "frameshift": self.frameshift,
            "in_frame": not self.frameshift,
            "in_coding_region": self.in_coding_region,
            **vaf.as_counts(self.depth_unit),
            "quantification": self.quantification,
            "reads": {"alt": self.reads.alt, "depth": self.reads.total},
            "tracked": self.tracked,
            "evidence": dict(self.evidence),
        }


def _hgvs_c(
    reference: str, after: int, inserted: str, annotation: Npm1Annotation, start: int
) -> str:
    c_after = annotation.c_position(start + after)
    length = len(inserted)
    if after + 1 >= length and reference[after + 1 - length : after + 1] == inserted:
        first = c_after - length + 1
        return f"c.{c_after}dup" if length == 1 else f"c.{first}_{c_after}dup"
    return f"c.{c_after}_{c_after + 1}ins{inserted}"


def _protein(
    reference: str, after: int, inserted: str, annotation: Npm1Annotation, start: int
) -> str | None:
    first = annotation.genomic_position(_CDS_FIRST_C) - start
    cut = after + 1 - first
    if first < 0 or cut <= 0:
        return None
    ref_cds = reference[first:]
    ref_cds = ref_cds[: len(ref_cds) - len(ref_cds) % 3]
    if cut >= len(ref_cds):
        return None
    alt_cds = ref_cds[:cut] + inserted + ref_cds[cut:]
    try:
        return protein_change(ref_cds, alt_cds, (_CDS_FIRST_C + 2) // 3)
    except ValueError:  # the new stop lies beyond the window we translate
        return None


def _annotate(
    clone: InsertionClone,
    window: ReferenceWindow,
    annotation: Npm1Annotation,
    chrom: str,
    library: Library,
) -> Npm1Finding:
    reference = window.sequence
    allele = clone.allele
    after, inserted = right_shift(reference, allele)
    c_after = annotation.c_position(window.start + after)
    first_c, last_c = annotation.coding_c_start, annotation.coding_c_end
    in_coding = first_c - 1 <= c_after <= last_c
    frameshift = allele.length % 3 != 0
    named = next(
        (t.name for t in annotation.known_types if (t.after_c, t.inserted) == (c_after, inserted)),
        None,
    )
    anchor = window.start + allele.after
    return Npm1Finding(
        marker=MARKER_NPM1 if in_coding and frameshift else MARKER_OTHER,
        chrom=chrom,
        position=anchor,
        ref=reference[allele.after],
        alt=reference[allele.after] + allele.inserted,
        inserted_sequence=allele.inserted,
        npm1_type=named,
        hgvs_c=_hgvs_c(reference, after, inserted, annotation, window.start),
        hgvs_p=_protein(reference, after, inserted, annotation, window.start),
        frameshift=frameshift,
        in_coding_region=in_coding,
        vaf=clone.counted,
        quantification="anchored" if library == "amplicon" else "coverage",
        depth_unit="molecules" if clone.molecules is not None else "templates",
        reads=clone.proportion,
        tracked=clone.tracked,
        evidence=dict(clone.evidence),
    )


@dataclass(frozen=True)
class Npm1Result:
    """NPM1-window findings of one sample, with how they were made."""

    findings: tuple[Npm1Finding, ...]
    library: Library
    candidates: int
    region: Region
    scan: InsertionScan


def call_npm1(
    source: AlignmentSource,
    *,
    read_filter: ReadFilter | None = None,
    settings: Npm1Settings | None = None,
    counts: FilterCounts | None = None,
    known: Sequence[Insertion] = (),
) -> Npm1Result:
    """Find, name and quantify every insertion of the NPM1 last-exon window.

    Args:
        source: Open BAM/CRAM (build and chromosome naming already detected).
        read_filter: Which records count.
        settings: Caller thresholds.
        counts: Filled with the per-reason record counts of the NPM1 window.
        known: Tracked alleles (left-normalised), quantified and reported even when absent.

    Raises:
        RegionError: When the file has no reads in the NPM1 window.
        InputFileError: When the file turns out to be corrupt while reading.
    """
    window = reference_window("NPM1", source.genome.build)
    annotation = npm1(source.genome.build)
    scan = scan_insertions(
        source,
        window,
        read_filter=read_filter,
        settings=settings or Npm1Settings(),
        counts=counts,
        known=known,
    )
    findings = tuple(
        _annotate(clone, window, annotation, scan.region.chrom, scan.library)
        for clone in scan.clones
    )
    return Npm1Result(findings, scan.library, scan.candidates, scan.region, scan)
