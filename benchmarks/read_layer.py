"""Throughput of the alignment-reading layer against `samtools view -c` on the same region.

Prints, for a simulated capture BAM (FLT3 + NPM1, depth given on the command line), the wall
time and records per second of: samtools view -c over the targets, and mrd's fetch + filter
classification (iter_region), with and without UMI family grouping.

    python benchmarks/read_layer.py --depth 3000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from mrd.ngs import FilterCounts, ReadFilter, iter_region, marker_regions, open_alignments
from mrd.ngs.umi import group_families
from mrd.simulate import Flt3Itd, Npm1Insertion, SimulationSpec, UmiSpec, simulate


def _best_of(runs: int, func: object) -> float:
    assert callable(func)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=float, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        spec = SimulationSpec.of(
            (Flt3Itd(60), 0.05),
            (Npm1Insertion("A"), 0.05),
            depth=args.depth,
            umi=UmiSpec(family_size_mean=2.0),
        )
        started = time.perf_counter()
        bam = simulate(spec, Path(tmp) / "bench.bam", seed=1).bam
        simulate_s = time.perf_counter() - started

        with open_alignments(bam) as source:
            regions = marker_regions(source.genome)
            read_filter = ReadFilter(drop_duplicates=False)

            def classify() -> FilterCounts:
                counts = FilterCounts()
                for region in regions:
                    for _ in iter_region(source, region, read_filter, counts):
                        pass
                return counts

            def families() -> int:
                total = 0
                for region in regions:
                    reads = [r for r, _ in iter_region(source, region, read_filter)]
                    total += len(group_families(reads).families)
                return total

            counts = classify()
            mrd_s = _best_of(args.runs, classify)
            family_s = _best_of(args.runs, families)

        samtools = shutil.which("samtools")
        if samtools:
            command = [samtools, "view", "-c", str(bam), *(str(r) for r in regions)]
            samtools_s = _best_of(
                args.runs, lambda: subprocess.run(command, check=True, capture_output=True)
            )

    n = counts.fetched
    print(f"simulated {n:,} records at depth {args.depth:g} in {simulate_s:.1f} s")
    print(f"{'step':<34}{'seconds':>10}{'records/s':>14}")
    if samtools:
        print(f"{'samtools view -c':<34}{samtools_s:>10.3f}{n / samtools_s:>14,.0f}")
    print(f"{'mrd fetch + filter':<34}{mrd_s:>10.3f}{n / mrd_s:>14,.0f}")
    print(f"{'mrd fetch + filter + UMI families':<34}{family_s:>10.3f}{n / family_s:>14,.0f}")


if __name__ == "__main__":
    main()
