"""The simulation run: spec in, sorted indexed BAM and truth JSON out."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pysam

from mrd import __version__
from mrd.catalog import CATALOG_VERSION
from mrd.genome import GenomeInfo, header_lengths
from mrd.output import write_text
from mrd.simulate.align import AlignmentStats, BwaAligner, Contig, MappyAligner
from mrd.simulate.haplotypes import GeneTarget, build_targets
from mrd.simulate.output import (
    check_writable,
    finish_bam,
    make_header,
)
from mrd.simulate.reads import (
    ErrorSimulator,
    Molecules,
    ReadPair,
    expected_read_pairs,
    family_histogram,
    read_pairs,
    sample_molecules,
)
from mrd.simulate.spec import SimulationSpec, SpecError

log = logging.getLogger(__name__)

SIMULATOR_VERSION = "1.0"
"""Version of the simulation model; changes whenever a seed would give different reads."""


@dataclass(frozen=True)
class SimulationResult:
    """What a run produced.

    Attributes:
        bam: The coordinate-sorted BAM (its index is ``<bam>.bai``).
        truth_path: The truth JSON beside it.
        truth: The truth as written (haplotypes, variants, expected and realised counts).
    """

    bam: Path
    truth_path: Path
    truth: dict[str, Any]

    @property
    def index(self) -> Path:
        """The BAM index."""
        return Path(f"{self.bam}.bai")


def default_truth_path(bam: Path) -> Path:
    """``<dir>/<stem>.truth.json`` for ``<dir>/<stem>.bam``."""
    stem = bam.name[:-4] if bam.name.endswith(".bam") else bam.name
    return bam.with_name(f"{stem}.truth.json")


def simulate(
    spec: SimulationSpec,
    out_bam: str | Path,
    *,
    seed: int,
    truth_path: str | Path | None = None,
) -> SimulationResult:
    """Simulate a sample: reads from the spec's haplotypes, aligned, sorted, indexed.

    Args:
        spec: What to simulate.
        out_bam: Output BAM path; its directory must exist. The index goes to ``<bam>.bai``.
        seed: Seed of every random draw; the same seed and spec give identical reads and a
            byte-identical BAM.
        truth_path: Where to write the truth JSON (default ``<bam stem>.truth.json``).

    Returns:
        Paths and the truth.

    Raises:
        SpecError: When the spec is impossible (variant outside its window, fractions > 1...).
        MissingDependencyError: When mappy is not installed.
        AlignerError: When bwa is asked for but missing.
        OutputError: When the output cannot be written.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError(f"the seed must be a non-negative whole number, not {seed!r}")
    final = Path(out_bam)
    truth_file = Path(truth_path) if truth_path is not None else default_truth_path(final)
    for path in (final, truth_file):  # fail before the work, not after the BAM is in place
        check_writable(path)
    targets = build_targets(spec)
    genome = GenomeInfo(spec.build, spec.uses_chr_prefix)
    header_names = [chrom for chrom, _ in header_lengths(spec.build, spec.uses_chr_prefix)]
    contigs = [
        Contig(
            t.gene,
            t.window,
            header_names.index(genome.chrom(t.window.chrom)),
            genome.chrom(t.window.chrom),
        )
        for t in targets
    ]
    streams = np.random.SeedSequence(seed).spawn(len(targets) * 2)
    molecules = [
        sample_molecules(np.random.default_rng(streams[2 * i]), target, spec)
        for i, target in enumerate(targets)
    ]
    read_group = spec.sample.replace(" ", "_")
    stats = {t.gene: AlignmentStats() for t in targets}
    with tempfile.TemporaryDirectory(prefix="mrd-simulate-") as scratch_name:
        scratch = Path(scratch_name)
        aligner: MappyAligner | BwaAligner
        aligner = (
            BwaAligner(contigs, scratch)
            if spec.aligner == "bwa"
            else MappyAligner(contigs, scratch)
        )
        command = f"mrd simulate --seed {seed} (spec in the truth JSON; model {SIMULATOR_VERSION})"
        header_dict = make_header(
            spec,
            read_group,
            (aligner.name, aligner.version, aligner.command_line),
            command,
            f"{__version__} (simulator {SIMULATOR_VERSION})",
        )
        header = pysam.AlignmentHeader.from_dict(header_dict)

        def chunks() -> Iterator[list[ReadPair]]:
            for i, (target, mols) in enumerate(zip(targets, molecules, strict=True)):
                errors = ErrorSimulator(
                    np.random.default_rng(streams[2 * i + 1]), spec.errors, spec.read_length
                )
                yield from read_pairs(target, mols, spec, errors)

        if isinstance(aligner, BwaAligner):
            aligned = aligner.align_all(chunks(), header, read_group)
        else:
            aligned = (
                item for chunk in chunks() for item in aligner.align(chunk, header, read_group)
            )
        unsorted = scratch / "unsorted.bam"
        with pysam.AlignmentFile(str(unsorted), "wb0", header=header) as out:
            for pair, records in aligned:
                _count(stats[pair.gene], pair, records)
                for record in records:
                    out.write(record)
        umi = spec.umi
        finish_bam(
            unsorted,
            final,
            scratch,
            mark_duplicates=spec.mark_duplicates,
            umi_in_name=umi is not None and umi.in_name,
            umi_tag=umi is not None and not umi.in_name,
        )
    truth = _truth(spec, seed, final, genome, targets, molecules, stats, aligner)
    write_text(truth_file, json.dumps(truth, indent=2) + "\n")
    total = sum(s.read_pairs for s in stats.values())
    log.info("simulated %d read pairs into %s (truth: %s)", total, final, truth_file)
    return SimulationResult(final, truth_file, truth)


def _count(stats: AlignmentStats, pair: ReadPair, records: list[pysam.AlignedSegment]) -> None:
    stats.read_pairs += 1
    stats.records += len(records)
    proper = False
    for record in records:
        if record.is_supplementary:
            stats.supplementary += 1
        elif record.is_unmapped:
            stats.unmapped_reads += 1
        else:
            stats.mapped_reads += 1
            proper = proper or record.is_proper_pair
    stats.proper_pairs += int(proper)
    stats.by_haplotype[pair.haplotype] = stats.by_haplotype.get(pair.haplotype, 0) + 1


def _rename_chrom(truth: dict[str, Any], genome: GenomeInfo) -> dict[str, Any]:
    """Name chromosomes in a variant's truth the way the BAM header does."""
    out = dict(truth)
    out["chrom"] = genome.chrom(truth["chrom"])
    if isinstance(truth.get("duplicated_segment"), dict):
        segment = dict(truth["duplicated_segment"])
        segment["chrom"] = genome.chrom(segment["chrom"])
        out["duplicated_segment"] = segment
    return out


def _truth(
    spec: SimulationSpec,
    seed: int,
    bam: Path,
    genome: GenomeInfo,
    targets: list[GeneTarget],
    molecules: list[Molecules],
    stats: dict[str, AlignmentStats],
    aligner: MappyAligner | BwaAligner,
) -> dict[str, Any]:
    genes: dict[str, Any] = {}
    variants: list[dict[str, Any]] = []
    umi_totals: list[np.ndarray[Any, Any]] = []
    for target, mols in zip(targets, molecules, strict=True):
        window = target.window
        haplotypes = []
        for h, hap in enumerate(target.haplotypes):
            mine = mols.haplotype == h
            family_a, family_b = mols.family_a[mine], mols.family_b[mine]
            entry: dict[str, Any] = {
                "id": hap.id,
                "allele_fraction": hap.allele_fraction,
                "requested_fraction": hap.requested_fraction,
                "fraction_kind": spec.fraction_kind,
                "length": len(hap.sequence),
                "variants": [_rename_chrom(v.truth, genome) for v in hap.variants],
                "expected_molecules": mols.expected_by_haplotype[h],
                "molecules": int(mine.sum()),
                "read_pairs": int(family_a.sum() + family_b.sum()),
                "aligned_read_pairs": stats[target.gene].by_haplotype.get(hap.id, 0),
            }
            if spec.umi is not None:
                entry["family_sizes"] = family_histogram(family_a + family_b)
                if spec.umi.duplex:
                    entry["family_sizes_a"] = family_histogram(family_a)
                    entry["family_sizes_b"] = family_histogram(family_b)
            haplotypes.append(entry)
            for variant in entry["variants"]:
                variants.append(
                    {"haplotype": hap.id, "allele_fraction": hap.allele_fraction, **variant}
                )
        umi_totals.append(mols.family_a + mols.family_b)
        gene_entry: dict[str, Any] = {
            "window": {
                "chrom": genome.chrom(window.chrom),
                "start": window.start,
                "end": window.end,
            },
            "amplicon": None
            if target.amplicon is None
            else {
                "chrom": genome.chrom(window.chrom),
                "start": target.amplicon[0],
                "end": target.amplicon[1],
            },
            "depth": spec.depth_for(target.gene),
            "expected_molecules": mols.expected_molecules,
            "expected_read_pairs": expected_read_pairs(mols, spec),
            "molecules": len(mols),
            "read_pairs": mols.read_pairs,
            "alignment": stats[target.gene].as_dict(),
            "haplotypes": haplotypes,
        }
        genes[target.gene] = gene_entry
    truth: dict[str, Any] = {
        "simulator": {
            "name": "mrd.simulate",
            "version": SIMULATOR_VERSION,
            "mrd_version": __version__,
            "catalog_version": CATALOG_VERSION,
            "aligner": {"name": aligner.name, "version": aligner.version},
        },
        "seed": seed,
        "bam": bam.name,
        "sample": spec.sample,
        "build": spec.build.value,
        "chr_prefix": spec.uses_chr_prefix,
        "parameters": spec.to_dict(),
        "variants": variants,
        "genes": genes,
    }
    if spec.umi is not None and umi_totals:
        truth["umi"] = {
            "tag": None if spec.umi.in_name else "RX",
            "in_name": spec.umi.in_name,
            "duplex": spec.umi.duplex,
            "family_sizes": family_histogram(np.concatenate(umi_totals)),
        }
    return truth
