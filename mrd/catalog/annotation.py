"""FLT3 and NPM1 annotation: exons, c. and p. positions, domains and known NPM1 types.

Kept apart from the marker code so a report, the simulator and the callers all name positions
the same way. FLT3 is on the minus strand, so c. numbering runs against genomic coordinates.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from mrd.catalog.windows import catalog_data
from mrd.genome import Build

CATALOG_VERSION: str = str(catalog_data()["catalog_version"])


@dataclass(frozen=True)
class Exon:
    """One exon with both numbering systems.

    Attributes:
        number: Exon number in the current NM_004119 numbering (older papers say 11/12 for 14/15).
        c_start: First coding position (c.) in transcript order.
        c_end: Last coding position (c.) in transcript order.
        g_start: Lowest genomic position (1-based) on the build.
        g_end: Highest genomic position (1-based) on the build.
    """

    number: int
    c_start: int
    c_end: int
    g_start: int
    g_end: int


@dataclass(frozen=True)
class Domain:
    """A protein region given by residue numbers; ``p_end`` None means it runs past the window."""

    name: str
    p_start: int
    p_end: int | None
    description: str

    def contains(self, residue: int) -> bool:
        """Whether residue ``residue`` (1-based) falls in this region."""
        return residue >= self.p_start and (self.p_end is None or residue <= self.p_end)


def _gene(name: str) -> dict[str, Any]:
    genes = catalog_data()["genes"]
    assert isinstance(genes, dict)
    gene: dict[str, Any] = genes[name]
    return gene


@dataclass(frozen=True)
class Flt3Annotation:
    """FLT3 exons 13-15 on one build, with minus-strand c./p. conversion."""

    build: Build
    transcript: str
    chrom: str
    exons: tuple[Exon, ...]
    domains: tuple[Domain, ...]
    subdomains: tuple[Domain, ...]

    def exon_at(self, position: int) -> Exon | None:
        """The exon holding a genomic position, or None for intronic positions."""
        for exon in self.exons:
            if exon.g_start <= position <= exon.g_end:
                return exon
        return None

    def c_position(self, position: int) -> int | None:
        """The exonic c. position of a genomic position, or None when it is intronic."""
        exon = self.exon_at(position)
        if exon is None:
            return None
        return exon.c_start + (exon.g_end - position)

    def c_notation(self, position: int) -> str:
        """HGVS-style c. position, with an intronic offset (``1704+12``) outside exons.

        Intronic positions are named from the nearer exon boundary, as HGVS asks. On the minus
        strand a genomic position above an exon lies upstream (5') of it in the transcript.
        """
        c = self.c_position(position)
        if c is not None:
            return str(c)
        best: tuple[int, str] | None = None
        for exon in self.exons:
            if position > exon.g_end:  # 5' of this exon in transcript order
                distance = position - exon.g_end
                candidate = (distance, f"{exon.c_start}-{distance}")
            else:  # 3' of this exon
                distance = exon.g_start - position
                candidate = (distance, f"{exon.c_end}+{distance}")
            if best is None or candidate[0] < best[0]:
                best = candidate
        assert best is not None
        return best[1]

    def genomic_position(self, c: int) -> int:
        """The genomic position of an exonic c. position within the catalog's exons."""
        for exon in self.exons:
            if exon.c_start <= c <= exon.c_end:
                return exon.g_end - (c - exon.c_start)
        raise ValueError(f"c.{c} is outside FLT3 exons {[e.number for e in self.exons]}")

    def exon_of_c(self, c: int) -> Exon | None:
        """The exon holding a c. position, or None outside the catalog's exons."""
        for exon in self.exons:
            if exon.c_start <= c <= exon.c_end:
                return exon
        return None

    def itd_site_c(self, first: int, last: int) -> int | None:
        """The 3'-most (highest) exonic c. position of a genomic segment, or None."""
        coding = [c for g in range(first, last + 1) if (c := self.c_position(g)) is not None]
        return max(coding) if coding else None

    def itd_site_residue(self, first: int, last: int) -> int | None:
        """The residue an ITD's copy is inserted after: the 3'-most exonic residue duplicated.

        Labs split ITDs into JMD and TKD1 by this insertion site. On the minus strand the
        3'-most (highest c.) base of a genomic segment is its lowest exonic position, so a
        segment reaching into an intron is still placed by its coding part. None when the
        segment holds no exonic base.
        """
        site = self.itd_site_c(first, last)
        return self.residue(site) if site is not None else None

    @staticmethod
    def residue(c: int) -> int:
        """The codon (p. residue) a c. position belongs to."""
        return math.ceil(c / 3)

    def domain_of(self, residue: int) -> str:
        """``JMD``, ``TKD1`` or ``other`` for a residue, the split labs report ITDs by."""
        for domain in self.domains:
            if domain.contains(residue):
                return domain.name
        return "other"

    def subdomain_of(self, residue: int) -> str | None:
        """The JMD sub-region (binding motif, switch, zipper, hinge) of a residue, if any."""
        for domain in self.subdomains:
            if domain.contains(residue):
                return domain.name
        return None


@dataclass(frozen=True)
class Npm1Type:
    """A named NPM1 exon-12 insertion, stored as 3'-shifted (HGVS) insertion after ``after_c``."""

    name: str
    after_c: int
    inserted: str
    hgvs: str
    protein: str | None


@dataclass(frozen=True)
class Npm1Annotation:
    """NPM1 last exon on one build: c. offset, the region where frameshifts count, known types."""

    build: Build
    transcript: str
    chrom: str
    c_offset: int
    coding_c_start: int
    coding_c_end: int
    known_types: tuple[Npm1Type, ...]

    def c_position(self, position: int) -> int:
        """The c. position of a genomic position (plus strand, within the last exon)."""
        return position - self.c_offset

    def genomic_position(self, c: int) -> int:
        """The genomic position of a c. position in the last exon."""
        return c + self.c_offset

    @property
    def coding_region(self) -> tuple[int, int]:
        """Genomic span (1-based, inclusive) where a frameshift insertion is an NPM1 mutation."""
        return self.genomic_position(self.coding_c_start), self.genomic_position(self.coding_c_end)

    def type_named(self, name: str) -> Npm1Type:
        """A known type by name (``A``, ``B``, ``D``...)."""
        for known in self.known_types:
            if known.name == name.upper():
                return known
        raise ValueError(f"unknown NPM1 type {name!r}; known: {[t.name for t in self.known_types]}")


@functools.cache
def flt3(build: Build) -> Flt3Annotation:
    """FLT3 annotation on ``build``."""
    data = _gene("FLT3")
    exons = tuple(
        Exon(e["number"], e["c_start"], e["c_end"], e[build.value][0], e[build.value][1])
        for e in data["exons"]
    )

    def domains(key: str) -> tuple[Domain, ...]:
        return tuple(
            Domain(d["name"], d["p_start"], d["p_end"], d["description"]) for d in data[key]
        )

    return Flt3Annotation(
        build=build,
        transcript=data["transcript"],
        chrom=data["chromosome"],
        exons=exons,
        domains=domains("domains"),
        subdomains=domains("subdomains"),
    )


@functools.cache
def npm1(build: Build) -> Npm1Annotation:
    """NPM1 annotation on ``build``."""
    data = _gene("NPM1")
    return Npm1Annotation(
        build=build,
        transcript=data["transcript"],
        chrom=data["chromosome"],
        c_offset=data["c_to_g_offset"][build.value],
        coding_c_start=data["mutable_coding_region"]["c_start"],
        coding_c_end=data["mutable_coding_region"]["c_end"],
        known_types=tuple(
            Npm1Type(t["name"], t["after_c"], t["inserted"], t["hgvs"], t["protein"])
            for t in data["known_types"]
        ),
    )
