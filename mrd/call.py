"""Call one sample: open the alignments, run each marker caller, gather one result.

This is the function behind ``mrd call``; the CLI only parses options, calls
:func:`call_sample` and writes what it returns.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pysam

from mrd.assessment import (
    Informative,
    PooledMrd,
    SiteFinding,
    assess,
    finding_label,
    insertion_background,
    pool,
    site_background,
)
from mrd.background import BackgroundModel
from mrd.catalog import CATALOG_VERSION, ReferenceWindow, reference_window, verify_reference
from mrd.errors import (
    GenomeBuildError,
    InputFileError,
    MrdError,
    RegionError,
    user_error_behind,
)
from mrd.genome import Build, GenomeInfo, bare_chrom
from mrd.markers.flt3_itd import ItdFinding, ItdResult, ItdSettings, call_flt3_itd
from mrd.markers.insertions import Library, Proportion
from mrd.markers.npm1 import Npm1Finding, Npm1Result, Npm1Settings, call_npm1
from mrd.markers.realign import Insertion, left_normalise_insertion
from mrd.markers.sites import count_site
from mrd.markers.tracked import TrackedMarker
from mrd.ngs.alignment import AlignmentSource, open_alignments
from mrd.ngs.fetch import has_records
from mrd.ngs.filters import FilterCounts, ReadFilter
from mrd.ngs.region import Region
from mrd.stats.sensitivity import Background, MarkerAssessment, SensitivitySettings
from mrd.worker_setup import start_worker, worker_settings

SCHEMA = "mrd-call"
SCHEMA_VERSION = "1.0"
"""Version of the JSON written by ``mrd call``; the major number changes on breaking changes."""

GENES = ("FLT3", "NPM1")
"""Catalog genes ``mrd call`` looks at, in the order findings are listed."""

Finding = ItdFinding | Npm1Finding | SiteFinding


@dataclass(frozen=True)
class CallSettings:
    """Everything that changes a call, gathered so a result can say how it was made."""

    itd: ItdSettings = field(default_factory=ItdSettings)
    npm1: Npm1Settings = field(default_factory=Npm1Settings)
    read_filter: ReadFilter = field(default_factory=ReadFilter)
    genes: tuple[str, ...] = GENES
    sensitivity: SensitivitySettings = field(default_factory=SensitivitySettings)
    markers: tuple[TrackedMarker, ...] = ()
    include_dta: bool = False
    include_germline: bool = False
    background: BackgroundModel | None = None


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
    assessments: tuple[MarkerAssessment, ...] = ()
    pooled: PooledMrd | None = None
    labels: tuple[str, ...] = ()

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
            "chrom_prefix": "chr" if self.genome.chr_prefix else "",
            "library": self.library,
            "settings": {
                "confidence_interval": {"method": "clopper-pearson", "level": 0.95},
                "itd": self.settings.itd.as_dict(),
                "npm1": self.settings.npm1.as_dict(),
                "sensitivity": self.settings.sensitivity.as_dict(),
                "markers": len(self.settings.markers),
                "include_dta": self.settings.include_dta,
                "include_germline": self.settings.include_germline,
                "background": (
                    {
                        "samples": len(self.settings.background.samples),
                        "unit": self.settings.background.unit,
                    }
                    if self.settings.background is not None
                    else None
                ),
                "read_filter": {
                    "min_mapq": read_filter.min_mapq,
                    "min_mean_base_quality": read_filter.min_mean_base_quality,
                    "drop_duplicates": read_filter.drop_duplicates,
                },
            },
            "read_filter": self.read_filter_counts.as_dict(),
            "targets": [t.as_dict() for t in self.targets],
            "findings": [
                {
                    **f.as_dict(),
                    **({"name": label} if label is not None else {}),
                    **({"mrd": a.as_dict()} if a is not None else {}),
                }
                for f, a, label in zip_longest(self.findings, self.assessments, self.labels)
            ],
            "mrd": self.pooled.as_dict() if self.pooled is not None else None,
        }


def sample_name(read_group_samples: list[str], path: Path) -> str:
    """A sample's name: its read groups' one SM, else the file name without .bam/.cram."""
    if len(set(read_group_samples)) == 1:
        return read_group_samples[0]
    name = path.name
    for suffix in (".bam", ".cram"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def call_sample_or_error(
    bam: str | os.PathLike[str], **options: Any
) -> tuple[CallResult | None, str | None]:
    """:func:`call_sample`, with a problem of the user's input returned as its one-line message.

    For runs of many samples, where one bad file must not stop the others. An ``OSError`` from
    closing a broken file can hide the read error that caused it, so the message is that of
    the user error behind it; anything that is no user error (a bug) is raised.
    """
    try:
        return call_sample(bam, **options), None
    except (MrdError, OSError) as exc:
        cause = user_error_behind(exc)
        if cause is None:
            raise
        return None, str(cause)


def _window_insertion(marker: TrackedMarker, window: ReferenceWindow) -> Insertion | None:
    """A tracked marker as an insertion allele of a catalog window, if it is one.

    Raises:
        InputFileError: When the marker's REF is not the reference base there (another build).
    """
    if marker.chrom != window.chrom or not window.start < marker.position < window.end:
        return None
    if not (len(marker.ref) == 1 and len(marker.alt) > 1 and marker.alt[0] == marker.ref):
        return None
    after = marker.position - window.start
    if window.sequence[after] != marker.ref:
        raise InputFileError(
            f"marker {marker.label}: REF {marker.ref} is not the {window.build} reference base "
            f"({window.sequence[after]}) there; markers from another genome build?"
        )
    return Insertion(*left_normalise_insertion(window.sequence, after, marker.alt[1:]))


@dataclass
class _GeneCall:
    target: TargetResult
    findings: tuple[ItdFinding | Npm1Finding, ...] = ()
    error_rate: float = 0.0
    error_source: str = ""
    unit: str = "templates"


def _call_gene(
    source: AlignmentSource, gene: str, settings: CallSettings, known: Sequence[Insertion]
) -> _GeneCall:
    window = reference_window(gene, source.genome.build)
    region = Region(source.genome.chrom(window.chrom), window.start, window.end, gene)
    counts = FilterCounts()
    if not has_records(source, region):
        return _GeneCall(TargetResult(gene, region, False, None, counts, 0))
    result: ItdResult | Npm1Result
    if gene == "FLT3":
        result = call_flt3_itd(
            source,
            read_filter=settings.read_filter,
            settings=settings.itd,
            counts=counts,
            known=known,
        )
    else:
        result = call_npm1(
            source,
            read_filter=settings.read_filter,
            settings=settings.npm1,
            counts=counts,
            known=known,
        )
    scan = result.scan
    target = TargetResult(gene, region, True, result.library, counts, result.candidates)
    return _GeneCall(target, result.findings, scan.error_rate, scan.error_source, scan.unit)


def _call_gene_in_file(
    path: Path,
    reference: str | os.PathLike[str] | None,
    build: Build,
    gene: str,
    settings: CallSettings,
    known: Sequence[Insertion],
) -> _GeneCall:
    """One gene window in a process of its own, which opens the file itself.

    The parent has opened the file already and said what there was to say about it (a stale
    index, say), so this reopening keeps mrd's and htslib's warnings to itself.
    """
    opening = logging.getLogger("mrd.ngs.alignment")
    level = opening.level
    opening.setLevel(logging.ERROR)
    verbosity = pysam.set_verbosity(0)
    try:
        source = open_alignments(path, reference=reference, build=build)
    finally:
        opening.setLevel(level)
        pysam.set_verbosity(verbosity)
    with source:
        return _call_gene(source, gene, settings, known)


def _call_genes(
    source: AlignmentSource,
    reference: str | os.PathLike[str] | None,
    settings: CallSettings,
    known: dict[str, list[Insertion]],
    workers: int,
) -> list[_GeneCall]:
    """Every gene window, in the settings' order; with ``workers`` > 1 the windows at once.

    The windows share nothing until their findings are assessed, and reading each costs a
    Python loop over its records, so a second core nearly halves the wall time of one deep
    sample. Each process opens the file itself (pysam handles cannot cross processes). On Linux
    the processes are forked, so they start at once; elsewhere they are spawned. Either way they
    log, and let htslib speak, as this process does.
    """
    genes = settings.genes
    if workers <= 1 or len(genes) < 2:
        return [_call_gene(source, gene, settings, known[gene]) for gene in genes]
    build = source.genome.build
    try:
        spawn = sys.platform != "linux"
        context = multiprocessing.get_context("spawn" if spawn else "fork")
        # A forked process has this one's logging and htslib setting already; only a spawned
        # one is set up (which would replace a library caller's own log handlers).
        setup = functools.partial(start_worker, (), *worker_settings()) if spawn else None
        with ProcessPoolExecutor(
            min(workers, len(genes)), mp_context=context, initializer=setup
        ) as pool:
            futures = [
                pool.submit(
                    _call_gene_in_file, source.path, reference, build, g, settings, known[g]
                )
                for g in genes
            ]
            return [future.result() for future in futures]
    except BrokenProcessPool as exc:
        raise MrdError(
            f"a process calling {source.path} stopped before it finished (out of memory?); "
            "try --workers 1"
        ) from exc


def call_sample(
    bam: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | None = None,
    build: Build | str | None = None,
    settings: CallSettings | None = None,
    sample: str | None = None,
    make_index: bool = False,
    workers: int = 1,
) -> CallResult:
    """Find and quantify the FLT3-ITD and NPM1 clones and the tracked markers of one BAM/CRAM.

    A gene window without reads is reported as not analysed (a panel may lack it); a file with
    reads in neither window and no tracked marker is an error, since it is almost always the
    wrong file or panel. Every finding gets its MRD assessment (LoB, LoD, p-value, call), and the
    patient's informative markers a pooled sample-level call.

    Args:
        bam: Coordinate-sorted, indexed BAM or CRAM.
        reference: FASTA for CRAM input (checked against the catalog windows).
        build: Genome build, when the header alone should not decide it.
        settings: Caller, read-filter, marker and sensitivity settings.
        sample: Sample name; defaults to the read groups' SM, else the file name.
        make_index: Build a missing index instead of failing.
        workers: Processes for the gene windows (up to one each); the result is the same.

    Returns:
        The call result; nothing is written.

    Raises:
        MrdError: For unreadable input, the wrong build, a missing index, a marker whose REF
            does not match, or no reads in any target window, each with a one-line message.
    """
    active = settings or CallSettings()
    path = Path(bam)
    targets: list[TargetResult] = []
    findings: list[Finding] = []
    backgrounds: list[Background] = []
    units: list[str] = []
    with open_alignments(path, reference=reference, build=build, make_index=make_index) as source:
        build_of = source.genome.build
        if reference is not None:
            # A FASTA of another build or patch decodes CRAM bases wrongly without any error.
            verify_reference(reference, source.genome)
        for marker in active.markers:
            if marker.build is not None and marker.build is not build_of:
                raise GenomeBuildError(
                    f"marker {marker.label} is on {marker.build} but {path} is {build_of}; "
                    "markers cannot be followed across genome builds: align both to one build"
                )
        model = active.background
        if model is not None and model.build is not build_of:
            raise GenomeBuildError(
                f"background model is {model.build} but {path} is {build_of}; build the model "
                "from normals of the sample's build"
            )
        known: dict[str, list[Insertion]] = {gene: [] for gene in active.genes}
        tracked_alleles: dict[tuple[str, Insertion], TrackedMarker] = {}
        site_markers: list[TrackedMarker] = []
        for marker in active.markers:
            for gene in active.genes:
                allele = _window_insertion(marker, reference_window(gene, build_of))
                if allele is not None:
                    known[gene].append(allele)
                    tracked_alleles[(gene, allele)] = marker
                    break
            else:
                site_markers.append(marker)
        calls = _call_genes(source, reference, active, known, workers)
        for gene, called in zip(active.genes, calls, strict=True):
            targets.append(called.target)
            own = insertion_background(called.error_rate, called.error_source)
            window = reference_window(gene, build_of)
            for finding in called.findings:
                background = own
                if model is not None:
                    allele = Insertion(finding.position - window.start, finding.inserted_sequence)
                    background = model.insertion_background(gene, allele) or own
                findings.append(finding)
                backgrounds.append(background)
                units.append(finding.depth_unit)
        for marker in site_markers:
            count = count_site(source, marker, read_filter=active.read_filter)
            site = SiteFinding(count, source.genome.chrom(marker.chrom))
            findings.append(site)
            panel = model.site_background(marker) if model is not None else None
            backgrounds.append(panel if panel is not None else site_background(count))
            units.append(site.depth_unit)
        name = sample or sample_name(source.samples, path)
        genome = source.genome
    if not any(t.analysed for t in targets) and not site_markers:
        windows = ", ".join(f"{t.gene} {t.region}" for t in targets)
        raise RegionError(
            f"no reads in any target window ({windows}) of {path}; is this the right sample "
            "and panel?"
        )
    sensitivity = active.sensitivity
    assessments = tuple(
        assess(_counted(f), bg, sensitivity, unit)
        for f, bg, unit in zip(findings, backgrounds, units, strict=True)
    )
    tracked_by_key = {
        _allele_key(reference_window(gene, genome.build), allele): marker
        for (gene, allele), marker in tracked_alleles.items()
    }
    labels = tuple(
        f.marker.label
        if isinstance(f, SiteFinding)
        else (
            tracked.label
            if (tracked := tracked_by_key.get(_finding_key(f))) is not None and f.tracked
            else finding_label(f.as_dict())
        )
        for f in findings
    )
    informative = _informative(findings, backgrounds, tracked_by_key, bool(active.markers))
    unit = "molecules" if units and all(u == "molecules" for u in units) else "templates"
    pooled = pool(
        informative,
        sensitivity,
        unit,
        include_dta=active.include_dta,
        include_germline=active.include_germline,
    )
    return CallResult(
        sample=name,
        bam=path,
        genome=genome,
        targets=tuple(targets),
        findings=tuple(findings),
        settings=active,
        assessments=assessments,
        pooled=pooled,
        labels=labels,
    )


def _counted(finding: Finding) -> Proportion:
    return finding.counted if isinstance(finding, SiteFinding) else finding.vaf


def _informative(
    findings: Sequence[Finding],
    backgrounds: Sequence[Background],
    tracked_by_key: dict[tuple[str, int, str, str], TrackedMarker],
    have_markers: bool,
) -> list[Informative]:
    """The markers the pooled call uses.

    The tracked markers when a marker file was given (a follow-up); otherwise the FLT3-ITD and
    NPM1 mutations found (a diagnosis sample), as they are the ones a lab would follow.
    """
    chosen: list[Informative] = []
    for finding, background in zip(findings, backgrounds, strict=True):
        counted = _counted(finding)
        if isinstance(finding, SiteFinding):
            chosen.append(
                Informative(
                    finding.marker.label, counted.alt, counted.total, background, finding.marker
                )
            )
            continue
        if have_markers and not finding.tracked:
            continue
        if not have_markers and finding.marker not in ("FLT3-ITD", "NPM1"):
            continue
        tracked = tracked_by_key.get(_finding_key(finding))
        label = tracked.label if tracked is not None else finding_label(finding.as_dict())
        chosen.append(Informative(label, counted.alt, counted.total, background, tracked))
    return chosen


def _finding_key(finding: ItdFinding | Npm1Finding) -> tuple[str, int, str, str]:
    return bare_chrom(finding.chrom), finding.position, finding.ref, finding.alt


def _allele_key(window: ReferenceWindow, allele: Insertion) -> tuple[str, int, str, str]:
    """The left-normalised VCF form of a window allele: how findings are keyed."""
    anchor = window.sequence[allele.after]
    return window.chrom, window.start + allele.after, anchor, anchor + allele.inserted


def normalised_key(marker: TrackedMarker, build: Build) -> tuple[str, int, str, str]:
    """A marker's key after the normalisation ``mrd call`` applies to it.

    Two spellings of one insertion (left- or right-aligned in its repeat) get the same key, so
    a marker from a sheet and the same one found at diagnosis are one marker.
    """
    for gene in GENES:
        window = reference_window(gene, build)
        allele = _window_insertion(marker, window)
        if allele is not None:
            return _allele_key(window, allele)
    return marker.key
