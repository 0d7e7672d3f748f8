"""Patient-specific SNV and indel tracked from a diagnosis VCF into follow-ups down to 1e-3.

The way a lab follows a patient without FLT3-ITD or NPM1 as a marker:

1. a diagnosis sample (FLT3 window, capture mode, 10,000x unless told otherwise) carries an SNV
   and a 2-bp deletion, each at VAF 0.3, at positions of the FLT3 window with their real
   GRCh38 reference bases (``mrd.catalog.reference_window("FLT3", Build.GRCH38)``);
2. those two variants are written to a diagnosis VCF with ``pysam.VariantFile`` as a lab's
   pipeline would (left-normalised, INFO AF measured at diagnosis, INFO GENE, a sample column),
   and read back with ``mrd.markers.tracked.read_markers``;
3. follow-up samples at VAF 1e-2, 3e-3, 1e-3 and 0 (several seeds each) are called with those
   markers (``call_sample(markers=...)``, i.e. ``mrd call --markers diagnosis.vcf``): per marker
   the alt count, depth, VAF, MRD call and LoD, and the pooled sample-level call.

Targets: every marker detected (POSITIVE or POSITIVE_BELOW_LOQ) at 1e-2 and 3e-3, in at least
80% of the seeds at 1e-3; on the VAF-0 follow-ups every marker NEGATIVE or NOT_EVALUABLE and the
pooled call not positive (no false positive).

    python benchmarks/tracking.py --quick
    python benchmarks/tracking.py --workers 2 --json tracking.json
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
from functools import partial
from pathlib import Path
from typing import Any

import pysam
from _common import bench_main, run_pool

from mrd.catalog import flt3, reference_window
from mrd.genome import Build, bare_chrom
from mrd.markers.tracked import TrackedMarker, read_markers

BUILD = Build.GRCH38
WINDOW = reference_window("FLT3", BUILD)
ANNOTATION = flt3(BUILD)

SNV_POSITION = 28034060
"""FLT3 intron 14 (c.1837+22 on the minus strand), inside the default FLT3 amplicon too."""
DELETION_ANCHOR = 28034204
DELETION_LENGTH = 2
"""A 2-bp deletion after 28034204 (FLT3 exon 14, c.1713_1714del), outside any repeat, so
its VCF form is unique; inside the default amplicon as well."""
TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}

DIAGNOSIS_VAF = 0.3
FOLLOW_UP_VAFS = (1e-2, 3e-3, 1e-3, 0.0)
SEEDS = 8
QUICK_SEEDS = 2
POSITIVE_CALLS = ("POSITIVE", "POSITIVE_BELOW_LOQ")
NEGATIVE_CALLS = ("NEGATIVE", "NOT_EVALUABLE")
TARGET_DETECTION = {1e-2: 1.0, 3e-3: 1.0, 1e-3: 0.8}


@dataclass(frozen=True)
class Variant:
    """A variant as the simulator takes it (``kind`` snv or indel) and as a VCF holds it."""

    kind: str
    position: int
    ref: str
    alt: str


@dataclass(frozen=True)
class Sample:
    """One FLT3-window sample with both variants at ``vaf`` (none when 0)."""

    name: str
    role: str  # diagnosis or follow-up
    vaf: float
    seed: int
    depth: float
    mode: str
    bam: str
    keep: bool


def design_variants() -> tuple[Variant, Variant]:
    """The SNV and the deletion, with the reference bases of the catalog window."""

    def base(position: int) -> str:
        return WINDOW.sequence[position - WINDOW.start]

    ref = base(SNV_POSITION)
    snv = Variant("snv", SNV_POSITION, ref, TRANSITION[ref])
    first = DELETION_ANCHOR - WINDOW.start
    deleted = WINDOW.sequence[first : first + DELETION_LENGTH + 1]
    deletion = Variant("indel", DELETION_ANCHOR, deleted, deleted[0])
    return snv, deletion


def hgvs_c(position: int, ref: str, alt: str) -> str:
    """The c. name of an SNV or a deletion on FLT3, which lies on the minus strand."""
    complement = {"A": "T", "C": "G", "G": "C", "T": "A"}
    if len(ref) == len(alt) == 1:
        c_name = ANNOTATION.c_notation(position)
        return f"c.{c_name}{complement[ref]}>{complement[alt]}"
    first, last = position + 1, position + len(ref) - 1  # deleted bases, plus strand
    if first == last:
        return f"c.{ANNOTATION.c_notation(first)}del"
    return f"c.{ANNOTATION.c_notation(last)}_{ANNOTATION.c_notation(first)}del"


# --------------------------------------------------------------------------------------------
# Worker


def _remove(bam: Path) -> None:
    from mrd.simulate import default_truth_path

    for path in (bam, Path(f"{bam}.bai"), default_truth_path(bam)):
        path.unlink(missing_ok=True)


def _finding_row(finding: dict[str, Any] | None) -> dict[str, Any]:
    if finding is None:
        return {"present": False}
    mrd = finding.get("mrd") or {}
    return {
        "present": True,
        "alt": finding.get("alt_count"),
        "depth": finding.get("depth"),
        "depth_unit": finding.get("depth_unit"),
        "vaf": finding.get("vaf"),
        "call": mrd.get("call"),
        "lod": mrd.get("lod"),
        "lob": mrd.get("lob"),
        "p_value": mrd.get("p_value"),
        "background": finding.get("background"),
    }


def run_sample(
    sample: Sample, variants: Sequence[Variant], markers: Sequence[TrackedMarker]
) -> dict[str, Any]:
    """Simulate and call one sample with the markers; errors are returned as fields."""
    from mrd.call import CallSettings, call_sample
    from mrd.ngs import ReadFilter
    from mrd.simulate import Indel, SimulationSpec, Snv, simulate

    out: dict[str, Any] = {**asdict(sample), "error": None}
    bam = Path(sample.bam)
    try:
        specs = (
            ()
            if sample.vaf == 0
            else tuple(
                (
                    (Snv if v.kind == "snv" else Indel)(v.position, v.ref, v.alt),
                    sample.vaf,
                )
                for v in variants
            )
        )
        spec = SimulationSpec.of(
            *specs, genes=("FLT3",), mode=sample.mode, depth=sample.depth, sample=sample.name
        )
        bam.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        result = simulate(spec, bam, seed=sample.seed)
        out["simulate_seconds"] = time.perf_counter() - started
        out["truth_variants"] = [
            {k: v[k] for k in ("type", "pos", "ref", "alt", "allele_fraction")}
            for v in result.truth["variants"]
        ]
        haplotypes = result.truth["genes"]["FLT3"]["haplotypes"]
        total = sum(int(h["molecules"]) for h in haplotypes)
        out["truth_shares"] = {
            h["id"]: int(h["molecules"]) / total for h in haplotypes if h["id"] != "wt"
        }
        settings = CallSettings(
            genes=("FLT3",),
            read_filter=ReadFilter(drop_duplicates=False),
            markers=tuple(markers),
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
    out["markers"] = {}
    used: set[int] = set()
    for marker in markers:
        match = next(
            (
                i
                for i, f in enumerate(findings)
                if f.get("tracked")
                and f.get("position") == marker.position
                and f.get("ref") == marker.ref
                and f.get("alt") == marker.alt
            ),
            None,
        )
        if match is not None:
            used.add(match)
        out["markers"][marker.label] = _finding_row(None if match is None else findings[match])
    pooled = called.get("mrd") or {}
    out["pooled"] = {
        "call": pooled.get("call"),
        "lod": pooled.get("lod"),
        "alt": pooled.get("alt"),
        "depth": pooled.get("depth"),
        "vaf": pooled.get("vaf"),
        "markers": pooled.get("markers"),
        "left_out": pooled.get("left_out"),
    }
    out["other_findings"] = [
        f"{f.get('marker')} {f.get('position')} {f.get('ref')}>{f.get('alt')} VAF {f.get('vaf')}"
        for i, f in enumerate(findings)
        if i not in used
    ]
    return out


# --------------------------------------------------------------------------------------------
# Diagnosis VCF


def write_diagnosis_vcf(
    path: Path, chrom: str, diagnosis: dict[str, Any], truth: Sequence[dict[str, Any]]
) -> None:
    """The diagnosis variants as a lab's VCF: normalised, with AF and depth measured there."""
    header = pysam.VariantHeader()
    header.add_line("##source=mrd-benchmark-diagnosis")
    header.add_line(f"##reference={BUILD.value}")
    header.contigs.add(chrom, length=114_364_328)
    header.add_line('##FILTER=<ID=PASS,Description="All filters passed">')
    header.add_line('##INFO=<ID=GENE,Number=1,Type=String,Description="Gene symbol">')
    header.add_line('##INFO=<ID=AF,Number=A,Type=Float,Description="Allele fraction">')
    header.add_line('##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth (templates)">')
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_line(
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Ref and alt depth (templates)">'
    )
    header.add_line('##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fraction">')
    header.add_sample("DIAGNOSIS")
    measured = {(m["pos"], m["ref"], m["allele"]): m for m in diagnosis["measured"]}
    rows = sorted(truth, key=lambda v: int(v["pos"]))
    with pysam.VariantFile(str(path), "w", header=header) as vcf:
        for number, variant in enumerate(rows, 1):
            m = measured[(variant["pos"], variant["ref"], variant["alt"])]
            record = vcf.new_record(
                contig=chrom,
                start=int(variant["pos"]) - 1,
                alleles=(variant["ref"], variant["alt"]),
                id=f"DX{number}_{'SNV' if variant['type'] == 'SNV' else 'DEL'}",
                filter="PASS",
                info={"GENE": "FLT3", "AF": (round(m["vaf"], 4),), "DP": int(m["depth"])},
            )
            sample = record.samples["DIAGNOSIS"]
            sample["GT"] = (0, 1)
            sample["AD"] = (int(m["depth"]) - int(m["alt"]), int(m["alt"]))
            sample["AF"] = (round(m["vaf"], 4),)
            vcf.write(record)


# --------------------------------------------------------------------------------------------
# Tables


def _fmt(value: object, spec: str = "", missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _short(call: str | None) -> str:
    return {
        "POSITIVE": "POS",
        "POSITIVE_BELOW_LOQ": "POS<LOQ",
        "NEGATIVE": "NEG",
        "NOT_EVALUABLE": "NOT_EVAL",
    }.get(call or "", str(call))


def print_follow_ups(results: Sequence[dict[str, Any]], labels: Sequence[str]) -> None:
    cell = 44
    header = f"{'sample':<12} {'VAF':>6} {'seed':>5} |"
    for label in labels:
        header += f" {label[:cell]:<{cell}} |"
    header += f" {'pooled call, LoD':<22} {'other':>5}"
    sub = f"{'':<12} {'':>6} {'':>5} |"
    for _ in labels:
        sub += f" {'alt/depth':>11} {'VAF':>8} {'call':<9} {'LoD':>11} |"
    print(header)
    print(sub)
    print("-" * len(header))
    for r in results:
        line = f"{r['name']:<12} {r['vaf']:>6g} {r['seed']:>5} |"
        if r["error"]:
            print(f"{line} ERROR {r['error']}")
            continue
        for label in labels:
            m = r["markers"][label]
            if not m["present"]:
                line += f" {'(marker missing from findings)':<{cell}} |"
                continue
            alt = f"{m['alt']}/{m['depth']}"
            line += (
                f" {alt:>11} {_fmt(m['vaf'], '.5f'):>8} {_short(m['call']):<9} "
                f"{_fmt(m['lod'], '.2e'):>11} |"
            )
        pooled = r["pooled"]
        text = f"{_short(pooled['call'])} {_fmt(pooled['lod'], '.2e')}"
        line += f" {text:<22} {len(r['other_findings']):>5}"
        print(line)
        for other in r["other_findings"]:
            print(f"{'':<27}other finding: {other}")


def _detected(m: dict[str, Any]) -> bool:
    return bool(m.get("present")) and m.get("call") in POSITIVE_CALLS


def print_summary(results: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    ok = [r for r in results if not r["error"]]
    header = (
        f"{'follow-up VAF':>13} {'marker':<34} {'detected':>9} {'median VAF':>11} "
        f"{'median LoD':>11} {'calls':<34} {'target':<10} verdict"
    )
    print(header)
    print("-" * len(header))
    summary: dict[str, Any] = {}
    for vaf in FOLLOW_UP_VAFS:
        rows = [r for r in ok if r["vaf"] == vaf]
        for label in (*labels, "pooled"):
            marks = [r["pooled"] if label == "pooled" else r["markers"][label] for r in rows]
            if label == "pooled":
                marks = [{**m, "present": m.get("call") is not None} for m in marks]
            hits = sum(map(_detected, marks))
            n = len(marks)
            vafs = [m["vaf"] for m in marks if m.get("vaf") is not None]
            lods = [m["lod"] for m in marks if m.get("lod") is not None]
            calls: dict[str, int] = {}
            for m in marks:
                key = _short(m.get("call"))
                calls[key] = calls.get(key, 0) + 1
            if vaf == 0:
                target = "no POS"
                good = None if n == 0 else hits == 0
                if label != "pooled":
                    good = good and all(m.get("call") in NEGATIVE_CALLS for m in marks)
            elif label == "pooled":
                target, good = "", None
            else:
                need = TARGET_DETECTION[vaf]
                target = f">= {need:.0%}"
                good = None if n == 0 else hits / n >= need
            summary[f"{vaf:g} {label}"] = {"detected": hits, "n": n, "ok": good}
            print(
                f"{vaf:>13g} {label[:34]:<34} {f'{hits}/{n}':>9} "
                f"{_fmt(statistics.median(vafs) if vafs else None, '.5f'):>11} "
                f"{_fmt(statistics.median(lods) if lods else None, '.2e'):>11} "
                f"{', '.join(f'{k} {v}' for k, v in sorted(calls.items())):<34} {target:<10}"
                f"{_verdict(good) if target else ''}".rstrip()
            )
    others = [r for r in ok if r["other_findings"]]
    print(f"follow-ups with other (untracked) findings: {len(others)} of {len(ok)}")
    return summary


# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--depth", type=float, default=10000)
    parser.add_argument("--mode", choices=("capture", "amplicon"), default="capture")
    parser.add_argument("--seeds", type=int, help="follow-ups per VAF (default 8, quick 2)")
    parser.add_argument("--quick", action="store_true", help="2 follow-ups per VAF")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="seed of the diagnosis sample")
    parser.add_argument("--out-dir", type=Path, help="keep BAMs, truth and VCF here")
    parser.add_argument("--json", type=Path, help="write every per-sample row and the summary")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = QUICK_SEEDS if args.quick else SEEDS
    return args


def diagnose(
    args: argparse.Namespace, out_dir: Path, variants: Sequence[Variant]
) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Simulate and measure the diagnosis sample; returns its row, its truth and the chrom."""
    from mrd.simulate import Indel, SimulationSpec, Snv, simulate

    keep = args.out_dir is not None
    sample = Sample(
        "diagnosis",
        "diagnosis",
        DIAGNOSIS_VAF,
        args.seed,
        args.depth,
        args.mode,
        str(out_dir / "diagnosis.bam"),
        keep,
    )
    # The truth's left-normalised alleles are what a lab's normalised VCF would hold; measure
    # them in the diagnosis sample itself (run_sample counts them as tracked markers).
    probe = SimulationSpec.of(
        *(
            ((Snv if v.kind == "snv" else Indel)(v.position, v.ref, v.alt), DIAGNOSIS_VAF)
            for v in variants
        ),
        genes=("FLT3",),
        depth=10,
    )
    truth_result = simulate(probe, out_dir / "truth-probe.bam", seed=args.seed)
    truth = [dict(v) for v in truth_result.truth["variants"]]
    chrom = str(truth[0]["chrom"])
    markers = [
        TrackedMarker(bare_chrom(chrom), int(v["pos"]), v["ref"], v["alt"], gene="FLT3")
        for v in truth
    ]
    row = run_sample(sample, variants, markers)
    if row["error"]:
        print(row.get("traceback", ""), file=sys.stderr)
        raise SystemExit(f"diagnosis sample failed: {row['error']}")
    row["measured"] = [
        {**row["markers"][m.label], "pos": m.position, "ref": m.ref, "allele": m.alt}
        for m in markers
    ]
    return row, truth, chrom


def run(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    variants = design_variants()
    started = time.perf_counter()
    diagnosis, truth, chrom = diagnose(args, out_dir, variants)
    vcf_path = out_dir / "diagnosis.vcf"
    write_diagnosis_vcf(vcf_path, chrom, diagnosis, truth)
    markers = read_markers(vcf_path)
    labels = [m.label for m in markers]
    print(
        f"diagnosis done in {time.perf_counter() - started:.0f}s; markers {labels}",
        file=sys.stderr,
    )

    print(
        f"Diagnosis sample: FLT3 window, {args.mode}, {args.depth:g}x, SNV and deletion at VAF "
        f"{DIAGNOSIS_VAF:g}"
    )
    header = (
        f"{'design (spec)':<24} {'truth (left-normalised)':<26} {'FLT3 (NM_004119)':<18} "
        f"{'alt/depth':>11} {'VAF':>8} call"
    )
    print(header)
    print("-" * len(header))
    for variant, measured in zip(variants, diagnosis["measured"], strict=True):
        design = f"{variant.position} {variant.ref}>{variant.alt}"
        normalised = f"{chrom}:{measured['pos']} {measured['ref']}>{measured['allele']}"
        c_name = hgvs_c(int(measured["pos"]), measured["ref"], measured["allele"])
        alt = f"{measured['alt']}/{measured['depth']}" if measured["present"] else "-"
        print(
            f"{design:<24} {normalised:<26} {c_name:<18} {alt:>11} "
            f"{_fmt(measured.get('vaf'), '.4f'):>8} {_short(measured.get('call'))}"
        )
    print()
    print(f"Diagnosis VCF written with pysam and read back with read_markers ({vcf_path.name}):")
    for line in vcf_path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("##"):
            print(f"  {line}")
    for marker in markers:
        print(
            f"  -> TrackedMarker {marker.label}: {marker.chrom}:{marker.position} "
            f"{marker.ref}>{marker.alt} kind {marker.kind}, gene {marker.gene}, diagnosis VAF "
            f"{_fmt(marker.diagnosis_vaf, '.4g')}"
        )
    print()

    keep = args.out_dir is not None
    samples = []
    index = 1
    for vaf in FOLLOW_UP_VAFS:
        for rep in range(args.seeds):
            name = f"FU-{vaf:g}-{rep + 1}"
            samples.append(
                Sample(
                    name,
                    "follow-up",
                    vaf,
                    args.seed + 1000 + index,
                    args.depth,
                    args.mode,
                    str(out_dir / f"{name}.bam"),
                    keep,
                )
            )
            index += 1
    work = partial(run_sample, variants=variants, markers=markers)
    ordered = run_pool(samples, work, args.workers, label=lambda s: s.name)
    print(
        f"Follow-ups ({args.mode}, {args.depth:g}x, both markers at the VAF shown; depth in "
        "templates; calls: POS, POS<LOQ, NEG, NOT_EVAL)"
    )
    print_follow_ups(ordered, labels)
    print()
    print(
        "Summary (detected = POSITIVE or POSITIVE_BELOW_LOQ; VAF 0: every marker NEGATIVE or "
        "NOT_EVALUABLE, pooled not positive)"
    )
    summary = print_summary(ordered, labels)
    sim = [r["simulate_seconds"] for r in ordered if "simulate_seconds" in r]
    call = [r["call_seconds"] for r in ordered if "call_seconds" in r]
    if sim and call:
        print(
            f"seconds per follow-up: simulate median {statistics.median(sim):.1f}, call_sample "
            f"median {statistics.median(call):.1f}; failed: "
            f"{sum(bool(r['error']) for r in ordered)}"
        )
    return {
        "variants": [asdict(v) for v in variants],
        "truth": truth,
        "diagnosis": diagnosis,
        "markers": [asdict(m) for m in markers],
        "follow_ups": ordered,
        "summary": summary,
    }


def main(argv: Sequence[str] | None = None) -> None:
    bench_main(parse_args, run, "tracking-bench-", argv)


if __name__ == "__main__":
    main()
