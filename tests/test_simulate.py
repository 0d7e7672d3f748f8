"""The read simulator end to end: real reads, real mappy/bwa alignment, real BAM files."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pysam
import pytest

from mrd.catalog import reference_window
from mrd.cli import main
from mrd.errors import MissingDependencyError, MrdError
from mrd.genome import Build, detect_genome, header_lengths
from mrd.simulate import (
    AlignerError,
    ErrorModel,
    Flt3Itd,
    Haplotype,
    Npm1Insertion,
    SimulationResult,
    SimulationSpec,
    UmiSpec,
    simulate,
)

FLT3 = reference_window("FLT3", Build.GRCH38)
NPM1 = reference_window("NPM1", Build.GRCH38)
SAMTOOLS = shutil.which("samtools")
READ_LENGTH = 175


def records(path: Path) -> list[pysam.AlignedSegment]:
    with pysam.AlignmentFile(str(path)) as bam:
        return list(bam.fetch(until_eof=True))


def haplotype_of(record: pysam.AlignedSegment) -> str:
    return record.query_name.split(":")[3]


def molecule_of(record: pysam.AlignedSegment) -> str:
    return ":".join(record.query_name.split(":")[:5])


@pytest.fixture(scope="module")
def itd60(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """A 60-bp ITD (and NPM1 type A) sample with 175-bp reads: long enough for minimap2 to show
    some ITD reads as insertions, short enough for others to be split alignments."""
    out = tmp_path_factory.mktemp("itd60") / "itd60.bam"
    spec = SimulationSpec.of(
        (Flt3Itd(60, end=28034150), 0.3),
        (Npm1Insertion("A"), 0.4),
        depth=800,
        read_length=READ_LENGTH,
        insert_mean=300,
        insert_sd=50,
        sample="P-itd60",
    )
    return simulate(spec, out, seed=7)


# ------------------------------------------------------------------ the BAM file


def test_bam_is_sorted_indexed_with_full_header(itd60: SimulationResult) -> None:
    assert itd60.bam.is_file() and itd60.index.is_file()
    assert itd60.truth_path == itd60.bam.with_name("itd60.truth.json")
    with pysam.AlignmentFile(str(itd60.bam)) as bam:
        header = bam.header.to_dict()
        assert header["HD"]["SO"] == "coordinate"
        assert [(s["SN"], s["LN"]) for s in header["SQ"]] == header_lengths(Build.GRCH38, True)
        assert detect_genome(dict(zip(bam.references, bam.lengths, strict=True))).chr_prefix
        (group,) = header["RG"]
        assert group["SM"] == "P-itd60" and group["PL"] == "ILLUMINA" and group["LB"]
        assert {pg["ID"] for pg in header["PG"]} >= {"minimap2", "mrd-simulate"}
        assert bam.check_index()
        assert bam.count("chr13", FLT3.start, FLT3.end) > 1000
        assert bam.count("chr5", NPM1.start, NPM1.end) > 100
        keys = [(r.reference_id, r.reference_start) for r in bam.fetch(until_eof=True)]
    placed = [k for k in keys if k[0] >= 0]
    assert placed == sorted(placed)
    assert all(rg == group["ID"] for rg in (r.get_tag("RG") for r in records(itd60.bam)))


@pytest.mark.skipif(SAMTOOLS is None, reason="samtools not on PATH")
def test_samtools_reads_the_bam(itd60: SimulationResult) -> None:
    assert SAMTOOLS is not None
    subprocess.run([SAMTOOLS, "quickcheck", str(itd60.bam)], check=True)
    counted = subprocess.run(
        [SAMTOOLS, "view", "-c", str(itd60.bam), "chr13:28034000-28034300"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert int(counted.stdout) > 100
    flagstat = subprocess.run(
        [SAMTOOLS, "flagstat", str(itd60.bam)], check=True, capture_output=True, text=True
    ).stdout
    assert " supplementary" in flagstat


def test_itd_reads_look_as_an_aligner_writes_them(itd60: SimulationResult) -> None:
    itd = [r for r in records(itd60.bam) if r.query_name.split(":")[2:4] == ["FLT3", "h1"]]
    ops = Counter()
    for record in itd:
        for op, length in record.cigartuples or []:
            if op == 1 and length >= 50:
                ops["long insertion"] += 1
            elif op == 4 and length >= 10:
                ops["soft clip"] += 1
            elif op == 5:
                ops["hard clip"] += 1
    supplementary = [r for r in itd if r.is_supplementary]
    assert ops["long insertion"] >= 5 and ops["soft clip"] >= 50 and len(supplementary) >= 3
    assert ops["hard clip"] == sum(1 for r in supplementary for op, _ in r.cigartuples if op == 5)
    names = {r.query_name for r in supplementary}
    by_name = defaultdict(list)
    for record in itd:
        if record.query_name in names:
            by_name[(record.query_name, record.is_read1)].append(record)
    for (_name, _read1), group in by_name.items():
        primaries = [r for r in group if not r.is_supplementary]
        if not any(r.is_supplementary for r in group):
            continue
        assert len(primaries) == 1
        primary = primaries[0]
        for record in group:
            assert record.has_tag("SA")
            for entry in filter(None, record.get_tag("SA").split(";")):
                chrom, pos, strand, cigar, mapq, nm = entry.split(",")
                assert chrom == "chr13" and FLT3.start <= int(pos) <= FLT3.end
                assert strand in "+-" and re.fullmatch(r"(\d+[MIDSH])+", cigar)
                assert int(mapq) >= 0 and int(nm) >= 0
            if record.is_supplementary:
                assert record.flag & 0x800 and not record.flag & 0x100
                assert record.query_length == record.query_alignment_length  # hard clipped
                assert record.next_reference_start == primary.next_reference_start
                assert record.is_read1 == primary.is_read1


def test_mate_fields_and_tags_are_consistent(itd60: SimulationResult) -> None:
    primaries: dict[tuple[str, bool], pysam.AlignedSegment] = {}
    for record in records(itd60.bam):
        assert record.is_paired
        if not record.is_supplementary:
            primaries[(record.query_name, record.is_read1)] = record
    checked = 0
    for (name, is_read1), record in primaries.items():
        mate = primaries[(name, not is_read1)]
        assert record.is_read1 != record.is_read2
        if record.is_unmapped or mate.is_unmapped:
            assert record.mate_is_unmapped == mate.is_unmapped
            continue
        assert record.next_reference_id == mate.reference_id
        assert record.next_reference_start == mate.reference_start
        assert record.mate_is_reverse == mate.is_reverse
        assert record.get_tag("MC") == mate.cigarstring
        assert record.template_length == -mate.template_length != 0
        checked += 1
    assert checked > 1000


def test_samtools_fixmate_agrees_with_mate_fields(itd60: SimulationResult, tmp_path: Path) -> None:
    """Recomputing mate fields with samtools changes nothing (flags, RNEXT/PNEXT, TLEN, MC)."""
    collated, fixed = tmp_path / "collated.bam", tmp_path / "fixed.bam"
    pysam.collate("-o", str(collated), str(itd60.bam), str(tmp_path / "c"), catch_stdout=False)
    pysam.fixmate(str(collated), str(fixed), catch_stdout=False)

    def fields(path: Path) -> set[tuple[Any, ...]]:
        return {
            (r.query_name, r.flag, r.reference_start, r.next_reference_id,
             r.next_reference_start, r.template_length,
             r.get_tag("MC") if r.has_tag("MC") and not r.mate_is_unmapped else None)
            for r in records(path)
        }  # fmt: skip

    assert fields(fixed) == fields(itd60.bam)


def test_md_nm_and_qualities_match_the_reference(itd60: SimulationResult) -> None:
    windows = {"chr13": FLT3, "chr5": NPM1}
    expected_errors = observed_errors = 0.0
    for record in records(itd60.bam):
        if record.is_unmapped:
            continue
        window = windows[record.reference_name]
        reference = window.slice(record.reference_start + 1, record.reference_end)
        assert record.get_reference_sequence().upper() == reference  # MD is right
        query, quals = record.query_sequence, record.query_qualities
        mismatches = 0
        for q, r in record.get_aligned_pairs(matches_only=True):
            base_is_wrong = query[q] != window.sequence[r - window.start + 1]
            mismatches += base_is_wrong
            if haplotype_of(record) == "wt":
                expected_errors += 10 ** (-quals[q] / 10)
                observed_errors += base_is_wrong
        indels = sum(n for op, n in record.cigartuples if op in (1, 2))
        assert record.get_tag("NM") == mismatches + indels
        assert record.mapping_quality >= 0
    # Qualities are calibrated: errors seen in wild-type reads match what Phred promised.
    assert 0.8 < observed_errors / expected_errors < 1.2


def test_truth_json_describes_the_run(itd60: SimulationResult) -> None:
    truth = json.loads(itd60.truth_path.read_text())
    assert truth == itd60.truth
    assert truth["seed"] == 7 and truth["build"] == "GRCh38" and truth["chr_prefix"]
    assert truth["parameters"]["read_length"] == READ_LENGTH
    itd = next(v for v in truth["variants"] if v["type"] == "FLT3-ITD")
    assert itd["length"] == 60 and itd["chrom"] == "chr13" and itd["allele_fraction"] == 0.3
    npm1 = next(v for v in truth["variants"] if v["type"] == "NPM1")
    assert (npm1["pos"], npm1["ref"], npm1["alt"], npm1["npm1_type"]) == (
        171410539,
        "C",
        "CTCTG",
        "A",
    )
    pairs = Counter(
        (r.query_name.split(":")[2], haplotype_of(r))
        for r in records(itd60.bam)
        if r.is_read1 and not r.is_supplementary
    )
    for gene, entry in truth["genes"].items():
        assert entry["read_pairs"] == sum(h["read_pairs"] for h in entry["haplotypes"])
        assert entry["alignment"]["read_pairs"] == entry["read_pairs"]
        assert abs(entry["molecules"] - entry["expected_molecules"]) <= 1
        for hap in entry["haplotypes"]:
            assert pairs[(gene, hap["id"])] == hap["read_pairs"]
            sd = math.sqrt(hap["expected_molecules"]) + 1
            assert abs(hap["molecules"] - hap["expected_molecules"]) < 5 * sd


def test_short_window_gives_short_trimmed_reads_inside_it(itd60: SimulationResult) -> None:
    npm1 = [r for r in records(itd60.bam) if r.reference_name == "chr5" and not r.is_unmapped]
    lengths = [r.infer_read_length() for r in npm1]
    assert max(lengths) <= READ_LENGTH and min(lengths) < READ_LENGTH  # adapter-trimmed
    assert min(r.reference_start for r in npm1) >= NPM1.start - 1
    assert max(r.reference_end for r in npm1) <= NPM1.end


# ------------------------------------------------------------------ variants in reads


def test_npm1_type_a_shows_as_the_4bp_insertion(itd60: SimulationResult) -> None:
    anchor = 171410539  # left-normalised VCF position of c.860_863dupTCTG
    spanning = [
        r
        for r in records(itd60.bam)
        if r.reference_name == "chr5"
        and not r.is_unmapped
        and r.reference_start < anchor - 10
        and r.reference_end > anchor + 10
    ]
    found = Counter()
    for record in spanning:
        insertions = []
        ref_pos = record.reference_start
        query_pos = record.query_alignment_start
        for op, length in record.cigartuples:
            if op == 1:
                insertions.append((ref_pos, record.query_sequence[query_pos : query_pos + length]))
            if op in (0, 2, 7, 8):
                ref_pos += length
            if op in (0, 1, 7, 8):
                query_pos += length
        found[(haplotype_of(record), tuple(insertions))] += 1
    mutant = sum(n for (hap, _), n in found.items() if hap != "wt")
    exact = found[("h2", ((anchor, "TCTG"),))]  # 0-based ref_pos == 1-based anchor base
    assert exact >= 0.9 * mutant > 0
    assert sum(n for (hap, ins), n in found.items() if hap == "wt" and ins) <= 0.02 * mutant


def test_250bp_itd_gives_split_alignments(tmp_path: Path) -> None:
    spec = SimulationSpec.of((Flt3Itd(250), 0.5), genes=("FLT3",), depth=150)
    result = simulate(spec, tmp_path / "itd250.bam", seed=3)
    itd = [r for r in records(result.bam) if haplotype_of(r) == "h1"]
    supplementary = [r for r in itd if r.is_supplementary]
    assert len(supplementary) >= 10
    for record in supplementary:
        assert record.has_tag("SA")
        assert 5 in (record.cigartuples[0][0], record.cigartuples[-1][0])  # hard clipped
    segment = result.truth["variants"][0]["duplicated_segment"]
    assert result.truth["variants"][0]["length"] == 250
    # The split parts sit at the two ends of the duplicated segment.
    near_start = [r for r in supplementary if abs(r.reference_start - segment["start"]) < 200]
    assert near_start


def test_observed_itd_fraction_matches_spec(tmp_path: Path) -> None:
    """Among reads holding the same stretch around the site, the ITD share is the VAF.

    An ITD read covering 70 bp either side of the insertion holds ``140 + length`` bases of its
    allele, so wild-type reads are counted when they hold as many (the site with 70 bp before
    and ``70 + length`` after); otherwise the shorter wild-type stretch would favour them.
    """
    fraction, length, flank = 0.3, 21, 70
    spec = SimulationSpec.of(
        (Flt3Itd(length), fraction),
        genes=("FLT3",),
        depth=1500,
        read_length=250,
        insert_mean=350,
        insert_sd=40,
    )
    result = simulate(spec, tmp_path / "vaf.bam", seed=11)
    site = result.truth["variants"][0]["duplicated_segment"]["end"]  # insertion after this base
    mutant = wild = 0
    for record in records(result.bam):
        if record.is_unmapped or record.is_supplementary:
            continue
        if record.reference_start > site - flank:
            continue
        has_itd = any(op == 1 and n >= length - 3 for op, n in record.cigartuples)
        if has_itd and record.reference_end >= site + flank:
            mutant += 1
        elif not has_itd and record.reference_end >= site + flank + length:
            wild += 1
    total = mutant + wild
    observed = mutant / total
    sd = math.sqrt(fraction * (1 - fraction) / total)
    assert total > 300
    assert abs(observed - fraction) < 4 * sd, (observed, total)


def test_amplicon_mode_reads_start_at_the_primers(tmp_path: Path) -> None:
    spec = SimulationSpec.of(
        (Flt3Itd(30), 0.2), (Npm1Insertion("B"), 0.1), mode="amplicon", depth=400
    )
    result = simulate(spec, tmp_path / "amp.bam", seed=5)
    starts = Counter()
    for record in records(result.bam):
        if record.is_unmapped or record.is_supplementary:
            continue
        left = record.reference_start - record.query_alignment_start
        right = record.reference_end + (record.infer_read_length() - record.query_alignment_end)
        starts[(record.reference_name, right if record.is_reverse else left)] += 1
    flt3_amplicon = result.truth["genes"]["FLT3"]["amplicon"]
    top = starts.most_common(4)
    assert {key for key, _ in top} >= {
        ("chr13", flt3_amplicon["start"] - 1),
        ("chr13", flt3_amplicon["end"]),
    }
    assert result.truth["genes"]["NPM1"]["read_pairs"] == 400


# ------------------------------------------------------------------ determinism, naming


def test_same_seed_same_bytes_other_seed_other_reads(tmp_path: Path) -> None:
    spec = SimulationSpec.of((Flt3Itd(45), 0.2), (Npm1Insertion("D"), 0.3), depth=60)
    first = simulate(spec, tmp_path / "a.bam", seed=42)
    second = simulate(spec, tmp_path / "b.bam", seed=42)
    third = simulate(spec, tmp_path / "c.bam", seed=43)
    assert first.bam.read_bytes() == second.bam.read_bytes()
    assert first.truth["genes"] == second.truth["genes"]

    def reads(path: Path) -> list[tuple[str, str | None]]:
        return [(r.query_name, r.query_sequence) for r in records(path)]

    assert reads(first.bam) != reads(third.bam)


@pytest.mark.parametrize(
    ("build", "chr_prefix", "chrom"),
    [(Build.GRCH37, None, "5"), (Build.GRCH37, True, "chr5"), (Build.GRCH38, False, "5")],
)
def test_build_and_naming(
    tmp_path: Path, build: Build, chr_prefix: bool | None, chrom: str
) -> None:
    spec = SimulationSpec.of(
        (Npm1Insertion("A"), 0.5), genes=("NPM1",), build=build, chr_prefix=chr_prefix, depth=40
    )
    result = simulate(spec, tmp_path / "n.bam", seed=1)
    window = reference_window("NPM1", build)
    with pysam.AlignmentFile(str(result.bam)) as bam:
        genome = detect_genome(dict(zip(bam.references, bam.lengths, strict=True)))
        assert genome.build is build and genome.chr_prefix == (chrom == "chr5")
        placed = [r for r in bam.fetch(chrom, window.start - 1, window.end)]
    assert placed and all(r.reference_name == chrom for r in placed)
    assert result.truth["variants"][0]["chrom"] == chrom
    assert result.truth["variants"][0]["pos"] == window.start + (171410539 - NPM1.start)


# ------------------------------------------------------------------ UMIs


def umi_families(path: Path) -> dict[str, list[pysam.AlignedSegment]]:
    families: dict[str, list[pysam.AlignedSegment]] = defaultdict(list)
    for record in records(path):
        if not record.is_supplementary:
            families[molecule_of(record)].append(record)
    return families


def test_simplex_umis_and_family_sizes(tmp_path: Path) -> None:
    spec = SimulationSpec.of(
        (Npm1Insertion("A"), 0.3), genes=("NPM1",), depth=600, umi=UmiSpec(family_size_mean=4)
    )
    result = simulate(spec, tmp_path / "umi.bam", seed=2)
    families = umi_families(result.bam)
    sizes = Counter()
    for members in families.values():
        umis = {r.get_tag("RX") for r in members}
        assert len(umis) == 1
        (umi,) = umis
        assert re.fullmatch("[ACGT]{8}", umi)
        assert sum(r.is_read1 for r in members) == sum(r.is_read2 for r in members)
        sizes[str(sum(r.is_read1 for r in members))] += 1
    assert dict(sizes) == result.truth["umi"]["family_sizes"]
    assert max(int(s) for s in sizes) > 4  # geometric: over-dispersed families
    assert result.truth["genes"]["NPM1"]["molecules"] == len(families)


def test_duplex_umis_swap_halves_on_the_bottom_strand(tmp_path: Path) -> None:
    spec = SimulationSpec.of(
        (Npm1Insertion("A"), 0.3),
        genes=("NPM1",),
        depth=300,
        umi=UmiSpec(duplex=True, family_size_mean=2),
    )
    result = simulate(spec, tmp_path / "duplex.bam", seed=4)
    by_strand = {"A": Counter(), "B": Counter()}
    both_strands = 0
    for molecule, members in umi_families(result.bam).items():
        strands = {}
        for record in members:
            strand = record.query_name.split(":")[5]
            strands.setdefault(strand, set()).add(record.get_tag("RX"))
            if record.is_read1 and not record.is_unmapped:
                # A-strand read 1 reads the plus strand at the left end; B is the mirror pair.
                assert record.is_reverse == (strand == "B"), molecule
        for strand, umis in strands.items():
            assert len(umis) == 1
            (umi,) = umis
            assert re.fullmatch("[ACGT]{8}-[ACGT]{8}", umi)
            reads_1 = [r for r in members if r.is_read1 and f":{strand}:" in r.query_name]
            by_strand[strand][str(len(reads_1))] += 1
        if len(strands) == 2:
            (umi_a,), (umi_b,) = strands["A"], strands["B"]
            left, right = umi_a.split("-")
            assert umi_b == f"{right}-{left}"
            both_strands += 1
    assert both_strands > 50
    hap_entries = result.truth["genes"]["NPM1"]["haplotypes"]
    for strand, key in (("A", "family_sizes_a"), ("B", "family_sizes_b")):
        merged = Counter()
        for hap in hap_entries:
            merged.update({k: v for k, v in hap[key].items() if k != "0"})
        assert dict(by_strand[strand]) == dict(merged)


def test_umi_in_read_name_and_duplicate_marking(tmp_path: Path) -> None:
    spec = SimulationSpec.of(
        (Npm1Insertion("A"), 0.3),
        genes=("NPM1",),
        depth=200,
        umi=UmiSpec(duplex=True, in_name=True),
        mark_duplicates=True,
    )
    result = simulate(spec, tmp_path / "named.bam", seed=6)
    reads = records(result.bam)
    assert not any(r.has_tag("RX") for r in reads)
    for record in reads:
        fields = record.query_name.split(":")
        assert len(fields) == 8 and re.fullmatch("[ACGT]{8}\\+[ACGT]{8}", fields[-1])
    duplicates = sum(r.is_duplicate for r in reads if r.is_read1)
    pairs = result.truth["genes"]["NPM1"]["read_pairs"]
    strands = sum(
        sum(v for k, v in hap[key].items() if k != "0")
        for hap in result.truth["genes"]["NPM1"]["haplotypes"]
        for key in ("family_sizes_a", "family_sizes_b")
    )
    # Each strand family keeps one representative; a few UMI/position collisions may add more.
    assert 0 < duplicates <= pairs - strands + 5
    assert duplicates >= 0.9 * (pairs - strands)


# ------------------------------------------------------------------ aligners, errors, CLI


@pytest.mark.bwa
@pytest.mark.skipif(shutil.which("bwa") is None, reason="bwa not on PATH")
def test_bwa_mem_alignment(tmp_path: Path) -> None:
    spec = SimulationSpec.of(
        (Flt3Itd(250), 0.4), (Npm1Insertion("A"), 0.4), depth=120, aligner="bwa"
    )
    result = simulate(spec, tmp_path / "bwa.bam", seed=8)
    reads = records(result.bam)
    with pysam.AlignmentFile(str(result.bam)) as bam:
        assert {pg["ID"] for pg in bam.header.to_dict()["PG"]} >= {"bwa", "mrd-simulate"}
    supplementary = [r for r in reads if r.is_supplementary]
    assert supplementary and all(r.has_tag("SA") for r in supplementary)
    assert all(op == 5 for r in supplementary for op, _ in r.cigartuples if op in (4, 5))
    for record in reads:
        if record.is_unmapped:
            continue
        window = FLT3 if record.reference_name == "chr13" else NPM1
        assert window.start - 1 <= record.reference_start < window.end
        if not record.mate_is_unmapped:
            assert window.start - 1 <= record.next_reference_start < window.end
    npm1 = [r for r in reads if r.reference_name == "chr5" and "I" in (r.cigarstring or "")]
    assert npm1


def test_missing_aligners_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SimulationSpec.of((Npm1Insertion("A"), 0.3), genes=("NPM1",), depth=10)
    monkeypatch.setitem(sys.modules, "mappy", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'mrd\[simulate\]'"):
        simulate(spec, tmp_path / "x.bam", seed=1)
    monkeypatch.setenv("PATH", str(tmp_path))
    bwa_spec = SimulationSpec.of(
        (Npm1Insertion("A"), 0.3), genes=("NPM1",), depth=10, aligner="bwa"
    )
    with pytest.raises(AlignerError, match="bwa"):
        simulate(bwa_spec, tmp_path / "x.bam", seed=1)
    assert list(tmp_path.iterdir()) == []


def test_failed_run_leaves_no_partial_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SimulationSpec.of((Npm1Insertion("A"), 0.3), genes=("NPM1",), depth=20)
    done = simulate(spec, tmp_path / "s.bam", seed=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(*args: Any, **kwargs: Any) -> None:
        raise MrdError("disk full")

    monkeypatch.setattr("mrd.simulate.output._sort", broken)
    with pytest.raises(MrdError, match="disk full"):
        simulate(spec, done.bam, seed=2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_error_free_reads(tmp_path: Path) -> None:
    spec = SimulationSpec.of(
        (Npm1Insertion("A"), 0.5), genes=("NPM1",), depth=50, errors=ErrorModel(enabled=False)
    )
    result = simulate(spec, tmp_path / "clean.bam", seed=1)
    for record in records(result.bam):
        assert set(record.query_qualities) == {40}
        if haplotype_of(record) == "wt" and not record.is_unmapped:
            assert record.get_tag("NM") == 0


def test_several_clones_in_one_window(tmp_path: Path) -> None:
    spec = SimulationSpec(
        haplotypes=(
            Haplotype((Flt3Itd(30),), 0.2, name="itdA"),
            Haplotype((Flt3Itd(90, nontemplated="GG"),), 0.1, name="itdB"),
        ),
        genes=("FLT3",),
        depth=80,
    )
    result = simulate(spec, tmp_path / "clones.bam", seed=9)
    haps = result.truth["genes"]["FLT3"]["haplotypes"]
    assert [(h["id"], h["allele_fraction"]) for h in haps] == [
        ("wt", pytest.approx(0.7)),
        ("itdA", 0.2),
        ("itdB", 0.1),
    ]
    seen = {haplotype_of(r) for r in records(result.bam)}
    assert seen == {"wt", "itdA", "itdB"}


def test_cli_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.bam"
    code = main(
        [
            "simulate",
            "-o", str(out),
            "--itd", "42@28034169:0.25:GA",
            "--npm1", "A:0.4",
            "--snv", "28034150:A>G:0.1",
            "--depth", "40",
            "--build", "GRCh38",
            "--umi",
            "--seed", "3",
            "--truth", str(tmp_path / "t.json"),
        ]
    )  # fmt: skip
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    truth = json.loads((tmp_path / "t.json").read_text())
    assert {v["type"] for v in truth["variants"]} == {"FLT3-ITD", "NPM1", "SNV"}
    assert truth["variants"][0]["nontemplated"] == "GA"
    assert out.is_file() and Path(f"{out}.bai").is_file()
    # The truth's parameters re-run the same simulation through --spec.
    again = tmp_path / "again.bam"
    args = ["simulate", "-o", str(again), "--spec", str(tmp_path / "t.json"), "--seed", "3"]
    assert main(args) == 0
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--itd", "42:1.5"], "between 0 and 1"),
        (["--snv", "28034150:G>A:0.1"], "reference base there is A"),
        (["--npm1", "Q:0.1"], "unknown NPM1 type"),
        (["--itd", "60:0.7", "--itd", "30:0.5"], "add up"),
        (["--build", "hg17"], "unknown genome build"),
        (["--spec", "missing.json", "--seed", "2"], "not found"),
        (["--spec", "missing.json", "--itd", "42:0.1"], "cannot be combined with --itd"),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "-o", str(tmp_path / "x.bam"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mrd: error:") and message in err and "\n" not in err
    assert not list(tmp_path.glob("*.bam"))
