"""UMI molecule counting: reported molecules against the simulator's truth, at family sizes 1-10.

Simulates libraries with UMIs (``UmiSpec(family_size_mean=F, length=12)``, ``depth_of=
"molecules"``, so the number of original molecules is fixed and PCR duplicates come on top) for
NPM1 type A in amplicon mode (5,000 molecules) and a 60-bp FLT3-ITD in capture mode (2,000
molecules of site depth), at mean family sizes 1, 3 and 10, and calls them as ``mrd call
--keep-duplicates`` does. The same seed is used for every family size of a (gene, VAF,
replicate), and the simulator draws the molecules before their family sizes, so the three
libraries hold the very same molecules and differ only in their PCR duplicates (the truth
columns show it).

* **Molecule counts.** A finding counted in UMI families has ``depth_unit == "molecules"``;
  its ``alt_count`` and ``depth`` are compared with the truth molecules per haplotype. In
  amplicon mode every molecule covers the NPM1 site, so the counts compare directly. In capture
  mode the truth counts molecules over the whole 1.5-kb FLT3 window while the caller counts
  those over the ITD, so there the absolute counts are shown for information and the check is
  the share (the VAF, below). For both, the templates per reported molecule must match the
  simulated read pairs per molecule (the family size): families are collapsed, not split.
* **PCR duplicates do not inflate VAF.** The molecule VAF at family size 3 and 10 is compared
  with the truth molecule share and, pairwise on the same molecules, with family size 1.

    python benchmarks/molecules.py --quick
    python benchmarks/molecules.py --workers 2 --json molecules.json
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

FAMILY_SIZES = (1.0, 3.0, 10.0)
GENES = {
    # gene: (mode, molecules)
    "NPM1": ("amplicon", 5000.0),
    "FLT3": ("capture", 2000.0),
}
VAFS = (0.05, 0.20)
QUICK_VAFS = (0.05,)
REPLICATES = 3
QUICK_REPLICATES = 1
ITD_LENGTH = 60
UMI_LENGTH = 12

TARGET_COUNT = 0.05
"""Amplicon: median |reported / truth - 1| of alt molecules and of depth."""
TARGET_FAMILY = 0.10
"""Median |templates per reported molecule / simulated read pairs per molecule - 1|."""
TARGET_TRUTH_VAF = 0.10
"""Mean molecule VAF / truth molecule share within 1 +- this, at every family size."""
TARGET_PAIRED = 0.10
"""Median |VAF at family size F / VAF at family size 1 - 1| on the same molecules."""


@dataclass(frozen=True)
class Sample:
    """One library: ``gene`` at ``vaf`` with mean family size ``family_size``."""

    name: str
    gene: str
    mode: str
    molecules: float
    vaf: float
    family_size: float
    replicate: int
    seed: int
    bam: str
    keep: bool


# --------------------------------------------------------------------------------------------
# Worker


def _remove(bam: Path) -> None:
    from mrd.simulate import default_truth_path

    for path in (bam, Path(f"{bam}.bai"), default_truth_path(bam)):
        path.unlink(missing_ok=True)


def _match(gene: str, truth: dict[str, Any], findings: Sequence[dict[str, Any]]) -> Any:
    pos = int(truth["pos"])
    if gene == "NPM1":
        return next(
            (
                f
                for f in findings
                if f.get("marker") == "NPM1"
                and f.get("position") == pos
                and f.get("alt") == truth["alt"]
            ),
            None,
        )
    near = [
        f
        for f in findings
        if f.get("marker") == "FLT3-ITD"
        and f.get("length") == truth["length"]
        and abs(int(f.get("position") or 0) - pos) <= int(truth["length"])
    ]
    return min(near, key=lambda f: abs(int(f["position"]) - pos), default=None)


def run_sample(sample: Sample) -> dict[str, Any]:
    """Simulate and call one library; errors are returned as fields, not raised."""
    from mrd.call import CallSettings, call_sample
    from mrd.ngs import ReadFilter
    from mrd.simulate import Flt3Itd, Npm1Insertion, SimulationSpec, UmiSpec, simulate

    out: dict[str, Any] = {**asdict(sample), "error": None}
    bam = Path(sample.bam)
    try:
        variant = Npm1Insertion("A") if sample.gene == "NPM1" else Flt3Itd(ITD_LENGTH)
        spec = SimulationSpec.of(
            (variant, sample.vaf),
            genes=(sample.gene,),
            mode=sample.mode,
            depth=sample.molecules,
            depth_of="molecules",
            umi=UmiSpec(family_size_mean=sample.family_size, length=UMI_LENGTH),
            sample=sample.name,
        )
        bam.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        result = simulate(spec, bam, seed=sample.seed)
        out["simulate_seconds"] = time.perf_counter() - started
        gene = result.truth["genes"][sample.gene]
        haplotypes = gene["haplotypes"]
        out["truth_molecules"] = {h["id"]: int(h["molecules"]) for h in haplotypes}
        out["truth_read_pairs"] = {h["id"]: int(h["read_pairs"]) for h in haplotypes}
        total = sum(out["truth_molecules"].values())
        mutant = total - out["truth_molecules"].get("wt", 0)
        out["truth_total"] = total
        out["truth_mutant"] = mutant
        out["truth_share"] = mutant / total if total else math.nan
        out["truth_pairs_per_molecule"] = sum(out["truth_read_pairs"].values()) / total
        truth = next(v for v in result.truth["variants"] if v["gene"] == sample.gene)
        settings = CallSettings(genes=(sample.gene,), read_filter=ReadFilter(drop_duplicates=False))
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
    found = _match(sample.gene, truth, findings)
    out["detected"] = found is not None
    out["other_findings"] = sum(f is not found for f in findings)
    if found is not None:
        reads = found.get("reads") or {}
        out.update(
            alt=found.get("alt_count"),
            depth=found.get("depth"),
            depth_unit=found.get("depth_unit"),
            reported_vaf=found.get("vaf"),
            reads_alt=reads.get("alt"),
            reads_depth=reads.get("depth"),
            call=(found.get("mrd") or {}).get("call"),
        )
    return out


# --------------------------------------------------------------------------------------------
# Tables


def _fmt(value: object, spec: str = "", missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _div(a: float | None, b: float | None) -> float:
    if a is None or b is None or b == 0:
        return math.nan
    return a / b


def _median(values: Sequence[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.mean(values) if values else math.nan


def print_samples(results: Sequence[dict[str, Any]]) -> None:
    header = (
        f"{'gene':<5} {'VAF':>5} {'rep':>3} {'fam':>4} | {'truth mut/total mol':>19} "
        f"{'pairs/mol':>9} | {'unit':<9} {'alt/depth mol':>13} {'alt/depth templates':>19} "
        f"{'tmpl/mol':>8} | {'mol VAF':>8} {'read VAF':>8} {'truth':>8} {'vs truth':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lead = f"{r['gene']:<5} {r['vaf']:>5.2f} {r['replicate']:>3} {r['family_size']:>4g} |"
        if r["error"]:
            print(f"{lead} ERROR {r['error']}")
            continue
        truth = f"{r['truth_mutant']}/{r['truth_total']}"
        if not r["detected"]:
            print(f"{lead} {truth:>19} {r['truth_pairs_per_molecule']:>9.2f} | NOT DETECTED")
            continue
        mol = f"{r['alt']}/{r['depth']}"
        tmpl = f"{r['reads_alt']}/{r['reads_depth']}"
        read_vaf = _div(r["reads_alt"], r["reads_depth"])
        print(
            f"{lead} {truth:>19} {r['truth_pairs_per_molecule']:>9.2f} | {r['depth_unit']:<9} "
            f"{mol:>13} {tmpl:>19} {_div(r['reads_depth'], r['depth']):>8.2f} | "
            f"{_fmt(r['reported_vaf'], '.5f'):>8} {read_vaf:>8.5f} {r['truth_share']:>8.5f} "
            f"{_div(r['reported_vaf'], r['truth_share']) - 1:>+8.1%}"
        )


def _ok_within(value: float, tolerance: float) -> bool | None:
    return None if math.isnan(value) else abs(value) <= tolerance


def summarise(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    ok = [r for r in results if not r["error"]]
    baseline = {
        (r["gene"], r["vaf"], r["replicate"]): r["reported_vaf"]
        for r in ok
        if r["family_size"] == 1 and r.get("reported_vaf") is not None
    }
    rows = []
    for gene, (mode, _) in GENES.items():
        for size in FAMILY_SIZES:
            mine = [r for r in ok if r["gene"] == gene and r["family_size"] == size]
            found = [r for r in mine if r["detected"]]
            paired = [
                _div(r["reported_vaf"], baseline.get((gene, r["vaf"], r["replicate"]))) - 1
                for r in found
            ]
            rows.append(
                {
                    "gene": gene,
                    "mode": mode,
                    "family_size": size,
                    "n": len(mine),
                    "detected": len(found),
                    "molecule_unit": sum(r["depth_unit"] == "molecules" for r in found),
                    "alt_vs_truth": _median([_div(r["alt"], r["truth_mutant"]) - 1 for r in found]),
                    "alt_vs_truth_abs": _median(
                        [abs(_div(r["alt"], r["truth_mutant"]) - 1) for r in found]
                    ),
                    "depth_vs_truth": _median(
                        [_div(r["depth"], r["truth_total"]) - 1 for r in found]
                    ),
                    "depth_vs_truth_abs": _median(
                        [abs(_div(r["depth"], r["truth_total"]) - 1) for r in found]
                    ),
                    "family_vs_truth": _median(
                        [
                            abs(
                                _div(r["reads_depth"], r["depth"]) / r["truth_pairs_per_molecule"]
                                - 1
                            )
                            for r in found
                        ]
                    ),
                    "templates_per_molecule": _median(
                        [_div(r["reads_depth"], r["depth"]) for r in found]
                    ),
                    "truth_pairs_per_molecule": _median(
                        [r["truth_pairs_per_molecule"] for r in found]
                    ),
                    "alt_reads_per_alt_molecule": _median(
                        [_div(r["reads_alt"], r["alt"]) for r in found]
                    ),
                    "vaf_vs_truth": _mean(
                        [_div(r["reported_vaf"], r["truth_share"]) for r in found]
                    )
                    - 1,
                    "read_vaf_vs_truth": _mean(
                        [
                            _div(_div(r["reads_alt"], r["reads_depth"]), r["truth_share"])
                            for r in found
                        ]
                    )
                    - 1,
                    "paired_vs_size1": _median(paired) if size != 1 else math.nan,
                    "paired_vs_size1_abs": (
                        _median([abs(p) for p in paired]) if size != 1 else math.nan
                    ),
                }
            )
    return rows


def print_counts(rows: Sequence[dict[str, Any]]) -> None:
    print(
        f"{'gene':<5} {'mode':<9} {'fam':>4} {'found':>6} {'unit=mol':>8} | "
        f"{'alt mol vs truth':>16} {'depth vs truth':>14} | {'tmpl/mol':>8} {'truth':>6} "
        f"{'alt tmpl/mol':>12} | verdict"
    )
    print("-" * 128)
    for row in rows:
        amplicon = row["mode"] == "amplicon"
        unit_ok = None if not row["detected"] else row["molecule_unit"] == row["detected"]
        verdicts = [f"unit {_verdict(unit_ok)}"]
        if amplicon:
            verdicts.append(f"alt {_verdict(_ok_within(row['alt_vs_truth_abs'], TARGET_COUNT))}")
            verdicts.append(
                f"depth {_verdict(_ok_within(row['depth_vs_truth_abs'], TARGET_COUNT))}"
            )
        verdicts.append(f"fam {_verdict(_ok_within(row['family_vs_truth'], TARGET_FAMILY))}")
        note = "" if amplicon else " (window)"
        print(
            f"{row['gene']:<5} {row['mode']:<9} {row['family_size']:>4g} "
            f"{row['detected']:>3}/{row['n']:<2} {row['molecule_unit']:>8} | "
            f"{_fmt(row['alt_vs_truth'], '+.1%') + note:>16} "
            f"{_fmt(row['depth_vs_truth'], '+.1%') + note:>14} | "
            f"{_fmt(row['templates_per_molecule'], '.2f'):>8} "
            f"{_fmt(row['truth_pairs_per_molecule'], '.2f'):>6} "
            f"{_fmt(row['alt_reads_per_alt_molecule'], '.2f'):>12} | {', '.join(verdicts)}"
        )


def print_vaf(rows: Sequence[dict[str, Any]]) -> None:
    print(
        f"{'gene':<5} {'mode':<9} {'fam':>4} | {'mol VAF vs truth (mean)':>23} "
        f"{'read VAF vs truth':>17} | {'mol VAF vs fam 1 (median, paired)':>33} | verdict"
    )
    print("-" * 118)
    for row in rows:
        truth_ok = _ok_within(row["vaf_vs_truth"], TARGET_TRUTH_VAF)
        verdicts = [f"truth {_verdict(truth_ok)}"]
        paired = "(reference)"
        if row["family_size"] != 1:
            paired_ok = _ok_within(row["paired_vs_size1_abs"], TARGET_PAIRED)
            paired = (
                f"{_fmt(row['paired_vs_size1'], '+.1%')} "
                f"(|.| {_fmt(row['paired_vs_size1_abs'], '.1%')})"
            )
            verdicts.append(f"vs fam 1 {_verdict(paired_ok)}")
        print(
            f"{row['gene']:<5} {row['mode']:<9} {row['family_size']:>4g} | "
            f"{_fmt(row['vaf_vs_truth'], '+.1%'):>23} {_fmt(row['read_vaf_vs_truth'], '+.1%'):>17}"
            f" | {paired:>33} | {', '.join(verdicts)}"
        )


# --------------------------------------------------------------------------------------------


def build_samples(args: argparse.Namespace, out_dir: Path) -> list[Sample]:
    vafs = QUICK_VAFS if args.quick else VAFS
    replicates = QUICK_REPLICATES if args.quick else REPLICATES
    samples = []
    index = 0
    keep = args.out_dir is not None
    for gene, (mode, molecules) in GENES.items():
        for vaf in vafs:
            for rep in range(replicates):
                seed = args.seed + index  # shared by the family sizes: the same molecules
                index += 1
                for size in FAMILY_SIZES:
                    name = f"{gene}-v{vaf * 100:g}-r{rep}-f{size:g}"
                    bam = str(out_dir / f"{name}.bam")
                    samples.append(
                        Sample(name, gene, mode, molecules, vaf, size, rep, seed, bam, keep)
                    )
    return samples


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="VAF 5%% only, one replicate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first replicate")
    parser.add_argument("--out-dir", type=Path, help="keep BAMs and truth here (default: temp)")
    parser.add_argument("--json", type=Path, help="write every per-sample row and the summary")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    samples = build_samples(args, out_dir)
    # Largest libraries first, so the pool ends evenly.
    jobs = sorted(samples, key=lambda s: -s.family_size * s.molecules)
    print(f"{len(samples)} libraries, {args.workers} workers", file=sys.stderr)
    done = run_pool(jobs, run_sample, args.workers, label=lambda s: s.name)
    by_name = {s.name: res for s, res in zip(jobs, done, strict=True)}
    ordered = [by_name[s.name] for s in samples]
    print(
        "Per-library results (UMI length 12; truth = simulator molecules per haplotype; "
        "vs truth = molecule VAF / truth molecule share - 1)"
    )
    print_samples(ordered)
    print()
    summary = summarise(ordered)
    print(
        "Molecule counts vs truth (median over libraries; amplicon targets: alt and depth "
        f"within {TARGET_COUNT:.0%}; both: templates per molecule within {TARGET_FAMILY:.0%} "
        "of the simulated read pairs per molecule)"
    )
    print_counts(summary)
    print()
    print(
        "PCR duplicates do not inflate VAF (targets: mean molecule VAF within "
        f"{TARGET_TRUTH_VAF:.0%} of the truth share; median paired change vs family size 1 "
        f"within {TARGET_PAIRED:.0%})"
    )
    print_vaf(summary)
    sim = [r["simulate_seconds"] for r in ordered if "simulate_seconds" in r]
    call = [r["call_seconds"] for r in ordered if "call_seconds" in r]
    if sim and call:
        print(
            f"\nseconds per library: simulate median {statistics.median(sim):.1f} (max "
            f"{max(sim):.1f}), call_sample median {statistics.median(call):.1f} (max "
            f"{max(call):.1f}); failed: {sum(bool(r['error']) for r in ordered)}"
        )
    return {"samples": ordered, "summary": summary}


def main(argv: Sequence[str] | None = None) -> None:
    bench_main(parse_args, run, "molecules-bench-", argv)


if __name__ == "__main__":
    main()
