"""Is the reported LoD95 an LoD95? NPM1 type A tracked in simulated amplicon data at its LoD.

For NPM1 amplicon data at one depth (5,000 read pairs unless told otherwise), tracked as a
patient marker (``markers=(TrackedMarker("5", pos, ref, alt, gene="NPM1"),)`` with pos/ref/alt
the simulator's left-normalised type A, GRCh38 171410539 C>CTCTG, i.e. ``mrd call
--keep-duplicates --markers``):

1. wild-type calibration blanks are called and the LoD95 the tool reports for the marker
   (``mrd.lod`` of its finding) is read; the median over an odd number of blanks is used, so the
   VAF is a value the tool actually reported, to the last bit (no rounding);
2. samples simulated at exactly that VAF and fresh blanks (other seeds) are called; a sample is
   a detection when the marker's call is POSITIVE or POSITIVE_BELOW_LOQ. At the LoD95 at least
   95% of the mutant samples should be detected, and at most 5% of the blanks (aim 1%);
3. since the LoD depends on the depth each sample ends up with, each mutant sample's own
   reported LoD (``mrd.lod`` of that sample) is compared with the VAF it was simulated at, and
   detection is shown among the samples simulated at their own LoD (within 1%) and by side.

Rates come with exact (Clopper-Pearson) 95% binomial intervals. At n = 200 a detection rate of
exactly 95% has a standard error of 1.5%, so the point estimate of a calibrated LoD falls below
95% about half the time; the table says whether 95% lies inside the interval as well.

    python benchmarks/calibration.py --quick
    python benchmarks/calibration.py --depth 5000 --workers 2 --json calibration.json
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import bench_main
from scipy.stats import binom, binomtest

from mrd.markers.tracked import TrackedMarker

SAMPLES = 200
QUICK_SAMPLES = 40
CALIBRATION_BLANKS = 21
QUICK_CALIBRATION_BLANKS = 11
POSITIVE_CALLS = ("POSITIVE", "POSITIVE_BELOW_LOQ")
CALLS = ("POSITIVE", "POSITIVE_BELOW_LOQ", "NEGATIVE", "NOT_EVALUABLE")
TARGET_DETECTION = 0.95
TARGET_FALSE_POSITIVE = 0.05
AIM_FALSE_POSITIVE = 0.01
AT_OWN_LOD = 0.01
"""A sample is "at its own LoD" when its simulated VAF is within 1% of its own reported LoD."""

EXPECTED_TYPE_A = ("5", 171410539, "C", "CTCTG")
"""GRCh38 left-normalised type A, as the brief states; the script checks the truth against it."""


@dataclass(frozen=True)
class Sample:
    """One amplicon sample: wild type when ``vaf`` is 0."""

    name: str
    kind: str  # calibration, positive or blank
    vaf: float
    seed: int
    depth: float
    bam: str
    keep: bool


@dataclass(frozen=True)
class Job:
    sample: Sample
    marker: TrackedMarker


# --------------------------------------------------------------------------------------------
# Worker


def _remove(bam: Path) -> None:
    from mrd.simulate import default_truth_path

    for path in (bam, Path(f"{bam}.bai"), default_truth_path(bam)):
        path.unlink(missing_ok=True)


def run_sample(job: Job) -> dict[str, Any]:
    """Simulate and call one sample; the tracked marker's finding is kept, errors are fields."""
    from mrd.call import CallSettings, call_sample
    from mrd.ngs import ReadFilter
    from mrd.simulate import Npm1Insertion, SimulationSpec, simulate

    sample, marker = job.sample, job.marker
    out: dict[str, Any] = {**asdict(sample), "error": None}
    bam = Path(sample.bam)
    try:
        variants = () if sample.vaf == 0 else ((Npm1Insertion("A"), sample.vaf),)
        spec = SimulationSpec.of(
            *variants, genes=("NPM1",), mode="amplicon", depth=sample.depth, sample=sample.name
        )
        bam.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        result = simulate(spec, bam, seed=sample.seed)
        out["simulate_seconds"] = time.perf_counter() - started
        gene = result.truth["genes"]["NPM1"]
        out["truth_molecules"] = sum(int(h["molecules"]) for h in gene["haplotypes"])
        out["truth_mutant_molecules"] = sum(
            int(h["molecules"]) for h in gene["haplotypes"] if h["id"] != "wt"
        )
        settings = CallSettings(
            genes=("NPM1",), read_filter=ReadFilter(drop_duplicates=False), markers=(marker,)
        )
        started = time.perf_counter()
        called = call_sample(bam, settings=settings).as_dict()
        out["call_seconds"] = time.perf_counter() - started
    except Exception as exc:  # a failed sample is a row, not the end of the run
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        return out
    finally:
        if not sample.keep:
            _remove(bam)
    findings: list[dict[str, Any]] = list(called.get("findings") or [])
    tracked = next(
        (
            f
            for f in findings
            if f.get("position") == marker.position
            and f.get("ref") == marker.ref
            and f.get("alt") == marker.alt
        ),
        None,
    )
    if tracked is None:
        out["error"] = "the tracked marker is missing from the findings"
        return out
    mrd = tracked.get("mrd") or {}
    out.update(
        alt=tracked.get("alt_count"),
        depth=tracked.get("depth"),
        depth_unit=tracked.get("depth_unit"),
        reported_vaf=tracked.get("vaf"),
        tracked=tracked.get("tracked"),
        call=mrd.get("call"),
        lod=mrd.get("lod"),
        lob=mrd.get("lob"),
        alt_threshold=mrd.get("alt_threshold"),
        p_value=mrd.get("p_value"),
        pooled_call=(called.get("mrd") or {}).get("call"),
        other_findings=[
            f"{f.get('marker')} {f.get('position')} {f.get('ref')}>{f.get('alt')} "
            f"VAF {f.get('vaf')}"
            for f in findings
            if f is not tracked
        ],
    )
    return out


# --------------------------------------------------------------------------------------------
# Statistics and tables


def interval(hits: int, n: int) -> tuple[float, float]:
    """Exact (Clopper-Pearson) 95% interval of a binomial proportion."""
    if n == 0:
        return math.nan, math.nan
    ci = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _rate(hits: int, n: int) -> str:
    if n == 0:
        return "n/a"
    low, high = interval(hits, n)
    return f"{hits}/{n} = {hits / n:6.1%}  [{low:6.1%}, {high:6.1%}]"


def _detected(row: dict[str, Any]) -> bool:
    return row.get("call") in POSITIVE_CALLS


def type_a_marker(scratch: Path) -> TrackedMarker:
    """The simulator's left-normalised type A, as a tracked marker (checked against GRCh38)."""
    from mrd.genome import bare_chrom
    from mrd.simulate import Npm1Insertion, SimulationSpec, simulate

    spec = SimulationSpec.of((Npm1Insertion("A"), 0.5), genes=("NPM1",), mode="amplicon", depth=20)
    truth = simulate(spec, scratch / "type-a-truth.bam", seed=1).truth
    variant = next(v for v in truth["variants"] if v.get("npm1_type") == "A")
    marker = TrackedMarker(
        bare_chrom(variant["chrom"]),
        int(variant["pos"]),
        variant["ref"],
        variant["alt"],
        gene="NPM1",
        name="NPM1 type A",
    )
    if truth["build"] == "GRCh38" and marker.key != EXPECTED_TYPE_A:
        raise SystemExit(f"type A truth {marker.key} is not {EXPECTED_TYPE_A}")
    return marker


def print_calibration(rows: Sequence[dict[str, Any]], lod: float) -> None:
    lods = [r["lod"] for r in rows]
    depths = [r["depth"] for r in rows]
    calls = Counter(r["call"] for r in rows)
    print(f"{'calibration blanks':<44}{len(rows):>12}")
    print(f"{'reported LoD95, min':<44}{min(lods):>12.4e}")
    print(f"{'reported LoD95, median (used as the VAF)':<44}{lod:>12.4e}   exact: {lod!r}")
    print(f"{'reported LoD95, max':<44}{max(lods):>12.4e}")
    print(f"{'  as 1 in':<44}{1 / lod:>12,.0f}")
    print(f"{'marker depth (templates), min-max':<44}{f'{min(depths)}-{max(depths)}':>12}")
    print(f"{'LoB / alt threshold (median)':<44}", end="")
    lob = statistics.median(r["lob"] for r in rows)
    threshold = statistics.median(r["alt_threshold"] for r in rows)
    print(f"{f'{lob:g} / {threshold:g}':>12}")
    print(f"{'calls':<44}{', '.join(f'{c} {n}' for c, n in sorted(calls.items()))}")


def print_rates(positives: Sequence[dict[str, Any]], blanks: Sequence[dict[str, Any]]) -> None:
    width = 36
    header = f"{'set':<34}{'detected (95% CI)':>{width}}  {'target':<18}verdict"
    print(header)
    print("-" * (len(header) + 4))
    hits = sum(map(_detected, positives))
    n = len(positives)
    ok = None if n == 0 else hits / n >= TARGET_DETECTION
    print(
        f"{'mutant at the reported LoD95':<34}{_rate(hits, n):>{width}}  "
        f"{'>= 95%':<18}{_verdict(ok)}"
    )
    low, high = interval(hits, n)
    inside = "n/a" if n == 0 else ("yes" if low <= TARGET_DETECTION <= high else "no")
    print(f"{'  95% inside the interval':<34}{inside:>{width}}  (calibrated)")
    false = sum(map(_detected, blanks))
    m = len(blanks)
    fp_ok = None if m == 0 else false / m <= TARGET_FALSE_POSITIVE
    print(
        f"{'blanks (false positives)':<34}{_rate(false, m):>{width}}  "
        f"{'<= 5%':<18}{_verdict(fp_ok)}"
    )
    aim = "n/a" if m == 0 else ("met" if false / m <= AIM_FALSE_POSITIVE else "not met")
    print(f"{'  aim (false-positive rate)':<34}{aim:>{width}}  <= 1%")
    print()
    print(f"{'calls':<34}" + "".join(f"{c:>20}" for c in CALLS))
    for label, rows in (("mutant at LoD", positives), ("blanks", blanks)):
        counts = Counter(r["call"] for r in rows)
        print(f"{label:<34}" + "".join(f"{counts.get(c, 0):>20}" for c in CALLS))
    if positives:
        alts = [r["alt"] for r in positives]
        truth = [r["truth_mutant_molecules"] for r in positives]
        expected = statistics.mean(r["vaf"] * r["depth"] for r in positives)
        print()
        print(f"{'mutant: mean alt templates reported':<44}{statistics.mean(alts):>8.2f}")
        print(f"{'mutant: expected alt, VAF x reported depth':<44}{expected:>8.2f}")
        print(f"{'mutant: mean simulated mutant molecules':<44}{statistics.mean(truth):>8.2f}")
    if positives:
        print_misses(positives)
    others = sum(len(r["other_findings"]) for r in blanks)
    print(f"{'other findings on blanks':<44}{others:>8}")


def print_misses(positives: Sequence[dict[str, Any]]) -> None:
    """Why mutant samples were missed: the model's own odds and the simulated molecules."""
    n = len(positives)
    hits = sum(map(_detected, positives))
    # P(alt >= alt threshold) for Binomial(reported depth, VAF): the probability the LoD95
    # promises (0.95 at the LoD); averaged over the samples' depths and thresholds.
    model = statistics.mean(
        float(binom.sf(r["alt_threshold"] - 1, r["depth"], r["vaf"])) for r in positives
    )
    # How surprising the observed misses are if the true detection rate were 95%.
    p_low = float(binom.cdf(hits, n, TARGET_DETECTION))
    threshold = max(int(r["alt_threshold"]) for r in positives)
    enough = [r for r in positives if r["truth_mutant_molecules"] >= r["alt_threshold"]]
    fewer = [r for r in positives if r["truth_mutant_molecules"] < r["alt_threshold"]]
    rows = (
        ("model P(detect) at this VAF", f"{model:.2%}", "binomial at the reported depth"),
        (f"P(<= {hits}/{n} detected | rate 95%)", f"{p_low:.3f}", "one-sided binomial"),
        (
            f"detected, >= {threshold} simulated mut. molecules",
            f"{sum(map(_detected, enough))}/{len(enough)}",
            "",
        ),
        (
            f"detected, < {threshold} simulated mut. molecules",
            f"{sum(map(_detected, fewer))}/{len(fewer)}",
            "too few mutant molecules drawn",
        ),
    )
    for label, value, note in rows:
        print(f"{label:<44}{value:>8}   {note}".rstrip())


def print_own_lod(positives: Sequence[dict[str, Any]]) -> None:
    if not positives:
        print("no mutant samples")
        return
    ratios = [r["vaf"] / r["lod"] for r in positives]
    own = [r["lod"] for r in positives]
    print(
        f"own reported LoD of the mutant samples: min {min(own):.4e}, median "
        f"{statistics.median(own):.4e}, max {max(own):.4e}; simulated VAF / own LoD "
        f"{min(ratios):.4f}-{max(ratios):.4f}"
    )
    width = 36
    header = f"{'mutant samples':<40}{'detected (95% CI)':>{width}}  {'target':<10}verdict"
    print(header)
    print("-" * (len(header) + 4))
    strata = (
        (
            f"at their own LoD (VAF/LoD within {AT_OWN_LOD:.0%})",
            True,
            lambda x: abs(x - 1) <= AT_OWN_LOD,
        ),
        ("VAF >= own LoD", True, lambda x: x >= 1),
        ("VAF < own LoD", False, lambda x: x < 1),
        ("all", False, lambda x: True),
    )
    for label, judged, keep in strata:
        rows = [r for r, x in zip(positives, ratios, strict=True) if keep(x)]
        hits = sum(map(_detected, rows))
        ok = (hits / len(rows) >= TARGET_DETECTION) if judged and rows else None
        target = ">= 95%" if judged else ""
        print(
            f"{label:<40}{_rate(hits, len(rows)):>{width}}  {target:<10}"
            f"{_verdict(ok) if judged else ''}"
        )


# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--depth", type=float, default=5000, help="read pairs per amplicon")
    parser.add_argument("--samples", type=int, help="mutant samples and blanks (default 200 each)")
    parser.add_argument("--quick", action="store_true", help="40 mutant samples and 40 blanks")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first sample")
    parser.add_argument("--out-dir", type=Path, help="keep BAMs and truth here (default: temp)")
    parser.add_argument("--json", type=Path, help="write every per-sample row and the summary")
    args = parser.parse_args(argv)
    if args.samples is None:
        args.samples = QUICK_SAMPLES if args.quick else SAMPLES
    return args


def _run_phase(
    pool: ProcessPoolExecutor, jobs: Sequence[Job], label: str, started: float
) -> list[dict[str, Any]]:
    results = []
    for done, res in enumerate(pool.map(run_sample, jobs, chunksize=4), 1):
        results.append(res)
        if done % 20 == 0 or done == len(jobs):
            print(
                f"[{label} {done}/{len(jobs)} {time.perf_counter() - started:5.0f}s]",
                file=sys.stderr,
                flush=True,
            )
        if res["error"]:
            print(f"{res['name']}: {res['error']}\n{res.get('traceback', '')}", file=sys.stderr)
    return results


def run(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    marker = type_a_marker(out_dir)
    keep = args.out_dir is not None
    n_cal = QUICK_CALIBRATION_BLANKS if args.quick else CALIBRATION_BLANKS

    def sample(kind: str, k: int, vaf: float, seed: int) -> Sample:
        name = f"{kind}{k + 1:03d}"
        return Sample(name, kind, vaf, seed, args.depth, str(out_dir / f"{name}.bam"), keep)

    started = time.perf_counter()
    print(
        f"NPM1 amplicon, {args.depth:g} read pairs; {n_cal} calibration blanks, then "
        f"{args.samples} mutant samples and {args.samples} blanks; {args.workers} workers",
        file=sys.stderr,
    )
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        calibration_jobs = [
            Job(sample("calibration", k, 0.0, args.seed + 100_000 + k), marker)
            for k in range(n_cal)
        ]
        calibration = _run_phase(pool, calibration_jobs, "calibration", started)
        usable = [r for r in calibration if not r["error"] and r.get("lod") is not None]
        if not usable:
            raise SystemExit("no calibration blank gave a LoD")
        lods = sorted(r["lod"] for r in usable)
        lod = float(lods[(len(lods) - 1) // 2])  # a reported value, never an average of two
        jobs = [
            Job(sample("positive", k, lod, args.seed + 200_000 + k), marker)
            for k in range(args.samples)
        ] + [
            Job(sample("blank", k, 0.0, args.seed + 300_000 + k), marker)
            for k in range(args.samples)
        ]
        second = _run_phase(pool, jobs, "mutant+blank", started)
    positives = [r for r in second if r["kind"] == "positive" and not r["error"]]
    blanks = [r for r in second if r["kind"] == "blank" and not r["error"]]
    errors = [r for r in calibration + second if r["error"]]

    print(
        f"Tracked marker {marker.label}: {marker.chrom}:{marker.position} {marker.ref}>"
        f"{marker.alt} (simulator truth, left-normalised); NPM1 amplicon, {args.depth:g} read "
        "pairs, no UMIs, required sensitivity 1e-4 (default)"
    )
    print()
    print("Step 1: LoD95 the tool reports on wild-type calibration blanks")
    print_calibration(usable, lod)
    print()
    print(
        f"Step 2: detection at VAF = reported LoD95 = {lod!r} (positive = POSITIVE or "
        "POSITIVE_BELOW_LOQ)"
    )
    print_rates(positives, blanks)
    print()
    print("Step 3: each mutant sample against its own reported LoD (mrd.lod of that sample)")
    print_own_lod(positives)
    print()
    sim = [r["simulate_seconds"] for r in calibration + second if "simulate_seconds" in r]
    call = [r["call_seconds"] for r in calibration + second if "call_seconds" in r]
    if sim and call:
        print(
            f"seconds per sample: simulate median {statistics.median(sim):.2f}, call_sample "
            f"median {statistics.median(call):.2f}; samples that failed: {len(errors)}"
        )
    hits = sum(map(_detected, positives))
    false = sum(map(_detected, blanks))
    summary = {
        "marker": asdict(marker),
        "depth": args.depth,
        "lod_used": lod,
        "calibration_lods": lods,
        "detected": [hits, len(positives), *interval(hits, len(positives))],
        "false_positives": [false, len(blanks), *interval(false, len(blanks))],
        "errors": len(errors),
    }
    return {"summary": summary, "samples": calibration + second}


def main(argv: Sequence[str] | None = None) -> None:
    bench_main(parse_args, run, "calibration-bench-", argv)


if __name__ == "__main__":
    main()
