"""The alignment-reading layer on BAMs made by the simulator (minimap2 through mappy)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pysam
import pytest
from conftest import copy_with_stale_index, run_cli_process

from mrd.errors import InputFileError, RegionError
from mrd.genome import Build
from mrd.ngs import DropReason, FilterCounts, ReadFilter, Region, iter_region, open_alignments
from mrd.ngs.summary import summarize_alignments
from mrd.simulate import Flt3Itd, Npm1Insertion, SimulationSpec, simulate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "demo"


@pytest.fixture(scope="module")
def itd_bam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture sample with a 120-bp ITD (split alignments) and marked duplicates."""
    folder = tmp_path_factory.mktemp("itd")
    spec = SimulationSpec.of(
        (Flt3Itd(120), 0.3),
        (Npm1Insertion("A"), 0.4),
        depth=300,
        mark_duplicates=True,
        sample="ITD120",
    )
    return simulate(spec, folder / "itd.bam", seed=11).bam


def _samtools_count(bam: Path, region: Region, *flags: str) -> int:
    return int(pysam.samtools.view("-c", *flags, str(bam), str(region)).strip())


def test_filter_counts_add_up_and_match_samtools_flag_counts(itd_bam, tmp_path):
    # Flag some reads QC-fail, as an adapter or quality filter upstream would.
    flagged = tmp_path / "qcfail.bam"
    with (
        pysam.AlignmentFile(str(itd_bam)) as src,
        pysam.AlignmentFile(str(flagged), "wb", template=src) as out,
    ):
        for i, read in enumerate(src.fetch(until_eof=True)):
            if i % 97 == 0:
                read.flag |= 0x200
            out.write(read)
    pysam.index(str(flagged))

    read_filter = ReadFilter(min_mapq=30)
    with open_alignments(flagged) as source:
        region = Region.parse(f"{source.genome.chrom('13')}:28033301-28034800", "FLT3")
        counts = FilterCounts()
        seen = {reason: 0 for reason in [None, *DropReason]}
        for _read, reason in iter_region(source, region, read_filter, counts):
            seen[reason] += 1
    assert counts.is_consistent()
    assert counts.used == seen[None] > 0
    assert all(counts.dropped[r] == seen[r] for r in DropReason)
    # Independent tallies by samtools flag filters, in the same precedence.
    assert counts.fetched == _samtools_count(flagged, region)
    assert counts.dropped[DropReason.UNMAPPED] == _samtools_count(flagged, region, "-f", "4")
    assert counts.dropped[DropReason.QC_FAIL] == _samtools_count(
        flagged, region, "-f", "512", "-F", "4"
    )
    assert counts.dropped[DropReason.DUPLICATE] == _samtools_count(
        flagged, region, "-f", "1024", "-F", "516"
    )
    assert counts.dropped[DropReason.SUPPLEMENTARY] == _samtools_count(
        flagged, region, "-f", "2048", "-F", "1796"
    )
    assert counts.dropped[DropReason.LOW_MAPQ] == (
        _samtools_count(flagged, region, "-F", "3844")
        - _samtools_count(flagged, region, "-F", "3844", "-q", "30")
    )
    # The long ITD and the marked duplicates make these reasons real, not zero by default.
    assert counts.dropped[DropReason.SUPPLEMENTARY] > 0
    assert counts.dropped[DropReason.DUPLICATE] > 0
    assert counts.dropped[DropReason.QC_FAIL] > 0


def test_split_alignments_stay_reachable_but_never_count_as_depth(itd_bam):
    with open_alignments(itd_bam) as source:
        region = Region.parse("chr13:28033301-28034800")
        records = list(iter_region(source, region))
    used_names = [r.query_name for r, reason in records if reason is None]
    evidence = [r for r, reason in records if reason is not None and reason.keeps_evidence]
    assert evidence and all(r.is_supplementary or r.is_secondary for r in evidence)
    assert all(r.has_tag("SA") for r in evidence)
    # Each used record is one read of a pair: a name appears at most twice (R1, R2).
    assert max(used_names.count(n) for n in set(used_names)) <= 2


def test_missing_index_is_an_error_naming_the_command_or_built_on_request(itd_bam, tmp_path):
    bam = tmp_path / "noindex.bam"
    shutil.copy(itd_bam, bam)
    with pytest.raises(InputFileError, match=r"no index; run 'samtools index .*noindex.bam'"):
        open_alignments(bam)
    with open_alignments(bam, make_index=True) as source:
        assert source.index_path.is_file()


def test_truncated_bam_is_refused(itd_bam, tmp_path):
    data = itd_bam.read_bytes()
    bam = tmp_path / "cut.bam"
    bam.write_bytes(data[: len(data) // 2])
    shutil.copy(f"{itd_bam}.bai", f"{bam}.bai")
    with pytest.raises(InputFileError, match="truncated or corrupt"):
        open_alignments(bam)


def test_unsorted_bam_is_refused(itd_bam, tmp_path):
    bam = tmp_path / "byname.bam"
    pysam.sort("-n", "-o", str(bam), str(itd_bam))
    with pytest.raises(InputFileError, match="not coordinate-sorted"):
        open_alignments(bam)


def test_cram_needs_its_reference(itd_bam, tmp_path, grch38_fasta):
    cram = tmp_path / "s.cram"
    pysam.samtools.view(
        "-C", "-T", str(grch38_fasta), "-o", str(cram), str(itd_bam), catch_stdout=False
    )
    pysam.index(str(cram))
    with pytest.raises(InputFileError, match="is CRAM: give the genome FASTA"):
        open_alignments(cram)
    from_cram = summarize_alignments(cram, reference=grch38_fasta)
    from_bam = summarize_alignments(itd_bam)
    assert from_cram.format == "CRAM"
    assert from_cram.build is Build.GRCH38
    assert [t.counts for t in from_cram.targets] == [t.counts for t in from_bam.targets]

    cut = tmp_path / "cut.cram"
    cut.write_bytes(cram.read_bytes()[:-38])  # lose the EOF container, as a cut copy does
    shutil.copy(f"{cram}.crai", f"{cut}.crai")
    with pytest.raises(InputFileError, match=r"truncated or corrupt \(no CRAM end-of-file"):
        open_alignments(cut, reference=grch38_fasta)


def test_index_older_than_the_file_is_warned_about(itd_bam, tmp_path, caplog):
    bam = copy_with_stale_index(itd_bam, tmp_path, "rewritten.bam")
    with caplog.at_level(logging.WARNING), open_alignments(bam):
        pass
    assert "index rewritten.bam.bai is older than the file" in caplog.text


def test_empty_target_region_is_an_error(itd_bam):
    with open_alignments(itd_bam) as source:
        empty = Region.parse("chr13:20000000-20001000")
        with pytest.raises(RegionError, match="no reads in target region chr13:20000000"):
            list(iter_region(source, empty))
        assert list(iter_region(source, empty, allow_empty=True)) == []
    with pytest.raises(RegionError, match="no reads in target region"):
        summarize_alignments(itd_bam, regions=[Region.parse("chr5:1000-2000")])


def test_cli_inspect_on_the_demo_and_one_line_errors(tmp_path):
    bam = EXAMPLES / "P001-DX.bam"
    run = run_cli_process(["inspect", str(bam), "--keep-duplicates"])
    assert run.code == 0, run.stderr
    assert "GRCh38 (chr13)" in run.stdout and "P001-DX" in run.stdout
    broken = tmp_path / "broken.bam"
    broken.write_bytes(bam.read_bytes()[:5000])
    run = run_cli_process(["inspect", str(broken)])
    assert run.code == 2
    assert run.stderr.strip().count("\n") == 0
    assert run.stderr.startswith("mrd: error:") and "truncated" in run.stderr
