"""count_site on real simulated BAMs (mappy alignments, MD tags, UMIs, marked duplicates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pysam
import pytest
from scipy.stats import binom

from mrd.catalog import reference_window
from mrd.errors import InputFileError, RegionError
from mrd.genome import Build
from mrd.markers.sites import SiteCount, count_site
from mrd.markers.tracked import TrackedMarker
from mrd.ngs.alignment import AlignmentSource, open_alignments
from mrd.ngs.filters import ReadFilter
from mrd.simulate import Indel, SimulationSpec, Snv, UmiSpec, simulate

WINDOW = reference_window("FLT3", Build.GRCH38)
VAF = 0.05

# Sites in the FLT3 window, far enough apart (> 2 x 50 bp) that no site is in another's
# background. The deletion takes one AG out of the AGAGAGA run at 28033676-82, the insertion
# adds a GTG to the GTGGTGGTG run at 28033525-33.
SNV_POS = 28034100
SNV_ALT = "A" if WINDOW.base(SNV_POS) != "A" else "C"
DELETION = (28033678, "AGA", "A")
INSERTION = (28033527, "G", "GGTG")
MNV_POS = 28034400
DELINS_POS = 28034250

# The same deletion and insertion written at other places in their repeats, as a diagnostic
# caller that does not left-normalise might have written them.
DELETION_FORMS = [
    (28033675, "AAG", "A"),
    (28033676, "AGA", "A"),
    (28033678, "AGA", "A"),
    (28033679, "GAG", "G"),
    (28033680, "AGA", "A"),
]
INSERTION_FORMS = [
    (28033524, "C", "CGTG"),
    (28033525, "G", "GTGG"),
    (28033527, "G", "GGTG"),
    (28033528, "G", "GTGG"),
    (28033533, "G", "GGTG"),
]


def _swap(base: str) -> str:
    return {"A": "C", "C": "G", "G": "T", "T": "A"}[base]


def _mnv() -> tuple[int, str, str]:
    ref = WINDOW.slice(MNV_POS, MNV_POS + 1)
    return MNV_POS, ref, "".join(_swap(b) for b in ref)


def _delins() -> tuple[int, str, str]:
    ref = WINDOW.slice(DELINS_POS, DELINS_POS + 2)
    # Two bases become three new ones: neither allele is a prefix of the other.
    return DELINS_POS, ref[:2], _swap(ref[0]) + _swap(ref[1]) + _swap(_swap(ref[1]))


def _marker(variant: tuple[int, str, str], name: str | None = None) -> TrackedMarker:
    position, ref, alt = variant
    return TrackedMarker("13", position, ref, alt, gene="FLT3", name=name)


def _applied(position: int, ref: str, alt: str) -> str:
    """The window with a VCF-style change applied, to check that marker forms are equivalent."""
    assert WINDOW.slice(position, position + len(ref) - 1) == ref
    offset = position - WINDOW.start
    return WINDOW.sequence[:offset] + alt + WINDOW.sequence[offset + len(ref) :]


SNV = (SNV_POS, WINDOW.base(SNV_POS), SNV_ALT)
THREE = {"snv": SNV, "deletion": DELETION, "insertion": INSERTION}


@dataclass
class Sample:
    bam: Path
    truth: dict[str, Any]


def _simulate(folder: Path, name: str, seed: int, spec: SimulationSpec) -> Sample:
    result = simulate(spec, folder / f"{name}.bam", seed=seed)
    return Sample(result.bam, json.loads(result.truth_path.read_text()))


@pytest.fixture(scope="module")
def mutant(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    spec = SimulationSpec.of(
        (Snv(*SNV), VAF),
        (Indel(*DELETION), VAF),
        (Indel(*INSERTION), VAF),
        (Indel(*_mnv()), VAF),
        (Indel(*_delins()), VAF),
        depth=1500,
        genes=("FLT3",),
    )
    return _simulate(tmp_path_factory.mktemp("sites"), "mutant", 11, spec)


@pytest.fixture(scope="module")
def wild_type(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    spec = SimulationSpec(depth=1000, genes=("FLT3",))
    return _simulate(tmp_path_factory.mktemp("sites"), "wild_type", 12, spec)


@pytest.fixture(scope="module")
def umi_sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    spec = SimulationSpec.of(
        (Snv(*SNV), 0.1),
        (Indel(*DELETION), 0.1),
        (Indel(*INSERTION), 0.1),
        depth=1200,
        genes=("FLT3",),
        umi=UmiSpec(family_size_mean=3),
        mark_duplicates=True,
    )
    return _simulate(tmp_path_factory.mktemp("sites"), "umi", 13, spec)


_COUNTS: dict[tuple[str, tuple[int, str, str], bool], SiteCount] = {}


def _count(
    sample: Sample, variant: tuple[int, str, str], *, drop_duplicates: bool = True
) -> SiteCount:
    """Count a marker once per sample and setting: several tests look at the same count."""
    key = (str(sample.bam), variant, drop_duplicates)
    if key not in _COUNTS:
        with open_alignments(sample.bam) as source:
            _COUNTS[key] = count_site(
                source, _marker(variant), read_filter=ReadFilter(drop_duplicates=drop_duplicates)
            )
    return _COUNTS[key]


@pytest.fixture
def open_sample() -> Iterator[Any]:
    opened: list[AlignmentSource] = []

    def opener(sample: Sample) -> AlignmentSource:
        source = open_alignments(sample.bam)
        opened.append(source)
        return source

    yield opener
    for source in opened:
        source.close()


def _assert_vaf(count: SiteCount, vaf: float) -> None:
    low, high = binom.interval(0.999, count.depth_templates, vaf)
    assert count.depth_templates > 500
    assert low <= count.alt_templates <= high, count.as_dict()


def _truth_variant(sample: Sample, kind: str) -> tuple[int, str, str]:
    (found,) = [v for v in sample.truth["variants"] if v["type"] == kind]
    return int(found["pos"]), str(found["ref"]), str(found["alt"])


def test_snv_vaf_within_binomial_interval(mutant: Sample) -> None:
    count = _count(mutant, SNV)
    _assert_vaf(count, VAF)
    assert count.read_filter.is_consistent()
    assert count.read_filter.used > count.depth_templates  # mates and uncovering reads
    assert count.alt_molecules is None and count.ref_molecules is None  # no UMIs


@pytest.mark.parametrize("form", DELETION_FORMS)
def test_deletion_counted_wherever_the_marker_places_it(
    mutant: Sample, form: tuple[int, str, str]
) -> None:
    assert _applied(*form) == _applied(*DELETION)  # truly the same allele
    count = _count(mutant, form)
    _assert_vaf(count, VAF)
    normalised = _count(mutant, _truth_variant(mutant, "deletion"))
    assert (count.alt_templates, count.ref_templates) == (
        normalised.alt_templates,
        normalised.ref_templates,
    )
    assert count.background_event == "2-bp deletion"


@pytest.mark.parametrize("form", INSERTION_FORMS)
def test_insertion_counted_wherever_the_marker_places_it(
    mutant: Sample, form: tuple[int, str, str]
) -> None:
    assert _applied(*form) == _applied(*INSERTION)  # truly the same allele
    count = _count(mutant, form)
    _assert_vaf(count, VAF)
    normalised = _count(mutant, _truth_variant(mutant, "insertion"))
    assert (count.alt_templates, count.ref_templates) == (
        normalised.alt_templates,
        normalised.ref_templates,
    )
    assert count.background_event == "3-bp insertion"


def test_mnv_and_delins(mutant: Sample) -> None:
    mnv = _count(mutant, _mnv())
    assert mnv.marker.kind == "MNV"
    _assert_vaf(mnv, VAF)
    assert mnv.background_event == "2-base substitution"
    delins = _count(mutant, _delins())
    assert delins.marker.kind == "complex"
    _assert_vaf(delins, VAF)


def test_wild_type_sample_has_no_alt(wild_type: Sample) -> None:
    for variant in THREE.values():
        count = _count(wild_type, variant)
        assert count.alt_templates == 0, count.as_dict()
        assert count.ref_templates > 300
        assert count.conflicting <= 2


def test_background_of_a_clean_sample_is_small(wild_type: Sample) -> None:
    for variant in THREE.values():
        count = _count(wild_type, variant)
        assert count.background_depth > 10 * count.depth_templates
        assert count.background_alt / count.background_depth < 0.01, count.as_dict()
    assert _count(wild_type, SNV).background_event == f"{SNV[1]}>{SNV[2]}"


def test_background_does_not_count_the_site_itself(mutant: Sample) -> None:
    for variant in THREE.values():
        count = _count(mutant, variant)
        assert count.alt_templates > 50
        assert count.background_alt / count.background_depth < 0.01, count.as_dict()


def _molecules_at(sample: Sample, position: int, haplotype: str) -> tuple[int, int]:
    """Distinct molecules (from the simulator's read names) over a position: mutant, all."""
    mutant: set[str] = set()
    every: set[tuple[str, str]] = set()
    with pysam.AlignmentFile(str(sample.bam)) as bam:
        for read in bam.fetch("chr13", position - 1, position):
            if read.is_secondary or read.is_supplementary or read.is_unmapped:
                continue
            # MRDSIM:1:<gene>:<haplotype>:<molecule>:<strand>:<copy>
            fields = (read.query_name or "").split(":")
            every.add((fields[3], fields[4]))
            if fields[3] == haplotype:
                mutant.add(fields[4])
    return len(mutant), len(every)


@pytest.mark.parametrize("kind", ["snv", "deletion", "insertion"])
def test_umi_families_count_molecules(umi_sample: Sample, kind: str) -> None:
    variant = THREE[kind]
    haplotype = {"snv": "h1", "deletion": "h2", "insertion": "h3"}[kind]
    count = _count(umi_sample, variant, drop_duplicates=False)
    assert count.alt_molecules is not None and count.ref_molecules is not None
    assert count.alt_templates > count.alt_molecules > 0
    assert count.ref_templates > count.ref_molecules > 0
    # Every ALT molecule is one of the simulated mutant molecules over the site (give or take a
    # family split by a UMI error); some are lost to reads that end inside the repeat or carry
    # errors in all their copies.
    mutant_here, all_here = _molecules_at(umi_sample, variant[0], haplotype)
    assert 0.7 * mutant_here <= count.alt_molecules <= mutant_here + 2
    depth = count.alt_molecules + count.ref_molecules
    assert 0.7 * all_here <= depth <= all_here + 2
    # The molecular VAF agrees with the truth's molecule numbers of the haplotype.
    haplotypes = umi_sample.truth["genes"]["FLT3"]["haplotypes"]
    fraction = {h["id"]: h["molecules"] for h in haplotypes}[haplotype] / sum(
        h["molecules"] for h in haplotypes
    )
    low, high = binom.interval(0.999, depth, fraction)
    assert low <= count.alt_molecules <= high


def test_marked_duplicates_are_dropped_by_default(umi_sample: Sample, open_sample: Any) -> None:
    kept = _count(umi_sample, SNV, drop_duplicates=False)
    dropped = count_site(open_sample(umi_sample), _marker(SNV))  # the default filter
    assert dropped.depth_templates < kept.depth_templates / 2  # families of ~3 read pairs
    assert dropped.read_filter.as_dict()["duplicate"] > 0
    assert kept.read_filter.as_dict()["duplicate"] == 0
    # One template per molecule remains, so molecules hardly change.
    assert dropped.alt_molecules == pytest.approx(kept.alt_molecules, abs=2)


def test_missing_chromosome_is_a_region_error(wild_type: Sample, open_sample: Any) -> None:
    marker = TrackedMarker("Un_KI270742v1", 100, "A", "C")
    with pytest.raises(RegionError, match="not in the header") as error:
        count_site(open_sample(wild_type), marker)
    assert "\n" not in str(error.value)


def test_site_without_reads_counts_zero(wild_type: Sample, open_sample: Any) -> None:
    count = count_site(open_sample(wild_type), TrackedMarker("13", 1_000_000, "A", "C"))
    assert (count.alt_templates, count.ref_templates, count.conflicting) == (0, 0, 0)
    assert (count.background_alt, count.background_depth) == (0, 0)
    assert count.read_filter.fetched == 0


def test_ref_disagreeing_with_the_alignments_is_refused(
    wild_type: Sample, open_sample: Any
) -> None:
    wrong = _swap(WINDOW.base(SNV_POS))
    marker = TrackedMarker("13", SNV_POS, wrong, _swap(wrong))
    with pytest.raises(InputFileError, match="another genome build"):
        count_site(open_sample(wild_type), marker)


def test_as_dict_is_json_ready(mutant: Sample, open_sample: Any) -> None:
    count = count_site(open_sample(mutant), _marker(DELETION, name="FLT3 del"))
    data = count.as_dict()
    json.dumps(data)
    assert data["marker"] == "FLT3 del"
    assert data["depth_templates"] == count.alt_templates + count.ref_templates
    assert data["kind"] == "deletion"
    assert data["read_filter"]["fetched"] == count.read_filter.fetched
