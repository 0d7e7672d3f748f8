"""FLT3-ITD calling on simulated samples: sensitivity, length, VAF, specificity and speed.

Simulates FLT3-window samples (150-bp reads, capture mode and 3,000x unless told otherwise),
aligns them with minimap2 (mappy) and again with bwa mem, runs the caller (``call_sample``, the
code behind ``mrd call``) on each and compares its findings with the simulator's truth:

* single ITDs of 3-250 bp (the longest as long as or longer than the reads) at sites across
  the JMD and into TKD1, some with non-templated bases, at VAF 40%, 5% and 1%;
* wild-type samples (no variant), where every FLT3-ITD call is a false positive;
* samples with two or three ITD clones, each of which must be found with its own VAF;
* the wall time of the caller against ``samtools view -c`` over the FLT3 window.

A truth ITD counts as detected when a FLT3-ITD finding lies within +-(true length) bp of its
left-normalised VCF position with a length within 25% (at least 3 bp) of the true one, or
carries a rotation of the true inserted sequence (the same tandem duplication written at
another shift). Each finding matches at most one clone; exact length is reported separately.
A sample the caller raises on is reported, and its clones count as missed. Sites are named by
the c. position of the ITD's genomic ``end`` (its last duplicated base on the plus strand, the
lowest c. position of the segment; FLT3 is on the minus strand). With ``--mode amplicon`` a
segment that would leave the default amplicon is moved inside it; the site column says where.

    python benchmarks/flt3_itd.py --quick
    python benchmarks/flt3_itd.py --aligner mappy bwa --depth 3000 --workers 2 --json out.json
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import bench_main, run_pool

from mrd.catalog import flt3, reference_window
from mrd.simulate import Flt3Itd, SimulationSpec, default_amplicons, simulate

BUILD = SimulationSpec().build
ANNOTATION = flt3(BUILD)
WINDOW = reference_window("FLT3", BUILD)

# 249, not 250: an ITD is in frame; a 250-bp duplication is rightly reported as FLT3-insertion.
LENGTHS = (3, 6, 12, 21, 30, 45, 60, 90, 120, 150, 180, 210, 249)
QUICK_LENGTHS = (6, 45, 120, 210)
VAFS = (0.40, 0.05, 0.01)
SITES_C = (1720, 1750, 1800, 1830, 1840, 1870)
"""c. position of each ITD's genomic end (its lowest c. base): JMD p.574, p.584 and p.600, TKD1
p.610 (exon 14), p.614 and p.624 (exon 15); over its two replicates each length meets all six.
The segment runs towards higher c. positions, into intron 14 and exon 15 (and past c.1942 into
intron 15) for long ITDs; even 250 bp from c.1870 stays inside the catalog window. The truth
names the domain by the 3'-most duplicated exonic residue, the insertion site, so an ITD
reaching c.1828 or beyond is TKD1."""
WILD_TYPES = 10
QUICK_WILD_TYPES = 2
LONG_ITD = 100
LENGTH_TOLERANCE = 0.25
AMPLICON_MARGIN = 10

TARGET_SENSITIVITY = {0.40: 1.0, 0.05: 1.0, 0.01: 0.9}
TARGET_EXACT_LENGTH = 0.9
TARGET_MEDIAN_ERROR = 0.25
TARGET_SLOPE = (0.9, 1.1)


@dataclass(frozen=True)
class Clone:
    """One simulated ITD: ``length`` duplicated bases ending at genomic ``end``."""

    length: int
    end: int
    vaf: float
    nontemplated: str = ""


@dataclass(frozen=True)
class Sample:
    """A sample to simulate (and call): its clones, library and where the BAM goes."""

    name: str
    kind: str  # single, wt, multi or speed
    clones: tuple[Clone, ...]
    seed: int
    aligner: str
    mode: str
    depth: float
    bam: str
    call: bool = True


# --------------------------------------------------------------------------------------------
# Sample grid


def _genomic_end(site_c: int, length: int, mode: str) -> int | None:
    """The ITD end for a site; in amplicon mode moved so the segment fits inside the amplicon.

    Returns None when no placement inside the amplicon can hold the segment.
    """
    end = ANNOTATION.genomic_position(site_c)
    if mode != "amplicon":
        return end
    first, last = default_amplicons(BUILD)["FLT3"]
    lowest, highest = first + AMPLICON_MARGIN, last - AMPLICON_MARGIN
    end = min(max(end, lowest + length - 1), highest)
    return end if end - length + 1 >= lowest else None


def _nontemplated(seed: int, count: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(count))


def _clone(length: int, site_c: int, vaf: float, mode: str, nontemplated: str = "") -> Clone:
    end = _genomic_end(site_c, length, mode)
    if end is None:
        raise ValueError(f"a {length} bp ITD does not fit inside the {mode} target")
    return Clone(length, end, vaf, nontemplated)


def build_grid(args: argparse.Namespace, out_dir: Path) -> tuple[list[Sample], list[str]]:
    """All samples of the run for every aligner, plus notes on samples left out.

    Seeds depend on the sample, not on the aligner, so both aligners see the same reads.
    """
    lengths = QUICK_LENGTHS if args.quick else LENGTHS
    replicates = 1 if args.quick else 2
    wild_types = QUICK_WILD_TYPES if args.quick else WILD_TYPES
    designs: list[tuple[str, str, tuple[Clone, ...]]] = []
    clones: tuple[Clone, ...]
    notes: list[str] = []
    for rep in range(replicates):
        for i, length in enumerate(lengths):
            # Every third (length, replicate) gets 3 or 6 non-templated bases (kept in frame).
            nt_count = (3, 6)[i % 2] if (i + rep) % 3 == 2 else 0
            nt = _nontemplated(10_000 + 100 * rep + i, nt_count)
            for j, vaf in enumerate(VAFS):
                site_c = SITES_C[(i + 2 * j + 3 * rep) % len(SITES_C)]
                name = f"L{length:03d}{'+' + str(nt_count) if nt else ''}-v{vaf * 100:g}-r{rep}"
                try:
                    clones = (_clone(length, site_c, vaf, args.mode, nt),)
                except ValueError as exc:
                    notes.append(f"{name}: left out, {exc}")
                    continue
                designs.append((name, "single", clones))
    for k in range(wild_types):
        designs.append((f"WT{k + 1:02d}", "wt", ()))
    multi: list[tuple[tuple[int, int, float, str], ...]] = [
        ((30, 1750, 0.20, ""), (90, 1800, 0.05, "")),
        ((21, 1750, 0.10, ""), (60, 1830, 0.05, ""), (150, 1800, 0.02, "")),
        ((12, 1840, 0.30, ""), (45, 1750, 0.10, "GAT"), (120, 1870, 0.01, "")),
    ]
    for parts in multi[-1:] if args.quick else multi:
        name = "M" + "+".join(str(p[0]) for p in parts)
        try:
            clones = tuple(_clone(length, c, vaf, args.mode, nt) for length, c, vaf, nt in parts)
        except ValueError as exc:
            notes.append(f"{name}: left out, {exc}")
            continue
        designs.append((name, "multi", clones))
    samples = []
    for aligner in args.aligner:
        for index, (name, kind, clones) in enumerate(designs):
            samples.append(
                Sample(
                    name=name,
                    kind=kind,
                    clones=clones,
                    seed=args.seed + index,
                    aligner=aligner,
                    mode=args.mode,
                    depth=args.depth,
                    bam=str(out_dir / aligner / f"{name}.bam"),
                    call=not args.simulate_only,
                )
            )
    return samples, notes


def speed_samples(args: argparse.Namespace, out_dir: Path) -> list[Sample]:
    """A 60-bp ITD at 5% at the run's depth and at ``--speed-depth``, first aligner only."""
    aligner = args.aligner[0]
    clone = _clone(60, 1750, 0.05, args.mode)
    return [
        Sample(
            name=f"speed-{depth:g}x",
            kind="speed",
            clones=(clone,),
            seed=args.seed + 999_000 + k,
            aligner=aligner,
            mode=args.mode,
            depth=depth,
            bam=str(out_dir / "speed" / f"speed-{depth:g}x.bam"),
            call=False,
        )
        for k, depth in enumerate((args.depth, args.speed_depth))
    ]


# --------------------------------------------------------------------------------------------
# Worker: simulate -> call -> compare


def _spec(sample: Sample) -> SimulationSpec:
    return SimulationSpec.of(
        *(
            (Flt3Itd(c.length, end=c.end, nontemplated=c.nontemplated), c.vaf)
            for c in sample.clones
        ),
        genes=("FLT3",),
        sample=sample.name,
        mode=sample.mode,
        depth=sample.depth,
        read_length=150,
        aligner=sample.aligner,
    )


def _is_rotation(a: str, b: str) -> bool:
    return bool(a) and len(a) == len(b) and a in b + b


def _match_quality(truth: dict[str, Any], finding: dict[str, Any]) -> tuple[int, int, int] | None:
    """Sort key of a truth-finding pair (lower is better), or None when they do not match."""
    length = int(truth["length"])
    found = int(finding.get("length") or 0)
    distance = abs(int(finding.get("position") or 0) - int(truth["pos"]))
    rotation = found == length and _is_rotation(
        str(finding.get("inserted_sequence") or "").upper(), str(truth["inserted_sequence"])
    )
    near = distance <= length
    close_length = abs(found - length) <= max(3, LENGTH_TOLERANCE * length)
    if near and found == length:
        rank = 0
    elif rotation and distance <= 2 * length + 10:
        rank = 1
    elif near and close_length:
        rank = 2
    else:
        return None
    return rank, abs(found - length), distance


def match_findings(
    truths: Sequence[dict[str, Any]], findings: Sequence[dict[str, Any]]
) -> list[int | None]:
    """For each truth ITD the index (into ``findings``) of its FLT3-ITD finding, or None."""
    pairs = []
    for ti, truth in enumerate(truths):
        for fi, finding in enumerate(findings):
            if finding.get("marker") != "FLT3-ITD":
                continue
            quality = _match_quality(truth, finding)
            if quality is not None:
                pairs.append((quality, ti, fi))
    pairs.sort()
    matched: list[int | None] = [None] * len(truths)
    used: set[int] = set()
    for _, ti, fi in pairs:
        if matched[ti] is None and fi not in used:
            matched[ti] = fi
            used.add(fi)
    return matched


def _clone_row(truth: dict[str, Any], finding: dict[str, Any] | None) -> dict[str, Any]:
    true_vaf = float(truth["allele_fraction"])
    row: dict[str, Any] = {
        "length": truth["length"],
        "duplicated_length": truth["duplicated_length"],
        "nontemplated": truth["nontemplated"],
        "site": truth["c_segment"].split("_")[0],
        "domain": truth["domain"],
        "pos": truth["pos"],
        "true_vaf": true_vaf,
        "detected": finding is not None,
        "reported_length": None,
        "length_exact": None,
        "position_delta": None,
        "vaf": None,
        "vaf_ci_low": None,
        "vaf_ci_high": None,
        "relative_error": None,
        "alt_count": None,
        "depth": None,
    }
    if finding is not None:
        vaf = finding.get("vaf")
        row.update(
            reported_length=finding.get("length"),
            length_exact=finding.get("length") == truth["length"],
            position_delta=int(finding.get("position") or 0) - int(truth["pos"]),
            vaf=vaf,
            vaf_ci_low=finding.get("vaf_ci_low"),
            vaf_ci_high=finding.get("vaf_ci_high"),
            relative_error=None if vaf is None else abs(float(vaf) - true_vaf) / true_vaf,
            alt_count=finding.get("alt_count"),
            depth=finding.get("depth"),
        )
    return row


def _brief(finding: dict[str, Any]) -> str:
    return (
        f"{finding.get('marker')} {finding.get('position')} {finding.get('length')} bp "
        f"VAF {finding.get('vaf')}"
    )


def run_sample(sample: Sample) -> dict[str, Any]:
    """Simulate, call and compare one sample; errors are returned, not raised.

    ``error`` says the simulation failed (the sample is left out); ``call_error`` says the
    caller raised, and the sample's clones then count as not detected.
    """
    out: dict[str, Any] = {
        **{k: v for k, v in asdict(sample).items() if k not in ("clones",)},
        "clones": [],
        "error": None,
        "call_error": None,
    }
    try:
        Path(sample.bam).parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        result = simulate(_spec(sample), sample.bam, seed=sample.seed)
        out["simulate_seconds"] = time.perf_counter() - started
        gene = result.truth["genes"]["FLT3"]
        out["records"] = gene["alignment"]["records"]
        window = gene["window"]
        out["region"] = f"{window['chrom']}:{window['start']}-{window['end']}"
        truths = [v for v in result.truth["variants"] if v["type"] == "FLT3-ITD"]
    except Exception as exc:  # a failed sample is a row, not the end of the run
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        return out
    out["clones"] = [_clone_row(t, None) for t in truths]
    if not sample.call:
        for row in out["clones"]:
            row["detected"] = None
        return out
    try:
        from mrd.call import CallSettings, call_sample

        started = time.perf_counter()
        called = call_sample(sample.bam, settings=CallSettings()).as_dict()
        out["call_seconds"] = time.perf_counter() - started
    except Exception as exc:  # the caller failing on a sample is a result too
        out["call_error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        return out
    findings: list[dict[str, Any]] = list(called.get("findings") or [])
    matched = match_findings(truths, findings)
    out["clones"] = [
        _clone_row(t, None if m is None else findings[m])
        for t, m in zip(truths, matched, strict=True)
    ]
    used = {m for m in matched if m is not None}
    itd = [f for f in findings if f.get("marker") == "FLT3-ITD"]
    out["itd_calls"] = len(itd)
    out["other_findings"] = len(findings) - len(itd)
    out["unmatched_itd"] = [
        _brief(f) for i, f in enumerate(findings) if f.get("marker") == "FLT3-ITD" and i not in used
    ]
    out["other"] = [_brief(f) for f in findings if f.get("marker") != "FLT3-ITD"]
    return out


# --------------------------------------------------------------------------------------------
# Statistics and tables


def _pct(numerator: int, denominator: int) -> str:
    if denominator == 0:
        return "n/a"
    return f"{100 * numerator / denominator:.1f}% ({numerator}/{denominator})"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def slopes(points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """Least-squares slope through the origin, and OLS slope and intercept."""
    if not points:
        return math.nan, math.nan, math.nan
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    origin = float(x @ y / (x @ x))
    if len(set(x.tolist())) < 2:
        return origin, math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    return origin, float(slope), float(intercept)


def _fmt(value: object, spec: str = "", missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[value]


def print_samples(results: Sequence[dict[str, Any]]) -> None:
    header = (
        f"{'aligner':<7} {'sample':<18} {'len':>4} {'nt':>2} {'site':<13} {'domain':<6} "
        f"{'trueVAF':>7} {'det':>3} {'rep len':>7} {'exact':>5} {'dpos':>5} {'VAF':>7} "
        f"{'95% CI':>15} {'rel err':>7} {'alt/depth':>11} {'ITDs':>4} {'other':>5}"
    )
    print(header)
    print("-" * len(header))
    for res in results:
        if res["error"]:
            print(f"{res['aligner']:<7} {res['name']:<18} ERROR {res['error']}")
            continue
        calls = f"{_fmt(res.get('itd_calls')):>4} {_fmt(res.get('other_findings')):>5}"
        if not res["clones"]:
            print(f"{res['aligner']:<7} {res['name']:<18} {'(wild type)':<90} {calls}")
        for row in res["clones"]:
            ci = (
                f"{row['vaf_ci_low']:.4f}-{row['vaf_ci_high']:.4f}"
                if row["vaf_ci_low"] is not None and row["vaf_ci_high"] is not None
                else "-"
            )
            det = "ERR" if res["call_error"] else _yes_no(row["detected"])
            exact = _yes_no(row["length_exact"])
            alt = f"{row['alt_count']}/{row['depth']}" if row["alt_count"] is not None else "-"
            print(
                f"{res['aligner']:<7} {res['name']:<18} {row['length']:>4} "
                f"{len(row['nontemplated']):>2} {row['site']:<13} {row['domain']:<6} "
                f"{row['true_vaf']:>7.3f} {det:>3} {_fmt(row['reported_length']):>7} "
                f"{exact:>5} {_fmt(row['position_delta'], '+d'):>5} {_fmt(row['vaf'], '.4f'):>7} "
                f"{ci:>15} {_fmt(row['relative_error'], '.1%'):>7} {alt:>11} {calls}"
            )
        if res["call_error"]:
            print(f"{'':<27}caller error: {res['call_error']}")
        for label, key in (("unmatched ITD calls", "unmatched_itd"), ("other findings", "other")):
            if res.get(key):
                print(f"{'':<27}{label}: {'; '.join(res[key])}")


def print_length_matrix(results: Sequence[dict[str, Any]], aligners: Sequence[str]) -> None:
    print("Detected / simulated single ITDs by length (total inserted length) and VAF")
    heading = f"{'length':>6}" + "".join(
        f"  {a + ' ' + format(v * 100, 'g') + '%':>12}" for a in aligners for v in VAFS
    )
    print(heading)
    print("-" * len(heading))
    single = [r for r in results if r["kind"] == "single" and not r["error"]]
    lengths = sorted({row["length"] for r in single for row in r["clones"]})
    for length in lengths:
        cells = []
        for aligner in aligners:
            for vaf in VAFS:
                rows = [
                    row
                    for r in single
                    if r["aligner"] == aligner
                    for row in r["clones"]
                    if row["length"] == length and row["true_vaf"] == vaf
                ]
                hits = sum(bool(row["detected"]) for row in rows)
                exact = sum(bool(row["length_exact"]) for row in rows)
                cells.append(f"{hits}/{len(rows)} ex{exact}" if rows else "-")
        print(f"{length:>6}" + "".join(f"  {c:>12}" for c in cells))


def summarise(results: Sequence[dict[str, Any]], aligner: str) -> dict[str, Any]:
    mine = [r for r in results if r["aligner"] == aligner]
    errors = [r for r in mine if r["error"]]
    ok = [r for r in mine if not r["error"]]
    single = [row for r in ok if r["kind"] == "single" for row in r["clones"]]
    multi = [row for r in ok if r["kind"] == "multi" for row in r["clones"]]
    wild = [r for r in ok if r["kind"] == "wt" and not r["call_error"]]
    summary: dict[str, Any] = {
        "aligner": aligner,
        "errors": len(errors),
        "call_errors": sum(bool(r["call_error"]) for r in ok),
        "wt_call_errors": sum(bool(r["call_error"]) for r in ok if r["kind"] == "wt"),
    }
    for vaf in VAFS:
        rows = [row for row in single if row["true_vaf"] == vaf]
        hits = sum(bool(row["detected"]) for row in rows)
        summary[f"sensitivity_{vaf:g}"] = (hits, len(rows))
    detected = [row for row in single if row["detected"]]
    summary["exact_length"] = (sum(bool(row["length_exact"]) for row in detected), len(detected))
    summary["wt_samples"] = len(wild)
    summary["wt_itd_calls"] = sum(int(r.get("itd_calls", 0)) for r in wild)
    summary["wt_other_findings"] = sum(int(r.get("other_findings", 0)) for r in wild)
    summary["mutant_unmatched_itd_calls"] = sum(
        len(r.get("unmatched_itd", [])) for r in ok if r["kind"] in ("single", "multi")
    )
    clones = [row for row in single + multi if row["detected"] and row["vaf"] is not None]
    for label, subset in (
        ("all", clones),
        ("long", [row for row in clones if row["length"] >= LONG_ITD]),
    ):
        errs = [row["relative_error"] for row in subset]
        points = [(row["true_vaf"], float(row["vaf"])) for row in subset]
        origin, ols, intercept = slopes(points)
        summary[f"vaf_{label}"] = {
            "n": len(subset),
            "median_relative_error": statistics.median(errs) if errs else math.nan,
            "slope_origin": origin,
            "slope_ols": ols,
            "intercept_ols": intercept,
        }
    multi_samples = [r for r in ok if r["kind"] == "multi"]
    summary["multi_clone"] = (
        sum(all(row["detected"] for row in r["clones"]) for r in multi_samples),
        len(multi_samples),
    )
    return summary


def _in_range(value: float, bounds: tuple[float, float]) -> bool | None:
    if math.isnan(value):
        return None
    return bounds[0] <= value <= bounds[1]


def _vaf_info(s: dict[str, Any], *, key: str, field: str, spec: str) -> str:
    return _fmt(s[key][field], spec)


def _median_error_cell(s: dict[str, Any], *, key: str) -> tuple[str, bool | None]:
    value = s[key]["median_relative_error"]
    return _fmt(value, ".1%"), None if math.isnan(value) else value <= TARGET_MEDIAN_ERROR


def _slope_cell(s: dict[str, Any], *, key: str, field: str) -> tuple[str, bool | None]:
    return _fmt(s[key][field], ".3f"), _in_range(s[key][field], TARGET_SLOPE)


def print_summary(summaries: Sequence[dict[str, Any]]) -> None:
    aligners = [s["aligner"] for s in summaries]
    width = 28
    print(f"{'target':<44}" + "".join(f"{a:>{width}}" for a in aligners))
    print("-" * (44 + width * len(aligners)))

    def line(label: str, cell: Callable[[dict[str, Any]], tuple[str, bool | None]]) -> None:
        cells = []
        for s in summaries:
            text, ok = cell(s)
            cells.append(f"{text} {_verdict(ok)}")
        print(f"{label:<44}" + "".join(f"{c:>{width}}" for c in cells))

    def info(label: str, cell: Callable[[dict[str, Any]], str]) -> None:
        print(f"{label:<44}" + "".join(f"{cell(s):>{width}}" for s in summaries))

    for vaf in VAFS:
        target = TARGET_SENSITIVITY[vaf]

        def sens(s: dict[str, Any], vaf: float = vaf, target: float = target) -> tuple[str, bool]:
            hits, n = s[f"sensitivity_{vaf:g}"]
            return _pct(hits, n), n > 0 and hits / n >= target

        line(f"sensitivity at VAF {vaf * 100:g}% (>= {target:.0%})", sens)

    def exact(s: dict[str, Any]) -> tuple[str, bool | None]:
        hits, n = s["exact_length"]
        return _pct(hits, n), None if n == 0 else hits / n >= TARGET_EXACT_LENGTH

    line(f"exact length among detected (>= {TARGET_EXACT_LENGTH:.0%})", exact)
    line(
        "FLT3-ITD calls on wild type (= 0)",
        lambda s: (
            f"{s['wt_itd_calls']} in {s['wt_samples']} samples",
            None if s["wt_samples"] == 0 else s["wt_itd_calls"] == 0,
        ),
    )
    info("other findings on wild type", lambda s: str(s["wt_other_findings"]))
    info("unmatched ITD calls in mutant samples", lambda s: str(s["mutant_unmatched_itd_calls"]))
    for label, key in (("all detected clones", "vaf_all"), (f">= {LONG_ITD} bp", "vaf_long")):
        info(f"VAF, {label}: n", functools.partial(_vaf_info, key=key, field="n", spec="d"))
        line(
            f"  median relative error (<= {TARGET_MEDIAN_ERROR:.0%})",
            functools.partial(_median_error_cell, key=key),
        )
        line(
            "  slope through origin (0.9-1.1)",
            functools.partial(_slope_cell, key=key, field="slope_origin"),
        )
        line("  OLS slope (0.9-1.1)", functools.partial(_slope_cell, key=key, field="slope_ols"))
        info(
            "  OLS intercept",
            functools.partial(_vaf_info, key=key, field="intercept_ols", spec="+.4f"),
        )
    line(
        "multi-clone samples, every clone found",
        lambda s: (
            f"{s['multi_clone'][0]}/{s['multi_clone'][1]}",
            None if s["multi_clone"][1] == 0 else s["multi_clone"][0] == s["multi_clone"][1],
        ),
    )
    info("samples the caller failed on (clones = misses)", lambda s: str(s["call_errors"]))
    info("  of them wild type (not in specificity)", lambda s: str(s["wt_call_errors"]))
    info("samples that failed to simulate (left out)", lambda s: str(s["errors"]))


def print_multi(results: Sequence[dict[str, Any]]) -> None:
    header = (
        f"{'aligner':<7} {'sample':<18} {'len':>4} {'site':<13} {'trueVAF':>7} {'det':>3} "
        f"{'rep len':>7} {'VAF':>7} {'rel err':>7}"
    )
    print(header)
    print("-" * len(header))
    for res in results:
        if res["kind"] != "multi" or res["error"]:
            continue
        for row in res["clones"]:
            det = "ERR" if res["call_error"] else _yes_no(row["detected"])
            print(
                f"{res['aligner']:<7} {res['name']:<18} {row['length']:>4} {row['site']:<13} "
                f"{row['true_vaf']:>7.3f} {det:>3} {_fmt(row['reported_length']):>7} "
                f"{_fmt(row['vaf'], '.4f'):>7} {_fmt(row['relative_error'], '.1%'):>7}"
            )
        extra = res.get("unmatched_itd") or []
        if extra:
            print(f"{'':<27}unmatched ITD calls: {'; '.join(extra)}")
        if res["call_error"]:
            print(f"{'':<27}caller error: {res['call_error']}")


# --------------------------------------------------------------------------------------------
# Speed


def _best_of(runs: int, func: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def measure_speed(
    samples: Iterable[tuple[Sample, str]], runs: int, scratch: Path
) -> list[dict[str, Any]]:
    """Time samtools, call_sample and the CLI on each (sample, samtools region)."""
    from mrd.call import CallSettings, call_sample

    samtools = shutil.which("samtools")
    rows = []
    for sample, region in samples:
        row: dict[str, Any] = {"sample": sample.name, "aligner": sample.aligner, "region": region}
        if samtools:
            command = [samtools, "view", "-c", "-@1", sample.bam, region]
            count = subprocess.run(command, check=True, capture_output=True, text=True)
            row["records"] = int(count.stdout.strip())
            row["samtools_seconds"] = _best_of(
                runs, functools.partial(subprocess.run, command, check=True, capture_output=True)
            )
        errors = []
        try:
            row["call_sample_seconds"] = _best_of(
                runs, functools.partial(call_sample, sample.bam, settings=CallSettings())
            )
        except Exception as exc:  # report, then still time the rest
            errors.append(f"call_sample: {type(exc).__name__}: {exc}")
        cli = [sys.executable, "-m", "mrd.cli", "call", sample.bam]
        cli += ["--json", str(scratch / f"{sample.name}.call.json")]
        try:
            row["cli_seconds"] = _best_of(
                1, functools.partial(subprocess.run, cli, check=True, capture_output=True)
            )
        except subprocess.CalledProcessError as exc:
            errors.append("mrd call: " + exc.stderr.decode(errors="replace").strip()[-200:])
        row["errors"] = errors
        rows.append(row)
    return rows


def print_speed(rows: Sequence[dict[str, Any]]) -> None:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"nproc: {affinity} (os.cpu_count: {os.cpu_count()})")
    header = f"{'sample':<16} {'records':>10} {'step':<34} {'seconds':>9} {'s / M reads':>12}"
    print(header)
    print("-" * len(header))
    for row in rows:
        records = row.get("records")
        steps = [
            ("samtools view -c -@1 (window)", row.get("samtools_seconds")),
            ("call_sample (in process)", row.get("call_sample_seconds")),
            ("mrd call (CLI, with start-up)", row.get("cli_seconds")),
        ]
        for step, seconds in steps:
            per_million = seconds / (records / 1e6) if seconds is not None and records else None
            print(
                f"{row['sample']:<16} {_fmt(records, ','):>10} {step:<34} "
                f"{_fmt(seconds, '.3f'):>9} {_fmt(per_million, '.2f'):>12}"
            )
        if row.get("samtools_seconds") and row.get("call_sample_seconds"):
            ratio = row["call_sample_seconds"] / row["samtools_seconds"]
            print(f"{'':<16} {'':>10} {'call_sample / samtools':<34} {ratio:>8.1f}x")
        for error in row["errors"]:
            print(f"{'':<16} failed: {error}")


# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--aligner", nargs="+", choices=("mappy", "bwa"), default=["mappy", "bwa"])
    parser.add_argument("--depth", type=float, default=3000)
    parser.add_argument("--mode", choices=("capture", "amplicon"), default="capture")
    parser.add_argument("--quick", action="store_true", help="fewer lengths and samples (~2 min)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first sample")
    parser.add_argument("--out-dir", type=Path, help="keep BAMs and truth here (default: temp)")
    parser.add_argument("--json", type=Path, help="write every per-sample row and the summary")
    parser.add_argument(
        "--speed-depth",
        type=float,
        help="depth of the large speed sample (default 100000, about 1M records; quick 20000)",
    )
    parser.add_argument("--runs", type=int, default=2, help="timing runs (best of) for speed")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed comparison")
    parser.add_argument(
        "--simulate-only", action="store_true", help="simulate the grid but do not call"
    )
    args = parser.parse_args(argv)
    if args.speed_depth is None:
        args.speed_depth = 20000 if args.quick else 100000
    if args.simulate_only:
        args.no_speed = True
    return args


def run(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    samples, notes = build_grid(args, out_dir)
    speed = [] if args.no_speed else speed_samples(args, out_dir)
    # Larger jobs first so the pool ends evenly; the speed samples are only simulated here.
    jobs = sorted(speed + samples, key=lambda s: -s.depth)
    print(
        f"{len(samples)} samples ({len(samples) // len(args.aligner)} per aligner), "
        f"{len(speed)} speed samples, {args.workers} workers, mode {args.mode}, "
        f"depth {args.depth:g}, 150-bp reads, FLT3 window {WINDOW.chrom}:{WINDOW.start}-"
        f"{WINDOW.end}",
        file=sys.stderr,
    )
    done = run_pool(jobs, run_sample, args.workers, label=_job_label, status=_job_status)
    results = {(s.kind, s.aligner, s.name): res for s, res in zip(jobs, done, strict=True)}
    ordered = [results[(s.kind, s.aligner, s.name)] for s in samples]

    print("Per-sample results")
    print_samples(ordered)
    for note in notes:
        print(f"note: {note}")
    print()
    if args.simulate_only:
        return {"samples": ordered, "notes": notes}
    print_length_matrix(ordered, args.aligner)
    print()
    print("Multi-clone samples")
    print_multi(ordered)
    print()
    summaries = [summarise(ordered, a) for a in args.aligner]
    print(
        f"Summary ({args.mode}, {args.depth:g}x, 150-bp reads; VAF targets over all detected "
        "clones incl. multi-clone samples)"
    )
    print_summary(summaries)
    speed_rows: list[dict[str, Any]] = []
    if speed:
        print()
        print(f"Speed (aligner {speed[0].aligner}, best of {args.runs}; CLI once)")
        simulated = [(s, results[(s.kind, s.aligner, s.name)]) for s in speed]
        ready = [(s, res["region"]) for s, res in simulated if not res["error"]]
        speed_rows = measure_speed(ready, args.runs, out_dir)
        print_speed(speed_rows)
    return {"samples": ordered, "notes": notes, "summary": summaries, "speed": speed_rows}


def _job_label(sample: Sample) -> str:
    return f"{sample.aligner} {sample.name}"


def _job_status(res: dict[str, Any]) -> str:
    status = str(res["error"] or f"sim {res.get('simulate_seconds', 0):.1f}s")
    if res["call_error"]:
        status += f", caller error {res['call_error']}"
    elif "call_seconds" in res:
        status += f", call {res['call_seconds']:.1f}s"
    return status


def main(argv: Sequence[str] | None = None) -> None:
    bench_main(parse_args, run, "flt3-itd-bench-", argv)


if __name__ == "__main__":
    main()
