"""mrd monitor in parallel, on Dask and resumed: the same results as one process, every time."""

from __future__ import annotations

import csv
import filecmp
import gzip
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_with_stale_index, run_cli_process

from mrd.monitoring.monitor import (
    MonitorResult,
    MonitorSettings,
    SampleDone,
    SampleStore,
    monitor,
    write_outputs,
)
from mrd.monitoring.parallel import ProcessRunner, ProgressLine, WorkerDiedError, one_line_error
from mrd.ngs.filters import ReadFilter

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
SHEET = DEMO / "samplesheet.tsv"
SETTINGS = MonitorSettings(read_filter=ReadFilter(drop_duplicates=False))  # --keep-duplicates
SAMPLES = ("P001-DX", "P001-C2", "P001-EOC", "P001-FU1", "P001-FU2")

Run = tuple[Path, MonitorResult, list[SampleDone]]


def _run(out: Path, **options: Any) -> Run:
    events: list[SampleDone] = []
    result = monitor(SHEET, SETTINGS, on_done=events.append, out_dir=out, **options)
    write_outputs(result, out)
    return out, result, events


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "created"}


def _assert_same_outputs(one: Path, other: Path) -> None:
    """The run-level and per-sample files agree (all but the creation time)."""
    for name in ("monitor.json", "mrd_mqc.json"):
        left = json.loads((one / name).read_text())
        right = json.loads((other / name).read_text())
        assert _comparable(left) == _comparable(right), name
    assert (one / "markers.tsv").read_text() == (other / "markers.tsv").read_text()
    for sample in SAMPLES:
        for suffix in (".json", ".tsv"):
            assert filecmp.cmp(
                one / "samples" / f"{sample}{suffix}",
                other / "samples" / f"{sample}{suffix}",
                shallow=False,
            ), sample + suffix
        vcfs = [
            gzip.decompress((d / "samples" / f"{sample}.vcf.gz").read_bytes()) for d in (one, other)
        ]
        assert vcfs[0] == vcfs[1], sample


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("serial") / "out")


@pytest.fixture(scope="module")
def parallel(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("parallel") / "out", workers=2)


def test_two_workers_give_the_same_result(serial: Run, parallel: Run) -> None:
    _, one, one_events = serial
    out, two, two_events = parallel
    assert _comparable(one.as_dict()) == _comparable(two.as_dict())
    _assert_same_outputs(serial[0], out)
    # Progress: one event per sample, counted up to the total, the diagnosis always first.
    for events in (one_events, two_events):
        assert [(e.done, e.total) for e in events] == [(i, 5) for i in range(1, 6)]
        assert events[0].outcome.row.sample == "P001-DX"
        assert sorted(e.outcome.row.sample for e in events) == sorted(SAMPLES)
        assert not any(e.resumed for e in events)
    store = SampleStore(out)
    assert all(store.is_current(o) for p in two.patients for o in p.outcomes)


def test_resume_recomputes_only_incomplete_samples(
    serial: Run, parallel: Run, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(parallel[0], out)
    samples = out / "samples"
    (samples / "P001-DX.done.json").unlink()  # killed after its files, before its done mark
    broken = samples / "P001-C2.json"
    broken.write_text(broken.read_text()[:200])  # a half-written file (never ours: atomic)
    (out / "monitor.json").unlink()
    _, result, events = _run(out, workers=2, resume=True)
    recomputed = sorted(e.outcome.row.sample for e in events if not e.resumed)
    assert recomputed == ["P001-C2", "P001-DX"]
    assert len(events) == 5 and events[-1].done == 5
    assert _comparable(result.as_dict()) == _comparable(serial[1].as_dict())
    _assert_same_outputs(serial[0], out)
    assert not list(samples.glob(".*part*"))  # no staged file left behind
    # Resuming a complete run calls nothing, and without --resume everything is called again.
    again: list[SampleDone] = []
    monitor(SHEET, SETTINGS, on_done=again.append, out_dir=out, resume=True)
    assert all(e.resumed for e in again)


def test_a_result_not_signed_by_this_user_is_called_again(
    parallel: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever can write OUT could swap a result and fix its checksum; unpickling runs code."""
    import hashlib

    out = tmp_path / "out"
    shutil.copytree(parallel[0], out)
    samples = out / "samples"
    # An attacker copies another sample's result in and updates the done file's checksum.
    (samples / "P001-FU1.call.pickle").write_bytes((samples / "P001-DX.call.pickle").read_bytes())
    done_path = samples / "P001-FU1.done.json"
    done = json.loads(done_path.read_text())
    done["files"]["state"] = hashlib.sha256(
        (samples / "P001-FU1.call.pickle").read_bytes()
    ).hexdigest()
    done_path.write_text(json.dumps(done))
    events: list[SampleDone] = []
    monitor(SHEET, SETTINGS, on_done=events.append, out_dir=out, resume=True)
    assert sorted(e.outcome.row.sample for e in events if not e.resumed) == ["P001-FU1"]
    # Another user's key (or none at all) trusts nothing that was saved.
    monkeypatch.setenv("MRD_RESUME_KEY_FILE", str(tmp_path / "other.key"))
    events.clear()
    monitor(SHEET, SETTINGS, on_done=events.append, out_dir=out, resume=True)
    assert not any(e.resumed for e in events)


def test_changed_settings_are_not_resumed(parallel: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(parallel[0], out)
    store = SampleStore(out, resume=True)
    outcome = parallel[1].patients[0].outcomes[1]
    assert outcome.result is not None
    settings = outcome.result.settings
    same = store.fingerprint(outcome.row, settings)
    assert same is not None and store.load(outcome.row, same) is not None
    stricter = MonitorSettings(
        read_filter=ReadFilter(min_mapq=30, drop_duplicates=False)
    ).call_settings(settings.markers)
    assert store.fingerprint(outcome.row, stricter) != same
    assert store.load(outcome.row, store.fingerprint(outcome.row, stricter)) is None


def test_a_failing_sample_does_not_stop_a_parallel_run(tmp_path: Path) -> None:
    for path in DEMO.iterdir():
        shutil.copy(path, tmp_path / path.name)
    truncated = tmp_path / "P001-EOC.bam"
    truncated.write_bytes(truncated.read_bytes()[:-4000])
    with (DEMO / "samplesheet.tsv").open(newline="") as handle:
        rows = [
            r
            for r in csv.DictReader(handle, delimiter="\t")
            if r["sample"] in ("P001-DX", "P001-C2", "P001-EOC")
        ]
    sheet = tmp_path / "samplesheet.tsv"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out"
    result = monitor(sheet, SETTINGS, workers=2, out_dir=out)
    write_outputs(result, out)
    failed = result.failed
    assert [o.row.sample for o in failed] == ["P001-EOC"]
    assert failed[0].error and "\n" not in failed[0].error
    states = {e.measurement.sample: e.state.value for e in result.patients[0].timeline}
    assert states == {
        "P001-DX": "DIAGNOSIS",
        "P001-C2": "MRD_POSITIVE",
        "P001-EOC": "NOT_EVALUABLE",
    }
    assert not (out / "samples" / "P001-EOC.json").exists()
    assert (out / "samples" / "P001-C2.done.json").exists()


def test_one_line_errors_and_progress_lines() -> None:
    assert one_line_error(ValueError("two\nlines")) == "ValueError: two lines"
    import io

    stream = io.StringIO()
    line = ProgressLine(stream, live=False)
    line.show(3, 12, "P001-C2", "POSITIVE", False)
    line.show(4, 12, "P001-C3", "NEGATIVE", True)
    assert stream.getvalue() == "[3/12] P001-C2: POSITIVE\n[4/12] P001-C3: NEGATIVE (resumed)\n"
    live = io.StringIO()
    bar = ProgressLine(live, live=True)
    bar.show(1, 2, "A-long-name", "POSITIVE", False)
    bar.show(2, 2, "B", "NEGATIVE", False)
    assert live.getvalue().count("\r") == 2 and live.getvalue().endswith("\n")


def test_dask_gives_the_same_result(serial: Run, tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        out, result, events = _run(tmp_path / "out", dask_scheduler=cluster.scheduler_address)
    assert len(events) == 5 and events[0].outcome.row.sample == "P001-DX"
    assert _comparable(result.as_dict()) == _comparable(serial[1].as_dict())
    _assert_same_outputs(serial[0], out)


def test_dask_missing_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mrd.errors import MissingDependencyError
    from mrd.monitoring.parallel import make_runner

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if absent
    with pytest.raises(MissingDependencyError, match=r"mrd\[dask\]"):
        make_runner(dask_scheduler="tcp://127.0.0.1:1")


def test_worker_processes_log_as_the_command_asks(tmp_path: Path) -> None:
    # Spawned workers start without logging: a warning they raise (here a BAM newer than its
    # index) must keep mrd's format, and --quiet must silence it there too. Real processes,
    # since the workers write to the real standard error.
    folder = tmp_path / "in"
    folder.mkdir()
    rows = SHEET.read_text(encoding="utf-8").splitlines()
    (folder / "sheet.tsv").write_text("\n".join(rows[:3]) + "\n", encoding="utf-8")
    shutil.copy(DEMO / "P001-DX.bam.bai", folder / "P001-DX.bam.bai")
    shutil.copy(DEMO / "P001-DX.bam", folder / "P001-DX.bam")
    copy_with_stale_index(DEMO / "P001-C2.bam", folder)
    sheet = str(folder / "sheet.tsv")
    loud = run_cli_process(["monitor", sheet, "--out", str(tmp_path / "a"), "--workers", "2"])
    assert loud.code == 0, loud.stderr
    assert "WARNING mrd.ngs.alignment:" in loud.stderr and "older than the file" in loud.stderr
    quiet = run_cli_process(
        ["--quiet", "monitor", sheet, "--out", str(tmp_path / "b"), "--workers", "2"]
    )
    assert quiet.code == 0, quiet.stderr
    assert "older than the file" not in quiet.stderr


def _task(item: str) -> str:
    """``item`` in capitals; ``die`` kills its own worker, as the out-of-memory killer would.

    ``die-later`` answers, then its worker is killed while idle.
    """
    if item == "die":
        time.sleep(0.2)  # the others are running by then
        os.kill(os.getpid(), signal.SIGKILL)
    if item == "die-later":
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGKILL)).start()
        return item.upper()
    time.sleep(0.5)
    return item.upper()


def _worker_of(item: str) -> int:
    time.sleep(0.5)  # long enough for the new pool's second process to start
    return os.getpid()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_worker_killed_mid_run_fails_only_its_own_task() -> None:
    # A dead worker breaks the whole process pool: without recovery every task in flight, and
    # every later submission, would fail with it.
    runner: ProcessRunner[str, str, str] = ProcessRunner(2)
    outcomes: dict[str, str | BaseException] = {}
    try:
        for item in ("a", "die", "b", "c"):
            runner.submit(item, _task, item)
        for key, outcome in runner.completed():
            outcomes[key] = outcome
            if len(outcomes) == 1:
                runner.submit("late", _task, "late")  # a follow-up, as monitor submits them
    finally:
        runner.close()
    died = outcomes.pop("die")
    assert outcomes == {"a": "A", "b": "B", "c": "C", "late": "LATE"}
    assert isinstance(died, WorkerDiedError)
    assert (
        one_line_error(died)
        == "its worker process ended without an answer (killed, out of memory, or a crash)"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_tasks_queued_behind_a_dead_worker_still_run_in_parallel() -> None:
    # Only the tasks in the pool when the worker died are rerun one at a time; the others wait
    # outside the pool, so afterwards both workers of the new pool take them.
    runner: ProcessRunner[str, str, Any] = ProcessRunner(2)
    workers: dict[str, Any] = {}
    try:
        runner.submit("die", _task, "die")
        for index in range(8):
            runner.submit(f"t{index}", _worker_of, f"t{index}")
        workers = dict(runner.completed())
    finally:
        runner.close()
    assert isinstance(workers.pop("die"), WorkerDiedError)
    assert len(workers) == 8
    assert len({workers[f"t{index}"] for index in range(4, 8)}) == 2  # the new pool's two


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_worker_dying_while_idle_does_not_lose_the_next_task() -> None:
    runner: ProcessRunner[str, str, str] = ProcessRunner(1)
    outcomes: dict[str, str | BaseException] = {}
    try:
        runner.submit("x", _task, "die-later")
        for key, outcome in runner.completed():
            outcomes[key] = outcome
            if key == "x":
                time.sleep(1.0)  # writing the sample's files, while its worker is killed
                runner.submit("follow-up", _task, "follow-up")
    finally:
        runner.close()
    assert outcomes == {"x": "DIE-LATER", "follow-up": "FOLLOW-UP"}
