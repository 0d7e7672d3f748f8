"""What every benchmark script shares: the process pool with progress lines, and main()."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

Job = TypeVar("Job")
Result = dict[str, Any]


def sim_call_status(res: Result) -> str:
    """Progress text of a simulate-then-call job: its error, or its two timings."""
    error = res.get("error")
    if error:
        return str(error)
    return f"sim {res['simulate_seconds']:.1f}s, call {res['call_seconds']:.1f}s"


def run_pool(
    jobs: Sequence[Job],
    work: Callable[[Job], Result],
    workers: int,
    *,
    label: Callable[[Job], str],
    status: Callable[[Result], str] = sim_call_status,
) -> list[Result]:
    """Run ``work`` on every job in worker processes; results come back in job order.

    A line per finished job goes to stderr (the run can take minutes), and any worker
    traceback is printed at the end so a failed sample is never silent.
    """
    started = time.perf_counter()
    results: list[Result | None] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(work, job): i for i, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), 1):
            index = futures[future]
            res = future.result()
            results[index] = res
            print(
                f"[{done}/{len(jobs)} {time.perf_counter() - started:6.0f}s] "
                f"{label(jobs[index])}: {status(res)}",
                file=sys.stderr,
                flush=True,
            )
    ordered = [r for r in results if r is not None]
    for res in ordered:
        if res.get("traceback"):
            print(res["traceback"], file=sys.stderr)
    return ordered


def bench_main(
    parse_args: Callable[[Sequence[str] | None], argparse.Namespace],
    run: Callable[[argparse.Namespace, Path], dict[str, Any]],
    prefix: str,
    argv: Sequence[str] | None = None,
) -> None:
    """Parse, run in ``--out-dir`` or a temporary folder, print the wall time, save ``--json``."""
    args = parse_args(argv)
    started = time.perf_counter()
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        report = run(args, args.out_dir)
    else:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            report = run(args, Path(tmp))
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        report["arguments"] = {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
        }
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
