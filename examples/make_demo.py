"""Write the demo patient P001 to examples/demo/: five BAMs, their truth JSONs, a sample sheet.

P001 has NPM1-mutated AML (type A) with a FLT3-ITD (42 bp in the juxtamembrane domain). MRD
falls under treatment, becomes undetectable, then NPM1 rises again (molecular relapse):

    sample    timepoint             tissue  NPM1 VAF  FLT3-ITD VAF
    P001-DX   diagnosis             BM      0.40      0.25
    P001-C2   post-cycle-2          PB      1e-2      2e-3
    P001-EOC  end-of-consolidation  BM      3e-4      0
    P001-FU1  follow-up             BM      0         0
    P001-FU2  follow-up             BM      5e-3      0

Each BAM is a small targeted panel (FLT3 exons 14-15 and NPM1 exon 12 amplicons, 2 x 150 bp,
GRCh38). NPM1 gets 10,000 read pairs up to the end of consolidation, enough to see 1e-3 (about
10 mutant molecules expected); the remission follow-ups get 50,000, because a negative result
must reach 1 in 10,000 (95% detection needs about 47,000 templates when two mutant reads are
required) or it is only "not evaluable". FLT3 gets 5,000 read pairs. NovaSeq-style binned
qualities keep all files small.

The sample sheet's diagnosis row carries what a lab would add for risk: a normal karyotype,
the panel's other findings (a DNMT3A mutation), the genes the panel covered, and the therapy.

Run from anywhere; the output is the same for the same mrd version (fixed seeds):

    python examples/make_demo.py
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from mrd.simulate import ErrorModel, Flt3Itd, Npm1Insertion, SimulationSpec, simulate

DEMO = Path(__file__).resolve().parent / "demo"
PATIENT = "P001"
ITD = Flt3Itd(42)  # the default JMD site: c.1750-1791 duplicated (p.584-597)
NPM1_TYPE_A = Npm1Insertion("A")
FLT3_READ_PAIRS = 5_000
ERRORS = ErrorModel(q_start=37.0, q_end=33.0, q_sd=1.5, binned=True)


# A typical myeloid panel's genes (the ones the ELN 2022 and 2024 rules ask about, and more).
PANEL = (
    "ASXL1 BCOR CEBPA DDX41 DNMT3A EZH2 FLT3 IDH1 IDH2 KIT KRAS NPM1 NRAS RUNX1 SF3B1 SRSF2 "
    "STAG2 TET2 TP53 U2AF1 WT1 ZRSR2"
)
DIAGNOSIS_COLUMNS = {
    "cytogenetics": "46,XX[20]",
    "mutations": "DNMT3A:0.41",
    "tested_genes": PANEL,
    "therapy": "intensive",
}
EMPTY_COLUMNS = dict.fromkeys(DIAGNOSIS_COLUMNS, "")


@dataclass(frozen=True)
class Sample:
    name: str
    date: str
    timepoint: str
    tissue: str
    npm1_vaf: float
    itd_vaf: float
    seed: int
    npm1_pairs: int = 10_000


SAMPLES = (
    Sample("P001-DX", "2025-01-14", "diagnosis", "BM", 0.40, 0.25, 1001),
    Sample("P001-C2", "2025-03-18", "post-cycle-2", "PB", 1e-2, 2e-3, 1002),
    # 3e-4 of 10,000 molecules is 3 expected mutants; this seed draws exactly 3 (a 5% draw of 0
    # would make the low-level positive sample look negative, which is not the demo's story).
    Sample("P001-EOC", "2025-06-24", "end-of-consolidation", "BM", 3e-4, 0.0, 1013),
    Sample("P001-FU1", "2025-09-23", "follow-up", "BM", 0.0, 0.0, 1004, 50_000),
    Sample("P001-FU2", "2025-12-16", "follow-up", "BM", 5e-3, 0.0, 1005, 50_000),
)


def spec_for(sample: Sample) -> SimulationSpec:
    variants = []
    if sample.npm1_vaf > 0:
        variants.append((NPM1_TYPE_A, sample.npm1_vaf))
    if sample.itd_vaf > 0:
        variants.append((ITD, sample.itd_vaf))
    return SimulationSpec.of(
        *variants,
        sample=sample.name,
        mode="amplicon",
        depth=FLT3_READ_PAIRS,
        gene_depth={"NPM1": sample.npm1_pairs},
        read_length=150,
        errors=ERRORS,
    )


def main() -> int:
    DEMO.mkdir(parents=True, exist_ok=True)
    rows = []
    for sample in SAMPLES:
        bam = DEMO / f"{sample.name}.bam"
        result = simulate(spec_for(sample), bam, seed=sample.seed)
        pairs = sum(gene["read_pairs"] for gene in result.truth["genes"].values())
        print(f"{bam.name}: {pairs:,} read pairs", file=sys.stderr)
        rows.append(
            {
                "patient": PATIENT,
                "sample": sample.name,
                "bam": bam.name,
                "date": sample.date,
                "timepoint": sample.timepoint,
                "tissue": sample.tissue,
                **(DIAGNOSIS_COLUMNS if sample.timepoint == "diagnosis" else EMPTY_COLUMNS),
            }
        )
    with (DEMO / "samplesheet.tsv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    total = sum(p.stat().st_size for p in DEMO.iterdir() if p.is_file())
    print(f"wrote {len(rows)} samples to {DEMO} ({total / 1e6:.2f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
