"""Many BAMs through one call (mrd.batch): same results as one at a time, failures listed."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

from mrd.batch import CALLS_TABLE, BatchOutcome, call_batch, file_stem, plan_batch
from mrd.call import CallSettings, call_sample
from mrd.errors import MrdError
from mrd.ngs.filters import ReadFilter

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
SETTINGS = CallSettings(read_filter=ReadFilter(drop_duplicates=False))
GOOD = ("P001-DX", "P001-EOC", "P001-FU1")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Three demo BAMs and a truncated copy of one, which must fail alone."""
    folder = tmp_path_factory.mktemp("inputs")
    paths = []
    for name in GOOD:
        for suffix in (".bam", ".bam.bai"):
            shutil.copy(DEMO / f"{name}{suffix}", folder / f"{name}{suffix}")
        paths.append(str(folder / f"{name}.bam"))
    data = (DEMO / "P001-C2.bam").read_bytes()
    broken = folder / "broken.bam"
    broken.write_bytes(data[: len(data) // 2])
    shutil.copy(DEMO / "P001-C2.bam.bai", folder / "broken.bam.bai")
    paths.insert(1, str(broken))
    return paths


def _table(folder: Path) -> list[dict[str, str]]:
    with (folder / CALLS_TABLE).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_matches_single_calls_and_lists_the_failure(
    inputs: list[str], tmp_path: Path, workers: int
) -> None:
    seen: list[tuple[int, int, BatchOutcome]] = []
    result = call_batch(
        inputs, tmp_path, settings=SETTINGS, workers=workers, progress=lambda *a: seen.append(a)
    )
    assert [o.alignment for o in result.outcomes] == inputs
    assert [o.ok for o in result.outcomes] == [True, False, True, True]
    failed = result.failed[0]
    assert failed.error is not None and "\n" not in failed.error
    assert "broken.bam" in failed.error
    assert sorted(done for done, _, _ in seen) == [1, 2, 3, 4]
    assert all(total == 4 for _, total, _ in seen)
    for name, path in zip(GOOD, (inputs[0], inputs[2], inputs[3]), strict=True):
        written = json.loads((tmp_path / f"{name}.call.json").read_text())
        alone = call_sample(path, settings=SETTINGS).as_dict()
        assert written == json.loads(json.dumps(alone))
        assert (tmp_path / f"{name}.findings.tsv").exists()
        assert (tmp_path / f"{name}.vcf.gz").exists()
    # Nothing was written for the broken file, and no staged file is left behind.
    assert not list(tmp_path.glob("broken*"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    rows = _table(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "ok"]
    assert rows[0]["sample"] == "P001-DX" and rows[0]["json"] == "P001-DX.call.json"
    assert rows[1]["error"] == failed.error


def test_two_files_of_one_sample_are_refused_before_any_work(
    inputs: list[str], tmp_path: Path
) -> None:
    twin = tmp_path / "twin"
    twin.mkdir()
    for suffix in (".bam", ".bam.bai"):
        shutil.copy(DEMO / f"P001-DX{suffix}", twin / f"copy{suffix}")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MrdError, match="both sample 'P001-DX'"):
        call_batch([inputs[0], str(twin / "copy.bam")], out, settings=SETTINGS)
    assert list(out.iterdir()) == []


def test_given_names_must_cover_every_file(inputs: list[str]) -> None:
    with pytest.raises(MrdError, match="2 sample names given for 4 files"):
        plan_batch(inputs, samples=["a", "b"])
    planned, refused = plan_batch(inputs, samples=["a", "b", "c", "d"])
    assert [s for _, s in planned] == ["a", "b", "c", "d"] and refused == []


def test_missing_output_folder(inputs: list[str], tmp_path: Path) -> None:
    with pytest.raises(MrdError, match="output folder does not exist"):
        call_batch(inputs[:1], tmp_path / "nope", settings=SETTINGS)


@pytest.mark.parametrize(
    ("sample", "stem"),
    [
        ("P001-DX", "P001-DX"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("<b>x</b>", "_b_x__b_"),
        ("...", "sample"),
        ("a b/c\\d", "a_b_c_d"),
    ],
)
def test_file_stem_stays_inside_the_folder(sample: str, stem: str) -> None:
    assert file_stem(sample) == stem
    assert "/" not in stem and "\\" not in stem and not stem.startswith(".")


def test_cli_calls_many_files_and_exits_1_when_one_fails(inputs: list[str], tmp_path: Path) -> None:
    run = run_cli(["call", *inputs, "--out-dir", str(tmp_path), "--keep-duplicates"])
    assert run.code == 1, run.stderr
    failures = [line for line in run.error_lines if line.startswith("mrd: ")]
    assert len(failures) == 1 and "broken.bam failed:" in failures[0]
    assert "3 of 4 file(s) called" in run.stdout
    assert [r["status"] for r in _table(tmp_path)] == ["ok", "failed", "ok", "ok"]
    assert sorted(p.name for p in tmp_path.glob("*.call.json")) == [f"{n}.call.json" for n in GOOD]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ([], "several files need --out-dir"),
        (["--out-dir", "OUT", "--json", "x.json"], "--json name one sample's output"),
        (["--out-dir", "OUT", "--sample", "S1"], "--sample name one sample's output"),
    ],
)
def test_cli_batch_usage_errors(
    inputs: list[str], tmp_path: Path, extra: list[str], words: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    extra = [str(out) if e == "OUT" else e for e in extra]
    run = run_cli(["call", inputs[0], inputs[2], *extra])
    assert run.code == 2 and words in run.stderr
    assert list(out.iterdir()) == []


def test_cli_dask_needs_several_files(inputs: list[str], tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    run = run_cli(["call", inputs[0], "--dask-scheduler", "tcp://x:1", "--json", str(out)])
    assert run.code == 2 and "--dask-scheduler is for several files" in run.stderr
    assert not out.exists()


def test_a_sample_whose_files_cannot_be_written_fails_alone_with_none_of_them(
    inputs: list[str], tmp_path: Path
) -> None:
    (tmp_path / "P001-EOC.vcf.gz").mkdir()  # something in the way of its last file
    result = call_batch(inputs, tmp_path, settings=SETTINGS)
    by_sample = {o.sample: o for o in result.outcomes}
    failed = by_sample["P001-EOC"]
    assert failed.error is not None and "P001-EOC.vcf.gz" in failed.error
    assert failed.result is None and failed.files == {}
    assert not (tmp_path / "P001-EOC.call.json").exists()
    assert not (tmp_path / "P001-EOC.findings.tsv").exists()
    assert (tmp_path / "P001-EOC.vcf.gz").is_dir()  # not ours: left alone
    assert by_sample["P001-DX"].ok and by_sample["P001-FU1"].ok
    row = next(r for r in _table(tmp_path) if r["sample"] == "P001-EOC")
    assert (row["status"], row["findings"], row["sample_mrd"]) == ("failed", "", "")


def test_outputs_never_replace_an_input(inputs: list[str], tmp_path: Path) -> None:
    markers = tmp_path / "P001-DX.call.json"  # the diagnosis result, used as --markers
    markers.write_text(json.dumps(call_sample(inputs[0], settings=SETTINGS).as_dict()))
    before = markers.read_bytes()
    with pytest.raises(MrdError, match="which is the input"):
        call_batch(inputs[:1], tmp_path, settings=SETTINGS, inputs=[str(markers)])
    assert markers.read_bytes() == before
    args = ["call", inputs[0], inputs[2], "--out-dir", str(tmp_path), "--keep-duplicates"]
    run = run_cli([*args, "--markers", str(markers)])
    assert run.code == 2 and "which is the input" in run.stderr
    assert markers.read_bytes() == before
