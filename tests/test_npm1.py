"""NPM1 insertions on simulated amplicon BAMs: types named, counted, and nothing on wild type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mrd.call import CallSettings, call_sample
from mrd.markers.npm1 import Npm1Finding, right_shift
from mrd.markers.realign import Insertion
from mrd.simulate import Flt3Itd, Npm1Insertion, SimulationSpec, simulate


def _simulate(tmp: Path, name: str, *variants: tuple[Any, float], seed: int, **params: Any) -> Path:
    params.setdefault("depth", 4000)
    params.setdefault("genes", ("NPM1",))
    params.setdefault("mode", "amplicon")
    return simulate(SimulationSpec.of(*variants, **params), tmp / f"{name}.bam", seed=seed).bam


def _npm1(bam: Path) -> list[dict[str, Any]]:
    result = call_sample(bam, settings=CallSettings(genes=("NPM1",)))
    return [f.as_dict() for f in result.findings if isinstance(f, Npm1Finding)]


def _truth(bam: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(bam.with_suffix(".truth.json").read_text())
    return truth


@pytest.mark.parametrize(("kind", "seed"), [("A", 41), ("B", 42), ("D", 43)])
def test_known_types_are_named_and_counted(kind: str, seed: int, tmp_path: Path) -> None:
    bam = _simulate(tmp_path, kind, (Npm1Insertion(kind), 0.05), seed=seed)
    [finding] = _npm1(bam)
    variant = _truth(bam)["variants"][0]
    assert finding["marker"] == "NPM1" and finding["npm1_type"] == kind
    # The truth is left-normalised VCF, which is where B and D really sit (not domain.md's).
    assert (finding["position"], finding["alt"]) == (variant["pos"], variant["alt"])
    assert finding["frameshift"] and finding["in_coding_region"]
    assert finding["hgvs_p"] == "p.(Trp288CysfsTer12)"
    assert finding["vaf_ci_low"] <= 0.05 <= finding["vaf_ci_high"]


def test_type_a_is_a_duplication_in_hgvs(tmp_path: Path) -> None:
    bam = _simulate(tmp_path, "A", (Npm1Insertion("A"), 0.3), seed=44, depth=1000)
    [finding] = _npm1(bam)
    assert finding["hgvs_c"] == "c.860_863dup"


def test_unknown_frameshift_insertion_is_reported_without_a_type(tmp_path: Path) -> None:
    bam = _simulate(tmp_path, "new", (Npm1Insertion(None, inserted="CCGA"), 0.2), seed=45)
    [finding] = _npm1(bam)
    assert finding["marker"] == "NPM1" and finding["npm1_type"] is None
    assert finding["hgvs_c"].startswith("c.") and "ins" in finding["hgvs_c"]


def test_in_frame_insertion_is_not_an_npm1_mutation(tmp_path: Path) -> None:
    bam = _simulate(tmp_path, "inframe", (Npm1Insertion(None, inserted="CCGAAT"), 0.2), seed=46)
    [finding] = _npm1(bam)
    assert finding["marker"] == "NPM1-insertion" and not finding["frameshift"]


def test_wild_type_amplicon_has_no_findings(tmp_path: Path) -> None:
    bam = _simulate(tmp_path, "wt", seed=47, depth=20000)
    assert _npm1(bam) == []


def test_right_shift_puts_type_a_after_c863() -> None:
    from mrd.catalog import npm1, reference_window
    from mrd.genome import Build

    window = reference_window("NPM1", Build.GRCH38)
    annotation = npm1(Build.GRCH38)
    left = Insertion(171410539 - window.start, "TCTG")  # VCF 171410539 C>CTCTG
    after, inserted = right_shift(window.sequence, left)
    assert annotation.c_position(window.start + after) == 863 and inserted == "TCTG"


def test_both_genes_in_one_call_and_a_panel_without_one(tmp_path: Path) -> None:
    both = _simulate(
        tmp_path, "both", (Npm1Insertion("A"), 0.2), (Flt3Itd(30), 0.2), seed=48,
        genes=("FLT3", "NPM1"), depth=1500,
    )  # fmt: skip
    result = call_sample(both).as_dict()
    assert sorted(f["marker"] for f in result["findings"]) == ["FLT3-ITD", "NPM1"]
    assert all(t["analysed"] for t in result["targets"])
    only = _simulate(tmp_path, "only", (Npm1Insertion("A"), 0.2), seed=49, depth=1000)
    result = call_sample(only).as_dict()
    flt3 = next(t for t in result["targets"] if t["gene"] == "FLT3")
    assert flt3["analysed"] is False and flt3["library"] is None
    assert [f["marker"] for f in result["findings"]] == ["NPM1"]


def test_umi_families_are_counted_as_molecules(tmp_path: Path) -> None:
    from mrd.ngs import ReadFilter
    from mrd.simulate import UmiSpec

    bam = _simulate(
        tmp_path, "umi", (Npm1Insertion("A"), 0.02), seed=50, depth=3000, depth_of="molecules",
        umi=UmiSpec(family_size_mean=3, length=12),
    )  # fmt: skip
    haplotypes = _truth(bam)["genes"]["NPM1"]["haplotypes"]
    molecules = {h["id"]: h["molecules"] for h in haplotypes}
    pairs = {h["id"]: h["read_pairs"] for h in haplotypes}
    settings = CallSettings(genes=("NPM1",), read_filter=ReadFilter(drop_duplicates=False))
    [finding] = [f.as_dict() for f in call_sample(bam, settings=settings).findings]
    assert finding["depth_unit"] == "molecules"
    # Every molecule is found once, whatever its number of PCR copies.
    assert abs(finding["alt_count"] - molecules["h1"]) <= 1
    assert abs(finding["depth"] - sum(molecules.values())) <= 0.01 * sum(molecules.values())
    assert finding["reads"]["alt"] == pairs["h1"] > finding["alt_count"]
    # PCR copies do not inflate the VAF: molecules and reads agree on it.
    assert abs(finding["vaf"] - finding["reads"]["alt"] / finding["reads"]["depth"]) < 0.01
