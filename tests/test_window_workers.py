"""One sample's gene windows read in processes of their own: same result, errors still one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_with_stale_index, corrupt_copy, run_cli, run_cli_process

from mrd.call import CallSettings, call_sample
from mrd.errors import InputFileError
from mrd.markers.tracked import read_markers
from mrd.ngs.filters import ReadFilter

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
SETTINGS = CallSettings(read_filter=ReadFilter(drop_duplicates=False))


def _stable(data: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in data.items() if k not in ("created", "software")}


@pytest.mark.parametrize("name", ["P001-DX", "P001-FU1"])
def test_two_workers_give_the_single_process_result(name: str) -> None:
    bam = DEMO / f"{name}.bam"
    serial = call_sample(bam, settings=SETTINGS).as_dict()
    parallel = call_sample(bam, settings=SETTINGS, workers=2).as_dict()
    assert serial["targets"]
    assert _stable(parallel) == _stable(serial)


def test_tracked_markers_reach_the_window_processes(tmp_path: Path) -> None:
    # A follow-up with its diagnosis markers: the known alleles travel to each process and come
    # back tracked, exactly as when the windows are read in this process.
    diagnosis = call_sample(DEMO / "P001-DX.bam", settings=SETTINGS)
    markers_file = tmp_path / "dx.json"
    markers_file.write_text(json.dumps(diagnosis.as_dict()))
    markers = tuple(read_markers(markers_file))
    settings = CallSettings(read_filter=SETTINGS.read_filter, markers=markers)
    bam = DEMO / "P001-EOC.bam"
    serial = call_sample(bam, settings=settings).as_dict()
    parallel = call_sample(bam, settings=settings, workers=2).as_dict()
    assert any(f.get("tracked") for f in parallel["findings"])  # type: ignore[union-attr]
    assert _stable(parallel) == _stable(serial)


def test_damage_found_in_a_window_process_is_the_same_one_line_error(tmp_path: Path) -> None:
    bam = corrupt_copy(DEMO / "P001-DX.bam", tmp_path / "rot.bam")
    with pytest.raises(InputFileError, match="corrupt or truncated while reading"):
        call_sample(bam, settings=SETTINGS, workers=2)
    out = tmp_path / "rot.json"
    run = run_cli(["call", str(bam), "--workers", "2", "--json", str(out)])
    assert run.code != 0 and "corrupt or truncated while reading" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_cli_one_file_with_two_workers_writes_what_one_worker_writes(tmp_path: Path) -> None:
    bam = str(DEMO / "P001-DX.bam")
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        run = run_cli(["call", bam, "--keep-duplicates", "--workers", workers, "--json", str(out)])
        assert run.code == 0, run.stderr
        outputs.append(_stable(json.loads(out.read_text())))
    assert outputs[0] == outputs[1]


def test_window_processes_do_not_repeat_the_files_warnings(tmp_path: Path) -> None:
    # A BAM newer than its index: mrd and htslib each warn once, from the process that opened
    # the file first, not again from each window process. Run as a real command, since window
    # processes write to the real standard error.
    bam = copy_with_stale_index(DEMO / "P001-DX.bam", tmp_path)
    run = run_cli_process(["call", str(bam), "--workers", "2", "--json", str(tmp_path / "s.json")])
    assert run.code == 0, run.stderr
    assert run.stderr.count("is older than the file") == 1
    assert run.stderr.count("older than the data file") <= 1


# ``mrd call`` as on macOS and Windows, where the window processes are spawned, not forked.
_SPAWNED = """
import sys, types, mrd.call
mrd.call.sys = types.SimpleNamespace(platform="darwin")
from mrd.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_spawned_window_processes_keep_htslib_quiet_as_the_command_does(tmp_path: Path) -> None:
    # A spawned process starts with htslib's default verbosity; it must take the parent's,
    # or htslib's own lines about the damage come before mrd's one line.
    bam = corrupt_copy(DEMO / "P001-DX.bam", tmp_path / "rot.bam")
    out = tmp_path / "rot.json"
    command = [sys.executable, "-c", _SPAWNED, "call", str(bam), "--workers", "2"]
    run = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True)
    assert run.returncode == 2
    [line] = run.stderr.splitlines()
    assert line.startswith("mrd: error: ") and "corrupt or truncated while reading" in line
    assert not out.exists()


_LIBRARY_CALLER = """
import logging, sys, types
import mrd.call
from mrd.call import CallSettings, call_sample
if sys.argv[2] == "spawn":
    mrd.call.sys = types.SimpleNamespace(platform="darwin")
from mrd.ngs.filters import ReadFilter
handler = logging.StreamHandler()
handler.setFormatter(logging.Formatter("{levelname}: {message}", style="{"))
logging.getLogger().addHandler(handler)
settings = CallSettings(read_filter=ReadFilter(drop_duplicates=False))
call_sample(sys.argv[1], settings=settings, workers=2)
"""


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_window_processes_live_with_a_library_callers_logging(start: str) -> None:
    # A pipeline importing mrd may log with its own handlers and formats ('{' style here):
    # forked window processes inherit them and must not set logging up again, and spawned ones
    # must not fail on a format they cannot copy. A process of its own, since pytest puts
    # handlers of its own on the root logger.
    command = [sys.executable, "-c", _LIBRARY_CALLER, str(DEMO / "P001-DX.bam"), start]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
