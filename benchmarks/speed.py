"""`mrd call` against `samtools view -c` on the same deep BAMs: wall time and peak memory.

Simulates targeted capture BAMs (FLT3 and NPM1 windows, a 60-bp ITD and NPM1 type A at 5%,
2 x 150 reads) with about 1 million and 10 million records in the two windows, then times, each
in a fresh process:

* ``samtools view -c`` over the two windows (the speed of reading the BAM; the goal is
  ``mrd call`` within 4x of it);
* a bare pysam fetch loop over the same windows (what any Python caller pays before doing
  anything with a record);
* ``mrd call`` (the CLI, start-up included), with its peak resident memory (goal: under 500 MB
  at 10 million records), and ``mrd call --workers 2``, which reads the two windows in two
  processes (its memory is the sum over both).

The 10M BAM is ten 1M simulations with different seeds merged (read names prefixed so templates
stay distinct), since one simulation process makes about 14k records per second.

    python benchmarks/speed.py                 # 1M and 10M records, with and without UMIs
    python benchmarks/speed.py --quick         # 1M only
    python benchmarks/speed.py --sets 10m-plain
    python benchmarks/speed.py --keep DIR      # keep (and reuse) the BAMs in DIR
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pysam

DEPTH_PER_MILLION = 87_000.0
"""Simulated depth that puts about one million records in the FLT3 and NPM1 windows."""

_FETCH_LOOP = """
import sys, pysam
n = 0
with pysam.AlignmentFile(sys.argv[1]) as bam:
    for region in sys.argv[2:]:
        for _ in bam.fetch(region=region):
            n += 1
print(n)
"""


@dataclass(frozen=True)
class Bam:
    label: str
    path: Path
    umis: bool


def _simulate_one(job: tuple[str, float, int, bool]) -> str:
    from mrd.simulate import Flt3Itd, Npm1Insertion, SimulationSpec, UmiSpec, simulate

    path, depth, seed, umis = job
    spec = SimulationSpec.of(
        (Flt3Itd(60), 0.05),
        (Npm1Insertion("A"), 0.05),
        depth=depth,
        umi=UmiSpec(length=12, family_size_mean=3.0) if umis else None,
    )
    simulate(spec, path, seed=seed)
    return path


def _prefix_names(source: Path, target: Path, prefix: str) -> None:
    """Copy a BAM with every read name prefixed, so merged simulations keep distinct templates."""
    bam_in = pysam.AlignmentFile(str(source))
    with bam_in, pysam.AlignmentFile(str(target), "wb", template=bam_in) as bam_out:
        for read in bam_in:
            read.query_name = prefix + (read.query_name or "")
            bam_out.write(read)


SETS = {
    "1m-umi": ("1M, UMIs", "umi-1m.bam", 1, True),
    "1m-plain": ("1M, no UMIs", "plain-1m.bam", 1, False),
    "10m-umi": ("10M, UMIs", "umi-10m.bam", 10, True),
    "10m-plain": ("10M, no UMIs", "plain-10m.bam", 10, False),
}
"""The BAMs this benchmark can make: label, file name, millions of records, UMIs or not."""


def make_bams(out: Path, *, sets: Sequence[str], workers: int) -> list[Bam]:
    """The BAMs to time; existing files in ``out`` are reused."""
    out.mkdir(parents=True, exist_ok=True)
    wanted = [SETS[key] for key in sets]
    bams = []
    for label, name, millions, umis in wanted:
        path = out / name
        bams.append(Bam(label, path, umis))
        if path.exists():
            continue
        started = time.perf_counter()
        if millions == 1:
            _simulate_one((str(path), DEPTH_PER_MILLION, 1 if umis else 2, umis))
        else:
            parts = [
                (str(out / f"part{k}.bam"), DEPTH_PER_MILLION, (100 if umis else 200) + k, umis)
                for k in range(millions)
            ]
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(_simulate_one, parts))
            renamed = []
            for k, (part, *_rest) in enumerate(parts):
                target = out / f"part{k}.named.bam"
                _prefix_names(Path(part), target, f"P{k}:")
                renamed.append(str(target))
            samtools = shutil.which("samtools") or "samtools"
            subprocess.run(
                [samtools, "merge", "-f", "-@", str(workers), "-o", str(path), *renamed],
                check=True,
            )
            subprocess.run([samtools, "index", str(path)], check=True)
            for part, *_rest in parts:
                for leftover in Path(part).parent.glob(Path(part).stem + "*"):
                    leftover.unlink()
        print(f"simulated {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return bams


_MEASURE = """
import os, resource, subprocess, sys, threading, time

def tree_rss(root):
    # Resident bytes of root and all its descendants, from /proc (Linux); 0 elsewhere.
    try:
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        fields = handle.read().rsplit(")", 1)[1].split()
                    children.setdefault(int(fields[1]), []).append(int(entry))
                except OSError:
                    pass
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            try:
                with open(f"/proc/{pid}/statm") as handle:
                    total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                pass
        return total
    except OSError:
        return 0

started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
peak = [0]
def watch():
    while child.poll() is None:
        peak[0] = max(peak[0], tree_rss(child.pid))
        time.sleep(0.05)
watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
out, err = child.communicate()
seconds = time.perf_counter() - started
watcher.join()
sys.stdout.write(out)
sys.stderr.write(err)
largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
sys.stderr.write(f"\\nmeasured {seconds} {max(largest, peak[0])}\\n")
sys.exit(child.returncode)
"""
"""Runs a command from a small fresh process and reports its wall time and peak RSS.

Measured from here rather than from the benchmark itself: a child forked from this large
process would count the parent's pages in its peak, whatever it then runs. The peak is the
larger of the biggest single process (``ru_maxrss``) and the sum over the command's process
tree sampled every 50 ms, so ``mrd call --workers 2`` is charged for both of its processes."""


def _run(command: Sequence[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of one command in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-300:]}")
    measured = [line for line in done.stderr.splitlines() if line.startswith("measured ")]
    _, seconds, peak = measured[-1].split()
    return float(seconds), int(peak), done.stdout


def _best(command: Sequence[str], runs: int) -> tuple[float, int, str]:
    results = [_run(command) for _ in range(runs)]
    seconds = min(r[0] for r in results)
    return seconds, max(r[1] for r in results), results[-1][2]


def _regions(path: Path) -> list[str]:
    from mrd.ngs import marker_regions, open_alignments

    with open_alignments(path) as source:
        return [str(region) for region in marker_regions(source.genome)]


def measure(bam: Bam, runs: int, scratch: Path) -> list[tuple[str, float, int | None]]:
    regions = _regions(bam.path)
    samtools = shutil.which("samtools") or "samtools"
    rows: list[tuple[str, float, int | None]] = []
    seconds, rss, out = _best([samtools, "view", "-c", str(bam.path), *regions], runs)
    records = int(out.strip())
    rows.append(("samtools view -c", seconds, rss))
    seconds, rss, _ = _best([samtools, "view", "-c", "-@", "2", str(bam.path), *regions], runs)
    rows.append(("samtools view -c -@ 2", seconds, rss))
    seconds, rss, _ = _best([sys.executable, "-c", _FETCH_LOOP, str(bam.path), *regions], runs)
    rows.append(("pysam fetch loop (no work)", seconds, rss))
    call = [sys.executable, "-m", "mrd.cli", "call", str(bam.path)]
    call += ["--json", str(scratch / f"{bam.path.stem}.json")]
    if bam.umis:
        call.append("--keep-duplicates")
    seconds, rss, _ = _best(call, 1)
    rows.append(("mrd call (CLI, start-up included)", seconds, rss))
    seconds, rss, _ = _best([*call, "--workers", "2"], 1)
    rows.append(("mrd call --workers 2 (both windows)", seconds, rss))
    return [("records", float(records), None), *rows]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M-record BAMs only")
    parser.add_argument(
        "--sets",
        help=f"comma-separated BAMs to time, of {', '.join(SETS)} (default: all; --quick: 1M)",
    )
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the BAMs in this folder")
    parser.add_argument("--runs", type=int, default=3, help="best of N for the fast commands")
    parser.add_argument("--workers", type=int, default=2, help="simulation processes")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "bams"
        if args.sets:
            sets = args.sets.split(",")
            unknown = [key for key in sets if key not in SETS]
            if unknown:
                parser.error(f"unknown --sets {', '.join(unknown)}; choose from {', '.join(SETS)}")
        else:
            sets = [key for key in SETS if not (args.quick and key.startswith("10m"))]
        bams = make_bams(out, sets=sets, workers=args.workers)
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        print(f"cores available: {affinity}; samtools: {shutil.which('samtools')}")
        header = f"{'BAM':<13} {'step':<36} {'seconds':>8} {'s / M rec':>10} {'peak RSS':>10}"
        print(header)
        print("-" * len(header))
        for bam in bams:
            rows = measure(bam, args.runs, Path(tmp))
            records = int(rows[0][1])
            print(f"{bam.label:<13} {'records in FLT3 + NPM1 windows':<36} {records:>8,}")
            samtools_seconds = rows[1][1]
            for step, seconds, rss in rows[1:]:
                memory = f"{rss / 2**20:,.0f} MiB" if rss is not None else ""
                print(
                    f"{'':<13} {step:<36} {seconds:>8.2f} "
                    f"{seconds / (records / 1e6):>10.2f} {memory:>10}"
                )
            for step, call_seconds, call_rss in rows[-2:]:
                name = step.split(" (")[0]
                ratio = call_seconds / samtools_seconds
                print(f"{'':<13} {name + ' / samtools':<36} {ratio:>7.1f}x   goal <= 4x")
                if call_rss is not None:
                    verdict = "yes" if call_rss < 500e6 else "no"
                    label = f"{name} peak < 500 MB"
                    print(f"{'':<13} {label:<36} {'':>8} {'':>10} {verdict:>10}")
            print()


if __name__ == "__main__":
    main()
