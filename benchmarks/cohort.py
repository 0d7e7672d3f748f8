"""A cohort through ``mrd monitor --workers 2``: wall time, peak memory, and a kill-and-resume.

Simulates a cohort (default 50 patients x 4 timepoints = 200 small amplicon samples; ``--quick``
5 x 4 = 20), writes its sample sheet, then:

1. runs ``mrd monitor --workers 2`` to the end, timing it and taking the peak RSS of the run's
   processes (``getrusage(RUSAGE_CHILDREN)`` in a small wrapper process: the largest
   single process of the run, workers included);
2. starts the same run in a new folder and kills its whole process group (SIGKILL, the
   harshest case: no handler, no cleanup) once about 40% of the samples reported done;
3. reruns that folder with ``--resume`` and checks that only the samples without complete
   files were called again, that no broken file is left, and that the final ``monitor.json``
   equals the uninterrupted run's.

    python benchmarks/cohort.py --quick
    python benchmarks/cohort.py --patients 50 --keep
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

TIMEPOINTS = (  # (timepoint, tissue, NPM1 fraction, FLT3-ITD fraction, days after diagnosis)
    ("diagnosis", "BM", 0.40, 0.20, 0),
    ("post-cycle-2", "PB", 1e-2, 2e-3, 60),
    ("end-of-consolidation", "BM", 1e-3, 0.0, 160),
    ("follow-up", "BM", 0.0, 0.0, 250),
)
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (\S+): (.*?)( \(resumed\))?$")


def _simulate(job: tuple[str, float, float, int, str]) -> str:
    """One small amplicon BAM (module level: simulated in a process pool)."""
    from mrd.simulate import ErrorModel, Flt3Itd, Npm1Insertion, SimulationSpec, simulate

    name, npm1, itd, seed, path = job
    variants: list[Any] = []
    if npm1 > 0:
        variants.append((Npm1Insertion("A"), npm1))
    if itd > 0:
        variants.append((Flt3Itd(42), itd))
    spec = SimulationSpec.of(
        *variants,
        sample=name,
        mode="amplicon",
        depth=1_000,
        gene_depth={"NPM1": 3_000},
        read_length=150,
        errors=ErrorModel(binned=True),
    )
    simulate(spec, Path(path), seed=seed)
    return name


def make_cohort(folder: Path, patients: int, workers: int) -> Path:
    """Simulate the cohort into ``folder``; returns its sample sheet."""
    import datetime

    rows, jobs = [], []
    start = datetime.date(2025, 1, 6)
    for p in range(patients):
        patient = f"C{p + 1:03d}"
        for t, (timepoint, tissue, npm1, itd, days) in enumerate(TIMEPOINTS):
            name = f"{patient}-T{t}"
            bam = folder / f"{name}.bam"
            jobs.append((name, npm1, itd, 10_000 + 10 * p + t, str(bam)))
            date = start + datetime.timedelta(days=days + p)
            rows.append([patient, name, bam.name, date.isoformat(), timepoint, tissue])
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_simulate, jobs))
    sheet = folder / "samplesheet.tsv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["patient", "sample", "bam", "date", "timepoint", "tissue"])
        writer.writerows(rows)
    return sheet


_MEASURED = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
    "print(f'peak-rss-kib {kib}', file=sys.stderr); sys.exit(code)"
)
"""Runs the command and reports the peak RSS of its processes only (not the simulation's)."""


def _command(sheet: Path, out: Path, workers: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-c", _MEASURED, sys.executable, "-m", "mrd.cli", "monitor", str(sheet),
        "--out", str(out),
        "--keep-duplicates", "--workers", str(workers), *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "CI": "1"}  # plain progress lines, one per sample


def _progress(lines: list[str]) -> list[tuple[str, bool]]:
    found = []
    for line in lines:
        match = PROGRESS.match(line.strip())
        if match:
            found.append((match.group(3), match.group(5) is not None))
    return found


def broken_files(out: Path) -> list[str]:
    """Files in ``out/samples`` that are not whole: unparsable JSON, or a done file whose
    checksums do not match the files it vouches for. Staged ``.part`` files are counted too."""
    problems = []
    samples = out / "samples"
    for path in sorted(samples.iterdir()):
        if path.name.startswith(".") and ".part" in path.name:
            problems.append(f"{path.name}: staged file left behind")
        elif path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                problems.append(f"{path.name}: not valid JSON")
                continue
            if path.name.endswith(".done.json"):
                for kind, digest in data["files"].items():
                    suffix = {"json": ".json", "tsv": ".tsv", "vcf": ".vcf.gz"}.get(
                        kind, ".call.pickle"
                    )
                    target = samples / (path.name[: -len(".done.json")] + suffix)
                    if hashlib.sha256(target.read_bytes()).hexdigest() != digest:
                        problems.append(f"{target.name}: does not match its done file")
    return problems


def _peak(stderr: str) -> int:
    found = re.findall(r"^peak-rss-kib (\d+)$", stderr, re.MULTILINE)
    return int(found[-1]) if found else 0


def _comparable(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data.pop("created")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="5 patients (20 samples).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-at", type=float, default=0.4, help="Share of samples done.")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    args = parser.parse_args(argv)
    patients = 5 if args.quick else args.patients
    work = Path(tempfile.mkdtemp(prefix="mrd-cohort-"))
    started = time.perf_counter()
    sheet = make_cohort(work, patients, args.workers)
    total = patients * len(TIMEPOINTS)
    print(
        f"simulated {total} samples ({patients} patients) in {time.perf_counter() - started:.1f} s"
    )

    # 1. A run to the end.
    started = time.perf_counter()
    full = subprocess.run(
        _command(sheet, work / "full", args.workers), env=_env(), capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    peak_kib = _peak(full.stderr)
    print(f"full run: exit {full.returncode}, {wall:.1f} s wall, {total / wall:.2f} samples/s")
    print(f"peak RSS of one process of the run (main or worker): {peak_kib / 1024:.0f} MiB")

    # 2. The same run, killed after about 40% of its samples.
    out = work / "killed"
    proc = subprocess.Popen(
        _command(sheet, out, args.workers),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    reported = 0
    for line in proc.stderr:
        if PROGRESS.match(line.strip()):
            reported += 1
            if reported >= args.kill_at * total:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    done_before = {p.name[: -len(".done.json")] for p in (out / "samples").glob("*.done.json")}
    broken_after_kill = broken_files(out)
    print(
        f"killed run: {reported} samples reported, {len(done_before)} complete on disk, "
        f"{len(broken_after_kill)} broken or staged files, monitor.json "
        f"{'present' if (out / 'monitor.json').exists() else 'absent'}"
    )

    # 3. Resume it.
    started = time.perf_counter()
    resumed = subprocess.run(
        _command(sheet, out, args.workers, "--resume"), env=_env(), capture_output=True, text=True
    )
    resume_wall = time.perf_counter() - started
    events = _progress(resumed.stderr.splitlines())
    recomputed = {name for name, was_resumed in events if not was_resumed}
    expected = {name for name, _ in events} - done_before
    broken = broken_files(out)
    same = _comparable(out / "monitor.json") == _comparable(work / "full" / "monitor.json")
    print(f"resume: exit {resumed.returncode}, {resume_wall:.1f} s wall, {len(events)} samples")
    print(f"samples done before the kill: {len(done_before)}")
    print(
        f"samples recomputed on resume: {len(recomputed)} "
        f"(only the unfinished ones: {recomputed == expected and not recomputed & done_before})"
    )
    print(f"broken files found: {len(broken)}" + (f" {broken}" if broken else ""))
    print(f"final monitor.json equals the uninterrupted run's: {same}")
    print(f"peak RSS of the resumed run: {_peak(resumed.stderr) / 1024:.0f} MiB")
    if args.keep:
        print(f"work folder: {work}")
    else:
        import shutil

        shutil.rmtree(work)
    ok = full.returncode == 0 and resumed.returncode == 0 and same and not broken
    return 0 if ok and recomputed == expected else 1


if __name__ == "__main__":
    sys.exit(main())
