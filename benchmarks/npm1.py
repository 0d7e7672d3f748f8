"""NPM1 calling on simulated amplicon samples: detection, type naming, VAF, specificity, speed.

Simulates NPM1 amplicon samples (``genes=("NPM1",)``, ``mode="amplicon"``, 30,000 read pairs
by default; the NPM1 catalog window is only 203 bp, so capture mode would bias the simulated
fragments toward the longer allele, a limit of the simulator and not of the caller) carrying
NPM1 type A, B or D at VAF 0.1%, 0.3%, 1% and 5% (three seeds each) and 40% (one seed), plus
wild-type samples, and runs the caller (``call_sample``, the code behind ``mrd call
--keep-duplicates``) on each:

* a mutant counts as detected when a finding with marker ``NPM1`` has the simulated allele's
  left-normalised position and ALT (the simulator's truth), and its type as named right when
  that finding's ``npm1_type`` is the simulated type;
* the reported VAF is compared with the spec VAF and with the share of simulated molecules that
  carry the insertion (the simulator draws molecules, so the two differ by sampling);
* on wild-type samples every ``NPM1`` finding is a false positive (other findings are listed);
* seconds per sample: simulation (mostly minimap2 through mappy) and the call.

    python benchmarks/npm1.py --quick
    python benchmarks/npm1.py --workers 2 --json npm1.json
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import bench_main, run_pool

TYPES = ("A", "B", "D")
VAFS = (1e-3, 3e-3, 1e-2, 5e-2, 0.4)
QUICK_VAFS = (1e-3, 3e-3, 1e-2, 5e-2)
SEEDS_PER_CELL = 3
QUICK_SEEDS_PER_CELL = 1
HIGH_VAF_SEEDS = 1
"""Seeds per type at VAF 40%: detection there is never in doubt, and calling 12,000 mutant
reads takes the longest (up to ~30 s per sample), so one seed each keeps the default run short."""
WILD_TYPES = 10
QUICK_WILD_TYPES = 4

DETECT_FROM_VAF = 1e-3
TARGET_MEDIAN_ERROR = 0.25
POSITIVE_CALLS = ("POSITIVE", "POSITIVE_BELOW_LOQ")


@dataclass(frozen=True)
class Sample:
    """One sample to simulate and call: NPM1 type (None: wild type) at ``vaf``."""

    name: str
    npm1_type: str | None
    vaf: float
    seed: int
    depth: float
    bam: str


# --------------------------------------------------------------------------------------------
# Worker


def run_sample(sample: Sample) -> dict[str, Any]:
    """Simulate, call and compare one sample; errors are returned as fields, not raised."""
    from mrd.call import CallSettings, call_sample
    from mrd.ngs import ReadFilter
    from mrd.simulate import Npm1Insertion, SimulationSpec, simulate

    out: dict[str, Any] = {**asdict(sample), "error": None}
    try:
        variants = (
            () if sample.npm1_type is None else ((Npm1Insertion(sample.npm1_type), sample.vaf),)
        )
        spec = SimulationSpec.of(
            *variants,
            genes=("NPM1",),
            mode="amplicon",
            depth=sample.depth,
            sample=sample.name,
        )
        Path(sample.bam).parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        result = simulate(spec, sample.bam, seed=sample.seed)
        out["simulate_seconds"] = time.perf_counter() - started
        gene = result.truth["genes"]["NPM1"]
        total = sum(int(h["molecules"]) for h in gene["haplotypes"])
        mutant = sum(int(h["molecules"]) for h in gene["haplotypes"] if h["id"] != "wt")
        out["truth_molecules"] = total
        out["truth_mutant_molecules"] = mutant
        out["molecule_share"] = mutant / total if total else math.nan
        truth = [v for v in result.truth["variants"] if v["type"] == "NPM1"]
        out["truth"] = (
            {k: truth[0][k] for k in ("pos", "ref", "alt", "npm1_type", "hgvs_c")}
            if truth
            else None
        )

        settings = CallSettings(genes=("NPM1",), read_filter=ReadFilter(drop_duplicates=False))
        started = time.perf_counter()
        called = call_sample(sample.bam, settings=settings).as_dict()
        out["call_seconds"] = time.perf_counter() - started
    except Exception as exc:  # a failed sample is a row, not the end of the run
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        return out

    findings: list[dict[str, Any]] = list(called.get("findings") or [])
    match = None
    if out["truth"] is not None:
        pos, alt = int(out["truth"]["pos"]), str(out["truth"]["alt"])
        match = next(
            (
                f
                for f in findings
                if f.get("marker") == "NPM1" and f.get("position") == pos and f.get("alt") == alt
            ),
            None,
        )
    out["detected"] = match is not None if out["truth"] is not None else None
    out["finding"] = None
    if match is not None:
        vaf = match.get("vaf")
        out["finding"] = {
            "npm1_type": match.get("npm1_type"),
            "hgvs_c": match.get("hgvs_c"),
            "alt_count": match.get("alt_count"),
            "depth": match.get("depth"),
            "depth_unit": match.get("depth_unit"),
            "vaf": vaf,
            "call": (match.get("mrd") or {}).get("call"),
            "lod": (match.get("mrd") or {}).get("lod"),
            "rel_error_spec": None if vaf is None else abs(vaf - sample.vaf) / sample.vaf,
            "rel_error_molecules": (
                None
                if vaf is None or not out["molecule_share"]
                else abs(vaf - out["molecule_share"]) / out["molecule_share"]
            ),
        }
    out["npm1_findings"] = sum(f.get("marker") == "NPM1" for f in findings)
    out["other"] = [
        f"{f.get('marker')} {f.get('position')} {f.get('ref')}>{f.get('alt')} "
        f"type {f.get('npm1_type')} VAF {f.get('vaf')}"
        for f in findings
        if f is not match
    ]
    return out


# --------------------------------------------------------------------------------------------
# Tables


def _fmt(value: object, spec: str = "", missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _ratio(count: int, total: int) -> str:
    return f"{count}/{total}"


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[value]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def print_samples(results: Sequence[dict[str, Any]]) -> None:
    header = (
        f"{'sample':<16} {'type':>4} {'specVAF':>8} {'molShare':>9} {'det':>3} {'named':>5} "
        f"{'alt/depth':>12} {'VAF':>8} {'err spec':>8} {'err mol':>8} {'call':<18} "
        f"{'LoD':>8} {'sim s':>6} {'call s':>6}"
    )
    print(header)
    print("-" * len(header))
    for res in results:
        if res["error"]:
            print(f"{res['name']:<16} ERROR {res['error']}")
            continue
        times = f"{res['simulate_seconds']:>6.1f} {res['call_seconds']:>6.1f}"
        if res["npm1_type"] is None:
            note = f"(wild type) NPM1 findings: {res['npm1_findings']}"
            print(f"{res['name']:<16} {'wt':>4} {'-':>8} {'-':>9} {note:<77} {times}")
        else:
            f = res["finding"] or {}
            named = _yes_no(None if not f else f.get("npm1_type") == res["npm1_type"])
            alt = f"{f['alt_count']}/{f['depth']}" if f else "-"
            print(
                f"{res['name']:<16} {res['npm1_type']:>4} {res['vaf']:>8.4f} "
                f"{res['molecule_share']:>9.5f} {'yes' if res['detected'] else 'NO':>3} "
                f"{named:>5} {alt:>12} "
                f"{_fmt(f.get('vaf'), '.5f'):>8} {_fmt(f.get('rel_error_spec'), '.1%'):>8} "
                f"{_fmt(f.get('rel_error_molecules'), '.1%'):>8} {_fmt(f.get('call')):<18} "
                f"{_fmt(f.get('lod'), '.2e'):>8} {times}"
            )
        for other in res["other"]:
            print(f"{'':<17}other finding: {other}")


def summarise(results: Sequence[dict[str, Any]], vafs: Sequence[float]) -> dict[str, Any]:
    ok = [r for r in results if not r["error"]]
    mutants = [r for r in ok if r["npm1_type"] is not None]
    wild = [r for r in ok if r["npm1_type"] is None]
    cells = []
    for vaf in vafs:
        for npm1_type in (*TYPES, "all"):
            rows = [
                r
                for r in mutants
                if r["vaf"] == vaf and (npm1_type == "all" or r["npm1_type"] == npm1_type)
            ]
            found = [r for r in rows if r["detected"]]
            cells.append(
                {
                    "vaf": vaf,
                    "type": npm1_type,
                    "n": len(rows),
                    "detected": len(found),
                    "named": sum(r["finding"]["npm1_type"] == r["npm1_type"] for r in found),
                    "positive_calls": sum(r["finding"]["call"] in POSITIVE_CALLS for r in found),
                    "median_error_spec": _median(
                        [r["finding"]["rel_error_spec"] for r in found if r["finding"]["vaf"]]
                    ),
                    "median_error_molecules": _median(
                        [r["finding"]["rel_error_molecules"] for r in found if r["finding"]["vaf"]]
                    ),
                }
            )
    found = [r for r in mutants if r["detected"]]
    sim_s = [r["simulate_seconds"] for r in ok]
    call_s = [r["call_seconds"] for r in ok]
    return {
        "cells": cells,
        "mutants": len(mutants),
        "mutants_from_vaf": [r for r in mutants if r["vaf"] >= DETECT_FROM_VAF],
        "detected": len(found),
        "named": sum(r["finding"]["npm1_type"] == r["npm1_type"] for r in found),
        "median_error_spec": _median([r["finding"]["rel_error_spec"] for r in found]),
        "median_error_molecules": _median([r["finding"]["rel_error_molecules"] for r in found]),
        "wt_samples": len(wild),
        "wt_npm1_findings": sum(r["npm1_findings"] for r in wild),
        "wt_other_findings": sum(len(r["other"]) - r["npm1_findings"] for r in wild),
        "errors": sum(bool(r["error"]) for r in results),
        "simulate_seconds": (statistics.median(sim_s), max(sim_s)) if sim_s else None,
        "call_seconds": (statistics.median(call_s), max(call_s)) if call_s else None,
    }


def print_cells(summary: dict[str, Any]) -> None:
    header = (
        f"{'VAF':>7} {'type':>4} {'detected':>9} {'named':>7} {'MRD pos':>8} "
        f"{'med err spec':>13} {'med err mol':>12}  verdict (detect all; err <= 25% over all types)"
    )
    print(header)
    print("-" * len(header))
    for cell in summary["cells"]:
        n, hits = cell["n"], cell["detected"]
        if n == 0:
            continue
        must_detect = cell["vaf"] >= DETECT_FROM_VAF
        detect_ok = hits == n if must_detect else None
        err = cell["median_error_spec"]
        verdict = f"detect {_verdict(detect_ok)}"
        if cell["type"] == "all":  # the error target is over all types; one seed per type is noise
            err_ok = None if math.isnan(err) else err <= TARGET_MEDIAN_ERROR
            verdict += f", err {_verdict(err_ok)}"
        print(
            f"{cell['vaf']:>7.3%} {cell['type']:>4} {f'{hits}/{n}':>9} "
            f"{_ratio(cell['named'], hits):>7} {_ratio(cell['positive_calls'], hits):>8} "
            f"{_fmt(err, '.1%'):>13} {_fmt(cell['median_error_molecules'], '.1%'):>12}  {verdict}"
        )


def print_summary(summary: dict[str, Any], depth: float) -> None:
    width = 34

    def line(label: str, value: str, ok: bool | None) -> None:
        print(f"{label:<58}{value:>{width}} {_verdict(ok)}")

    def info(label: str, value: str) -> None:
        print(f"{label:<58}{value:>{width}}")

    print(f"{'target':<58}{'result':>{width}} verdict")
    print("-" * (58 + width + 8))
    must = summary["mutants_from_vaf"]
    hits = sum(bool(r["detected"]) for r in must)
    line(
        f"detected every time at VAF >= {DETECT_FROM_VAF:.1%} ({depth:g} read pairs)",
        f"{hits}/{len(must)}",
        None if not must else hits == len(must),
    )
    line(
        "type named right (among detected)",
        f"{summary['named']}/{summary['detected']}",
        None if not summary["detected"] else summary["named"] == summary["detected"],
    )
    err = summary["median_error_spec"]
    line(
        f"VAF median relative error vs spec (<= {TARGET_MEDIAN_ERROR:.0%})",
        _fmt(err, ".1%"),
        None if math.isnan(err) else err <= TARGET_MEDIAN_ERROR,
    )
    info(
        "VAF median relative error vs simulated molecule share",
        _fmt(summary["median_error_molecules"], ".1%"),
    )
    line(
        "zero NPM1 findings on wild-type samples",
        f"{summary['wt_npm1_findings']} in {summary['wt_samples']} samples",
        None if not summary["wt_samples"] else summary["wt_npm1_findings"] == 0,
    )
    if summary["wt_samples"] < WILD_TYPES:
        print(f"  (fewer than {WILD_TYPES} wild-type samples: --quick)")
    info("other findings on wild-type samples", str(summary["wt_other_findings"]))
    for label, key in (("simulate", "simulate_seconds"), ("call_sample", "call_seconds")):
        value = summary[key]
        info(
            f"seconds per sample, {label} (median / max)",
            "-" if value is None else f"{value[0]:.1f} / {value[1]:.1f}",
        )
    info("samples that failed (simulate or call)", str(summary["errors"]))


# --------------------------------------------------------------------------------------------


def _vafs(args: argparse.Namespace) -> tuple[float, ...]:
    if args.vafs:
        return tuple(float(v) for v in args.vafs.split(","))
    return QUICK_VAFS if args.quick else VAFS


def build_samples(args: argparse.Namespace, out_dir: Path) -> list[Sample]:
    vafs = _vafs(args)
    seeds = args.seeds or (QUICK_SEEDS_PER_CELL if args.quick else SEEDS_PER_CELL)
    wild = QUICK_WILD_TYPES if args.quick else WILD_TYPES
    samples = []
    index = 0
    for vaf in vafs:
        for npm1_type in TYPES:
            for rep in range(HIGH_VAF_SEEDS if vaf >= 0.4 else seeds):
                name = f"{npm1_type}-v{vaf * 100:g}-r{rep}"
                bam = str(out_dir / f"{name}.bam")
                samples.append(Sample(name, npm1_type, vaf, args.seed + index, args.depth, bam))
                index += 1
    for k in range(wild):
        name = f"WT{k + 1:02d}"
        bam = str(out_dir / f"{name}.bam")
        samples.append(Sample(name, None, 0.0, args.seed + index, args.depth, bam))
        index += 1
    return samples


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--depth", type=float, default=30000, help="read pairs per amplicon")
    parser.add_argument("--quick", action="store_true", help="one seed per cell, 4 wild types")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first sample")
    parser.add_argument("--out-dir", type=Path, help="keep BAMs and truth here (default: temp)")
    parser.add_argument("--json", type=Path, help="write every per-sample row and the summary")
    parser.add_argument(
        "--seeds", type=int, help=f"seeds per type and VAF below 40%% (default {SEEDS_PER_CELL})"
    )
    parser.add_argument("--vafs", help="comma-separated VAFs instead of the default grid")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    samples = build_samples(args, out_dir)
    vafs = _vafs(args)
    print(
        f"{len(samples)} samples, {args.workers} workers, NPM1 amplicon, {args.depth:g} read pairs",
        file=sys.stderr,
    )
    ordered = run_pool(samples, run_sample, args.workers, label=lambda s: s.name)
    print(f"Per-sample results (NPM1 amplicon, {args.depth:g} read pairs, no UMIs)")
    print_samples(ordered)
    print()
    summary = summarise(ordered, vafs)
    print("By VAF and type (err = median relative VAF error of detected samples)")
    print_cells(summary)
    print()
    print("Summary")
    print_summary(summary, args.depth)
    summary.pop("mutants_from_vaf")
    return {"samples": ordered, "summary": summary}


def main(argv: Sequence[str] | None = None) -> None:
    bench_main(parse_args, run, "npm1-bench-", argv)


if __name__ == "__main__":
    main()
