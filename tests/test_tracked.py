"""Patient-specific markers: reading VCF/TSV/CSV/JSON marker files, flags, normalisation."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path
from typing import Any

import pysam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrd.errors import InputFileError
from mrd.markers.tracked import (
    DTA_GENES,
    TSV_COLUMNS,
    TrackedMarker,
    exclusion_reason,
    looks_germline,
    normalise,
    read_markers,
    select_for_pooling,
    write_markers_tsv,
)

# --- helpers ------------------------------------------------------------------------------------


def write_vcf(
    path: Path,
    records: list[dict[str, Any]],
    mode: str = "w",
    chr_prefix: bool = True,
) -> Path:
    """Write a VCF/BCF with pysam: contigs, INFO AF/GENE, FORMAT AF, one sample."""
    header = pysam.VariantHeader()
    for name, length in (("13", 114364328), ("5", 181538259), ("2", 242193529), ("M", 16569)):
        header.contigs.add(f"chr{name}" if chr_prefix else name, length=length)
    header.add_line('##INFO=<ID=AF,Number=A,Type=Float,Description="Allele fraction">')
    header.add_line('##INFO=<ID=GENE,Number=1,Type=String,Description="Gene symbol">')
    header.add_line('##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fraction">')
    header.add_line('##FILTER=<ID=LowQual,Description="Low quality">')
    header.add_sample("DX")
    with pysam.VariantFile(str(path), mode, header=header) as out:
        for spec in records:
            contig = spec["chrom"] if chr_prefix else spec["chrom"].removeprefix("chr")
            rec = out.new_record(
                contig=contig, start=spec["pos"] - 1, alleles=(spec["ref"], *spec["alts"])
            )
            if "info_af" in spec:
                rec.info["AF"] = spec["info_af"]
            if "gene" in spec:
                rec.info["GENE"] = spec["gene"]
            if "format_af" in spec:
                rec.samples["DX"]["AF"] = spec["format_af"]
            if "id" in spec:
                rec.id = spec["id"]
            for name in spec.get("filter", ()):
                rec.filter.add(name)
            out.write(rec)
    return path


VCF_RECORDS: list[dict[str, Any]] = [
    # A DNMT3A-like SNV on chr2 with INFO AF and GENE.
    {"chrom": "chr2", "pos": 25234373, "ref": "C", "alts": ("T",), "info_af": (0.41,),
     "gene": "DNMT3A", "filter": ("PASS",), "id": "DNMT3A_R882H"},
    # A multi-allelic record: two markers, each with its own AF.
    {"chrom": "chr13", "pos": 28034150, "ref": "G", "alts": ("A", "GTTC"),
     "info_af": (0.12, 0.05)},
    # Filtered out: not PASS.
    {"chrom": "chr13", "pos": 28034200, "ref": "A", "alts": ("C",), "filter": ("LowQual",)},
    # VAF only in FORMAT; deletion; chrM becomes MT.
    {"chrom": "chrM", "pos": 100, "ref": "ACT", "alts": ("A",), "format_af": (0.95,)},
]  # fmt: skip


def expected_vcf_markers() -> list[TrackedMarker]:
    return [
        TrackedMarker("2", 25234373, "C", "T", gene="DNMT3A", name="DNMT3A_R882H",
                      diagnosis_vaf=0.41),
        TrackedMarker("13", 28034150, "G", "A", diagnosis_vaf=0.12),
        TrackedMarker("13", 28034150, "G", "GTTC", diagnosis_vaf=0.05),
        TrackedMarker("MT", 100, "ACT", "A", diagnosis_vaf=0.95),
    ]  # fmt: skip


def rounded(markers: list[TrackedMarker]) -> list[TrackedMarker]:
    """VCF stores AF as float32 and percentages divide inexactly: compare to six places."""
    return [
        dataclasses.replace(m, diagnosis_vaf=round(m.diagnosis_vaf, 6))
        if m.diagnosis_vaf is not None
        else m
        for m in markers
    ]


def call_result(findings: list[Any]) -> dict[str, Any]:
    return {
        "schema": "mrd-call",
        "schema_version": "1.0",
        "mrd_version": "0.1.0",
        "sample": "P001-DX",
        "genome_build": "GRCh38",
        "chrom_prefix": "chr",
        "findings": findings,
    }


ITD_FINDING: dict[str, Any] = {
    "marker": "FLT3-ITD", "gene": "FLT3", "chrom": "chr13", "position": 28034127,
    "ref": "A", "alt": "ACTTCCCAAACTCTAAATTT", "length": 19,
    "inserted_sequence": "CTTCCCAAACTCTAAATTT", "hgvs_c": "c.1750_1768dup",
    "alt_count": 37, "wt_count": 963, "depth": 1000, "vaf": 0.037,
}  # fmt: skip
NPM1_FINDING: dict[str, Any] = {
    "marker": "NPM1", "gene": "NPM1", "chrom": "chr5", "position": 171410539,
    "ref": "C", "alt": "CTCTG", "length": 4, "inserted_sequence": "TCTG", "npm1_type": "A",
    "hgvs_c": "c.860_863dup", "alt_count": 420, "wt_count": 580, "depth": 1000, "vaf": 0.42,
}  # fmt: skip


# --- VCF ----------------------------------------------------------------------------------------


def test_vcf_markers_one_per_alt_allele_pass_only(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "dx.vcf", VCF_RECORDS)
    assert rounded(read_markers(path)) == expected_vcf_markers()


def test_bgzipped_vcf_and_bcf_read_the_same(tmp_path: Path) -> None:
    gz = write_vcf(tmp_path / "dx.vcf.gz", VCF_RECORDS, mode="wz")
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    bcf = write_vcf(tmp_path / "dx.bcf", VCF_RECORDS, mode="wb")
    assert rounded(read_markers(gz)) == expected_vcf_markers()
    assert rounded(read_markers(bcf)) == expected_vcf_markers()


def test_vcf_without_chr_prefix_and_without_af(tmp_path: Path) -> None:
    records = [{"chrom": "chr5", "pos": 170837543, "ref": "C", "alts": ("CTCTG",), "gene": "NPM1"}]
    path = write_vcf(tmp_path / "dx.vcf", records, chr_prefix=False)
    (marker,) = read_markers(path)
    assert marker == TrackedMarker("5", 170837543, "C", "CTCTG", gene="NPM1")
    assert marker.diagnosis_vaf is None
    assert marker.kind == "insertion"


def test_vcf_told_by_content_whatever_its_name(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "dx.vcf", VCF_RECORDS)
    renamed = tmp_path / "markers.txt"
    renamed.write_bytes(path.read_bytes())
    assert rounded(read_markers(renamed)) == expected_vcf_markers()


def test_vcf_gene_from_snpeff_ann(tmp_path: Path) -> None:
    text = (
        "##fileformat=VCFv4.2\n"
        '##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: '
        "'Allele | Annotation | Annotation_Impact | Gene_Name'\">\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr17\t7675088\t.\tC\tT\t.\t.\tANN=T|missense_variant|MODERATE|TP53\n"
    )
    path = tmp_path / "ann.vcf"
    path.write_text(text)
    assert read_markers(path) == [TrackedMarker("17", 7675088, "C", "T", gene="TP53")]


def test_vcf_gene_from_vep_csq(tmp_path: Path) -> None:
    text = (
        "##fileformat=VCFv4.2\n"
        '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
        'Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Gene">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "4\t105275794\t.\tG\tA\t.\tPASS\tCSQ=A|stop_gained|HIGH|TET2|ENSG00000168769\n"
    )
    path = tmp_path / "csq.vcf"
    path.write_text(text)
    (marker,) = read_markers(path)
    assert marker.gene == "TET2"
    assert marker.is_dta


# --- TSV / CSV ----------------------------------------------------------------------------------


def test_tsv_with_comments_extra_columns_and_any_case(tmp_path: Path) -> None:
    path = tmp_path / "markers.tsv"
    path.write_text(
        "# patient P001, diagnosis 2026-01-05\n"
        "# built from the diagnostic panel\n"
        "\n"
        "Sample\tCHROM\tPosition\tREF\tAlt\tGene\tVAF\tNote\tName\n"
        "P001\tchr2\t25234373\tc\tt\tDNMT3A\t0.45\tCH?\tDNMT3A R882H\n"
        "P001\t13\t28034150\tG\tGTTC\tFLT3\t3.7%\t\t\n"
        "\n"
        "P001\tchrX\t39933339\tGA\tG\t\t\n"
    )
    assert rounded(read_markers(path)) == [
        TrackedMarker("2", 25234373, "C", "T", gene="DNMT3A", name="DNMT3A R882H",
                      diagnosis_vaf=0.45),
        TrackedMarker("13", 28034150, "G", "GTTC", gene="FLT3", diagnosis_vaf=0.037),
        TrackedMarker("X", 39933339, "GA", "G"),
    ]  # fmt: skip


def test_csv_with_bom_quotes_and_hash_header(tmp_path: Path) -> None:
    path = tmp_path / "markers.csv"
    path.write_bytes(
        "\ufeff# exported from the LIMS\n"
        "#chrom,pos,ref,alt,name,comment\n"
        'chr17,7675088,C,T,"TP53 R273H, hotspot","says ""check"""\r\n'
        "chr4,105275794,G,A,,\r\n".encode()
    )
    assert read_markers(path) == [
        TrackedMarker("17", 7675088, "C", "T", name="TP53 R273H, hotspot"),
        TrackedMarker("4", 105275794, "G", "A"),
    ]


def test_delimiter_sniffed_without_extension(tmp_path: Path) -> None:
    tab = tmp_path / "markers"
    tab.write_text("chrom\tpos\tref\talt\n1\t100\tA\tG\n")
    comma = tmp_path / "markers2"
    comma.write_text("chrom,pos,ref,alt\n1,100,A,G\n")
    assert read_markers(tab) == read_markers(comma) == [TrackedMarker("1", 100, "A", "G")]


def test_gzipped_tsv(tmp_path: Path) -> None:
    path = tmp_path / "markers.tsv.gz"
    path.write_bytes(gzip.compress(b"chrom\tpos\tref\talt\n7\t140753336\tA\tT\n"))
    assert read_markers(path) == [TrackedMarker("7", 140753336, "A", "T")]


def test_header_only_table_has_no_markers(tmp_path: Path) -> None:
    path = tmp_path / "none.tsv"
    write_markers_tsv([], path)
    assert path.read_text() == "\t".join(TSV_COLUMNS) + "\n"
    assert read_markers(path) == []


# --- mrd call JSON ------------------------------------------------------------------------------


def test_call_json_findings_become_markers(tmp_path: Path) -> None:
    other = {"marker": "KIT-D816V", "chrom": "chr4", "position": 1, "ref": "A", "alt": "T"}
    path = tmp_path / "P001-DX.json"
    path.write_text(json.dumps(call_result([ITD_FINDING, other, NPM1_FINDING]), indent=2))
    itd, npm1 = read_markers(path)
    assert itd == TrackedMarker(
        "13", 28034127, "A", "ACTTCCCAAACTCTAAATTT", gene="FLT3",
        name="FLT3 c.1750_1768dup", source_marker="FLT3-ITD", diagnosis_vaf=0.037,
    )  # fmt: skip
    assert npm1 == TrackedMarker(
        "5", 171410539, "C", "CTCTG", gene="NPM1", name="NPM1 type A",
        source_marker="NPM1", diagnosis_vaf=0.42,
    )  # fmt: skip
    # NPM1 at 0.42 is somatic by nature: not flagged germline, kept for pooling.
    assert not npm1.likely_germline
    assert select_for_pooling([itd, npm1]) == [itd, npm1]


def test_call_json_insertions_and_missing_names(tmp_path: Path) -> None:
    finding = {
        "marker": "FLT3-insertion", "chrom": "13", "position": 28033900, "ref": "T",
        "alt": "TAC", "vaf": None,
    }  # fmt: skip
    npm1_other = {**NPM1_FINDING, "marker": "NPM1-insertion", "npm1_type": None, "vaf": 0.5}
    path = tmp_path / "call.json"
    path.write_text(json.dumps(call_result([finding, npm1_other])))
    ins, other = read_markers(path)
    assert ins == TrackedMarker("13", 28033900, "T", "TAC", gene="FLT3", source_marker=(
        "FLT3-insertion"))  # fmt: skip
    assert ins.label == "13:28033900T>TAC"
    assert other.name == "NPM1 c.860_863dup"
    assert other.likely_germline  # only the canonical NPM1 and FLT3-ITD are exempt


# --- the marker itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "alt", "kind"),
    [
        ("A", "G", "SNV"),
        ("AC", "GT", "MNV"),
        ("A", "ATT", "insertion"),
        ("ATT", "A", "deletion"),
        ("AT", "GC", "MNV"),
        ("AT", "G", "complex"),
        ("A", "GT", "complex"),
        ("ACG", "AT", "complex"),
    ],
)
def test_kind(ref: str, alt: str, kind: str) -> None:
    assert TrackedMarker("1", 10, ref, alt).kind == kind


def test_construction_canonicalises_and_validates() -> None:
    marker = TrackedMarker("chr13", 5, "a", "acg")
    assert (marker.chrom, marker.ref, marker.alt) == ("13", "A", "ACG")
    assert TrackedMarker("chrM", 1, "A", "G").chrom == "MT"
    assert marker.label == "13:5A>ACG"
    assert marker.key == ("13", 5, "A", "ACG")
    padded = TrackedMarker("1", 1, "A", "G", gene=" FLT3 ", name="  ", source_marker="")
    assert (padded.gene, padded.name, padded.source_marker) == ("FLT3", None, None)
    bad_fields: list[dict[str, Any]] = [
        {"chrom": "chr", "position": 1, "ref": "A", "alt": "G"},
        {"chrom": "1", "position": 0, "ref": "A", "alt": "G"},
        {"chrom": "1", "position": 1, "ref": "A", "alt": "A"},
        {"chrom": "1", "position": 1, "ref": "A", "alt": "<DUP>"},
        {"chrom": "1", "position": 1, "ref": "A", "alt": "G", "diagnosis_vaf": 1.5},
        {"chrom": "1", "position": 1, "ref": "A", "alt": "G", "name": "a\nb"},
    ]
    for bad in bad_fields:
        with pytest.raises(ValueError, match="invalid tracked marker"):
            TrackedMarker(**bad)


def test_dta_and_germline_flags() -> None:
    dnmt3a = TrackedMarker("2", 25234373, "C", "T", gene="dnmt3a", diagnosis_vaf=0.2)
    germline = TrackedMarker("17", 7675088, "C", "T", gene="TP53", diagnosis_vaf=0.5)
    homozygous = TrackedMarker("1", 100, "A", "G", diagnosis_vaf=0.97)
    somatic = TrackedMarker("17", 7675090, "C", "T", gene="TP53", diagnosis_vaf=0.25)
    unknown = TrackedMarker("1", 200, "A", "G")
    itd = TrackedMarker("13", 28034127, "A", "ACTT", source_marker="FLT3-ITD", diagnosis_vaf=0.95)
    assert {"DNMT3A", "TET2", "ASXL1"} == DTA_GENES
    assert dnmt3a.is_dta and not dnmt3a.likely_germline
    assert germline.likely_germline and not germline.is_dta
    assert homozygous.likely_germline
    assert not somatic.likely_germline and not somatic.is_dta
    assert not unknown.likely_germline and not unknown.is_dta
    assert not itd.likely_germline
    markers = [dnmt3a, germline, homozygous, somatic, unknown, itd]
    assert select_for_pooling(markers) == [somatic, unknown, itd]
    assert select_for_pooling(markers, include_dta=True) == [dnmt3a, somatic, unknown, itd]
    assert select_for_pooling(markers, include_dta=True, include_germline=True) == markers
    assert "DTA" in (exclusion_reason(dnmt3a) or "")
    assert "germline" in (exclusion_reason(germline) or "")
    assert exclusion_reason(somatic) is None


@pytest.mark.parametrize(
    ("vaf", "germline"),
    [(0.0, False), (0.39, False), (0.4, True), (0.5, True), (0.6, True), (0.61, False),
     (0.89, False), (0.9, True), (1.0, True)],
)  # fmt: skip
def test_looks_germline_bounds_are_inclusive(vaf: float, germline: bool) -> None:
    assert looks_germline(vaf) is germline
    assert TrackedMarker("1", 1, "A", "G", diagnosis_vaf=vaf).likely_germline is germline


def test_looks_germline_thresholds_configurable() -> None:
    assert looks_germline(0.5, het_range=(0.45, 0.55))
    assert not looks_germline(0.42, het_range=(0.45, 0.55))
    assert not looks_germline(0.95, hom_min=0.99)


# --- normalise ----------------------------------------------------------------------------------

# Positions 1001...: a homopolymer of A (1003-1008) and a CA repeat (1011-1018).
REFERENCE = "TG" + "AAAAAA" + "GT" + "CACACACA" + "GGT"
OFFSET = 1001


def base(position: int) -> str:
    return REFERENCE[position - OFFSET]


def test_normalise_left_shifts_insertion_in_homopolymer() -> None:
    # An extra A written at the end of the run (anchor 1008) belongs after the G at 1002.
    assert base(1002) == "G" and base(1008) == "A"
    marker = TrackedMarker("1", 1008, "A", "AA", name="polyA")
    assert normalise(marker, REFERENCE, OFFSET) == TrackedMarker("1", 1002, "G", "GA", name="polyA")
    # Written with trailing context, it lands at the same place.
    padded = TrackedMarker("1", 1005, "AAAA", "AAAAA", name="polyA")
    assert normalise(padded, REFERENCE, OFFSET) == TrackedMarker("1", 1002, "G", "GA", name="polyA")


def test_normalise_left_shifts_deletion_in_repeat() -> None:
    # One CA of CACACACA (1011-1018) deleted, written at the right end: anchor A at 1016.
    assert REFERENCE[1016 - OFFSET : 1019 - OFFSET] == "ACA"
    marker = TrackedMarker("1", 1016, "ACA", "A")
    assert normalise(marker, REFERENCE, OFFSET) == TrackedMarker("1", 1010, "TCA", "T")
    # Two units deleted, written mid-repeat with trailing context.
    two = TrackedMarker("1", 1013, "CACAC", "C")
    assert normalise(two, REFERENCE, OFFSET) == TrackedMarker("1", 1010, "TCACA", "T")


def test_normalise_trims_mnv_and_keeps_snv() -> None:
    mnv = TrackedMarker("1", 1009, "GTC", "GAC")
    assert normalise(mnv, REFERENCE, OFFSET) == TrackedMarker("1", 1010, "T", "A")
    snv = TrackedMarker("1", 1001, "T", "C")
    assert normalise(snv, REFERENCE, OFFSET) is snv
    # Already normal: the same object comes back.
    ins = TrackedMarker("1", 1002, "G", "GA")
    assert normalise(ins, REFERENCE.lower(), OFFSET) is ins


def test_normalise_stops_at_the_start_of_the_stretch() -> None:
    marker = TrackedMarker("1", 1008, "A", "AA")
    stretch = REFERENCE[4:]  # starts at 1005, inside the run of A
    assert normalise(marker, stretch, OFFSET + 4) == TrackedMarker("1", 1005, "A", "AA")


def test_normalise_rejects_wrong_ref() -> None:
    with pytest.raises(InputFileError, match=r"REF C does not match the reference A at 1:1003"):
        normalise(TrackedMarker("1", 1003, "C", "T"), REFERENCE, OFFSET)
    with pytest.raises(InputFileError, match="outside the reference stretch"):
        normalise(TrackedMarker("1", 2000, "C", "T"), REFERENCE, OFFSET)
    with pytest.raises(InputFileError, match="outside the reference stretch"):
        normalise(TrackedMarker("1", 1000, "C", "T"), REFERENCE, OFFSET)


# --- writing ------------------------------------------------------------------------------------


def test_write_read_tsv_round_trip(tmp_path: Path) -> None:
    markers = [
        TrackedMarker("13", 28034127, "A", "ACTTCCC", gene="FLT3", name="FLT3 c.1750_1755dup",
                      source_marker="FLT3-ITD", diagnosis_vaf=0.037),
        TrackedMarker("X", 5, "GA", "G", name='odd "name", with\ttab?'.replace("\t", " ")),
        TrackedMarker("2", 25234373, "C", "T", gene="DNMT3A", diagnosis_vaf=1e-05),
    ]  # fmt: skip
    path = tmp_path / "out" / "markers.tsv"
    path.parent.mkdir()
    write_markers_tsv(markers, path)
    assert path.read_text().splitlines()[0].split("\t") == list(TSV_COLUMNS)
    assert read_markers(path) == markers
    assert not list(path.parent.glob(".*part*"))  # the temporary file was renamed away


# --- errors -------------------------------------------------------------------------------------

HEADER = "chrom\tpos\tref\talt\tvaf\n"

TABLE_ERRORS = [
    # (file name, content, words the message must hold)
    ("m.tsv", "# c\nchrom\tposition\tref\n1\t5\tA\n", ["row 2", "alt"]),
    ("m.tsv", "chrom\tpos\tposition\tref\talt\n", ["row 1", "two 'pos' columns"]),
    ("m.tsv", HEADER + "1\t10\tA\tG\t\n1\tabc\tA\tG\t\n", ["row 3", "'pos'", "positive integer"]),
    ("m.tsv", HEADER + "1\t0\tA\tG\t\n", ["row 2", "'pos'"]),
    ("m.tsv", HEADER + "1\t-5\tA\tG\t\n", ["row 2", "'pos'"]),
    ("m.tsv", HEADER + "1\t1.5\tA\tG\t\n", ["row 2", "'pos'"]),
    ("m.tsv", HEADER + "1\t\tA\tG\t\n", ["row 2", "'pos'", "missing"]),
    ("m.tsv", HEADER + "\n# note\n1\t5\tA\t<DUP>\t\n", ["row 4", "'alt'", "symbolic"]),
    ("m.tsv", HEADER + "1\t5\tA\t*\t\n", ["row 2", "'alt'", "symbolic"]),
    ("m.tsv", HEADER + "1\t5\t-\tG\t\n", ["row 2", "'ref'", "VCF-style"]),
    ("m.tsv", HEADER + "1\t5\tA\tG,T\t\n", ["row 2", "'alt'", "one ALT allele"]),
    ("m.tsv", HEADER + "1\t5\tN\tG\t\n", ["row 2", "'ref'", "contains N"]),
    ("m.tsv", HEADER + "1\t5\tAXC\tG\t\n", ["row 2", "'ref'", "A, C, G, T"]),
    ("m.tsv", HEADER + "1\t5\tA\ta\t\n", ["row 2", "'alt'", "same as REF"]),
    ("m.tsv", HEADER + "1\t5\tA\n", ["row 2", "'alt'", "missing"]),
    ("m.tsv", HEADER + "chr\t5\tA\tG\t\n", ["row 2", "'chrom'"]),
    ("m.tsv", HEADER + "1\t5\tA\tG\tlots\n", ["row 2", "'vaf'", "not a number"]),
    ("m.tsv", HEADER + "1\t5\tA\tG\t37\n", ["row 2", "'vaf'", "0.37"]),
    ("m.tsv", HEADER + "1\t5\tA\tG\tnan\n", ["row 2", "'vaf'"]),
    ("m.csv", "chrom,pos,ref,alt,name\n1,5,A,G,x\n2,6,C,T,y\nchr1,5,A,G,z\n",
     ["row 4", "listed twice", "row 2"]),
    ("m.csv", "chrom,pos,ref,alt,gene\n1,5,A,G,\"a\x01b\"\n", ["row 2", "'gene'", "control"]),
    ("m.csv", 'chrom,pos,ref,alt\n1,5,A,G\n1,6,A,"G\n1,7,A,T\n', ["row 3", "cannot split"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "words"), TABLE_ERRORS)
def test_table_errors_name_file_row_and_column(
    tmp_path: Path, name: str, content: str, words: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputFileError) as caught:
        read_markers(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message


def test_file_level_errors(tmp_path: Path) -> None:
    cases: dict[str, tuple[bytes, str]] = {
        "empty.tsv": (b"", "empty"),
        "blank.csv": (b"  \n\n", "empty"),
        "comments.tsv": (b"# only\n# comments\n", "no header"),
        "latin1.tsv": ("chrom\tpos\tref\talt\tname\n1\t5\tA\tG\tRené\n".encode("latin-1"),
                       "not UTF-8"),
        "bad.tsv.gz": (b"\x1f\x8b\x08\x00garbage", "cannot read"),
    }  # fmt: skip
    for name, (content, words) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InputFileError, match=words):
            read_markers(path)
    with pytest.raises(InputFileError, match="not found"):
        read_markers(tmp_path / "missing.tsv")
    with pytest.raises(InputFileError, match="directory"):
        read_markers(tmp_path)


JSON_ERRORS = [
    ('{"schema": "mrd-call",\n "findings": [,]}', ["row 2", "not valid JSON"]),
    ('{"schema": "other", "findings": []}', ["not an mrd call result"]),
    ("[1, 2]", ["not an mrd call result"]),
    ('{"schema": "mrd-call", "schema_version": "2.0", "findings": []}', ["2.0", "1.x"]),
    ('{"schema": "mrd-call", "schema_version": "1.3", "findings": {}}', ["findings list"]),
    (json.dumps(call_result([ITD_FINDING, {**NPM1_FINDING, "position": "171410539"}])),
     ["finding 2", "'position'"]),
    (json.dumps(call_result([{**ITD_FINDING, "position": True}])), ["finding 1", "'position'"]),
    (json.dumps(call_result([{**ITD_FINDING, "alt": "ACNNT"}])), ["finding 1", "'alt'", "N"]),
    (json.dumps(call_result([{**ITD_FINDING, "vaf": 3.7}])), ["finding 1", "'vaf'"]),
    (json.dumps(call_result([{**ITD_FINDING, "chrom": None}])), ["finding 1", "'chrom'"]),
    (json.dumps(call_result([ITD_FINDING, 7])), ["finding 2", "JSON object"]),
    (json.dumps(call_result([ITD_FINDING, ITD_FINDING])), ["finding 2", "listed twice"]),
    ("[" * 100_000, ["nested too deeply"]),
]  # fmt: skip


@pytest.mark.parametrize(("content", "words"), JSON_ERRORS)
def test_json_errors(tmp_path: Path, content: str, words: list[str]) -> None:
    path = tmp_path / "call.json"
    path.write_text(content)
    with pytest.raises(InputFileError) as caught:
        read_markers(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


VCF_HEAD = (
    "##fileformat=VCFv4.2\n"
    '##INFO=<ID=AF,Number=A,Type=Float,Description="AF">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("dx.vcf", "chrom\tpos\tref\talt\n1\t5\tA\tG\n", ["not a VCF", "##fileformat"]),
        ("dx.vcf.gz", "plain text, not gzip\n", ["not a VCF"]),
        ("dx.vcf", VCF_HEAD + "1\t5\t.\tA\tG\t.\t.\t.\n1\t6\t.\tA\t<DUP>\t.\t.\t.\n",
         ["record 2 (1:6)", "ALT", "symbolic"]),
        ("dx.vcf", VCF_HEAD + "1\t5\t.\tA\tG,*\t.\t.\t.\n", ["record 1", "ALT", "symbolic"]),
        ("dx.vcf", VCF_HEAD + "1\t5\t.\tA\tG\t.\t.\t.\nchr1\t5\t.\tA\tG\t.\t.\t.\n",
         ["record 2", "listed twice", "record 1"]),
        ("dx.vcf", VCF_HEAD + "1\t5\t.\tA\tG\t.\t.\tAF=2.5\n", ["record 1", "INFO AF"]),
        ("dx.vcf", VCF_HEAD + "1\tfive\t.\tA\tG\t.\t.\t.\n", ["record 1"]),
        ("dx.vcf", "##fileformat=VCFv4.2\nno header line here\n", ["cannot read marker VCF"]),
    ],
)  # fmt: skip
def test_vcf_errors(tmp_path: Path, name: str, content: str, words: list[str]) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputFileError) as caught:
        read_markers(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


# --- properties ---------------------------------------------------------------------------------

FUZZ_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

SUFFIXES = [".tsv", ".csv", ".vcf", ".json", ".txt", ".vcf.gz", ""]

TOKENS = st.sampled_from(
    ["chrom", "pos", "position", "ref", "alt", "vaf", "gene", "name", "1", "chr13", "0", "-1",
     "28034127", "A", "ACGT", "N", "<DEL>", "*", ".", "0.5", "37%", "nan", '"', "#", "", " ",
     "\t", ",", "\n", "\r\n", "é", "\x00", "{", "}", "##fileformat=VCFv4.2", "#CHROM"]
)  # fmt: skip


def assert_reads_or_refuses(path: Path) -> None:
    try:
        markers = read_markers(path)
    except InputFileError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(isinstance(m, TrackedMarker) for m in markers)


@FUZZ_SETTINGS
@given(content=st.one_of(st.text(), st.binary()), suffix=st.sampled_from(SUFFIXES))
def test_fuzz_random_content(tmp_path: Path, content: str | bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    assert_reads_or_refuses(path)


@FUZZ_SETTINGS
@given(tokens=st.lists(TOKENS, max_size=60), suffix=st.sampled_from(SUFFIXES))
def test_fuzz_near_valid_tables(tmp_path: Path, tokens: list[str], suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_text("chrom\tpos\tref\talt\tvaf\tgene\n" + "".join(tokens), encoding="utf-8")
    assert_reads_or_refuses(path)


@FUZZ_SETTINGS
@given(body=st.lists(TOKENS, max_size=40), suffix=st.sampled_from([".vcf", ".txt"]))
def test_fuzz_near_valid_vcf(tmp_path: Path, body: list[str], suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_text(VCF_HEAD + "\t".join(body) + "\n", encoding="utf-8")
    assert_reads_or_refuses(path)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | TOKENS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
FINDING_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "marker": st.sampled_from(["FLT3-ITD", "NPM1", "NPM1-insertion", "other"]) | JSON_VALUES,
        "chrom": st.sampled_from(["chr13", "5", "chr", ""]) | JSON_VALUES,
        "position": st.integers(min_value=-2, max_value=10**20) | JSON_VALUES,
        "ref": st.sampled_from(["A", "C", "", "N"]) | JSON_VALUES,
        "alt": st.sampled_from(["ACT", "A", "<INS>"]) | JSON_VALUES,
        "vaf": st.floats() | JSON_VALUES,
        "gene": JSON_VALUES,
        "npm1_type": JSON_VALUES,
        "hgvs_c": JSON_VALUES,
    },
)


@FUZZ_SETTINGS
@given(findings=st.lists(FINDING_FIELDS | JSON_VALUES, max_size=4))
def test_fuzz_call_json(tmp_path: Path, findings: list[Any]) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(call_result(findings)))
    assert_reads_or_refuses(path)


# Names as a lab might type them: any letters, marks, symbols and spaces, no control characters
# or line breaks (which no TSV cell can hold). Surrounding blanks are stripped on construction.
NAME_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20)


@st.composite
def markers_strategy(draw: st.DrawFn) -> list[TrackedMarker]:
    count = draw(st.integers(min_value=0, max_value=8))
    result: dict[tuple[str, int, str, str], TrackedMarker] = {}
    for _ in range(count):
        ref = draw(st.text("ACGT", min_size=1, max_size=6))
        alt = draw(st.text("ACGT", min_size=1, max_size=6))
        if alt == ref:
            alt = ref + "A"
        marker = TrackedMarker(
            chrom=draw(st.sampled_from(["1", "13", "5", "X", "MT", "GL000220.1", "Un_KI270302v1"])),
            position=draw(st.integers(min_value=1, max_value=2**40)),
            ref=ref,
            alt=alt,
            gene=draw(st.none() | NAME_TEXT),
            name=draw(st.none() | NAME_TEXT),
            source_marker=draw(st.none() | st.sampled_from(["FLT3-ITD", "NPM1"])),
            diagnosis_vaf=draw(st.none() | st.floats(min_value=0.0, max_value=1.0)),
        )
        result.setdefault(marker.key, marker)
    return list(result.values())


@FUZZ_SETTINGS
@given(markers=markers_strategy())
def test_tsv_round_trip_property(tmp_path: Path, markers: list[TrackedMarker]) -> None:
    path = tmp_path / "markers.tsv"
    write_markers_tsv(markers, path)
    assert read_markers(path) == markers
