"""Panel-of-normals background model, built from simulated normal BAMs (real alignments)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mrd.background import (
    MODEL_SCHEMA,
    BackgroundModel,
    allele_key,
    build_background,
    catalog_alleles,
    site_key,
)
from mrd.catalog import reference_window
from mrd.cli import main
from mrd.errors import GenomeBuildError, InputFileError, MrdError
from mrd.genome import Build
from mrd.markers.realign import Insertion
from mrd.markers.tracked import TrackedMarker, write_markers_tsv
from mrd.simulate import Npm1Insertion, SimulationSpec, UmiSpec, simulate

DEPTH = 1500  # read pairs per amplicon: small, so the module runs in seconds
SNV_POSITION = 28034100  # GRCh38, inside the FLT3 amplicon, read by both mates


def _normal(
    folder: Path, name: str, seed: int, *variants: tuple[Npm1Insertion, float], **params: Any
) -> Path:
    params.setdefault("depth", DEPTH)
    params.setdefault("genes", ("FLT3", "NPM1"))
    spec = SimulationSpec.of(*variants, mode="amplicon", sample=name, **params)
    return simulate(spec, folder / f"{name}.bam", seed=seed).bam


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("normals")


@pytest.fixture(scope="module")
def normals(folder: Path) -> list[Path]:
    return [_normal(folder, f"N{i}", 70 + i) for i in range(3)]


@pytest.fixture(scope="module")
def snv() -> TrackedMarker:
    window = reference_window("FLT3", Build.GRCH38)
    ref = window.base(SNV_POSITION)
    alt = "A" if ref != "A" else "C"
    return TrackedMarker("13", SNV_POSITION, ref, alt, gene="FLT3")


@pytest.fixture(scope="module")
def model(normals: list[Path], snv: TrackedMarker) -> BackgroundModel:
    return build_background(normals, markers=[snv])


def test_wild_type_normals_give_small_rates_and_npm1_type_entries(
    model: BackgroundModel,
) -> None:
    assert model.build is Build.GRCH38
    assert model.samples == ("N0", "N1", "N2") and model.unit == "templates"
    for gene in ("FLT3", "NPM1"):
        rate = model.insertion[gene]
        assert 0.0 < rate.mu < 1e-5
        assert rate.source == "panel-of-normals (n=3)" and rate.n_samples == 3
    types = catalog_alleles(Build.GRCH38)
    assert sorted(types) == ["A", "B", "D"]
    for allele in types.values():
        entry = model.alleles[allele_key("NPM1", allele)]
        # No normal shows the types: the pseudo-count keeps mu above 0, at 0.5 / panel depth.
        assert 0.0 < entry.mu < 1e-3 and entry.rho == 0.0 and entry.n_samples == 3


def test_lookups_prefer_the_allele_and_fall_back_to_the_window(model: BackgroundModel) -> None:
    type_a = catalog_alleles(Build.GRCH38)["A"]
    assert model.insertion_background("NPM1", type_a) == model.alleles[allele_key("NPM1", type_a)]
    other = Insertion(200, "GATTACA")
    assert model.insertion_background("FLT3", other) == model.insertion["FLT3"]
    empty = replace(model, insertion={}, alleles={})
    assert empty.insertion_background("FLT3", other) is None


def test_type_a_sits_where_the_engine_keys_it() -> None:
    window = reference_window("NPM1", Build.GRCH38)
    # VCF 5:171410539 C>CTCTG, the left-normalised type A of the simulator's truth.
    assert catalog_alleles(Build.GRCH38)["A"] == Insertion(171410539 - window.start, "TCTG")


def test_marker_sites_get_a_background(model: BackgroundModel, snv: TrackedMarker) -> None:
    site = model.site_background(snv)
    assert site is not None and site == model.sites[site_key(snv)]
    assert 0.0 < site.mu < 1e-2 and site.source == "panel-of-normals (n=3)"
    other = TrackedMarker("13", SNV_POSITION + 1, "A", "G")
    assert model.site_background(other) is None


def test_save_and_load_round_trip(model: BackgroundModel, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    model.save(path)
    data = json.loads(path.read_text())
    assert data["schema"] == MODEL_SCHEMA and data["genome_build"] == "GRCh38"
    assert BackgroundModel.load(path) == model


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(schema="mrd-call"),
        lambda d: d.update(schema_version="2.0"),
        lambda d: d["insertion"]["FLT3"].update(mu=1.5),
        lambda d: d["insertion"]["FLT3"].pop("rho"),
        lambda d: d["alleles"].update({"NPM1:x:TCTG": d["insertion"]["FLT3"]}),
        lambda d: d.update(samples="N0"),
        lambda d: d.update(genome_build="hg17"),
    ],
)
def test_malformed_model_is_refused_in_one_line(
    model: BackgroundModel, tmp_path: Path, damage: object
) -> None:
    data = model.to_dict()
    assert callable(damage)
    damage(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputFileError, match="malformed background model") as info:
        BackgroundModel.load(path)
    assert "\n" not in str(info.value)


def test_unreadable_model_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        BackgroundModel.load(tmp_path / "absent.json")
    truncated = tmp_path / "cut.json"
    truncated.write_text('{"schema": "mrd-background", "insert')
    with pytest.raises(InputFileError, match="invalid JSON"):
        BackgroundModel.load(truncated)


def test_normals_of_two_builds_are_refused(normals: list[Path], folder: Path) -> None:
    other = _normal(folder, "N37", 80, build=Build.GRCH37)
    with pytest.raises(GenomeBuildError, match=r"N37\.bam is GRCh37"):
        build_background([normals[0], other])


def test_at_least_two_distinct_normals(normals: list[Path]) -> None:
    with pytest.raises(MrdError, match="at least 2"):
        build_background(normals[:1])
    with pytest.raises(MrdError, match="twice"):
        build_background([normals[0], normals[0]])


def test_contaminated_normal_raises_its_allele_only(normals: list[Path], folder: Path) -> None:
    carrier = _normal(folder, "NA", 90, (Npm1Insertion("A"), 0.002), depth=4000)
    model = build_background([*normals, carrier])
    types = catalog_alleles(Build.GRCH38)
    type_a = model.alleles[allele_key("NPM1", types["A"])]
    type_b = model.alleles[allele_key("NPM1", types["B"])]
    assert type_a.mu > 2 * type_b.mu
    assert type_a.n_samples == 4 and type_a.source == "panel-of-normals (n=4)"


def test_cli_builds_the_model(
    normals: list[Path], snv: TrackedMarker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markers = tmp_path / "markers.tsv"
    write_markers_tsv([snv], markers)
    out = tmp_path / "model.json"
    args = ["background", "build", *map(str, normals), "-o", str(out), "--markers", str(markers)]
    assert main(args) == 0
    model = BackgroundModel.load(out)
    assert site_key(snv) in model.sites and set(model.insertion) == {"FLT3", "NPM1"}
    printed = capsys.readouterr().out
    assert "FLT3:" in printed and "NPM1:" in printed and "alleles: 3; sites: 1" in printed


def test_cli_missing_normal_is_one_line_and_writes_nothing(
    normals: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.json"
    missing = tmp_path / "absent.bam"
    with pytest.raises(SystemExit) as info:
        main(["background", "build", str(normals[0]), str(missing), "-o", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"mrd: error: alignment file not found: {missing}\n"
    assert list(tmp_path.iterdir()) == []


def test_a_window_missing_from_a_normal_is_skipped_for_it(
    normals: list[Path], folder: Path
) -> None:
    npm1_only = _normal(folder, "NPM1only", 100, genes=("NPM1",))
    model = build_background([*normals[:2], npm1_only])
    assert model.insertion["FLT3"].n_samples == 2
    assert model.insertion["NPM1"].source == "panel-of-normals (n=3)"


def test_normals_with_and_without_umis_are_refused(normals: list[Path], folder: Path) -> None:
    with_umis = _normal(folder, "NUMI", 110, umi=UmiSpec(), depth=500)
    with pytest.raises(InputFileError, match="differ in unit"):
        build_background([normals[0], with_umis])


def test_call_uses_the_model_and_says_so(
    model: BackgroundModel, snv: TrackedMarker, folder: Path, tmp_path: Path
) -> None:
    from mrd.call import CallSettings, call_sample
    from mrd.cli import main
    from mrd.ngs import ReadFilter

    sample = _normal(folder, "S1", 90, (Npm1Insertion("A"), 0.05))
    settings = CallSettings(
        read_filter=ReadFilter(drop_duplicates=False), markers=(snv,), background=model
    )
    data = call_sample(sample, settings=settings).as_dict()
    sources = {f["marker"]: f["mrd"]["background_source"] for f in data["findings"]}
    assert sources["NPM1"].startswith("panel-of-normals")
    assert sources["SNV"].startswith("panel-of-normals")
    assert data["settings"]["background"]["samples"] == 3
    saved = tmp_path / "model.json"
    model.save(saved)
    out = tmp_path / "call.json"
    args = ["call", str(sample), "--keep-duplicates", "--background", str(saved)]
    assert main([*args, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["settings"]["background"]["samples"] == 3
