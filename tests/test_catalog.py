from __future__ import annotations

import pytest
from conftest import write_genome_fasta

from mrd.catalog import flt3, npm1, reference_window, verify_reference
from mrd.errors import ReferenceMismatchError
from mrd.genome import Build, GenomeInfo

_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


@pytest.mark.parametrize("build", list(Build))
def test_flt3_exon14_reads_as_the_transcript_on_the_minus_strand(build):
    annotation = flt3(build)
    window = reference_window("FLT3", build)
    exon14 = next(e for e in annotation.exons if e.number == 14)
    coding = _revcomp(window.slice(exon14.g_start, exon14.g_end))
    # c.1705 onwards: the start of exon 14 as printed in the NM_004119 coding sequence.
    assert coding.startswith("CAATTTAGGTATGAAAGCCAGCTACAGATGGTACAGGTGACCGGCTCC")
    assert len(coding) == exon14.c_end - exon14.c_start + 1 == 133


@pytest.mark.parametrize(
    ("build", "jmd_first", "tkd1_first"),
    [(Build.GRCH38, 28034205, 28034091), (Build.GRCH37, 28608342, 28608228)],
)
def test_flt3_domains_at_published_coordinates(build, jmd_first, tkd1_first):
    annotation = flt3(build)
    assert annotation.c_position(jmd_first) == 1714  # p.572, first JMD residue
    assert annotation.domain_of(annotation.residue(1714)) == "JMD"
    assert annotation.residue(annotation.c_position(tkd1_first)) == 610
    assert annotation.domain_of(610) == "TKD1"
    assert annotation.domain_of(571) == "other"
    assert annotation.genomic_position(1828) == tkd1_first


def test_flt3_intronic_positions_named_from_nearest_exon():
    annotation = flt3(Build.GRCH38)
    assert annotation.c_notation(28034214) == "1705"
    assert annotation.c_notation(28034214 + 7) == "1705-7"
    assert annotation.c_notation(28034082 - 3) == "1837+3"
    assert annotation.c_position(28034082 - 3) is None


@pytest.mark.parametrize("build", list(Build))
def test_npm1_type_a_duplicates_tctg_at_c860_863(build):
    annotation = npm1(build)
    window = reference_window("NPM1", build)
    type_a = annotation.type_named("A")
    first = annotation.genomic_position(860)
    assert window.slice(first, first + 3) == type_a.inserted == "TCTG"
    start, end = annotation.coding_region
    assert end - start == 885 - 847
    assert window.contains(start) and window.contains(end)


def test_grch37_and_grch38_windows_hold_the_same_bases():
    for gene in ("FLT3", "NPM1"):
        assert (
            reference_window(gene, "GRCh37").sequence == reference_window(gene, "GRCh38").sequence
        )
    assert (
        reference_window("FLT3", Build.GRCH37).start - reference_window("FLT3", Build.GRCH38).start
        == 574_137
    )


def test_user_reference_that_agrees_passes(grch38_fasta):
    verify_reference(grch38_fasta, GenomeInfo(Build.GRCH38, True))


def test_user_reference_of_other_build_or_altered_fails(tmp_path, grch38_fasta):
    with pytest.raises(ReferenceMismatchError, match="has no sequence '13'"):
        verify_reference(grch38_fasta, GenomeInfo(Build.GRCH38, False))
    with pytest.raises(ReferenceMismatchError, match="wrong genome build"):
        verify_reference(grch38_fasta, GenomeInfo(Build.GRCH37, True))
    altered = write_genome_fasta(tmp_path / "alt.fa.gz", Build.GRCH38, True, alter=True)
    with pytest.raises(ReferenceMismatchError, match="1 of 1500 bases differ"):
        verify_reference(altered, GenomeInfo(Build.GRCH38, True))


def test_user_reference_with_a_stale_index_is_one_clear_error(tmp_path, grch38_fasta):
    """An index made for another (here: the whole) file makes htslib fail mid-read."""
    import shutil

    from mrd.errors import InputFileError

    cut = tmp_path / "cut.fa.gz"
    data = grch38_fasta.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    for suffix in (".fai", ".gzi"):
        shutil.copy(f"{grch38_fasta}{suffix}", f"{cut}{suffix}")
    with pytest.raises(InputFileError, match=r"cut.fa.gz .*index stale\? Re-create it"):
        verify_reference(cut, GenomeInfo(Build.GRCH38, True))
