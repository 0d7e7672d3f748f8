"""Fuzzing the options of ``mrd call``, ``mrd lod`` and ``mrd monitor``: no traceback, ever.

Every run must succeed or exit 1 or 2 with its error as the last line of stderr (``mrd: error:``
from the program, ``Error:`` from click's option parsing), never a Python traceback, and a failed
run must not leave the output it was asked for behind. The contents of sample sheets and marker
files are fuzzed in test_samplesheet.py and test_tracked.py; here they are only named, by paths.

Runs go through :func:`mrd.cli.main` in this process (see ``run_cli``), each in a fresh sandbox
folder as working directory. Generated paths are relative and climb at most one level, so no
example can write outside the test's temporary folder even when the tests run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CliRun, run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- option values -----------------------------------------------------------------------------

_NO_NUL = st.characters(exclude_characters="\x00")  # no shell can pass a NUL in an argument

ODD_NUMBERS = (
    "", " ", "nan", "-nan", "NaN", "inf", "-inf", "Infinity", "1e309", "1e-400", "0", "-0",
    "0x10", "1_000", "1,5", ".5", "3.", "+1", "1e3", "true", "None", "\u00bd",
    "\uff11\uff12", "\u0663",
)  # fmt: skip
"""Spellings a number parser may or may not take: Python's float() reads full-width digits."""

NUMBERS = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(ODD_NUMBERS),
    st.text(_NO_NUL, max_size=8),
)
"""Text given where a number is expected: in range, out of it, not finite, not a number."""


def ints(low: int, high: int) -> st.SearchStrategy[str]:
    """A valid integer two times in three, else anything from NUMBERS."""
    valid = st.integers(low, high).map(str)
    return st.one_of(valid, valid, NUMBERS)


def floats(low: float, high: float) -> st.SearchStrategy[str]:
    """A valid number (bounds included) two times in three, else anything from NUMBERS."""
    valid = st.floats(low, high).map(repr)
    return st.one_of(valid, valid, NUMBERS)


_COMPONENT = st.one_of(
    st.text(st.characters(exclude_characters="/\x00"), min_size=1, max_size=16),
    # Linux file names are bytes; Python hands the ones that are not UTF-8 over as surrogates.
    st.binary(min_size=1, max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
).filter(lambda name: "/" not in name and "\x00" not in name and name not in (".", ".."))

INPUT_PATHS = st.one_of(
    st.sampled_from(["", ".", "..", "dir", "in.bam", "file/below", "x" * 300, "missing.tsv"]),
    _COMPONENT,
    st.builds("{}/{}".format, _COMPONENT, _COMPONENT),
)
"""Input paths: empty, folders, the alignment itself, through a file, too long, odd names."""

OUTPUT_PATHS = st.one_of(
    st.sampled_from(["r.out", "dir/r.out", "ünï cödé.out", "../up.out", "pipe.fifo"]), INPUT_PATHS
)
"""Output paths: the same, plus a FIFO, the folder above, and a new file in an existing folder."""


def _options(draw: st.DrawFn, choices: dict[str, st.SearchStrategy[str] | None]) -> list[str]:
    """Some of ``choices`` (flags when the strategy is None), in a drawn order."""
    names = draw(st.lists(st.sampled_from(sorted(choices)), unique=True, max_size=5))
    args: list[str] = []
    for name in names:
        strategy = choices[name]
        args += [name] if strategy is None else [name, draw(strategy)]
    return args


GLOBAL = st.sampled_from([[], ["-v"], ["-vv"], ["--quiet"]])

CALL_OPTIONS: dict[str, st.SearchStrategy[str] | None] = {
    "--min-mapq": ints(0, 255),
    "--min-base-quality": floats(0, 93),
    "--min-alt": ints(1, 50),
    "--required-sensitivity": floats(1e-9, 1),
    "--microclone-ratio": floats(1e-9, 1),
    "--library": st.one_of(st.sampled_from(["auto", "capture", "amplicon"]), st.text(_NO_NUL)),
    "--build": st.one_of(st.sampled_from(["GRCh38", "hg38", "GRCh37"]), st.text(_NO_NUL)),
    "--sample": st.one_of(st.sampled_from(["P1-FU", "S 1", "Müller"]), st.text(_NO_NUL)),
    "--json": OUTPUT_PATHS,
    "--tsv": OUTPUT_PATHS,
    "--vcf": OUTPUT_PATHS,
    "--markers": INPUT_PATHS,
    "--background": INPUT_PATHS,
    "--reference": INPUT_PATHS,
    "--keep-duplicates": None,
    "--include-dta": None,
    "--index": None,
}


def _not_above_one(text: str) -> bool:
    """Whether click's int() would not read ``text`` as more than one worker ("1_000" is 1000)."""
    try:
        return int(text) <= 1
    except ValueError:
        return True


MONITOR_OPTIONS: dict[str, st.SearchStrategy[str] | None] = {
    "--rules": INPUT_PATHS,
    "--required-sensitivity": floats(1e-9, 1),
    "--background": INPUT_PATHS,
    "--min-mapq": ints(0, 255),
    "--min-base-quality": floats(0, 93),
    # Only values that fail before any process starts or any scheduler is dialled: a valid
    # worker count above one spawns interpreters, a valid address waits 30 s for a timeout.
    "--workers": st.one_of(
        st.just("1"),
        st.integers(-(10**6), 0).map(str),
        NUMBERS.filter(_not_above_one),
    ),
    "--keep-duplicates": None,
    "--resume": None,
}


# --- running in a sandbox ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory, sim_bams: dict[str, Path]) -> Path:
    """Holds the sandboxes, two levels down so that '../' stays inside the test's folder."""
    root = tmp_path_factory.mktemp("fuzz")
    for name in ("dx38", "fu38"):
        shutil.copy(sim_bams[name], root / f"{name}.bam")
        shutil.copy(f"{sim_bams[name]}.bai", root / f"{name}.bam.bai")
    (root / "samplesheet.tsv").write_text(
        "patient\tsample\tbam\tdate\ttimepoint\ttissue\n"
        "P1\tP1-DX\tdx38.bam\t2025-01-14\tdiagnosis\tBM\n"
        "P1\tP1-FU\tfu38.bam\t2025-06-24\tfollow-up\tPB\n"
    )
    return root


@contextlib.contextmanager
def sandbox(root: Path) -> Iterator[Path]:
    """A fresh working folder with the things generated paths may name, removed afterwards."""
    case = Path(tempfile.mkdtemp(dir=root))
    work = case / "work"
    work.mkdir()
    (work / "dir").mkdir()
    (work / "file").write_text("not a folder\n")
    os.mkfifo(work / "pipe.fifo")
    shutil.copy(root / "dx38.bam", work / "in.bam")
    shutil.copy(root / "dx38.bam.bai", work / "in.bam.bai")
    previous = Path.cwd()
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(previous)
        shutil.rmtree(case)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()}


def assert_clean_exit(run: CliRun) -> None:
    """Success, or exit 1/2 whose last stderr line is the one error, never a traceback."""
    event(f"exit {run.code}")
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code in (0, 1, 2), (run.code, run.stderr)
    if run.code == 0:
        return
    lines = run.error_lines
    assert lines, "a failure must say why"
    prefixes = ("mrd: error: ", "mrd: sample ")
    errors = [line for line in lines if line.startswith(prefixes)]
    assert errors and lines[-1] == errors[-1], run.stderr
    if run.code == 2:  # one problem stops the run: exactly one error line says which
        assert len(errors) == 1, run.stderr
    assert len(errors[-1].split(": ", 1)[1].strip()) > 3, errors[-1]


def run_in_sandbox(root: Path, args: list[str]) -> CliRun:
    """Run mrd in a fresh sandbox; a failure must leave the working folder as it was."""
    with sandbox(root) as work:
        before = _files(work.parent)
        run = run_cli(args)
        assert_clean_exit(run)
        if run.code != 0:  # no partial result: the work folder is as it was
            assert _files(work.parent) == before, args
    return run


# --- the properties ----------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_fuzz_call_options(fuzz_root: Path, data: st.DataObject) -> None:
    args = [*data.draw(GLOBAL), "call", "in.bam", *_options(data.draw, CALL_OPTIONS)]
    run_in_sandbox(fuzz_root, args)


@FUZZ
@given(data=st.data())
def test_fuzz_lod_planning(fuzz_root: Path, data: st.DataObject) -> None:
    # No --error-rate here: the background LoD's cost grows with depth x error rate, so large
    # depths are fuzzed error-free and error rates at small depths (next test).
    options = {
        "--depth": ints(1, 10**9),
        "--input-ng": floats(1e-3, 1e6),
        "--family-size": floats(1, 100),
        "--duplex": None,
        "--json": OUTPUT_PATHS,
    }
    args = [*data.draw(GLOBAL), "lod", *_options(data.draw, options)]
    run = run_in_sandbox(fuzz_root, args)
    if run.code == 0 and "--json" not in args:
        assert "LoD95" in run.stdout


@FUZZ
@given(
    depth=st.integers(1, 2000).map(str),
    error_rate=floats(0, 0.5),
    family_size=st.one_of(st.none(), floats(1, 100)),
)
def test_fuzz_lod_error_rate(
    fuzz_root: Path, depth: str, error_rate: str, family_size: str | None
) -> None:
    args = ["lod", "--depth", depth, "--error-rate", error_rate]
    if family_size is not None:
        args += ["--family-size", family_size]
    with sandbox(fuzz_root):
        assert_clean_exit(run_cli(args))


@FUZZ
@given(data=st.data())
def test_fuzz_lod_of_an_alignment(fuzz_root: Path, data: st.DataObject) -> None:
    options = {
        "--markers": INPUT_PATHS,
        "--background": INPUT_PATHS,
        "--reference": INPUT_PATHS,
        "--keep-duplicates": None,
        "--json": OUTPUT_PATHS,
    }
    alignment = "in.bam" if data.draw(st.integers(0, 3)) else data.draw(INPUT_PATHS)
    args = ["lod", alignment, *_options(data.draw, options)]
    run_in_sandbox(fuzz_root, args)


@settings(FUZZ, max_examples=25)
@given(data=st.data())
def test_fuzz_monitor_options(fuzz_root: Path, data: st.DataObject) -> None:
    out = "out" if data.draw(st.integers(0, 2)) else data.draw(OUTPUT_PATHS)
    sheet = "../../samplesheet.tsv" if data.draw(st.integers(0, 3)) else data.draw(INPUT_PATHS)
    options = _options(data.draw, MONITOR_OPTIONS)
    if not data.draw(st.integers(0, 3)):  # both parallel options: refused before any work
        options += ["--workers", "2", "--dask-scheduler", data.draw(st.text(_NO_NUL))]
    args = [*data.draw(GLOBAL), "monitor", sheet, "--out", out, *options]
    with sandbox(fuzz_root) as work:
        before = _files(work.parent)
        existed = os.path.lexists(out) if out else True
        run = run_cli(args)
        assert_clean_exit(run)
        if run.code == 2:  # refused: nothing written, not even the --out folder
            assert _files(work.parent) == before, args
            assert existed or not os.path.lexists(out), args
        elif run.code == 0:
            assert (Path(out) / "report.html").is_file()
