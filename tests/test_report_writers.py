from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pysam
import pytest

from mrd.errors import OutputError
from mrd.genome import CHROMOSOME_LENGTHS, Build
from mrd.report import TSV_COLUMNS, write_findings_tsv, write_findings_vcf

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "schemas" / "mrd-call-1.schema.json"

DUP = "CTTCCCTCCTCTGAACCACAGTATATTCAGAGTTTCCATTCA"  # 42 bases, not checked against the genome


def _itd(chrom: str = "chr13", position: int = 28034127) -> dict[str, Any]:
    return {
        "marker": "FLT3-ITD",
        "gene": "FLT3",
        "chrom": chrom,
        "position": position,
        "ref": "A",
        "alt": "A" + DUP,
        "length": 42,
        "inserted_sequence": DUP,
        "duplicated_length": 42,
        "duplicated_start": position + 1,
        "duplicated_end": position + 42,
        "nontemplated_sequence": "",
        "tandem": True,
        "in_frame": True,
        "exon": 14,
        "domain": "JMD",
        "subdomain": "JM-S",
        "insertion_site_residue": 597,
        "hgvs_c": "c.1750_1791dup",
        "hgvs_p": "p.(Glu584_Phe597dup)",
        "alt_count": 37,
        "wt_count": 963,
        "depth": 1000,
        "depth_unit": "templates",
        "vaf": 0.037,
        "vaf_ci_low": 0.0268912345,
        "vaf_ci_high": 0.0507,
        "allelic_ratio": 0.0384216,
        "allelic_ratio_ci_low": 0.0276,
        "allelic_ratio_ci_high": 0.0534,
        "microclone": False,
        "quantification": "coverage",
        "evidence": {
            "cigar_insertion": 20,
            "soft_clip": 12,
            "split_alignment": 5,
            "unmapped_mate": 0,
        },
    }


def _insertion(chrom: str = "chr13") -> dict[str, Any]:
    return {
        "marker": "FLT3-insertion",
        "gene": "FLT3",
        "chrom": chrom,
        "position": 28033870,
        "ref": "G",
        "alt": "GTTAC",
        "length": 4,
        "inserted_sequence": "TTAC",
        "duplicated_length": 0,
        "duplicated_start": None,
        "duplicated_end": None,
        "nontemplated_sequence": "TTAC",
        "tandem": False,
        "in_frame": False,
        "exon": None,
        "domain": "intronic",
        "subdomain": None,
        "insertion_site_residue": None,
        "hgvs_c": "c.1942+17_1942+18insGTAA",
        "hgvs_p": None,
        "alt_count": 3,
        "wt_count": 0,
        "depth": 3,
        "depth_unit": "molecules",
        "vaf": 1.0,
        "vaf_ci_low": 0.438503,
        "vaf_ci_high": 1.0,
        "allelic_ratio": None,
        "allelic_ratio_ci_low": 0.7,
        "allelic_ratio_ci_high": None,
        "microclone": True,
        "quantification": "anchored",
        "evidence": {
            "cigar_insertion": 3,
            "soft_clip": 0,
            "split_alignment": 0,
            "unmapped_mate": 0,
        },
    }


def _npm1(chrom: str = "chr5") -> dict[str, Any]:
    # The shape NPM1 findings will have: no FLT3 keys, an npm1_type and an mrd sub-object.
    return {
        "marker": "NPM1",
        "gene": "NPM1",
        "chrom": chrom,
        "position": 171410539,
        "ref": "C",
        "alt": "CTCTG",
        "length": 4,
        "inserted_sequence": "TCTG",
        "npm1_type": "A",
        "alt_count": 250,
        "wt_count": 750,
        "depth": 1000,
        "vaf": 0.25,
        "mrd": {
            "call": "POSITIVE",
            "alt": 250,
            "depth": 1000,
            "unit": "templates",
            "lob": 0,
            "lod": 0.003,
            "p_value": 0.0,
            "background_source": "sample",
            "log_reduction": 2.5,
        },
    }


def _result(findings: list[dict[str, Any]], build: str = "GRCh38", prefix: str = "chr") -> dict:
    return {
        "schema": "mrd-call",
        "schema_version": "1.0",
        "mrd_version": "0.1.0",
        "catalog_version": "2026.11.1",
        "sample": "P001-DX",
        "bam": "/data/P001-DX.bam",
        "genome_build": build,
        "chrom_prefix": prefix,
        "library": "capture",
        "settings": {"min_alt_count": 2, "microclone_vaf": 0.01},
        "read_filter": {"used": 1200, "duplicate": 80, "low_mapq": 3},
        "findings": findings,
    }


@pytest.fixture
def result() -> dict[str, Any]:
    # Deliberately out of order: writers sort, chr5 comes before chr13 in karyotype order.
    return _result([_itd(), _npm1(), _insertion()])


def _records(path: Path) -> list[Any]:
    with pysam.VariantFile(str(path)) as vcf:
        return list(vcf)


def _read_tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


# --- TSV -----------------------------------------------------------------------------------


def test_tsv_has_one_row_per_finding_with_the_json_values(tmp_path, result):
    path = tmp_path / "calls.tsv"
    write_findings_tsv(result, path)
    table = _read_tsv(path)
    assert tuple(table.columns) == TSV_COLUMNS
    assert list(table["marker"]) == ["FLT3-ITD", "NPM1", "FLT3-insertion"]
    assert set(table["sample"]) == {"P001-DX"}
    assert set(table["genome_build"]) == {"GRCh38"}

    itd, npm1, ins = (row for _, row in table.iterrows())
    assert itd["position"] == "28034127"
    assert itd["alt"] == "A" + DUP
    assert itd["in_frame"] == "true"
    assert itd["microclone"] == "false"
    assert itd["hgvs_p"] == "p.(Glu584_Phe597dup)"
    assert itd["vaf"] == "0.037"
    assert itd["vaf_ci_low"] == "0.0268912"  # six significant digits
    assert itd["npm1_type"] == ""
    assert ins["allelic_ratio"] == ""  # None: no wild-type reads
    assert ins["exon"] == ""
    assert ins["in_frame"] == "false"
    assert ins["microclone"] == "true"
    assert ins["depth_unit"] == "molecules"
    assert npm1["npm1_type"] == "A"
    assert npm1["domain"] == "" and npm1["hgvs_c"] == ""


def test_tsv_numbers_parse_as_numbers(tmp_path, result):
    path = tmp_path / "calls.tsv"
    write_findings_tsv(result, path)
    table = pd.read_csv(path, sep="\t")
    assert table["position"].tolist() == [28034127, 171410539, 28033870]
    assert table["vaf"].tolist() == pytest.approx([0.037, 0.25, 1.0])
    assert table["alt_count"].tolist() == [37, 250, 3]
    assert table["allelic_ratio"].isna().tolist() == [False, True, True]


def test_tsv_cleans_tabs_and_newlines_from_values(tmp_path, result):
    result["sample"] = "P001\tDX\nrelapse"
    path = tmp_path / "calls.tsv"
    write_findings_tsv(result, path)
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert all(line.count("\t") == len(TSV_COLUMNS) - 1 for line in lines)
    assert set(_read_tsv(path)["sample"]) == {"P001 DX relapse"}


def test_tsv_without_findings_is_the_header_alone(tmp_path):
    path = tmp_path / "calls.tsv"
    write_findings_tsv(_result([]), path)
    assert path.read_text() == "\t".join(TSV_COLUMNS) + "\n"
    assert len(_read_tsv(path)) == 0


# --- VCF -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["calls.vcf", "calls.vcf.gz"])
def test_vcf_round_trips_through_pysam(tmp_path, result, name):
    path = tmp_path / name
    write_findings_vcf(result, path)
    with pysam.VariantFile(str(path)) as vcf:
        header = vcf.header
        assert list(header.samples) == ["P001-DX"]
        assert header.contigs["chr13"].length == CHROMOSOME_LENGTHS[Build.GRCH38]["13"]
        assert header.contigs["chr5"].length == CHROMOSOME_LENGTHS[Build.GRCH38]["5"]
        assert header.contigs["chrM"].length == 16569
        meta = {rec.key: rec.value for rec in header.records if rec.value is not None}
        assert meta["source"] == "mrd 0.1.0"
        assert meta["reference"] == "GRCh38"
        records = list(vcf)

    # Sorted by contig order (chr5 before chr13), then position.
    assert [(r.chrom, r.pos) for r in records] == [
        ("chr5", 171410539),
        ("chr13", 28033870),
        ("chr13", 28034127),
    ]
    npm1, ins, itd = records

    assert itd.ref == "A" and itd.alts == ("A" + DUP,)
    assert itd.info["MARKER"] == "FLT3-ITD"
    assert itd.info["GENE"] == "FLT3"
    assert itd.info["LEN"] == 42
    assert itd.info["DUPLEN"] == 42
    assert itd.info["INFRAME"] is True
    assert "MICROCLONE" not in itd.info
    assert itd.info["DOMAIN"] == "JMD"
    assert itd.info["HGVSC"] == "c.1750_1791dup"
    assert itd.info["HGVSP"] == "p.(Glu584_Phe597dup)"
    assert itd.info["AR"] == pytest.approx(0.0384216, rel=1e-6)
    assert itd.info["AF"] == pytest.approx((0.037,))
    call = itd.samples["P001-DX"]
    assert call["GT"] == (0, 1)
    assert call["AD"] == (963, 37)
    assert call["DP"] == 1000
    assert call["AF"] == pytest.approx((0.037,))

    assert ins.info["MARKER"] == "FLT3-insertion"
    assert "INFRAME" not in ins.info
    assert ins.info["MICROCLONE"] is True
    assert "AR" not in ins.info and "HGVSP" not in ins.info
    # '+' is legal in an INFO string and is kept as it is.
    assert ins.info["HGVSC"] == "c.1942+17_1942+18insGTAA"
    assert ins.samples["P001-DX"]["AD"] == (0, 3)

    assert npm1.info["MARKER"] == "NPM1"
    assert npm1.info["NPM1TYPE"] == "A"
    assert "DOMAIN" not in npm1.info
    assert npm1.samples["P001-DX"]["AF"] == pytest.approx((0.25,))


def test_vcf_gz_is_bgzipped_and_indexed(tmp_path, result):
    path = tmp_path / "calls.vcf.gz"
    write_findings_vcf(result, path)
    assert path.read_bytes()[:4] == b"\x1f\x8b\x08\x04"  # BGZF: gzip with the extra field
    assert (tmp_path / "calls.vcf.gz.tbi").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.vcf.gz", "calls.vcf.gz.tbi"]
    with pysam.VariantFile(str(path)) as vcf:
        assert [r.pos for r in vcf.fetch("chr13", 28034000, 28034200)] == [28034127]
        assert list(vcf.fetch("chr5", 1, 1000)) == []


def test_plain_vcf_is_text_and_leaves_no_temporaries(tmp_path, result):
    path = tmp_path / "calls.vcf"
    write_findings_vcf(result, path)
    text = path.read_text()
    assert text.startswith("##fileformat=VCFv4.2\n")
    assert "\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP001-DX\n" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.vcf"]


def test_vcf_on_grch37_with_bare_names(tmp_path):
    itd = _itd(chrom="13", position=28608264)
    result = _result([itd, _npm1(chrom="5")], build="GRCh37", prefix="")
    path = tmp_path / "calls.vcf.gz"
    write_findings_vcf(result, path)
    with pysam.VariantFile(str(path)) as vcf:
        assert "chr13" not in vcf.header.contigs
        assert vcf.header.contigs["13"].length == 115169878
        assert vcf.header.contigs["5"].length == 180915260
        assert vcf.header.contigs["MT"].length == 16569
        assert [(r.chrom, r.pos) for r in vcf] == [("5", 171410539), ("13", 28608264)]
    write_findings_tsv(result, tmp_path / "calls.tsv")
    assert list(_read_tsv(tmp_path / "calls.tsv")["chrom"]) == ["13", "5"]


def test_vcf_without_findings_has_a_header_and_no_records(tmp_path):
    for name in ("empty.vcf", "empty.vcf.gz"):
        path = tmp_path / name
        write_findings_vcf(_result([]), path)
        with pysam.VariantFile(str(path)) as vcf:
            assert list(vcf.header.samples) == ["P001-DX"]
            assert "chr13" in vcf.header.contigs
            assert list(vcf) == []
    assert (tmp_path / "empty.vcf.gz.tbi").is_file()


def test_vcf_percent_encodes_characters_info_strings_cannot_hold(tmp_path, result):
    result["findings"][0]["hgvs_c"] = "NM_004119.5:c.1750_1791dup"
    result["findings"][0]["hgvs_p"] = "p.(Glu584_Phe597dup;Ala=1, x)"
    path = tmp_path / "calls.vcf"
    write_findings_vcf(result, path)
    line = next(ln for ln in path.read_text().splitlines() if "MARKER=FLT3-ITD;" in ln)
    assert "HGVSP=p.(Glu584_Phe597dup%3BAla%3D1%2C%20x)" in line
    assert "HGVSC=NM_004119.5:c.1750_1791dup;" in line
    with pysam.VariantFile(str(path)) as vcf:
        assert len(list(vcf)) == 3


def test_writers_ignore_extra_and_missing_optional_keys(tmp_path):
    bare = {
        k: v
        for k, v in _npm1().items()
        if k in ("marker", "chrom", "position", "ref", "alt", "vaf")
    }
    bare["future_field"] = {"nested": [1, 2]}
    result = _result([bare])
    result["new_top_level"] = "ignored"
    write_findings_tsv(result, tmp_path / "calls.tsv")
    write_findings_vcf(result, tmp_path / "calls.vcf")
    row = _read_tsv(tmp_path / "calls.tsv").iloc[0]
    assert row["marker"] == "NPM1" and row["depth"] == "" and row["gene"] == ""
    (record,) = _records(tmp_path / "calls.vcf")
    assert record.info["AF"] == pytest.approx((0.25,))
    assert record.samples["P001-DX"]["GT"] == (0, 1)
    assert "DP" not in record.samples["P001-DX"]


def test_vcf_adds_contigs_the_build_does_not_list_after_the_primary_ones(tmp_path):
    result = _result([_npm1(chrom="chrUn_KI270742v1"), _itd()])
    path = tmp_path / "calls.vcf"
    write_findings_vcf(result, path)
    with pysam.VariantFile(str(path)) as vcf:
        assert list(vcf.header.contigs)[-2:] == ["chrM", "chrUn_KI270742v1"]
        assert [r.chrom for r in vcf] == ["chr13", "chrUn_KI270742v1"]


def test_vcf_rejects_a_finding_without_a_position(tmp_path, result):
    del result["findings"][1]["position"]
    with pytest.raises(ValueError, match="position"):
        write_findings_vcf(result, tmp_path / "calls.vcf")
    assert list(tmp_path.iterdir()) == []


# --- atomic writes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "name"),
    [
        (write_findings_tsv, "calls.tsv"),
        (write_findings_vcf, "calls.vcf"),
        (write_findings_vcf, "calls.vcf.gz"),
    ],
)
def test_missing_output_folder_is_an_output_error_and_writes_nothing(
    tmp_path, result, writer, name
):
    with pytest.raises(OutputError, match="output folder does not exist"):
        writer(result, tmp_path / "absent" / name)
    assert list(tmp_path.iterdir()) == []


def test_rewriting_replaces_the_old_files(tmp_path, result):
    path = tmp_path / "calls.vcf.gz"
    write_findings_vcf(result, path)
    write_findings_vcf(_result([_itd()]), path)
    with pysam.VariantFile(str(path)) as vcf:
        assert [r.pos for r in vcf.fetch("chr13")] == [28034127]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.vcf.gz", "calls.vcf.gz.tbi"]


def test_writers_do_not_change_the_result(tmp_path, result):
    before = copy.deepcopy(result)
    write_findings_tsv(result, tmp_path / "calls.tsv")
    write_findings_vcf(result, tmp_path / "calls.vcf.gz")
    assert result == before


# --- JSON schema ---------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_schema_file_is_json_describing_mrd_call_1():
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema"]["const"] == "mrd-call"
    assert set(schema["required"]) >= {
        "schema",
        "schema_version",
        "genome_build",
        "sample",
        "findings",
    }


def test_result_validates_against_the_schema(result):
    jsonschema = pytest.importorskip("jsonschema")
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(result)
    validator.validate(_result([]))
    validator.validate(_result([_itd("13", 28608264)], build="GRCh37", prefix=""))


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r.pop("findings"),
        lambda r: r.update(schema_version="2.0"),
        lambda r: r.update(genome_build="hg38"),
        lambda r: r["findings"][0].pop("allelic_ratio"),  # required for FLT3 markers
        lambda r: r["findings"][0].pop("in_frame"),
        lambda r: r["findings"][2].update(domain="kinase"),
        lambda r: r["findings"][1].pop("vaf"),
        lambda r: r["findings"][1].update(position=0),
        lambda r: r["findings"][0].update(depth_unit="reads"),
    ],
)
def test_schema_rejects_broken_results(result, breakage):
    jsonschema = pytest.importorskip("jsonschema")
    breakage(result)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(_schema()).validate(result)


def test_schema_lets_npm1_findings_go_without_flt3_fields(result):
    jsonschema = pytest.importorskip("jsonschema")
    npm1 = result["findings"][1]
    assert "allelic_ratio" not in npm1 and "domain" not in npm1
    jsonschema.Draft202012Validator(_schema()).validate(_result([npm1]))
