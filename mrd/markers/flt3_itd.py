"""FLT3-ITD: every insertion clone of the FLT3 window, sized, named and counted without bias.

The insertion engine (:mod:`mrd.markers.insertions`) finds the clones from reads realigned
from their own bases and counts them so that long ITDs are not under-counted; this module names
them on the FLT3 transcript (minus strand) and decides which are ITDs: in frame, duplicated,
inserted in exon 14 or 15. Intronic, out-of-frame or non-duplicated insertions are reported as
``FLT3-insertion``, never as ITDs. See docs/flt3-itd.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from mrd.catalog import ReferenceWindow, flt3, reference_window
from mrd.catalog.annotation import Flt3Annotation
from mrd.markers.insertions import (
    InsertionClone,
    InsertionScan,
    InsertionSettings,
    Library,
    Proportion,
    scan_insertions,
)
from mrd.markers.protein import protein_change
from mrd.markers.realign import Insertion, reverse_complement
from mrd.ngs.alignment import AlignmentSource
from mrd.ngs.filters import FilterCounts, ReadFilter
from mrd.ngs.region import Region

MARKER_ITD = "FLT3-ITD"
MARKER_INSERTION = "FLT3-insertion"

_CDS_FIRST_C = 1600  # first base of codon 534, the first whole codon of exon 13
_CDS_LAST_C = 1941  # last base of codon 647, the last whole codon of exon 15


@dataclass(frozen=True)
class ItdSettings(InsertionSettings):
    """Insertion-caller thresholds plus what makes a FLT3 insertion an ITD.

    Attributes:
        microclone_ratio: Allelic ratio below which a clone is flagged a microclone.
        min_duplicated: Shortest duplicated segment for an ITD (shorter: an insertion).
    """

    microclone_ratio: float = 0.05
    min_duplicated: int = 3


def _ratio(vaf: float) -> float | None:
    if math.isnan(vaf) or vaf >= 1.0:
        return None
    return vaf / (1.0 - vaf)


@dataclass(frozen=True)
class ItdFinding:
    """One FLT3 insertion clone (an ITD or another insertion), located, named and counted.

    Positions are 1-based on the BAM's own chromosome naming; ``position`` is the VCF anchor of
    the left-normalised insertion (for FLT3 on the minus strand that is also where HGVS puts it).
    """

    marker: str
    chrom: str
    position: int
    ref: str
    alt: str
    inserted_sequence: str
    duplicated_length: int
    duplicated_start: int | None
    duplicated_end: int | None
    nontemplated_sequence: str
    in_frame: bool
    exon: int | None
    domain: str
    subdomain: str | None
    insertion_site_residue: int | None
    hgvs_c: str
    hgvs_p: str | None
    vaf: Proportion
    quantification: str
    depth_unit: str
    reads: Proportion
    tracked: bool
    microclone_ratio: float
    evidence: dict[str, int]

    @property
    def length(self) -> int:
        """Inserted bases, non-templated ones included."""
        return len(self.inserted_sequence)

    @property
    def allelic_ratio(self) -> float | None:
        """ITD / wild type, the ratio ELN risk rules use (None when no wild type was seen)."""
        return _ratio(self.vaf.value)

    @property
    def microclone(self) -> bool:
        """AR below the configured threshold (0.05 by default)."""
        ratio = self.allelic_ratio
        return ratio is not None and self.vaf.alt > 0 and ratio < self.microclone_ratio

    def as_dict(self) -> dict[str, Any]:
        """The finding as written to JSON (schema ``mrd-call`` 1.x, see docs/call-json.md)."""
        vaf = self.vaf
        ar_low = _ratio(vaf.low)
        ar_high = _ratio(vaf.high)
        return {
            "marker": self.marker,
            "gene": "FLT3",
            "chrom": self.chrom,
            "position": self.position,
            "ref": self.ref,
            "alt": self.alt,
            "length": self.length,
            "inserted_sequence": self.inserted_sequence,
            "duplicated_length": self.duplicated_length,
            "duplicated_start": self.duplicated_start,
            "duplicated_end": self.duplicated_end,
            "nontemplated_sequence": self.nontemplated_sequence,
            "tandem": self.duplicated_length > 0 and not self.nontemplated_sequence,
            "in_frame": self.in_frame,
            "exon": self.exon,
            "domain": self.domain,
            "subdomain": self.subdomain,
            "insertion_site_residue": self.insertion_site_residue,
            "hgvs_c": self.hgvs_c,
            "hgvs_p": self.hgvs_p,
            **vaf.as_counts(self.depth_unit),
            "allelic_ratio": self.allelic_ratio,
            "allelic_ratio_ci_low": ar_low if ar_low is not None else 0.0,
            "allelic_ratio_ci_high": ar_high,
            "microclone": self.microclone,
            "quantification": self.quantification,
            "reads": {"alt": self.reads.alt, "depth": self.reads.total},
            "tracked": self.tracked,
            "evidence": dict(self.evidence),
        }


def _annotate(
    clone: InsertionClone,
    window: ReferenceWindow,
    annotation: Flt3Annotation,
    chrom: str,
    library: Library,
    settings: ItdSettings,
) -> ItdFinding:
    allele = clone.allele
    vaf = clone.counted
    dup = clone.haplotype.duplication
    reference = window.sequence
    anchor = window.start + allele.after  # 1-based genomic position of the VCF anchor base
    duplicated = dup.duplicated_length
    dup_start = window.start + dup.right_start if duplicated else None
    dup_end = window.start + dup.left_end if duplicated else None
    # Minus strand: the insertion between g and g+1 lies between c(g+1) and c(g).
    c_after, c_before = annotation.c_position(anchor), annotation.c_position(anchor + 1)
    exonic = c_after is not None and c_before is not None and c_after == c_before + 1
    inserted_coding = reverse_complement(allele.inserted)
    if duplicated and not dup.nontemplated and dup_start is not None and dup_end is not None:
        first, last = annotation.c_notation(dup_end), annotation.c_notation(dup_start)
        hgvs_c = f"c.{first}dup" if first == last else f"c.{first}_{last}dup"
    else:
        hgvs_c = (
            f"c.{annotation.c_notation(anchor + 1)}_{annotation.c_notation(anchor)}"
            f"ins{inserted_coding}"
        )
    site_c: int | None = c_after if exonic else None
    if duplicated and dup_start is not None and dup_end is not None:
        site_c = annotation.itd_site_c(dup_start, dup_end)
    residue = annotation.residue(site_c) if site_c is not None else None
    exon = annotation.exon_of_c(site_c) if site_c is not None else None
    domain = annotation.domain_of(residue) if residue is not None else "intronic"
    in_frame = residue is not None and allele.length % 3 == 0
    is_itd = (
        in_frame
        and duplicated >= settings.min_duplicated
        and len(dup.nontemplated) <= duplicated
        and exon is not None
        and exon.number in (14, 15)
    )
    hgvs_p = None
    spliced = duplicated > 0 and dup_start is not None and dup_end is not None
    if spliced:
        assert dup_start is not None and dup_end is not None
        codes = [annotation.c_position(g) for g in range(dup_start, dup_end + 1)]
        spliced = None in codes or any(
            a is not None and b is not None and a != b - 1 for b, a in pairwise(codes)
        )
    # A segment with intronic bases changes splicing, which sequence alone cannot predict.
    if exonic and not spliced and c_before is not None and _CDS_FIRST_C <= c_before < _CDS_LAST_C:
        ref_cds = "".join(
            reverse_complement(reference[annotation.genomic_position(c) - window.start])
            for c in range(_CDS_FIRST_C, _CDS_LAST_C + 1)
        )
        cut = c_before - _CDS_FIRST_C + 1
        alt_cds = ref_cds[:cut] + inserted_coding + ref_cds[cut:]
        try:
            hgvs_p = protein_change(ref_cds, alt_cds, (_CDS_FIRST_C + 2) // 3)
        except ValueError:  # the change reaches past the stretch of exons we translate
            hgvs_p = None
    return ItdFinding(
        marker=MARKER_ITD if is_itd else MARKER_INSERTION,
        chrom=chrom,
        position=anchor,
        ref=reference[allele.after],
        alt=reference[allele.after] + allele.inserted,
        inserted_sequence=allele.inserted,
        duplicated_length=duplicated,
        duplicated_start=dup_start,
        duplicated_end=dup_end,
        nontemplated_sequence=dup.nontemplated,
        in_frame=in_frame,
        exon=exon.number if exon is not None else None,
        domain=domain,
        subdomain=annotation.subdomain_of(residue) if residue is not None else None,
        insertion_site_residue=residue,
        hgvs_c=hgvs_c,
        hgvs_p=hgvs_p,
        vaf=vaf,
        quantification="anchored" if library == "amplicon" else "coverage",
        depth_unit="molecules" if clone.molecules is not None else "templates",
        reads=clone.proportion,
        tracked=clone.tracked,
        microclone_ratio=settings.microclone_ratio,
        evidence=dict(clone.evidence),
    )


@dataclass(frozen=True)
class ItdResult:
    """FLT3 insertion findings of one sample, with how they were made."""

    findings: tuple[ItdFinding, ...]
    library: Library
    candidates: int
    region: Region
    scan: InsertionScan


def call_flt3_itd(
    source: AlignmentSource,
    *,
    read_filter: ReadFilter | None = None,
    settings: ItdSettings | None = None,
    counts: FilterCounts | None = None,
    known: Sequence[Insertion] = (),
) -> ItdResult:
    """Find and quantify every FLT3 insertion clone in an open alignment file.

    Args:
        source: Open BAM/CRAM (build and chromosome naming already detected).
        read_filter: Which records count (defaults: MAPQ 20, mean base quality 20, duplicates
            dropped).
        settings: Caller thresholds.
        counts: Filled with the per-reason record counts of the FLT3 window.
        known: Tracked alleles (left-normalised), quantified and reported even when absent.

    Returns:
        The findings, best supported first, and the library type used for quantification.

    Raises:
        RegionError: When the BAM has no reads in the FLT3 window.
        InputFileError: When the file turns out to be corrupt while reading.
    """
    active = settings or ItdSettings()
    window = reference_window("FLT3", source.genome.build)
    annotation = flt3(source.genome.build)
    scan = scan_insertions(
        source, window, read_filter=read_filter, settings=active, counts=counts, known=known
    )
    chrom = scan.region.chrom
    findings = tuple(
        _annotate(clone, window, annotation, chrom, scan.library, active) for clone in scan.clones
    )
    return ItdResult(findings, scan.library, scan.candidates, scan.region, scan)
