"""FLT3-ITD calling on simulated BAMs aligned by real aligners, checked against the truth."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pysam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrd.call import CallResult, call_sample
from mrd.catalog import flt3, reference_window
from mrd.cli import main
from mrd.genome import Build
from mrd.markers.insertions import InsertionScan, scan_insertions
from mrd.ngs import DropReason, FilterCounts, ReadFilter, open_alignments
from mrd.simulate import Flt3Itd, Indel, SimulationSpec, UmiSpec, simulate

DEPTH = 1200


def _simulate(tmp: Path, name: str, *variants: tuple[Any, float], seed: int, **params: Any) -> Path:
    params.setdefault("depth", DEPTH)
    params.setdefault("genes", ("FLT3",))
    spec = SimulationSpec.of(*variants, **params)
    return simulate(spec, tmp / f"{name}.bam", seed=seed).bam


def _truth(bam: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(bam.with_suffix(".truth.json").read_text())
    return truth


def _true_fractions(bam: Path) -> dict[str, float]:
    """Allele fraction of each haplotype over any locus: the VAF a caller must report.

    Not the share of molecules: in capture an ITD allele is longer than the wild type, so it
    yields more fragments in all, but not more over any one position.
    """
    haps = _truth(bam)["genes"]["FLT3"]["haplotypes"]
    return {h["id"]: h["allele_fraction"] for h in haps}


def _match(result: CallResult, variant: dict[str, Any]) -> dict[str, Any]:
    found = [
        f
        for f in (x.as_dict() for x in result.findings)
        if f["position"] == variant["pos"] and f["alt"] == variant["alt"]
    ]
    assert len(found) == 1, f"{variant['alt']} at {variant['pos']}: {result.as_dict()['findings']}"
    return found[0]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("itd")
    jmd = flt3(Build.GRCH38).genomic_position(1800)
    return {
        "itd60": _simulate(tmp, "itd60", (Flt3Itd(60), 0.3), seed=11),
        "itd201": _simulate(tmp, "itd201", (Flt3Itd(201, end=jmd), 0.3), seed=12),
        "wt": _simulate(tmp, "wt", seed=13),
        "clones": _simulate(
            tmp, "clones", (Flt3Itd(30), 0.2), (Flt3Itd(90, end=jmd), 0.1), seed=14
        ),
        "nontemplated": _simulate(tmp, "nt", (Flt3Itd(27, nontemplated="AGA"), 0.3), seed=15),
        "frameshift": _simulate(tmp, "fs", (Flt3Itd(31), 0.3), seed=16),
    }


def test_60bp_itd_is_found_sized_and_quantified(samples: dict[str, Path]) -> None:
    bam = samples["itd60"]
    result = call_sample(bam)
    variant = _truth(bam)["variants"][0]
    finding = _match(result, variant)
    assert finding["marker"] == "FLT3-ITD"
    assert finding["length"] == 60 and finding["duplicated_length"] == 60
    assert finding["inserted_sequence"] == variant["inserted_sequence"]
    assert finding["in_frame"] and finding["tandem"] and finding["domain"] == "JMD"
    assert finding["hgvs_c"] == variant["c_segment"] + "dup"
    assert finding["hgvs_p"] is not None and finding["hgvs_p"].endswith("dup)")
    true_vaf = _true_fractions(bam)["h1"]
    assert finding["vaf_ci_low"] <= true_vaf <= finding["vaf_ci_high"]
    assert math.isclose(finding["allelic_ratio"], finding["vaf"] / (1 - finding["vaf"]))
    assert not finding["microclone"]
    assert finding["alt_count"] + finding["wt_count"] == finding["depth"]
    # minimap2 shows a 60-bp ITD in 150-bp reads as clips and split reads, not insertions.
    assert finding["evidence"]["soft_clip"] + finding["evidence"]["split_alignment"] > 0
    assert len(result.findings) == 1
    assert result.library == "capture"


def test_itd_longer_than_the_reads_keeps_its_exact_length_and_vaf(
    samples: dict[str, Path],
) -> None:
    bam = samples["itd201"]
    result = call_sample(bam)
    finding = _match(result, _truth(bam)["variants"][0])
    assert finding["length"] == 201 and finding["marker"] == "FLT3-ITD"
    true_vaf = _true_fractions(bam)["h1"]
    # Every published caller reports long ITDs at half their VAF; we must not.
    assert finding["vaf_ci_low"] <= true_vaf <= finding["vaf_ci_high"]
    assert len(result.findings) == 1


def test_wild_type_sample_has_no_findings(samples: dict[str, Path]) -> None:
    result = call_sample(samples["wt"])
    assert result.findings == ()
    counts = result.read_filter_counts
    assert counts.is_consistent and counts.used > 0


def test_two_clones_are_resolved_separately(samples: dict[str, Path]) -> None:
    bam = samples["clones"]
    result = call_sample(bam)
    variants = _truth(bam)["variants"]
    fractions = _true_fractions(bam)
    assert len(result.findings) == 2
    for variant in variants:
        finding = _match(result, variant)
        assert finding["length"] == variant["length"]
        true_vaf = fractions[variant["haplotype"]]
        assert finding["vaf_ci_low"] <= true_vaf <= finding["vaf_ci_high"]


def test_nontemplated_bases_are_reported(samples: dict[str, Path]) -> None:
    bam = samples["nontemplated"]
    result = call_sample(bam)
    variant = _truth(bam)["variants"][0]
    finding = _match(result, variant)
    assert finding["length"] == 30
    assert finding["duplicated_length"] + len(finding["nontemplated_sequence"]) == 30
    assert finding["nontemplated_sequence"] == "AGA" and not finding["tandem"]
    assert finding["marker"] == "FLT3-ITD" and finding["in_frame"]


def test_out_of_frame_duplication_is_not_called_an_itd(samples: dict[str, Path]) -> None:
    bam = samples["frameshift"]
    result = call_sample(bam)
    finding = _match(result, _truth(bam)["variants"][0])
    assert finding["marker"] == "FLT3-insertion"
    assert finding["in_frame"] is False
    assert finding["hgvs_p"] is not None and "fs" in finding["hgvs_p"]


def test_intronic_insertion_is_reported_for_what_it_is(tmp_path: Path) -> None:
    # 30 new bases in intron 14, far from any duplication.
    position = flt3(Build.GRCH38).genomic_position(1838) + 40
    from mrd.catalog import reference_window

    base = reference_window("FLT3", Build.GRCH38).base(position)
    bam = _simulate(
        tmp_path,
        "intronic",
        (Indel(position, base, base + "ACGTTGCAAGCTTGGCATCGATCCAGTGAC"), 0.3),
        seed=21,
    )
    result = call_sample(bam)
    assert [f.marker for f in result.findings] == ["FLT3-insertion"]
    finding = result.findings[0].as_dict()
    assert finding["domain"] == "intronic" and finding["in_frame"] is False
    assert finding["duplicated_length"] < 3
    # New bases only: the wild-type junction is absent from the mutant allele, which must still
    # count in the total (else the VAF would be alt / wt).
    assert finding["vaf_ci_low"] <= 0.3 <= finding["vaf_ci_high"]


def test_grch37_b37_naming(tmp_path: Path) -> None:
    bam = _simulate(tmp_path, "b37", (Flt3Itd(45), 0.3), seed=22, build=Build.GRCH37, chr_prefix="")
    result = call_sample(bam)
    variant = _truth(bam)["variants"][0]
    finding = _match(result, variant)
    assert finding["chrom"] == "13" and result.genome.build is Build.GRCH37
    assert finding["length"] == 45


def test_amplicon_library_is_recognised_and_quantified(tmp_path: Path) -> None:
    bam = _simulate(tmp_path, "amp", (Flt3Itd(21), 0.2), seed=23, mode="amplicon", depth=2000)
    result = call_sample(bam)
    assert result.library == "amplicon"
    finding = _match(result, _truth(bam)["variants"][0])
    assert finding["quantification"] == "anchored"
    true_vaf = _true_fractions(bam)["h1"]
    assert finding["vaf_ci_low"] <= true_vaf <= finding["vaf_ci_high"]


@pytest.mark.bwa
@pytest.mark.skipif(shutil.which("bwa") is None, reason="bwa is not installed")
def test_bwa_split_alignments_give_the_same_clone(tmp_path: Path) -> None:
    bam = _simulate(
        tmp_path,
        "bwa",
        (Flt3Itd(120, end=flt3(Build.GRCH38).genomic_position(1706)), 0.3),
        seed=24,
        aligner="bwa",
    )
    result = call_sample(bam)
    finding = _match(result, _truth(bam)["variants"][0])
    assert finding["length"] == 120
    assert finding["evidence"]["split_alignment"] > 0
    true_vaf = _true_fractions(bam)["h1"]
    assert finding["vaf_ci_low"] <= true_vaf <= finding["vaf_ci_high"]


def test_cli_writes_json_tsv_and_vcf(samples: dict[str, Path], tmp_path: Path) -> None:
    bam = samples["itd60"]
    out = tmp_path / "out"
    out.mkdir()
    code = main(
        [
            "call",
            str(bam),
            "--json",
            str(out / "s.json"),
            "--tsv",
            str(out / "s.tsv"),
            "--vcf",
            str(out / "s.vcf.gz"),
        ]
    )
    assert code == 0
    data = json.loads((out / "s.json").read_text())
    assert data["schema"] == "mrd-call" and data["genome_build"] == "GRCh38"
    [finding] = data["findings"]
    for key in (
        "marker", "chrom", "position", "length", "inserted_sequence", "vaf", "allelic_ratio",
        "alt_count", "depth", "in_frame", "domain",
    ):  # fmt: skip
        assert key in finding
    rows = (out / "s.tsv").read_text().splitlines()
    assert len(rows) == 2 and "FLT3-ITD" in rows[1]
    with pysam.VariantFile(str(out / "s.vcf.gz")) as vcf:
        [record] = list(vcf)
    assert record.pos == finding["position"] and record.alts == (finding["alt"],)
    sample = record.samples[data["sample"]]
    assert sample["AD"] == (finding["wt_count"], finding["alt_count"])


def test_cli_bad_input_fails_in_one_line_and_writes_nothing(
    samples: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bam = tmp_path / "noindex.bam"
    shutil.copy(samples["wt"], bam)
    with pytest.raises(SystemExit) as exc:
        main(["call", str(bam), "--json", str(tmp_path / "x.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mrd: error:") and "index" in err and "\n" not in err
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(SystemExit):
        main(["call", str(samples["wt"]), "--json", str(tmp_path / "missing" / "x.json")])
    assert not (tmp_path / "missing").exists()


def test_itd_reaching_the_end_of_exon_15_is_annotated(tmp_path: Path) -> None:
    # c.1942 starts a codon that the catalog's exon 15 does not finish.
    # The 90-bp segment runs from c.1912 past the end of exon 15 into the intron after it.
    end = flt3(Build.GRCH38).genomic_position(1942) + 30
    bam = _simulate(tmp_path, "exon15end", (Flt3Itd(90, end=end), 0.3), seed=25)
    finding = _match(call_sample(bam), _truth(bam)["variants"][0])
    assert finding["exon"] == 15 and finding["domain"] == "TKD1"
    assert finding["insertion_site_residue"] == 648
    assert finding["hgvs_p"] is None  # intronic bases duplicated: splicing decides


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.lists(st.integers(-300, 300), max_size=200),  # window offsets: counted by bincount
        st.lists(st.integers(-(2**40), 2**40), max_size=50),  # a wide span: sorted instead
    ),
    st.floats(0.05, 0.95),
)
def test_judge_library_is_the_share_of_the_four_commonest_starts(
    starts: list[int], share: float
) -> None:
    from collections import Counter

    from mrd.markers.insertions import _judge_library, judge_library

    top = sum(n for _, n in Counter(starts).most_common(4))
    expected = "amplicon" if starts and top / len(starts) >= share else "capture"
    assert judge_library(starts, share) == expected
    # Deep windows give their starts a slice at a time; any cut gives the same answer.
    for size in (1, 3, 64):
        parts = [np.asarray(starts[at : at + size], dtype=np.int64) for at in range(0, 200, size)]
        assert _judge_library(lambda parts=parts: iter(parts), share) == expected
    assert judge_library(np.asarray(starts, dtype=np.int64), share) == expected
    if all(abs(x) < 2**31 for x in starts):
        assert judge_library(np.asarray(starts, dtype=np.int32), share) == expected


def test_window_starts_come_in_slices_that_join_to_every_clean_read() -> None:
    # The signed starts of a deep window are made a slice at a time (see _judge_library).
    from mrd.markers.insertions import _BINCOUNT_SLICE, _CleanReads, _WindowReads

    size = 2 * _BINCOUNT_SLICE + 12345
    rng = np.random.default_rng(3)
    lo = rng.integers(-200, 1500, size, dtype=np.int32)
    hi = lo + rng.integers(30, 151, size, dtype=np.int32)
    forward = rng.random(size) < 0.5
    reads = _WindowReads(_CleanReads(np.arange(size), lo, hi, forward), [], None)
    parts = list(reads.starts())
    assert len(parts) == 3
    joined = np.concatenate(parts)
    assert np.array_equal(joined, np.where(forward, lo, -(hi.astype(np.int64) + 1)))


def test_reads_sharing_bases_share_discovery_but_keep_their_own_strand() -> None:
    # Discovery realigns each distinct sequence once: reads with the same bases but another
    # strand, template or layout (mapped, or an unmapped mate that must be turned round) must
    # still end up with the placement and candidate they would get alone.
    from mrd.catalog.windows import reference_window
    from mrd.markers.flt3_itd import ItdSettings
    from mrd.markers.insertions import _discover, _oriented, _ReadView
    from mrd.markers.realign import WindowIndex, reverse_complement

    window = reference_window("FLT3", Build.GRCH38)
    index = WindowIndex(window.sequence)
    settings = ItdSettings()
    at = 700  # a 30-bp duplication in the middle of the window, read across its junction
    itd = (
        window.sequence[at - 80 : at]
        + window.sequence[at - 30 : at]
        + window.sequence[at : at + 40]
    )
    wild = window.sequence[at - 75 : at + 75]

    def views() -> list[_ReadView]:
        forms = ("soft_clip", "unmapped_mate")
        layouts = [(fwd, form) for fwd in (True, False) for form in forms] * 2
        made = [
            _ReadView(i, seq, fwd, form)
            for i, (fwd, form) in enumerate(layouts)
            for seq in (itd, wild)
        ]
        turned = reverse_complement(itd)  # an unmapped mate stored the other way round
        made += [
            _ReadView(90, turned, True, "unmapped_mate"),
            _ReadView(91, turned, False, "unmapped_mate"),
        ]
        return made

    shared = views()
    candidates = _discover(shared, index, settings)
    assert [c.allele.length for c in candidates] == [30]
    assert candidates[0].templates == {v.template for v in shared if v.sequence != wild}
    for view, alone in zip(shared, views(), strict=True):
        _oriented(index, alone)
        assert view.placement == alone.placement, (view.template, view.form, view.forward)


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _scan_facts(scan: InsertionScan) -> dict[str, Any]:
    """Everything a scan reports, tallies as lists, so that two scans compare with ``==``."""
    return {
        "clones": [
            (
                clone.allele,
                clone.proportion,
                clone.molecules,
                clone.evidence,
                {f.name: _plain(getattr(clone.tally, f.name)) for f in fields(clone.tally)},
            )
            for clone in scan.clones
        ],
        "rest": (scan.library, scan.candidates, scan.region, scan.families, scan.family_sizes),
        "error_rate": scan.error_rate,
    }


def _with_a_poor_unmapped_read(bam: Path) -> Path:
    """A copy of ``bam`` whose first unmapped read beside a mapped mate has base quality 2.

    Such a read is too poor to realign, so it is neither used nor given to the UMI collector.
    """
    poor = bam.with_name(f"{bam.stem}.poor.bam")
    changed = False
    with (
        pysam.AlignmentFile(str(bam)) as source,
        pysam.AlignmentFile(str(poor), "wb", template=source) as target,
    ):
        for read in source:
            if not changed and read.is_unmapped and not read.mate_is_unmapped:
                read.query_qualities = pysam.qualitystring_to_array("#" * read.query_length)
                changed = True
            target.write(read)
    assert changed
    pysam.index(str(poor))
    return poor


@pytest.mark.parametrize("first_pass", [1, 20_000])
def test_a_deep_window_read_twice_gives_the_one_pass_scan(tmp_path: Path, first_pass: int) -> None:
    # Past `single_pass_records` records a UMI window is read twice (families, then reads) to
    # bound memory. A 210-bp ITD gives supplementary and unmapped records, which both passes
    # must take alike; what the scan finds and counts, and its record counts, do not change.
    bam = _simulate(
        tmp_path, "deep", (Flt3Itd(length=210), 0.1), (Flt3Itd(length=45), 0.02), seed=52,
        depth=600, depth_of="molecules", umi=UmiSpec(family_size_mean=3, duplex=True),
    )  # fmt: skip
    bam = _with_a_poor_unmapped_read(bam)
    read_filter = ReadFilter(drop_duplicates=False)
    with open_alignments(bam) as source:
        window = reference_window("FLT3", source.genome.build)
        once, twice = FilterCounts(), FilterCounts()
        one = scan_insertions(source, window, read_filter=read_filter, counts=once)
        two = scan_insertions(
            source, window, read_filter=read_filter, counts=twice, single_pass_records=first_pass
        )
    assert once.fetched > first_pass  # so the second pass was taken
    assert once.dropped[DropReason.SUPPLEMENTARY] and once.dropped[DropReason.UNMAPPED]
    assert one.families is not None and len(one.clones) == 2
    assert _scan_facts(two) == _scan_facts(one)
    assert twice == once
