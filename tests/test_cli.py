"""The installed console script answers --help/--version and refuses bad input in one line."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import mrd


def _mrd(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("mrd")
    command = [exe] if exe else [sys.executable, "-m", "mrd.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--help",), "simulate"),
        (("simulate", "--help"), "--itd"),
        (("inspect", "--help"), "--keep-duplicates"),
        (("--version",), mrd.__version__),
    ],
)
def test_help_and_version(args, expected):
    run = _mrd(*args)
    assert run.returncode == 0, run.stderr
    assert expected in run.stdout


def test_missing_file_is_one_line_and_exit_2(tmp_path):
    run = _mrd("inspect", str(tmp_path / "absent.bam"))
    assert run.returncode == 2
    assert run.stderr == f"mrd: error: alignment file not found: {tmp_path / 'absent.bam'}\n"


def test_bad_region_option_is_one_line(tmp_path):
    run = _mrd("inspect", str(tmp_path / "x.bam"), "--region", "chr13:9-1")
    assert run.returncode == 2
    assert run.stderr.startswith("mrd: error: ") and run.stderr.count("\n") == 1


def test_unknown_option_is_a_usage_error():
    run = _mrd("inspect", "--no-such-option", "x.bam")
    assert run.returncode == 2
    # One line, as for any bad input, still saying where the help is.
    assert run.stderr == "mrd: error: No such option '--no-such-option'; see 'mrd inspect --help'\n"


def test_bare_mrd_still_shows_the_help():
    run = _mrd()
    assert "Usage: mrd [OPTIONS] COMMAND" in run.stdout + run.stderr
    assert "mrd: error" not in run.stderr
