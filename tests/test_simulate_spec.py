"""Variant notations, spec validation and haplotype construction of the read simulator."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mrd.catalog import flt3, reference_window
from mrd.errors import MrdError
from mrd.genome import Build
from mrd.simulate import (
    ErrorModel,
    Flt3Itd,
    Haplotype,
    Indel,
    Npm1Insertion,
    SimulationSpec,
    Snv,
    SpecError,
    UmiSpec,
    default_amplicons,
    left_normalise,
    load_spec,
    parse_amplicon,
    parse_build,
    parse_indel,
    parse_itd,
    parse_npm1,
    parse_snv,
    spec_from_dict,
)
from mrd.simulate.haplotypes import build_targets

FLT3_38 = reference_window("FLT3", Build.GRCH38)
NPM1_38 = reference_window("NPM1", Build.GRCH38)
bases = st.text(alphabet="ACGT", min_size=1, max_size=12)
WRONG = "C" if FLT3_38.base(FLT3_38.start + 10) == "A" else "A"  # not the reference base
fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def apply_vcf(window_seq: str, window_start: int, pos: int, ref: str, alt: str) -> str:
    offset = pos - window_start
    assert window_seq[offset : offset + len(ref)] == ref
    return window_seq[:offset] + alt + window_seq[offset + len(ref) :]


# ------------------------------------------------------------------ notations


@given(
    length=st.integers(1, 400),
    end=st.one_of(st.none(), st.integers(1, 10**9)),
    fraction=fractions,
    nt=st.text(alphabet="ACGTacgt", max_size=6),
)
def test_itd_notation_round_trips(length: int, end: int | None, fraction: float, nt: str) -> None:
    text = f"{length}{'' if end is None else f'@{end}'}:{fraction!r}" + (f":{nt}" if nt else "")
    itd, parsed_fraction = parse_itd(text)
    assert itd == Flt3Itd(length, end, nt.upper())
    assert parsed_fraction == fraction


@given(
    pos=st.integers(1, 10**9),
    ref=bases,
    alt=bases,
    fraction=fractions,
)
def test_allele_notations_round_trip(pos: int, ref: str, alt: str, fraction: float) -> None:
    assume(ref != alt)
    text = f"{pos:,}:{ref}>{alt}:{fraction!r}"
    if len(ref) == 1 and len(alt) == 1:
        snv, f = parse_snv(text)
        assert (snv, f) == (Snv(pos, ref, alt), fraction)
        with pytest.raises(SpecError):
            parse_indel(text)  # a substitution is not an indel
    else:
        indel, f = parse_indel(text)
        assert (indel, f) == (Indel(pos, ref, alt), fraction)


@given(name=st.sampled_from(["A", "B", "D", "a"]), fraction=fractions)
def test_npm1_type_notation(name: str, fraction: float) -> None:
    insertion, f = parse_npm1(f"{name}:{fraction!r}")
    assert insertion == Npm1Insertion(name.upper())
    assert f == fraction


@given(after=st.integers(800, 900), inserted=bases, fraction=fractions)
def test_npm1_hgvs_notation(after: int, inserted: str, fraction: float) -> None:
    insertion, f = parse_npm1(f"c.{after}_{after + 1}ins{inserted}:{fraction!r}")
    assert insertion == Npm1Insertion(type=None, inserted=inserted, after_c=after)
    assert f == fraction


@given(st.text(max_size=30))
def test_parsers_raise_only_spec_errors(text: str) -> None:
    for parser in (parse_itd, parse_npm1, parse_snv, parse_indel, parse_amplicon):
        try:
            parser(text)
        except SpecError as exc:
            assert "\n" not in str(exc)


@pytest.mark.parametrize(
    "text",
    ["60@28034169:1.5", "60:-0.1", "0:0.2", "60@x:0.2", "60:0.2:GAX", "60", "60:abc"],
)
def test_bad_itd_notations(text: str) -> None:
    with pytest.raises(SpecError):
        parse_itd(text)


def test_fraction_may_be_a_percentage() -> None:
    assert parse_itd("42:25%")[1] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("build", "naming", "expected"),
    [
        ("GRCh38", None, (Build.GRCH38, None)),
        ("hg19", None, (Build.GRCH37, True)),
        ("b37", "auto", (Build.GRCH37, False)),
        ("GRCh37", "chr", (Build.GRCH37, True)),
        ("hg38", "plain", (Build.GRCH38, False)),
    ],
)
def test_parse_build(build: str, naming: str | None, expected: tuple[Build, bool | None]) -> None:
    assert parse_build(build, naming) == expected


def test_parse_build_rejects_unknown() -> None:
    with pytest.raises(SpecError):
        parse_build("hg17")
    with pytest.raises(SpecError):
        parse_build("GRCh38", "ucsc")


def test_parse_amplicon() -> None:
    assert parse_amplicon("flt3:28,033,960-28034245") == ("FLT3", (28033960, 28034245))
    with pytest.raises(SpecError):
        parse_amplicon("KIT:1-100")
    with pytest.raises(SpecError):
        parse_amplicon("FLT3:200-100")


# ------------------------------------------------------------------ haplotypes


def one_target(spec: SimulationSpec, gene: str):  # type: ignore[no-untyped-def]
    return next(t for t in build_targets(spec) if t.gene == gene)


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(3, 400),
    end=st.integers(FLT3_38.start + 420, FLT3_38.end - 2),
    nt=st.text(alphabet="ACGT", max_size=5),
    fraction=st.floats(0.0, 1.0),
)
def test_itd_haplotype_and_truth(length: int, end: int, nt: str, fraction: float) -> None:
    spec = SimulationSpec.of((Flt3Itd(length, end, nt), fraction), genes=("FLT3",))
    target = one_target(spec, "FLT3")
    wild, mutant = target.haplotypes
    ref = FLT3_38.sequence
    segment = FLT3_38.slice(end - length + 1, end)
    cut = end - FLT3_38.start + 1
    assert mutant.sequence == ref[:cut] + nt + segment + ref[cut:]
    assert len(mutant.sequence) == len(ref) + length + len(nt)
    assert mutant.allele_fraction == pytest.approx(fraction)
    assert wild.allele_fraction == pytest.approx(1 - fraction)
    (truth,) = [v.truth for v in mutant.variants]
    assert truth["type"] == "FLT3-ITD"
    assert truth["length"] == length + len(nt)
    assert truth["duplicated_length"] == length
    assert truth["inserted_sequence"] == nt + segment
    assert truth["duplicated_segment"]["start"] == end - length + 1
    assert truth["duplicated_segment"]["end"] == end
    assert truth["nontemplated"] == nt
    # The VCF allele, applied to the reference, gives the haplotype back, and is left-aligned.
    pos, vref, valt = truth["pos"], truth["ref"], truth["alt"]
    assert len(vref) == 1 and len(valt) == len(nt) + length + 1
    assert apply_vcf(ref, FLT3_38.start, pos, vref, valt) == mutant.sequence
    assert pos <= end
    assert valt[-1] != vref  # could not be shifted one more base to the left


@settings(max_examples=80, deadline=None)
@given(
    offset=st.integers(5, 190),
    deleted=st.integers(0, 6),
    inserted=st.text(alphabet="ACGT", max_size=6),
)
def test_indel_truth_reproduces_haplotype(offset: int, deleted: int, inserted: str) -> None:
    pos = NPM1_38.start + offset
    ref = NPM1_38.slice(pos, pos + deleted)
    alt = ref[0] + inserted
    assume(ref != alt and not (len(ref) == 1 and len(alt) == 1))
    spec = SimulationSpec.of((Indel(pos, ref, alt), 0.5), genes=("NPM1",))
    mutant = one_target(spec, "NPM1").haplotypes[1]
    expected = apply_vcf(NPM1_38.sequence, NPM1_38.start, pos, ref, alt)
    assert mutant.sequence == expected
    truth = mutant.variants[0].truth
    assert apply_vcf(NPM1_38.sequence, NPM1_38.start, truth["pos"], truth["ref"], truth["alt"]) == (
        expected
    )
    # Normalising the normalised allele changes nothing.
    start = truth["pos"] - NPM1_38.start
    assert left_normalise(NPM1_38.sequence, start, truth["ref"], truth["alt"]) == (
        start,
        truth["ref"],
        truth["alt"],
    )


@pytest.mark.parametrize(
    ("name", "build", "pos", "ref", "alt"),
    [
        ("A", Build.GRCH38, 171410539, "C", "CTCTG"),
        # c.863_864insCATG / insCCTG after g.171410543, shifted left as VCF normalisation asks.
        ("B", Build.GRCH38, 171410541, "C", "CTGCA"),
        ("D", Build.GRCH38, 171410540, "T", "TCTGC"),
        ("A", Build.GRCH37, 171410539 - 572996, "C", "CTCTG"),
    ],
)
def test_npm1_types_have_the_published_vcf_alleles(
    name: str, build: Build, pos: int, ref: str, alt: str
) -> None:
    spec = SimulationSpec.of((Npm1Insertion(name), 0.4), genes=("NPM1",), build=build)
    truth = one_target(spec, "NPM1").haplotypes[1].variants[0].truth
    assert (truth["pos"], truth["ref"], truth["alt"]) == (pos, ref, alt)
    assert truth["npm1_type"] == name
    assert truth["insert_after"] == 171410543 - (572996 if build is Build.GRCH37 else 0)
    assert truth["inserted_sequence"] == {"A": "TCTG", "B": "CATG", "D": "CCTG"}[name]


def test_npm1_custom_insertion_is_named_when_known() -> None:
    known = Npm1Insertion(type=None, inserted="CATG", after_c=863)
    novel = Npm1Insertion(type=None, inserted="CTTG")
    spec = SimulationSpec.of((known, 0.1), (novel, 0.1), genes=("NPM1",))
    haps = one_target(spec, "NPM1").haplotypes
    assert haps[1].variants[0].truth["npm1_type"] == "B"
    assert haps[2].variants[0].truth["npm1_type"] is None
    assert haps[2].variants[0].truth["hgvs_c"] == "c.863_864insCTTG"


def test_default_itd_site_is_exonic_jmd() -> None:
    spec = SimulationSpec.of((Flt3Itd(42), 0.25), genes=("FLT3",))
    truth = one_target(spec, "FLT3").haplotypes[1].variants[0].truth
    annotation = flt3(Build.GRCH38)
    assert annotation.exon_at(truth["duplicated_segment"]["start"]) is not None
    assert truth["domain"] == "JMD"
    assert truth["in_frame"]


def test_cell_fractions_halve_into_allele_fractions() -> None:
    spec = SimulationSpec.of(
        (Flt3Itd(30), 0.4), (Flt3Itd(60, nontemplated="GA"), 0.2), fraction_kind="cell"
    )
    haps = one_target(spec, "FLT3").haplotypes
    assert [h.allele_fraction for h in haps] == pytest.approx([0.7, 0.2, 0.1])
    assert [h.id for h in haps] == ["wt", "h1", "h2"]


def test_variants_in_cis_share_a_haplotype() -> None:
    snv_pos = FLT3_38.start + 100
    snv = Snv(snv_pos, FLT3_38.base(snv_pos), "A" if FLT3_38.base(snv_pos) != "A" else "C")
    spec = SimulationSpec(haplotypes=(Haplotype((Flt3Itd(30), snv), 0.2, name="clone1"),))
    hap = one_target(spec, "FLT3").haplotypes[1]
    assert hap.id == "clone1"
    assert len(hap.sequence) == len(FLT3_38) + 30
    assert hap.sequence[100] == snv.alt


@pytest.mark.parametrize(
    ("spec_kwargs", "message"),
    [
        ({"haplotypes": (Haplotype((Flt3Itd(30),), 0.7), Haplotype((Flt3Itd(9),), 0.5))}, "add"),
        ({"haplotypes": (Haplotype((Snv(1000, "A", "C"),), 0.1),)}, "no simulated window"),
        ({"haplotypes": (Haplotype((Snv(FLT3_38.start + 10, WRONG, "G"),), 0.1),)}, "reference"),
        ({"haplotypes": (Haplotype((Flt3Itd(30), Npm1Insertion("A")), 0.1),)}, "mixes"),
        ({"haplotypes": (Haplotype((Flt3Itd(30), Flt3Itd(30)), 0.1),)}, "overlap"),
        ({"haplotypes": (Haplotype((Flt3Itd(3000),), 0.1),)}, "inside"),
        ({"haplotypes": (Haplotype((Npm1Insertion("Z"),), 0.1),)}, "unknown NPM1 type"),
        ({"haplotypes": (Haplotype((Npm1Insertion("A"),), 0.1),), "genes": ("FLT3",)}, "NPM1"),
    ],
)
def test_impossible_specs_are_spec_errors(spec_kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        build_targets(SimulationSpec(**spec_kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SimulationSpec(depth=-1),
        lambda: SimulationSpec(read_length=10),
        lambda: SimulationSpec(mode="pcr"),  # type: ignore[arg-type]
        lambda: SimulationSpec(genes=("KIT",)),
        lambda: UmiSpec(family_size_mean=0.5),
        lambda: ErrorModel(q_start=60),
        lambda: Haplotype((), 0.1),
        lambda: Haplotype((Flt3Itd(3),), 1.5),
        lambda: Snv(100, "A", "A"),
        lambda: Indel(100, "A", "C"),
        lambda: Flt3Itd(0),
        lambda: Npm1Insertion(type=None),
    ],
)
def test_bad_values_fail_at_construction(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MrdError):
        make()


def test_default_amplicons_lie_in_windows() -> None:
    for build in Build:
        for gene, (first, last) in default_amplicons(build).items():
            window = reference_window(gene, build)
            assert window.start < first < last < window.end
            assert last - first + 1 <= 300  # 2 x 150 bp reads cover it
    exons = {e.number: e for e in flt3(Build.GRCH38).exons}
    first, last = default_amplicons(Build.GRCH38)["FLT3"]
    assert first < exons[15].g_end and exons[14].g_start > first and exons[14].g_end < last


# ------------------------------------------------------------------ JSON specs


@settings(max_examples=30, deadline=None)
@given(
    length=st.integers(3, 300),
    fraction=st.floats(0.0, 0.5),
    depth=st.floats(1.0, 1e5),
    umi=st.booleans(),
    mode=st.sampled_from(["capture", "amplicon"]),
)
def test_spec_json_round_trip(
    length: int, fraction: float, depth: float, umi: bool, mode: str
) -> None:
    spec = SimulationSpec.of(
        (Flt3Itd(length, nontemplated="AC"), fraction),
        (Npm1Insertion("D"), fraction),
        depth=depth,
        mode=mode,
        umi=UmiSpec(duplex=True) if umi else None,
        amplicons={"NPM1": (171410461, 171410620)},
        gene_depth={"NPM1": 2 * depth},
    )
    again = spec_from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


def test_spec_file_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text('{"depth": 10, "colour": "blue"}')
    with pytest.raises(SpecError, match="colour"):
        load_spec(bad)
    bad.write_text('{"haplotypes": [{"fraction": 0.1, "variants": [{"kind": "cnv"}]}]}')
    with pytest.raises(SpecError, match="kind"):
        load_spec(bad)
    bad.write_text("{not json")
    with pytest.raises(MrdError, match="not valid JSON"):
        load_spec(bad)
    with pytest.raises(MrdError, match="not found"):
        load_spec(tmp_path / "missing.json")
