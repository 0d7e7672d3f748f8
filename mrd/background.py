"""Panel-of-normals background model: per-site, per-allele error rates fitted from normals.

Why a panel: an MRD call asks whether a handful of mutant units can be errors. The honest answer
needs the error rate of *this* event at *this* position, and one sample cannot measure that for
the allele it is being tested for (its own alt units there are the question). Samples without the
leukemia, sequenced with the same assay, can: at each marker position, and for each insertion
allele, they show how many alt units errors alone produce and how much that varies from sample
to sample. Fitting a beta-binomial per position (or per allele) over the normals, as deepSNV and
shearwater do, gives mean ``mu`` and overdispersion ``rho`` (domain.md §5). Without a model,
``mrd call`` estimates the background from the sample itself (other junctions in the window,
the same event at neighbouring positions) and says so in every result.

What the model holds (:class:`BackgroundModel`):

* ``insertion``: per gene window, the chance that one template shows a false insertion junction
  at one site, the same quantity a sample's own insertion scan estimates (junction templates
  that belong to no reported allele, over templates times junction sites per read). It serves
  insertion alleles the panel has no specific entry for.
* ``alleles``: per left-normalised insertion allele, its alt units over informative units in
  each normal. Every allele reported in some normal is fitted (a recurrent artefact, or a normal
  that is not clean), and the catalog's NPM1 types always are, since they are the commonest MRD
  markers; tracked insertion markers given at build time are fitted too.
* ``sites``: per tracked SNV/indel marker, alt over informative units at its site in each
  normal, counted as ``mrd call`` counts it.

Counts are in molecules (UMI families) when the normals carry UMIs, else templates; a panel must
be one or the other. The model is a JSON file (schema ``mrd-background``, see
docs/background.md) written atomically.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mrd.catalog import CATALOG_VERSION, ReferenceWindow, npm1, reference_window
from mrd.errors import GenomeBuildError, InputFileError, MrdError, RegionError
from mrd.genome import Build
from mrd.markers.flt3_itd import ItdSettings
from mrd.markers.insertions import InsertionScan, InsertionSettings, scan_insertions
from mrd.markers.npm1 import Npm1Settings
from mrd.markers.realign import Insertion, left_normalise_insertion
from mrd.markers.sites import count_site
from mrd.markers.tracked import TrackedMarker
from mrd.ngs.alignment import AlignmentSource, open_alignments
from mrd.ngs.fetch import has_records, iter_region
from mrd.ngs.filters import ReadFilter
from mrd.ngs.region import Region
from mrd.output import write_json
from mrd.stats.sensitivity import Background

log = logging.getLogger(__name__)

MODEL_SCHEMA = "mrd-background"
MODEL_VERSION = "1.0"
"""Version of the model file; readers accept any 1.x (the major number changes on breaks)."""

GENES = ("FLT3", "NPM1")
"""Catalog windows whose insertions the model covers, in the order the file lists them."""

MIN_NORMALS = 2
"""Fewest normals a model is built from: overdispersion (sample-to-sample spread) needs two."""

PANEL_SOURCE = "panel-of-normals"

_ALLELE_KEY = re.compile(r"([A-Za-z0-9_.-]+):([0-9]+):([ACGT]+)")
_SITE_KEY = re.compile(r"([^:\s]+):([0-9]+):([ACGT]+):([ACGT]+)")
_UNITS = ("molecules", "templates")


def allele_key(gene: str, allele: Insertion) -> str:
    """The model key of an insertion allele: ``GENE:after:inserted`` (left-normalised window)."""
    return f"{gene.upper()}:{allele.after}:{allele.inserted}"


def site_key(marker: TrackedMarker) -> str:
    """The model key of a tracked site marker: its ``chrom:pos:ref:alt`` (chrom without chr)."""
    return ":".join(str(part) for part in marker.key)


def catalog_alleles(build: Build) -> dict[str, Insertion]:
    """The catalog's NPM1 types as left-normalised NPM1-window alleles, by type name.

    The catalog stores each type 3'-shifted after a c. position (HGVS); the insertion engine
    keys alleles left-normalised on the window, so the two are converted here once.
    """
    annotation = npm1(build)
    window = reference_window("NPM1", build)
    alleles: dict[str, Insertion] = {}
    for known in annotation.known_types:
        offset = annotation.genomic_position(known.after_c) - window.start
        alleles[known.name] = Insertion(
            *left_normalise_insertion(window.sequence, offset, known.inserted)
        )
    return alleles


def window_insertion(marker: TrackedMarker, window: ReferenceWindow) -> Insertion | None:
    """A tracked marker as a left-normalised insertion allele of a catalog window, if it is one.

    ``mrd call`` searches such markers with the insertion engine rather than at their site, so
    their background must be an allele entry, not a site entry.

    Raises:
        InputFileError: When the marker's REF is not the window's base there (another build).
    """
    inside = marker.chrom == window.chrom and window.start < marker.position < window.end
    if not inside or marker.kind != "insertion" or len(marker.ref) != 1:
        return None
    offset = marker.position - window.start
    if window.sequence[offset] != marker.ref:
        raise InputFileError(
            f"marker {marker.label}: REF {marker.ref} is not the {window.build} reference base "
            f"({window.sequence[offset]}) there; markers from another genome build?"
        )
    return Insertion(*left_normalise_insertion(window.sequence, offset, marker.alt[1:]))


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class BackgroundModel:
    """Error models fitted over a panel of normal samples, looked up by ``mrd call``.

    Attributes:
        build: Genome build of every normal; a model serves samples of that build only.
        samples: Names of the normals used (read-group SM, else the file name).
        insertion: Per gene window (``FLT3``, ``NPM1``): per-site, per-template rate of any false
            insertion junction; the fallback for an allele without an entry of its own.
        alleles: Per :func:`allele_key`: that allele's alt over informative units in the normals.
        sites: Per :func:`site_key`: a tracked SNV/indel's alt over informative units.
        unit: ``molecules`` (UMI families) or ``templates``: what the allele and site counts
            count. The per-site insertion rates are per template either way, as a sample's own
            estimate is.
        read_filter: The read filter the normals were counted with; samples should use the same.
    """

    build: Build
    samples: tuple[str, ...]
    insertion: dict[str, Background]
    alleles: dict[str, Background]
    sites: dict[str, Background]
    unit: str = "templates"
    read_filter: ReadFilter = field(default_factory=ReadFilter)

    def insertion_background(self, gene: str, allele: Insertion) -> Background | None:
        """The background of an insertion allele of a gene window.

        The allele's own entry when the panel measured it; otherwise the window's generic
        junction rate; None when the panel did not cover the window (the caller then falls back
        to the sample's own estimate).
        """
        specific = self.alleles.get(allele_key(gene, allele))
        if specific is not None:
            return specific
        return self.insertion.get(gene.upper())

    def site_background(self, marker: TrackedMarker) -> Background | None:
        """The background of a tracked SNV/indel marker, or None when it was not in the panel."""
        return self.sites.get(site_key(marker))

    def to_dict(self) -> dict[str, Any]:
        """The model as written to JSON (schema ``mrd-background``)."""
        from mrd import __version__

        read_filter = self.read_filter
        return {
            "schema": MODEL_SCHEMA,
            "schema_version": MODEL_VERSION,
            "mrd_version": __version__,
            "catalog_version": CATALOG_VERSION,
            "genome_build": self.build.value,
            "samples": list(self.samples),
            "unit": self.unit,
            "read_filter": {
                "min_mapq": read_filter.min_mapq,
                "min_mean_base_quality": read_filter.min_mean_base_quality,
                "drop_duplicates": read_filter.drop_duplicates,
            },
            "insertion": {k: v.as_dict() for k, v in self.insertion.items()},
            "alleles": {k: v.as_dict() for k, v in self.alleles.items()},
            "sites": {k: v.as_dict() for k, v in self.sites.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, *, origin: str = "background model") -> BackgroundModel:
        """Read a model written by :meth:`to_dict`, checking every field.

        A model decides which counts are called positive, so a damaged or foreign file is
        refused rather than read in part.

        Args:
            data: The parsed JSON.
            origin: What to call the model in messages (its path, when read from a file).

        Raises:
            InputFileError: One line naming the first problem.
        """
        read = _Reader(origin)
        top = read.mapping(data, "the top level")
        schema = top.get("schema")
        if schema != MODEL_SCHEMA:
            raise read.fail(f"schema is {schema!r}, not {MODEL_SCHEMA!r}; not a background model")
        version = top.get("schema_version")
        if not isinstance(version, str) or version.split(".")[0] != MODEL_VERSION.split(".")[0]:
            raise read.fail(
                f"schema_version {version!r} is not supported (this mrd reads "
                f"{MODEL_VERSION.split('.')[0]}.x)"
            )
        build_text = read.text(top.get("genome_build"), "genome_build")
        try:
            build = Build(build_text)
        except ValueError:
            raise read.fail(f"unknown genome_build {build_text!r}") from None
        samples = read.sequence(top.get("samples"), "samples")
        names = tuple(read.text(s, "samples[]") for s in samples)
        if not names:
            raise read.fail("samples is empty")
        unit = read.text(top.get("unit"), "unit")
        if unit not in _UNITS:
            raise read.fail(f"unit {unit!r} is not one of {', '.join(_UNITS)}")
        filter_data = read.mapping(top.get("read_filter"), "read_filter")
        read_filter = ReadFilter(
            min_mapq=read.integer(filter_data.get("min_mapq"), "read_filter.min_mapq"),
            min_mean_base_quality=read.number(
                filter_data.get("min_mean_base_quality"), "read_filter.min_mean_base_quality"
            ),
            drop_duplicates=read.boolean(
                filter_data.get("drop_duplicates"), "read_filter.drop_duplicates"
            ),
        )
        insertion = read.backgrounds(top.get("insertion"), "insertion", None)
        alleles = read.backgrounds(top.get("alleles"), "alleles", _ALLELE_KEY)
        sites = read.backgrounds(top.get("sites"), "sites", _SITE_KEY)
        return cls(build, names, insertion, alleles, sites, unit, read_filter)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as JSON; the file appears only once complete.

        Raises:
            OutputError: When the folder is missing or not writable.
        """
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BackgroundModel:
        """Read a model file.

        Raises:
            InputFileError: When the file is missing, unreadable, not JSON or not a valid model.
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputFileError(f"background model not found: {file}") from None
        except IsADirectoryError:
            raise InputFileError(f"background model is a directory: {file}") from None
        except UnicodeDecodeError:
            raise InputFileError(f"{file} is not a background model (not UTF-8 text)") from None
        except OSError as exc:
            raise InputFileError(f"cannot read background model {file}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                f"{file} is not a background model (invalid JSON at line {exc.lineno}: {exc.msg})"
            ) from None
        return cls.from_dict(data, origin=str(file))


class _Reader:
    """Type checks for :meth:`BackgroundModel.from_dict`, each failing with one line."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, problem: str) -> InputFileError:
        return InputFileError(f"malformed background model {self.origin}: {problem}")

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{where} must be an object, not {_json_type(value)}")
        return value

    def sequence(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(f"{where} must be a list, not {_json_type(value)}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where} must be a non-empty string, not {_json_type(value)}")
        return value

    def integer(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"{where} must be a whole number >= 0, not {value!r}")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{where} must be a number, not {_json_type(value)}")
        if not math.isfinite(value):
            raise self.fail(f"{where} must be finite, not {value!r}")
        return float(value)

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(f"{where} must be true or false, not {_json_type(value)}")
        return value

    def backgrounds(
        self, value: Any, where: str, key_pattern: re.Pattern[str] | None
    ) -> dict[str, Background]:
        entries = self.mapping(value, where)
        out: dict[str, Background] = {}
        for key, entry in entries.items():
            if key_pattern is not None and not key_pattern.fullmatch(key):
                raise self.fail(f"{where} key {key!r} is not a valid key")
            if key_pattern is None and not key.strip():
                raise self.fail(f"{where} has an empty key")
            at = f"{where}[{key!r}]"
            fields = self.mapping(entry, at)
            mu = self.number(fields.get("mu"), f"{at}.mu")
            rho = self.number(fields.get("rho"), f"{at}.rho")
            source = self.text(fields.get("source"), f"{at}.source")
            n_samples = self.integer(fields.get("n_samples"), f"{at}.n_samples")
            try:
                out[key] = Background(mu=mu, rho=rho, source=source, n_samples=n_samples)
            except ValueError as exc:
                raise self.fail(f"{at}: {exc}") from None
        return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# Counting one normal


@dataclass
class _Tally:
    """Per-normal (alt, depth) of one model entry, in panel order; None: no data in that normal."""

    counts: list[tuple[int, int] | None] = field(default_factory=list)

    def fit(self) -> Background | None:
        """The beta-binomial over the normals with depth, or None when none had any."""
        observed = [c for c in self.counts if c is not None and c[1] > 0]
        if not observed:
            return None
        alt = [a for a, _ in observed]
        depth = [d for _, d in observed]
        return Background.fit(alt, depth, source=f"{PANEL_SOURCE} (n={len(observed)})")


@dataclass
class _GeneScan:
    """What one normal shows in one gene window.

    Attributes:
        errors: Templates with a junction that belongs to no reported allele.
        opportunities: Templates times junction sites per template: the depth of the per-site
            rate, in the same terms as the scan's own ``error_rate``.
        alleles: (alt, total) of every allele the scan reported, in the scan's unit.
        found: Alleles reported without being asked for (seen in this normal).
        unit: ``molecules`` or ``templates``.
    """

    errors: int
    opportunities: int
    alleles: dict[Insertion, tuple[int, int]]
    found: set[Insertion]
    unit: str


def _settings(gene: str) -> InsertionSettings:
    """The insertion settings ``mrd call`` uses for the window by default."""
    return ItdSettings() if gene == "FLT3" else Npm1Settings()


def _region(source: AlignmentSource, window: ReferenceWindow) -> Region:
    return Region(source.genome.chrom(window.chrom), window.start, window.end, window.gene)


def _opportunities(
    source: AlignmentSource, region: Region, read_filter: ReadFilter, settings: InsertionSettings
) -> float:
    """Templates times junction sites per template, as the insertion scan counts them.

    The scan reports its per-site error rate, not the counts behind it; the counts are wanted
    here because a beta-binomial fit weighs each normal by its depth. The scan looks at the
    templates of the used records (plus the rare unmapped read placed beside its mate) and
    takes ``median read length - 2 x seed_anchor`` junction sites per template. Counting the
    used records again gives the same number up to those rare reads, a difference far too small
    to move the rounded error count of a normal.
    """
    names: set[str] = set()
    lengths: list[int] = []
    for read, reason in iter_region(source, region, read_filter, allow_empty=True):
        sequence = read.query_sequence
        if reason is None and sequence:
            names.add(read.query_name or "")
            lengths.append(len(sequence))
    if not names:
        return 0.0
    sites = max(1.0, float(np.median(lengths)) - 2 * settings.seed_anchor)
    return len(names) * sites


def _scan_gene(
    source: AlignmentSource,
    window: ReferenceWindow,
    read_filter: ReadFilter,
    known: Sequence[Insertion],
) -> _GeneScan | None:
    """Scan one window of one normal; None when the normal has no reads there."""
    region = _region(source, window)
    if not has_records(source, region):
        return None
    settings = _settings(window.gene)
    scan = scan_insertions(source, window, read_filter=read_filter, settings=settings, known=known)
    opportunities = _opportunities(source, region, read_filter, settings)
    # error_rate = (errors + 0.5) / opportunities, so the error count comes back exactly.
    errors = max(0, round(scan.error_rate * opportunities - 0.5)) if opportunities else 0
    wanted = set(known)
    return _GeneScan(
        errors=errors,
        opportunities=round(opportunities),
        alleles=_allele_counts(scan),
        found={c.allele for c in scan.clones if c.allele not in wanted},
        unit=scan.unit,
    )


def _allele_counts(scan: InsertionScan) -> dict[Insertion, tuple[int, int]]:
    return {c.allele: (c.counted.alt, c.counted.total) for c in scan.clones}


def _sample_name(source: AlignmentSource) -> str:
    samples = source.samples
    if len(samples) == 1:
        return samples[0]
    name = source.path.name
    for suffix in (".bam", ".cram"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _open(
    path: Path, reference: str | os.PathLike[str] | None, build: Build | None
) -> AlignmentSource:
    """Open a normal and check its build, naming the file in any build error."""
    try:
        source = open_alignments(path, reference=reference)
    except GenomeBuildError as exc:
        raise GenomeBuildError(f"{path}: {exc}") from None
    if build is not None and source.genome.build is not build:
        found = source.genome.build
        source.close()
        raise GenomeBuildError(
            f"{path} is {found} but the panel is {build}; every normal must be one build"
        )
    return source


def _route_markers(
    markers: Iterable[TrackedMarker], windows: Mapping[str, ReferenceWindow]
) -> tuple[dict[str, list[Insertion]], list[TrackedMarker]]:
    """Split markers as ``mrd call`` does: window insertions to the engine, the rest to sites."""
    alleles: dict[str, list[Insertion]] = {gene: [] for gene in windows}
    sites: list[TrackedMarker] = []
    for marker in markers:
        for gene, window in windows.items():
            allele = window_insertion(marker, window)
            if allele is not None:
                if allele not in alleles[gene]:
                    alleles[gene].append(allele)
                break
        else:
            if marker not in sites:
                sites.append(marker)
    return alleles, sites


def _unique_names(names: list[str], paths: list[Path]) -> list[str]:
    """Sample names, with the file name added where two normals share one."""
    return [
        f"{name} ({path.name})" if names.count(name) > 1 else name
        for name, path in zip(names, paths, strict=True)
    ]


# --------------------------------------------------------------------------------------------
# Building


def build_background(
    bams: Sequence[str | os.PathLike[str]],
    *,
    markers: Sequence[TrackedMarker] = (),
    read_filter: ReadFilter | None = None,
    reference: str | os.PathLike[str] | None = None,
    build: Build | str | None = None,
) -> BackgroundModel:
    """Fit the background model over a panel of normal BAM/CRAM files.

    Each normal is scanned as ``mrd call`` would scan a sample (same insertion engine and
    default settings, same site counting), so the rates describe the counts a call compares
    them with. Every allele reported in any normal is then counted in every normal (a second
    scan asks for it where it was not reported), because a normal that shows an allele zero
    times is as informative as one that shows it five times.

    Every normal must be the same genome build. At least two normals are needed: a
    beta-binomial fits how much the error rate varies between samples, which one sample cannot
    show. A window without reads in a normal (a panel lacking the gene) is skipped for that
    normal, and an entry no normal covers is left out of the model, so ``mrd call`` falls back
    to the sample's own estimate there rather than use a rate nobody measured.

    Args:
        bams: Normal samples: coordinate-sorted, indexed BAM or CRAM.
        markers: Tracked markers to fit: insertions in the FLT3/NPM1 windows as alleles, all
            other markers at their sites.
        read_filter: Which records count; use the one the samples will be called with.
        reference: Genome FASTA (needed for CRAM).
        build: Genome build the normals must be; by default the first normal's.

    Returns:
        The fitted model.

    Raises:
        MrdError: Fewer than two normals, or one file given twice.
        GenomeBuildError: A normal of another build (the message names the file).
        InputFileError: An unreadable normal, a marker whose REF does not match, or normals
            that count in different units (some with UMIs, some without).
        RegionError: No normal has reads in any window or marker site.
    """
    if isinstance(bams, (str, os.PathLike)):
        bams = [bams]
    paths = [Path(b) for b in bams]
    if len(paths) < MIN_NORMALS:
        raise MrdError(
            f"a background model needs at least {MIN_NORMALS} normal samples, got {len(paths)}: "
            "the sample-to-sample spread of the error rate cannot be fitted from fewer"
        )
    seen_paths: dict[Path, Path] = {}
    for path in paths:
        resolved = path.resolve()
        if resolved in seen_paths:
            raise MrdError(f"normal {path} is given twice; each normal must count once")
        seen_paths[resolved] = path
    active_filter = read_filter or ReadFilter()
    panel_build = Build.parse(build) if isinstance(build, str) else build

    # Open every normal first, so a wrong file fails before minutes of scanning.
    names: list[str] = []
    for path in paths:
        with _open(path, reference, panel_build) as source:
            panel_build = source.genome.build
            names.append(_sample_name(source))
    assert panel_build is not None
    windows = {gene: reference_window(gene, panel_build) for gene in GENES}
    asked, site_markers = _route_markers(markers, windows)
    for allele in catalog_alleles(panel_build).values():
        if allele not in asked["NPM1"]:
            asked["NPM1"].append(allele)

    scans: list[dict[str, _GeneScan]] = []
    site_counts: dict[str, _Tally] = {site_key(m): _Tally() for m in site_markers}
    units: dict[str, set[str]] = {}
    for path in paths:
        log.info("background: scanning %s", path)
        with _open(path, reference, panel_build) as source:
            per_gene: dict[str, _GeneScan] = {}
            for gene, window in windows.items():
                scanned = _scan_gene(source, window, active_filter, asked[gene])
                if scanned is not None:
                    per_gene[gene] = scanned
                    units.setdefault(scanned.unit, set()).add(str(path))
            for marker in site_markers:
                count = count_site(source, marker, read_filter=active_filter)
                tally = site_counts[site_key(marker)]
                if count.alt_molecules is not None and count.depth_molecules is not None:
                    tally.counts.append((count.alt_molecules, count.depth_molecules))
                    units.setdefault("molecules", set()).add(str(path))
                else:
                    tally.counts.append((count.alt_templates, count.depth_templates))
                    if count.depth_templates:
                        units.setdefault("templates", set()).add(str(path))
        scans.append(per_gene)
    unit = _panel_unit(units)
    if not any(scans) and not any(t.fit() for t in site_counts.values()):
        raise _no_reads(paths, windows)

    found = {gene: {a for s in scans if gene in s for a in s[gene].found} for gene in windows}
    _count_everywhere(paths, scans, found, asked, windows, active_filter, reference, panel_build)

    insertion: dict[str, Background] = {}
    alleles: dict[str, Background] = {}
    for gene in windows:
        generic = _Tally(
            [(s[gene].errors, s[gene].opportunities) if gene in s else None for s in scans]
        )
        fitted = generic.fit()
        if fitted is None:
            log.warning("no normal has reads in the %s window; the model leaves it out", gene)
            continue
        insertion[gene] = fitted
        for allele in sorted(set(asked[gene]) | found[gene], key=lambda a: (a.after, a.inserted)):
            per_allele = _Tally([s[gene].alleles.get(allele) if gene in s else None for s in scans])
            _warn_if_carried(gene, allele, per_allele, names, unit)
            background = per_allele.fit()
            if background is not None:
                alleles[allele_key(gene, allele)] = background
    sites: dict[str, Background] = {}
    for key, tally in site_counts.items():
        background = tally.fit()
        if background is None:
            log.warning("no normal has reads at marker %s; the model leaves it out", key)
            continue
        sites[key] = background
    return BackgroundModel(
        build=panel_build,
        samples=tuple(_unique_names(names, paths)),
        insertion=insertion,
        alleles=alleles,
        sites=sites,
        unit=unit,
        read_filter=active_filter,
    )


def _no_reads(paths: Sequence[Path], windows: Mapping[str, ReferenceWindow]) -> RegionError:
    """The error for a panel with no reads anywhere the model looks: wrong files or panel."""
    where = ", ".join(f"{w.gene} {w.chrom}:{w.start}-{w.end}" for w in windows.values())
    return RegionError(
        f"none of the {len(paths)} normals has reads in {where} or at a marker site; "
        "are these the right files and panel?"
    )


def _panel_unit(units: Mapping[str, set[str]]) -> str:
    """The one unit every normal counts in; a panel mixing UMI and non-UMI data is refused.

    Molecule and template error rates differ by the whole point of UMIs (families out-vote PCR
    and sequencing errors), so a fit over both would describe neither assay.
    """
    if len(units) > 1:
        with_umis = sorted(units.get("molecules", set()))
        without = sorted(units.get("templates", set()) - set(with_umis))
        raise InputFileError(
            f"normals differ in unit: {with_umis[0]} has UMIs (counts molecules) but "
            f"{without[0] if without else 'another normal'} has none (counts templates); "
            "a panel of normals must come from one assay"
        )
    return next(iter(units), "templates")


def _count_everywhere(
    paths: Sequence[Path],
    scans: list[dict[str, _GeneScan]],
    found: Mapping[str, set[Insertion]],
    asked: Mapping[str, Sequence[Insertion]],
    windows: Mapping[str, ReferenceWindow],
    read_filter: ReadFilter,
    reference: str | os.PathLike[str] | None,
    build: Build,
) -> None:
    """Count each allele reported in some normal in every other normal with that window.

    The first scan reports an allele only above the reporting threshold; where it was not
    reported, a second scan asks for it (tracked alleles are counted down to zero), so the fit
    sees its zeros too. Only the missing alleles' counts are taken from the second scan.
    """
    for path, per_gene in zip(paths, scans, strict=True):
        missing = {
            gene: sorted(found[gene] - set(scan.alleles), key=lambda a: (a.after, a.inserted))
            for gene, scan in per_gene.items()
        }
        if not any(missing.values()):
            continue
        with _open(path, reference, build) as source:
            for gene, alleles in missing.items():
                if not alleles:
                    continue
                known = [*asked[gene], *alleles]
                rescan = scan_insertions(
                    source,
                    windows[gene],
                    read_filter=read_filter,
                    settings=_settings(gene),
                    known=known,
                )
                counts = _allele_counts(rescan)
                for allele in alleles:
                    per_gene[gene].alleles[allele] = counts.get(allele, (0, 0))


def _warn_if_carried(
    gene: str, allele: Insertion, tally: _Tally, names: Sequence[str], unit: str
) -> None:
    """Warn about a normal that shows an allele in several units: it may not be a normal.

    A true mutation in a "normal" (a mislabelled patient sample, contamination) raises that
    allele's background and with it the level a patient sample needs to be called positive.
    It is kept, as the panel is the lab's choice, but said.
    """
    threshold = InsertionSettings().min_alt_templates
    for name, count in zip(names, tally.counts, strict=True):
        if count is None or count[0] < threshold:
            continue
        alt, total = count
        log.warning(
            "normal %s shows %s in %d/%d %s (%.2g); if it is a true mutation this is not a "
            "normal and it raises that allele's background",
            name,
            allele_key(gene, allele),
            alt,
            total,
            unit,
            alt / total if total else math.nan,
        )
