from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mrd.errors import GenomeBuildError, InputFileError
from mrd.genome import CHROMOSOME_LENGTHS, Build, GenomeInfo, detect_genome, header_lengths
from mrd.ngs import open_alignments


@pytest.mark.parametrize(
    ("build", "chr_prefix", "chrom13"),
    [
        (Build.GRCH38, True, "chr13"),  # GRCh38 / hg38
        (Build.GRCH37, True, "chr13"),  # hg19: chr names, GRCh37 lengths
        (Build.GRCH37, False, "13"),  # b37
        (Build.GRCH38, False, "13"),  # Ensembl-style GRCh38
    ],
)
def test_build_and_naming_detected_from_real_headers(header_bam, build, chr_prefix, chrom13):
    bam = header_bam(header_lengths(build, chr_prefix))
    with open_alignments(bam) as source:
        assert source.genome == GenomeInfo(build, chr_prefix)
        assert source.genome.chrom("13") == chrom13
        assert source.genome.chrom("chr5") == ("chr5" if chr_prefix else "5")
        assert source.samples == ["S1"]


def test_build_option_must_agree_with_header(header_bam):
    bam = header_bam(header_lengths(Build.GRCH37, True))
    with open_alignments(bam, build="hg19") as source:
        assert source.genome.build is Build.GRCH37
    with pytest.raises(GenomeBuildError, match="--build GRCh38 contradicts the header"):
        open_alignments(bam, build="GRCh38")


def test_unknown_build_option_is_refused(header_bam):
    bam = header_bam(header_lengths(Build.GRCH38, True))
    with pytest.raises(GenomeBuildError, match="unknown genome build 'hg17'"):
        open_alignments(bam, build="hg17")


def test_unknown_chromosome_length_is_refused(header_bam):
    bam = header_bam([("chr13", 114_000_000), ("chr5", 181_538_259)])
    with pytest.raises(GenomeBuildError, match="matches no supported build"):
        open_alignments(bam)


def test_header_without_marker_chromosomes_is_refused(header_bam):
    bam = header_bam([("FLT3_amplicon", 400)])
    with pytest.raises(GenomeBuildError, match="no chromosome 13 or 5"):
        open_alignments(bam)


def test_mixed_builds_are_refused():
    lengths = {"chr13": CHROMOSOME_LENGTHS[Build.GRCH38]["13"]}
    lengths["chr5"] = CHROMOSOME_LENGTHS[Build.GRCH37]["5"]
    with pytest.raises(GenomeBuildError, match="mixes genome builds"):
        detect_genome(lengths)


def test_one_marker_chromosome_is_enough():
    info = detect_genome({"13": CHROMOSOME_LENGTHS[Build.GRCH37]["13"]})
    assert info == GenomeInfo(Build.GRCH37, False)


def test_header_lengths_match_domain_facts():
    assert dict(header_lengths(Build.GRCH38, True))["chr13"] == 114_364_328
    assert dict(header_lengths(Build.GRCH37, False))["5"] == 180_915_260
    assert dict(header_lengths(Build.GRCH37, True))["chrM"] == 16_571  # hg19 chrM
    assert dict(header_lengths(Build.GRCH37, False))["MT"] == 16_569  # b37 rCRS


@pytest.mark.parametrize(
    ("text", "build"),
    [
        ("GRCh38", Build.GRCH38),
        ("hg38", Build.GRCH38),
        ("b37", Build.GRCH37),
        ("HG19", Build.GRCH37),
    ],
)
def test_build_aliases(text, build):
    assert Build.parse(text) is build


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(0, 3_000_000_000), max_size=6))
def test_detection_never_fails_with_anything_but_a_clear_error(lengths):
    try:
        info = detect_genome(lengths)
    except GenomeBuildError as exc:
        assert str(exc)
    else:
        assert info.build in Build


def test_not_an_alignment_file(tmp_path):
    path = tmp_path / "notes.bam"
    path.write_text("this is not a BAM\n")
    with pytest.raises(InputFileError, match="neither BAM nor CRAM"):
        open_alignments(path)
