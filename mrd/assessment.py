"""From counts to MRD calls: per-marker limits and calls, and the pooled sample-level call.

Each finding of ``mrd call`` carries its counts in one unit (molecules with UMIs, else
templates). Here each gets a background error model, from a panel of normals when one is given
and otherwise from the sample itself (and the result says which), and from that its limit of
blank, LoD95, p-value and call (:mod:`mrd.stats.sensitivity`). The patient's informative markers
are then pooled into one sample-level test, leaving out clonal-haematopoiesis (DTA) genes and
likely germline variants, which persist in remission and would make every sample positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mrd.markers.insertions import Proportion
from mrd.markers.sites import SiteCount
from mrd.markers.tracked import TrackedMarker, exclusion_reason
from mrd.stats.sensitivity import (
    Background,
    MarkerAssessment,
    SensitivitySettings,
    assess_marker,
    pooled_assessment,
)

SITE_BACKGROUND_SOURCE = "sample (the same event at neighbouring positions)"


def finding_label(data: dict[str, Any]) -> str:
    """The name a lab would use for an FLT3 or NPM1 finding, the same in every report.

    ``NPM1 type A c.860_863dup``, ``FLT3-ITD c.1750_1791dup (42 bp)``; a tracked marker keeps
    the name its marker file gave it instead.
    """
    if data.get("name"):
        return str(data["name"])
    if data["marker"] == "NPM1":
        kind = f"NPM1 type {data['npm1_type']}" if data.get("npm1_type") else "NPM1"
        return f"{kind} {data['hgvs_c']}"
    if data["marker"].startswith("FLT3"):
        return f"{data['marker']} {data['hgvs_c']} ({data['length']} bp)"
    return f"{data['marker']} {data.get('hgvs_c') or ''}".strip()


def insertion_background(error_rate: float, source: str) -> Background:
    """Background of an insertion marker from its window's per-site error rate."""
    return Background(mu=min(max(error_rate, 0.0), 0.5), rho=0.0, source=source)


def site_background(count: SiteCount) -> Background:
    """Background of an SNV/indel marker from the same event at neighbouring positions.

    Half a count is added so a clean neighbourhood never claims an error rate of zero.
    """
    mu = (count.background_alt + 0.5) / (count.background_depth + 1)
    return Background(mu=min(mu, 0.5), rho=0.0, source=SITE_BACKGROUND_SOURCE)


@dataclass(frozen=True)
class SiteFinding:
    """A tracked SNV or small indel counted in this sample (found or not).

    Attributes:
        count: The site's evidence.
        chrom: Chromosome as this file names it.
    """

    count: SiteCount
    chrom: str

    @property
    def marker(self) -> TrackedMarker:
        """The tracked marker."""
        return self.count.marker

    @property
    def counted(self) -> Proportion:
        """Molecules when the reads carried UMIs, else templates."""
        count = self.count
        if count.alt_molecules is not None and count.depth_molecules is not None:
            return Proportion.of(count.alt_molecules, count.depth_molecules)
        return Proportion.of(count.alt_templates, count.depth_templates)

    @property
    def depth_unit(self) -> str:
        """``molecules`` or ``templates``."""
        return "molecules" if self.count.alt_molecules is not None else "templates"

    def as_dict(self) -> dict[str, Any]:
        """The finding as written to JSON (schema ``mrd-call`` 1.x)."""
        marker, count, vaf = self.marker, self.count, self.counted
        return {
            "marker": marker.kind,
            "gene": marker.gene,
            "name": marker.label,
            "chrom": self.chrom,
            "position": marker.position,
            "ref": marker.ref,
            "alt": marker.alt,
            "length": abs(len(marker.alt) - len(marker.ref)),
            "inserted_sequence": (
                marker.alt[len(marker.ref) :] if marker.alt.startswith(marker.ref) else ""
            ),
            **vaf.as_counts(self.depth_unit),
            "reads": {"alt": count.alt_templates, "depth": count.depth_templates},
            "conflicting": count.conflicting,
            "tracked": True,
            "background": {
                "event": count.background_event,
                "alt": count.background_alt,
                "depth": count.background_depth,
            },
        }


@dataclass(frozen=True)
class PooledMrd:
    """The sample-level MRD call over the patient's informative markers.

    Attributes:
        assessment: The pooled test, or None when no marker was informative.
        markers: Labels of the markers pooled.
        left_out: ``(label, reason)`` of markers not pooled, so a reader sees why.
    """

    assessment: MarkerAssessment | None
    markers: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        """As written to JSON under the result's ``mrd`` key."""
        return {
            **(self.assessment.as_dict() if self.assessment is not None else {"call": None}),
            "markers": list(self.markers),
            "left_out": [{"marker": m, "reason": r} for m, r in self.left_out],
        }


@dataclass(frozen=True)
class Informative:
    """One marker's counts and background, as the pooled test takes them."""

    label: str
    alt: int
    depth: int
    background: Background
    tracked: TrackedMarker | None


def assess(
    proportion: Proportion, background: Background, settings: SensitivitySettings, unit: str
) -> MarkerAssessment:
    """The MRD assessment of one marker's counts."""
    return assess_marker(proportion.alt, proportion.total, background, settings, unit=unit)


def pool(
    markers: Sequence[Informative],
    settings: SensitivitySettings,
    unit: str,
    *,
    include_dta: bool = False,
    include_germline: bool = False,
) -> PooledMrd:
    """Pool informative markers into one sample-level test (INVAR-style).

    Markers with no depth cannot inform the test and are listed as left out, as are DTA and
    likely germline markers unless asked for.
    """
    used: list[Informative] = []
    left_out: list[tuple[str, str]] = []
    for marker in markers:
        reason = (
            exclusion_reason(
                marker.tracked, include_dta=include_dta, include_germline=include_germline
            )
            if marker.tracked is not None
            else None
        )
        if reason is None and marker.depth == 0:
            reason = "no informative reads at the site"
        if reason is None:
            used.append(marker)
        else:
            left_out.append((marker.label, reason))
    if not used:
        return PooledMrd(None, (), tuple(left_out))
    pooled = pooled_assessment([(m.alt, m.depth, m.background) for m in used], settings, unit=unit)
    return PooledMrd(pooled, tuple(m.label for m in used), tuple(left_out))
