"""Findings of a call result as a single-sample VCF, for genome browsers and variant tools.

The VCF is built with pysam rather than by formatting text, so htslib checks every record
against the header and the file is one that bcftools, IGV and tabix accept. The contigs are the
whole primary assembly of the sample's build, named as its BAM names them, so the VCF can be
merged with or compared against other VCFs of the same alignment.

Each finding is one record: REF is the left-normalised anchor base and ALT the anchor plus the
inserted bases, as in the JSON. Counts go to FORMAT (AD as wild type, mutant; DP; AF), the
description of the event to INFO. GT is always ``0/1``: it marks the allele as present, not a
germline zygosity, which a variant at 0.01 % VAF does not have.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pysam

from mrd.errors import GenomeBuildError, OutputError
from mrd.genome import Build, header_lengths
from mrd.output import staged_path

# (ID, Number, Type, Description). INFO describes the event, identical in every sample.
_INFO_FIELDS: tuple[tuple[str, str | int, str, str], ...] = (
    ("MARKER", 1, "String", "MRD marker kind, e.g. FLT3-ITD, FLT3-insertion, NPM1"),
    ("GENE", 1, "String", "Gene symbol"),
    ("LEN", 1, "Integer", "Number of inserted bases"),
    ("DUPLEN", 1, "Integer", "Number of inserted bases that duplicate adjacent reference"),
    ("INFRAME", 0, "Flag", "The insertion keeps the reading frame"),
    ("DOMAIN", 1, "String", "Protein domain at the insertion site (JMD, TKD1, other, intronic)"),
    ("HGVSC", 1, "String", "HGVS coding DNA description on the catalog transcript"),
    ("HGVSP", 1, "String", "HGVS protein description, predicted"),
    ("AR", 1, "Float", "Allelic ratio: mutant over wild-type count"),
    ("MICROCLONE", 0, "Flag", "Below the microclone VAF threshold of the caller"),
    ("NPM1TYPE", 1, "String", "NPM1 mutation type (A, B, D) when it is a known one"),
    ("AF", "A", "Float", "Variant allele fraction: mutant over mutant plus wild-type count"),
)

# FORMAT: what this sample's reads say.
_FORMAT_FIELDS: tuple[tuple[str, str | int, str, str], ...] = (
    ("GT", 1, "String", "Genotype; 0/1 marks the allele as present, not a zygosity"),
    ("AD", "R", "Integer", "Allelic depths: wild-type, mutant (unit as DP)"),
    ("DP", 1, "Integer", "Depth: wild-type plus mutant, in templates or UMI molecules"),
    ("AF", "A", "Float", "Variant allele fraction"),
)

# Finding key -> INFO ID for the plain values; flags and AF are handled on their own.
_INFO_VALUES = (
    ("marker", "MARKER"),
    ("gene", "GENE"),
    ("length", "LEN"),
    ("duplicated_length", "DUPLEN"),
    ("domain", "DOMAIN"),
    ("hgvs_c", "HGVSC"),
    ("hgvs_p", "HGVSP"),
    ("allelic_ratio", "AR"),
    ("npm1_type", "NPM1TYPE"),
)
_INFO_FLAGS = (("in_frame", "INFRAME"), ("microclone", "MICROCLONE"))

# VCF 4.2 forbids whitespace, ';', '=' and ',' inside an INFO string; VCF 4.3 percent-encodes
# them, which is what we do so that an odd HGVS string cannot break the record. ':' is special
# only in FORMAT and stays, so a transcript-prefixed HGVS (NM_004119.5:c.) reads as usual.
_INFO_ESCAPES = str.maketrans({c: f"%{ord(c):02X}" for c in "%;=, \t\n\r"})


def write_findings_vcf(result: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the findings of ``result`` as a VCF at ``path``, atomically.

    A path ending in ``.gz`` gets a BGZF-compressed VCF and a tabix index (``.tbi``) beside
    it. Both are written to temporary files first; the VCF is renamed into place before the
    index, so an interruption between the two leaves an index older than its VCF, which
    htslib notices and warns about, rather than a fresh index on an old VCF.

    Args:
        result: A call result (schema ``mrd-call``); extra keys are ignored, missing optional
            finding keys are left out of the record.
        path: Destination file; its folder must exist.

    Raises:
        OutputError: When the destination folder does not exist or is not writable, or
            htslib cannot write the file.
        GenomeBuildError: When ``genome_build`` is missing or not a supported build.
        ValueError: When a finding lacks chrom, position, ref or alt, without which there is
            no VCF record.
    """
    findings = list(result.get("findings") or [])
    contigs = _contigs(result, findings)
    order = {name: rank for rank, (name, _) in enumerate(contigs)}
    ordered = sorted(findings, key=lambda f: _sort_key(f, order))
    sample = _sample_name(result)
    header = _header(result, contigs, sample)

    destination = Path(path)
    compressed = destination.name.endswith(".gz")
    suffix = ".vcf.gz" if compressed else ".vcf"
    with staged_path(destination, suffix) as tmp:
        _write_records(tmp, "wz" if compressed else "w", header, ordered, sample)
        if not compressed:
            os.replace(tmp, destination)
            return
        index_destination = destination.with_name(destination.name + ".tbi")
        with staged_path(index_destination, ".tbi") as index_tmp:
            _tabix(tmp, index_tmp)
            os.replace(tmp, destination)
            os.replace(index_tmp, index_destination)


def _contigs(
    result: Mapping[str, Any], findings: Iterable[Mapping[str, Any]]
) -> list[tuple[str, int | None]]:
    """All primary contigs of the build, plus any finding contig the build does not name."""
    raw_build = result.get("genome_build")
    if not isinstance(raw_build, str):
        raise GenomeBuildError("the call result has no genome_build; cannot write VCF contigs")
    build = Build.parse(raw_build)
    chroms = [str(_required(f, "chrom")) for f in findings]
    contigs: list[tuple[str, int | None]] = list(header_lengths(build, _chr_prefix(result, chroms)))
    known = {name for name, _ in contigs}
    for chrom in chroms:
        if chrom not in known:
            contigs.append((chrom, None))
            known.add(chrom)
    return contigs


def _chr_prefix(result: Mapping[str, Any], chroms: Sequence[str]) -> bool:
    """The naming the BAM used: from ``chrom_prefix``, else from the findings' chromosomes."""
    prefix = result.get("chrom_prefix")
    if isinstance(prefix, str):
        return prefix == "chr"
    if chroms:
        return chroms[0].lower().startswith("chr")
    # Nothing to go by: the naming each build's reference is usually distributed with.
    return result.get("genome_build") != Build.GRCH37.value


def _sort_key(finding: Mapping[str, Any], order: Mapping[str, int]) -> tuple[int, int, str]:
    return (
        order[str(finding["chrom"])],
        int(_required(finding, "position")),
        str(finding.get("alt", "")),
    )


def _sample_name(result: Mapping[str, Any]) -> str:
    name = str(result.get("sample") or "SAMPLE")
    # A tab would split the sample column in two; a newline would end the header.
    return " ".join(name.split()) or "SAMPLE"


def _header(
    result: Mapping[str, Any], contigs: Sequence[tuple[str, int | None]], sample: str
) -> Any:
    # Imported here, not at module level, so mrd/__init__ may re-export this module.
    from mrd import __version__

    header = pysam.VariantHeader()
    header.add_meta("source", f"mrd {result.get('mrd_version') or __version__}")
    header.add_meta("reference", str(result["genome_build"]))
    for key in ("catalog_version", "library"):
        if result.get(key) is not None:
            header.add_meta(f"mrd_{key}", str(result[key]))
    for name, length in contigs:
        if length is None:
            header.contigs.add(name)
        else:
            header.contigs.add(name, length=length)
    for field_id, number, kind, description in _INFO_FIELDS:
        header.info.add(field_id, number, kind, description)
    for field_id, number, kind, description in _FORMAT_FIELDS:
        header.formats.add(field_id, number, kind, description)
    header.add_sample(sample)
    return header


def _write_records(
    path: Path, mode: str, header: Any, findings: Iterable[Mapping[str, Any]], sample: str
) -> None:
    try:
        with pysam.VariantFile(str(path), mode, header=header) as out:
            for finding in findings:
                out.write(_record(out, finding, sample))
    except OSError as exc:
        raise OutputError(f"cannot write VCF {path}: {exc}") from None


def _record(out: Any, finding: Mapping[str, Any], sample: str) -> Any:
    position = int(_required(finding, "position"))
    ref = str(_required(finding, "ref"))
    alt = str(_required(finding, "alt"))
    record = out.new_record(
        contig=str(finding["chrom"]),
        start=position - 1,
        stop=position - 1 + len(ref),
        alleles=(ref, alt),
    )
    for key, field_id in _INFO_VALUES:
        value = finding.get(key)
        if value is None:
            continue
        record.info[field_id] = value.translate(_INFO_ESCAPES) if isinstance(value, str) else value
    for key, field_id in _INFO_FLAGS:
        if finding.get(key) is True:
            record.info[field_id] = True
    vaf = finding.get("vaf")
    if vaf is not None:
        record.info["AF"] = (float(vaf),)
    call = record.samples[sample]
    call["GT"] = (0, 1)
    alt_count, wt_count = finding.get("alt_count"), finding.get("wt_count")
    if alt_count is not None and wt_count is not None:
        call["AD"] = (int(wt_count), int(alt_count))
    if finding.get("depth") is not None:
        call["DP"] = int(finding["depth"])
    if vaf is not None:
        call["AF"] = (float(vaf),)
    return record


def _required(finding: Mapping[str, Any], key: str) -> Any:
    if finding.get(key) is None:
        raise ValueError(f"a finding without {key!r} cannot be written as a VCF record")
    return finding[key]


def _tabix(vcf: Path, index: Path) -> None:
    try:
        pysam.tabix_index(str(vcf), preset="vcf", index=str(index), force=True)
    except OSError as exc:
        raise OutputError(f"cannot index VCF {vcf}: {exc}") from None
