from __future__ import annotations

import random
import re
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrd.markers.protein import protein_change, translate

# Kept separate from the module's table on purpose: the tests must not trust the code they test.
THREE = {
    "Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E",
    "Gly": "G", "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F",
    "Pro": "P", "Ser": "S", "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Ter": "*",
}  # fmt: skip
ONE_TO_THREE = {one: three for three, one in THREE.items()}
STOPS = {"TAA", "TAG", "TGA"}
SENSE_CODONS = sorted("".join(c) for c in product("ACGT", repeat=3) if "".join(c) not in STOPS)

# NPM1 (NM_002520) c.847 to c.960, from the GRCh38 window in the catalog: codon 283 (Ala) to the
# stop at codon 295, then 3' UTR. c.860_863 is TCTG, the four bases duplicated in type A.
NPM1_FROM_C847 = (
    "GCTATTCAAGATCTCTGGCAGTGGAGGAAGTCTCTTTAAGAAAATAGTTTAAACAATTTGTTAAAAAATTTTCCGTCTTATTTCATTT"
    "CTGTAACAGTTGATATCTGGCTGTCC"
)
# FLT3 (NM_004119) exon 14, c.1705 (first base of codon 569) to c.1837 (first base of codon
# 613), reverse-complemented from the GRCh38 window: 44 codons and one trailing base.
FLT3_EXON14 = (
    "CAATTTAGGTATGAAAGCCAGCTACAGATGGTACAGGTGACCGGCTCCTCAGATAATGAGTACTTCTACGTTGATTTCAGAGAATATGA"
    "ATATGATCTCAAATGGGAGTTTCCAAGAGAAAATTTAGAGTTTG"
)


def three(residues: str) -> str:
    return "".join(ONE_TO_THREE[r] for r in residues)


def flt3(c_start: int, c_end: int) -> str:
    """FLT3 bases c.c_start..c.c_end (inclusive) from the exon 14 literal."""
    return FLT3_EXON14[c_start - 1705 : c_end - 1705 + 1]


def flt3_insert_after(c_pos: int, inserted: str) -> str:
    cut = c_pos - 1705 + 1
    return FLT3_EXON14[:cut] + inserted + FLT3_EXON14[cut:]


# --- translation ------------------------------------------------------------------------------


def test_translate_known_codons():
    assert translate("ATGTGGTAA") == "MW*"
    assert translate("GAAGAGTATTACTGATAG") == "EEYY**"
    assert translate("GCTCGTAATGATTGTCAAGGTCATATTCTTAAATTTCCTTCTACTGTT") == "ARNDCQGHILKFPSTV"
    assert translate("") == ""


def test_translate_codon_counts_match_the_standard_code():
    protein = translate("".join("".join(c) for c in product("ACGT", repeat=3)))
    assert len(protein) == 64
    assert protein.count("*") == 3
    assert {aa: protein.count(aa) for aa in "LSRMW"} == {"L": 6, "S": 6, "R": 6, "M": 1, "W": 1}
    assert len(set(protein)) == 21


@pytest.mark.parametrize("bad", ["ATGNAA", "atgGAA", "ATG TG", "AUGGAA"])
def test_translate_refuses_non_acgt(bad):
    with pytest.raises(ValueError, match="only upper-case A, C, G, T"):
        translate(bad)


def test_translate_refuses_partial_codon():
    with pytest.raises(ValueError, match="not a multiple of 3"):
        translate("ATGT")


# --- unchanged and refused inputs --------------------------------------------------------------


def test_identical_input_is_unchanged():
    assert protein_change(NPM1_FROM_C847, NPM1_FROM_C847, 283) == "p.(=)"
    assert protein_change("ATGGAA", "ATGGAA", 1) == "p.(=)"


def test_insertion_after_the_stop_codon_is_unchanged():
    ref = "ATGGAATAAGGCCTT"
    assert protein_change(ref, ref[:12] + "CCCAGT" + ref[12:], 1) == "p.(=)"
    assert protein_change(ref, ref[:9] + "T" + ref[9:], 1) == "p.(=)"


@pytest.mark.parametrize(
    ("ref", "alt", "message"),
    [
        ("ATGNAA", "ATGNAAAAA", "ref_cds must hold only"),
        ("ATGGAA", "ATGgaaGAA", "alt_cds must hold only"),
        ("ATGGAA", "ATGCCC", "not ref_cds with bases inserted"),
        ("ATGGAAGCT", "ATGGAA", "not ref_cds with bases inserted"),
        ("ATGGAAGCT", "ATGCCGAAGCTT", "not ref_cds with bases inserted"),
    ],
)
def test_bad_input_is_refused(ref, alt, message):
    with pytest.raises(ValueError, match=message):
        protein_change(ref, alt, 1)


def test_first_residue_must_be_positive():
    with pytest.raises(ValueError, match="first_residue"):
        protein_change("ATG", "ATG", 0)


def test_change_at_the_end_of_the_window_is_refused():
    # Without a residue after the insertion neither the 3' rule nor the right flank is known.
    with pytest.raises(ValueError, match="downstream"):
        protein_change("ATGGAACTG", "ATGGAACTGCTG", 1)
    with pytest.raises(ValueError, match="downstream"):
        protein_change("ATGGAACTG", "ATGGAACTGC", 1)  # the frameshift is not visible yet
    with pytest.raises(ValueError, match="downstream"):
        protein_change("ATGGAACTGA", "ATGGAACTGAC", 1)  # inside the ignored partial codon


def test_insertion_needing_upstream_residues_is_refused():
    # GluGlu inserted after Glu1 might be a duplication of Xaa0_Glu1: cannot tell.
    with pytest.raises(ValueError, match="upstream"):
        protein_change("GAACTGTGG", "GAAGAAGAACTGTGG", 10)
    # Inserted before the first codon: there is no left flank to name.
    with pytest.raises(ValueError, match="upstream"):
        protein_change("GAACTGTGG", "CCCGAACTGTGG", 10)


def test_change_of_the_stop_codon_is_refused_as_an_extension():
    ref = "ATGGAATAAGGCCTTCAT"
    with pytest.raises(ValueError, match="stop codon"):
        protein_change(ref, ref[:7] + "C" + ref[7:], 1)  # TAA -> TCA A..: frameshift at stop
    with pytest.raises(ValueError, match="stop codon"):
        protein_change(ref, ref[:7] + "CCC" + ref[7:], 1)  # TAA -> TCC CAA: in frame


# --- in-frame duplications and insertions -----------------------------------------------------


def random_codons(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(SENSE_CODONS) for _ in range(count)]


@pytest.mark.parametrize("first_residue", [1, 590])
def test_duplication_of_codons_5_and_6(first_residue):
    rng = random.Random(20240601)
    codons = random_codons(rng, 12)
    # Codon 7 must not encode codon 5's residue, or the 3' rule would move the duplication.
    while translate(codons[6]) == translate(codons[4]):
        codons[6] = rng.choice(SENSE_CODONS)
    ref = "".join(codons)
    alt = "".join(codons[:6] + codons[4:6] + codons[6:])
    p5, p6 = translate(codons[4]), translate(codons[5])
    n = first_residue + 4
    expected = f"p.({ONE_TO_THREE[p5]}{n}_{ONE_TO_THREE[p6]}{n + 1}dup)"
    assert protein_change(ref, alt, first_residue) == expected


# Codons 1-12 with codons 5 and 9 varied. Duplicating bases 14..25 (the last two bases of codon 5
# up to the first base of codon 9) puts codon 9's first base before codon 5's last two, so the
# new codon 9 is X = base 25 + bases 14-15 and the protein gains X Asn Gly Trp after Trp8.
CODONS_1_4 = "ATGGCTTCACCG"  # Met Ala Ser Pro
CODONS_6_8 = "AACGGTTGG"  # Asn Gly Trp
CODONS_10_12 = "CATGACTAA"  # His Asp Ter


@pytest.mark.parametrize(
    ("codon5", "codon9", "expected"),
    [
        # X = CAA Gln, equal to neither Glu5 nor Leu9: a plain insertion of Gln Asn Gly Trp.
        ("GAA", "CTG", "p.(Trp107_Leu108insGlnAsnGlyTrp)"),
        # X = GAA Glu = residue 5: the insert repeats residues 5-8.
        ("GAA", "GTG", "p.(Glu104_Trp107dup)"),
        # X = CTA Leu = residue 9: shifted one residue 3', the insert repeats residues 6-9.
        ("TTA", "CTA", "p.(Asn105_Leu108dup)"),
    ],
)
def test_codon_misaligned_tandem_duplication(codon5, codon9, expected):
    ref = CODONS_1_4 + codon5 + CODONS_6_8 + codon9 + CODONS_10_12
    alt = ref[:25] + ref[13:25] + ref[25:]  # bases 14..25 (1-based) repeated after base 25
    assert len(alt) - len(ref) == 12
    assert protein_change(ref, alt, 100) == expected


def test_split_codon_gives_delins():
    # GGG inserted after the C of CAT (His3): C GGG AT -> CGG GAT, Arg Asp instead of His.
    ref = "ATGGCTCATGGCTAA"
    alt = "ATGGCTCGGGATGGCTAA"
    assert translate(alt) == "MARDG*"
    assert protein_change(ref, alt, 1) == "p.(His3delinsArgAsp)"
    assert protein_change(ref, alt, 50) == "p.(His52delinsArgAsp)"


def test_codon_aligned_insertion():
    ref = "ATGGCTCATGGCTAA"  # Met Ala His Gly Ter
    alt = ref[:6] + "TGGTGT" + ref[6:]  # Trp Cys between Ala2 and His3
    assert protein_change(ref, alt, 1) == "p.(Ala2_His3insTrpCys)"


@pytest.mark.parametrize("dup_codon", [1, 2, 3, 4])
def test_duplication_in_a_run_is_reported_at_the_last_residue(dup_codon):
    # Lys at residues 2-5 (AAA/AAG codons): any one duplicated is the duplication of Lys5.
    codons = ["ATG", "AAA", "AAG", "AAA", "AAG", "GAT", "TGG", "TAA"]
    ref = "".join(codons)
    alt = "".join([*codons[: dup_codon + 1], codons[dup_codon], *codons[dup_codon + 1 :]])
    assert protein_change(ref, alt, 1) == "p.(Lys5dup)"


def test_duplication_in_a_dipeptide_repeat_is_shifted_3_prime():
    # (Ala His) x 3 at residues 2-7, then Trp: duplicating residues 2-3 is Ala6_His7dup.
    ref = "ATG" + "GCTCAT" * 3 + "TGGTAA"
    alt = "ATG" + "GCTCAT" * 4 + "TGGTAA"
    assert protein_change(ref, alt, 1) == "p.(Ala6_His7dup)"
    # An insertion of His Ala that is not a copy in place still shifts, and becomes the dup.
    assert protein_change(ref, ref[:6] + "CACGCA" + ref[6:], 1) == "p.(Ala6_His7dup)"


def test_in_frame_stop():
    ref = "ATGGAAAAACTGTAA"  # Met Glu Lys Leu Ter
    assert protein_change(ref, ref[:6] + "TAG" + ref[6:], 1) == "p.(Lys3Ter)"
    assert protein_change(ref, ref[:6] + "GGCTAG" + ref[6:], 1) == "p.(Glu2_Lys3insGlyTer)"


# --- FLT3 exon 14 -----------------------------------------------------------------------------


def test_flt3_exon14_numbering():
    protein = translate(FLT3_EXON14[:132])
    # Residues 595-601 are the REYEYDL stretch most FLT3-ITDs duplicate into.
    assert protein[595 - 569 : 601 - 569 + 1] == "REYEYDL"


def test_flt3_insertion_between_glu598_and_tyr599():
    alt = flt3_insert_after(1794, "GATGAA")  # after codon 598
    assert protein_change(FLT3_EXON14, alt, 569) == "p.(Glu598_Tyr599insAspGlu)"


def test_flt3_codon_aligned_itd():
    alt = flt3_insert_after(1803, flt3(1771, 1803))  # codons 591-601, 33 bp
    assert protein_change(FLT3_EXON14, alt, 569) == "p.(Tyr591_Leu601dup)"


def test_flt3_codon_misaligned_itd():
    # c.1785_1805dup starts at the 3rd base of Arg595 (AGA) and ends at the 2nd of Lys602 (AAA):
    # the hybrid codon AA+A is Lys again, so the insert Glu..Lys repeats residues 596-602.
    alt = flt3_insert_after(1805, flt3(1785, 1805))
    assert protein_change(FLT3_EXON14, alt, 569) == "p.(Glu596_Lys602dup)"


# --- frameshifts ------------------------------------------------------------------------------


@pytest.mark.parametrize("inserted", ["TCTG", "CATG", "CCTG"])  # NPM1 types A, B and D
def test_npm1_four_base_insertions(inserted):
    alt = NPM1_FROM_C847[:17] + inserted + NPM1_FROM_C847[17:]  # after c.863
    assert protein_change(NPM1_FROM_C847, alt, 283) == "p.(Trp288CysfsTer12)"


def test_frameshift_forms():
    ref = "ATGGAAAAACTGACGTAA"  # Met Glu Lys Leu Thr Ter
    # CT after codon 2: ATG GAA CTA AAC TGA -> Leu Asn Ter, stop 3rd from Lys3.
    assert protein_change(ref, ref[:6] + "CT" + ref[6:], 1) == "p.(Lys3LeufsTer3)"
    # C after codon 2: ATG GAA CAA ACT GAC GTA A -> no stop before the end of alt.
    assert protein_change(ref, ref[:6] + "C" + ref[6:], 1) == "p.(Lys3Glnfs)"
    # T after codon 2: ATG GAA TAA -> the first changed residue is a stop (nonsense).
    assert protein_change(ref, ref[:6] + "T" + ref[6:], 1) == "p.(Lys3Ter)"
    # GA after base 5: ATG GAG AAA AAC TGA -> Glu2 and Lys3 survive, Leu4 is the first change.
    assert protein_change(ref, ref[:5] + "GA" + ref[5:], 7) == "p.(Leu10AsnfsTer2)"


# --- properties -------------------------------------------------------------------------------

DESCRIPTION = re.compile(
    r"p\.\((?:"
    r"(?P<same>=)"
    r"|(?P<aa1>[A-Z][a-z]{2})(?P<n1>\d+)(?:_(?P<aa2>[A-Z][a-z]{2})(?P<n2>\d+))?"
    r"(?:(?P<dup>dup)|ins(?P<ins>(?:[A-Z][a-z]{2})+)|delins(?P<delins>(?:[A-Z][a-z]{2})+)"
    r"|(?P<ter>Ter)|(?P<fs_aa>[A-Z][a-z]{2})fs(?:Ter(?P<fs_len>\d+))?)"
    r")\)"
)


def ending_at_stop(protein: str) -> str:
    stop = protein.find("*")
    return protein if stop < 0 else protein[: stop + 1]


def apply_in_frame(description: str, ref: str, first_residue: int) -> str:
    """Apply an in-frame description to the reference peptide, naming residues as it checks."""
    match = DESCRIPTION.fullmatch(description)
    assert match, description
    if match["same"]:
        return ref
    i = int(match["n1"]) - first_residue
    j = int(match["n2"]) - first_residue if match["n2"] else i
    assert 0 <= i <= j < len(ref)
    assert ref[i] == THREE[match["aa1"]]
    assert ref[j] == THREE[match["aa2"] or match["aa1"]]
    if match["ter"]:
        assert i == j
        return ref[:i] + "*"
    if match["dup"]:
        return ref[: j + 1] + ref[i : j + 1] + ref[j + 1 :]
    if match["ins"]:
        assert j == i + 1
        inserted = "".join(THREE[match["ins"][k : k + 3]] for k in range(0, len(match["ins"]), 3))
        # 3' rule: the inserted peptide could not slide one residue further.
        assert inserted[0] != ref[j]
        return ref[:j] + inserted + ref[j:]
    assert match["delins"], description
    inserted = "".join(THREE[match["delins"][k : k + 3]] for k in range(0, len(match["delins"]), 3))
    return ref[:i] + inserted + ref[j + 1 :]


@st.composite
def coding_bodies(draw: st.DrawFn, min_codons: int = 2) -> str:
    codons = draw(st.lists(st.sampled_from(SENSE_CODONS), min_size=min_codons, max_size=30))
    return "".join(codons)


@settings(max_examples=300)
@given(body=coding_bodies(), data=st.data(), first_residue=st.integers(1, 2000))
def test_whole_codon_duplication_is_a_dup(body, data, first_residue):
    codons = len(body) // 3
    start = data.draw(st.integers(0, codons - 1), label="start codon")
    end = data.draw(st.integers(start + 1, codons), label="end codon")
    ref = body + "TAA"
    alt = body[: 3 * end] + body[3 * start : 3 * end] + body[3 * end :] + "TAA"
    description = protein_change(ref, alt, first_residue)
    assert description.endswith("dup)")
    numbers = [int(n) for n in re.findall(r"\d+", description)]
    assert all(first_residue <= n < first_residue + codons for n in numbers)
    assert numbers == sorted(numbers)
    assert len(numbers) == (1 if end - start == 1 else 2)
    assert numbers[-1] - numbers[0] + 1 == end - start
    assert apply_in_frame(description, translate(ref), first_residue) == translate(alt)


@settings(max_examples=300)
@given(body=coding_bodies(), data=st.data(), first_residue=st.integers(1, 2000))
def test_any_tandem_duplication_is_a_dup_or_an_insertion(body, data, first_residue):
    # A duplication of 3k bases starting mid-codon never changes a residue in place: the split
    # codon reassembles after the copy, so the result is a dup, an ins or (hybrid stop) nonsense.
    size = 3 * data.draw(st.integers(1, len(body) // 3), label="codons")
    cut = data.draw(st.integers(size, len(body)), label="insert after base")
    ref = body + "TAA"
    alt = body[:cut] + body[cut - size : cut] + body[cut:] + "TAA"
    try:
        description = protein_change(ref, alt, first_residue)
    except ValueError as error:
        # Only possible when the copy reaches into the first codon and might continue upstream.
        assert "upstream" in str(error)
        assert cut - size < 3
        return
    assert "delins" not in description
    rebuilt = apply_in_frame(description, translate(ref), first_residue)
    assert ending_at_stop(rebuilt) == ending_at_stop(translate(alt))


@settings(max_examples=300)
@given(
    body=coding_bodies(min_codons=5),
    data=st.data(),
    first_residue=st.integers(1, 2000),
    inserted_codons=st.integers(1, 4),
)
def test_in_frame_description_rebuilds_the_alt_protein(body, data, first_residue, inserted_codons):
    size = 3 * inserted_codons
    inserted = data.draw(st.text("ACGT", min_size=size, max_size=size), label="inserted")
    # Keep a whole inserted length of residues upstream so the dup/ins decision is always made.
    cut = data.draw(st.integers(size + 3, len(body)), label="insert after base")
    ref = body + "TAA"
    alt = body[:cut] + inserted + body[cut:] + "TAA"
    description = protein_change(ref, alt, first_residue)
    rebuilt = apply_in_frame(description, translate(ref), first_residue)
    assert ending_at_stop(rebuilt) == ending_at_stop(translate(alt))


@settings(max_examples=300)
@given(
    body=coding_bodies(),
    data=st.data(),
    first_residue=st.integers(1, 2000),
    inserted=st.text("ACGT", min_size=1, max_size=8).filter(lambda s: len(s) % 3),
)
def test_frameshift_description_matches_the_alt_protein(body, data, first_residue, inserted):
    cut = data.draw(st.integers(0, len(body)), label="insert after base")
    ref = body + "TAA"
    alt = body[:cut] + inserted + body[cut:] + "TAA"
    ref_protein = translate(ref)
    alt_protein = translate(alt[: len(alt) - len(alt) % 3])
    changes = [i for i, (a, b) in enumerate(zip(ref_protein, alt_protein, strict=False)) if a != b]
    if not changes:
        # The shifted frame happened to rebuild the stop codon in place (e.g. AAA|ATAA|A TAA).
        assert protein_change(ref, alt, first_residue) == "p.(=)"
        return
    first_change = changes[0]
    try:
        description = protein_change(ref, alt, first_residue)
    except ValueError as error:
        assert "stop codon" in str(error)
        assert ref_protein[first_change] == "*"
        return
    match = DESCRIPTION.fullmatch(description)
    assert match, description
    assert int(match["n1"]) == first_residue + first_change
    assert THREE[match["aa1"]] == ref_protein[first_change]
    if match["ter"]:
        assert alt_protein[first_change] == "*"
        return
    assert THREE[match["fs_aa"]] == alt_protein[first_change]
    new_stop = alt_protein.find("*", first_change)
    if match["fs_len"]:
        assert new_stop == first_change + int(match["fs_len"]) - 1
    else:
        assert new_stop < 0
