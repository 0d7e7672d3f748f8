"""Duplication-aware realignment on the real FLT3 window: junctions, normalisation, haplotypes."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mrd.catalog import reference_window
from mrd.markers.realign import (
    Haplotype,
    Insertion,
    WindowIndex,
    as_bytes,
    decompose,
    find_junction,
    insertion_allele,
    left_normalise_insertion,
    reverse_complement,
)

WINDOW = reference_window("FLT3", "GRCh38")
REF = WINDOW.sequence
INDEX = WindowIndex(REF)


def itd_allele(p: int, length: int, nontemplated: str = "") -> str:
    """The window with ``ref[p-length+1 .. p]`` copied after itself, new bases in between."""
    q = p - length + 1
    return REF[: p + 1] + nontemplated + REF[q:]


def junction_of(read: str, min_anchor: int = 15):  # type: ignore[no-untyped-def]
    return find_junction(INDEX, read, as_bytes(read), INDEX.seeds(read), min_anchor=min_anchor)


def test_clean_read_has_no_junction() -> None:
    read = REF[600:750]
    assert INDEX.seeds(read)[0] == (0, 600)
    assert junction_of(read) is None


def test_tandem_duplication_gives_its_length_and_segment() -> None:
    p, length = 868, 60  # plus-strand offset of c.1750 in the window
    alt = itd_allele(p, length)
    read = alt[p - 70 : p - 70 + 150]  # the junction lies 71 bases into the read
    junction = junction_of(read)
    assert junction is not None
    assert junction.shift == length
    allele = insertion_allele(REF, junction)
    assert allele is not None
    assert REF[: allele.after + 1] + allele.inserted + REF[allele.after + 1 :] == alt
    dup = decompose(REF, allele)
    assert dup.duplicated_length == length
    assert dup.nontemplated == ""


def test_duplication_longer_than_the_read_is_sized_from_one_junction_read() -> None:
    p, length = 900, 240
    alt = itd_allele(p, length)
    read = alt[p - 60 : p - 60 + 150]
    junction = junction_of(read)
    assert junction is not None and junction.shift == length
    allele = insertion_allele(REF, junction)
    assert allele is not None and allele.length == length


def test_nontemplated_bases_are_found_between_the_copies() -> None:
    p, length, extra = 850, 30, "GGATCC"
    alt = itd_allele(p, length, extra)
    read = alt[p - 60 : p - 60 + 150]
    junction = junction_of(read)
    assert junction is not None
    assert junction.shift == length + len(extra)
    allele = insertion_allele(REF, junction)
    assert allele is not None
    dup = decompose(REF, allele)
    assert dup.duplicated_length + len(dup.nontemplated) == length + len(extra)
    assert REF[: allele.after + 1] + allele.inserted + REF[allele.after + 1 :] == alt


def test_deletion_is_a_negative_shift_and_no_insertion() -> None:
    alt = REF[:800] + REF[840:]
    read = alt[720:870]
    junction = junction_of(read)
    assert junction is not None and junction.shift == -40
    assert insertion_allele(REF, junction) is None


def test_short_anchor_is_not_trusted() -> None:
    p, length = 868, 60
    alt = itd_allele(p, length)
    read = alt[p - 140 : p - 140 + 150]  # only 9 bases beyond the junction
    assert junction_of(read) is None


def test_sequencing_errors_in_anchors_keep_the_junction() -> None:
    p, length = 868, 45
    alt = itd_allele(p, length)
    read = list(alt[p - 70 : p - 70 + 150])
    for i in (5, 40, 100, 140):
        read[i] = "A" if read[i] != "A" else "C"
    junction = junction_of("".join(read))
    assert junction is not None and junction.shift == length


def test_left_normalisation_moves_to_the_leftmost_equivalent() -> None:
    # A copy of a 3-base segment inserted after the segment equals one inserted before it.
    p = 868
    segment = REF[p - 2 : p + 1]
    after, inserted = left_normalise_insertion(REF, p, segment)
    assert after <= p - 3
    assert REF[: after + 1] + inserted + REF[after + 1 :] == REF[: p + 1] + segment + REF[p + 1 :]


def test_haplotype_edges_map_into_both_copies() -> None:
    p, length = 868, 60
    q = p - length + 1
    allele = Insertion(*left_normalise_insertion(REF, p, REF[q : p + 1]))
    hap = Haplotype(REF, allele)
    assert hap.sequence == itd_allele(p, length)
    dup = hap.duplication
    # The segment's left edge is read in the first copy, its right edge in the second.
    assert hap.edge_offsets(dup.right_start - 1) == [dup.right_start - 1]
    assert hap.edge_offsets(dup.left_end) == [dup.left_end + length]
    inside = dup.right_start + 10
    assert hap.edge_offsets(inside) == [inside, inside + length]
    seq = hap.sequence
    assert seq[inside + length : inside + length + 2] == REF[inside : inside + 2]


def test_reverse_complement() -> None:
    assert reverse_complement("AACGTN") == "NACGTT"


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(min_value=400, max_value=1100),
    length=st.integers(min_value=3, max_value=300),
    extra=st.text(alphabet="ACGT", max_size=8),
    offset=st.integers(min_value=20, max_value=120),
)
def test_any_duplication_is_recovered_from_a_junction_read(
    p: int, length: int, extra: str, offset: int
) -> None:
    alt = itd_allele(p, length, extra)
    start = p + 1 - offset
    read = alt[start : start + 150]
    junction = junction_of(read)
    if junction is None:
        # Only a repeat in the window (the seed is not unique) may hide a junction.
        left = read[: offset - 1]
        assert any(REF.count(left[i : i + 12]) != 1 for i in range(len(left) - 11)) or any(
            REF.count(read[i : i + 12]) != 1 for i in range(offset, len(read) - 11)
        )
        return
    allele = insertion_allele(REF, junction)
    assert allele is not None
    # Whatever split the read suggested, the allele is the same sequence.
    rebuilt = REF[: allele.after + 1] + allele.inserted + REF[allele.after + 1 :]
    assert rebuilt == alt
    dup = decompose(REF, allele)
    assert REF[: dup.left_end + 1] + dup.nontemplated + REF[dup.right_start :] == alt
    assert len(dup.nontemplated) <= len(extra)


@settings(max_examples=60, deadline=None)
@given(after=st.integers(min_value=5, max_value=1400), inserted=st.text("ACGT", min_size=1))
def test_left_normalisation_keeps_the_allele(after: int, inserted: str) -> None:
    new_after, new_inserted = left_normalise_insertion(REF, after, inserted)
    assert new_after <= after
    assert len(new_inserted) == len(inserted)
    assert (
        REF[: new_after + 1] + new_inserted + REF[new_after + 1 :]
        == REF[: after + 1] + inserted + REF[after + 1 :]
    )
    # Leftmost: one more step would change the sequence.
    assert new_after == 0 or REF[new_after] != new_inserted[-1]


def test_random_reads_do_not_make_junctions() -> None:
    rng = random.Random(7)
    for _ in range(200):
        read = "".join(rng.choice("ACGT") for _ in range(150))
        assert junction_of(read) is None


def test_a_single_chance_seed_at_a_read_end_does_not_found_a_junction() -> None:
    # A wild-type read whose first 20 bases happen to look like a far part of the window: one
    # 12-mer matches there exactly, flanked by mismatches (as a read's sequencing errors and a
    # chance match made a 612-bp "ITD" from true 60-bp ITD reads at a million-fold depth).
    far, here = 1300, 700
    assert REF[far : far + 12] in INDEX._unique
    prefix = list(REF[far - 8 : far])
    prefix[7] = next(b for b in "ACGT" if b != prefix[7])
    gap = next(b for b in "ACGT" if b not in (REF[far + 12], REF[here + 20]))
    read = "".join(prefix) + REF[far : far + 12] + gap + REF[here + 21 : here + 150]
    seeds = INDEX.seeds(read)
    assert seeds[0] == (8, far - 8) and seeds[1][1] == here
    # Trusting one k-mer (an anchor of 12 needs one seed) makes the junction ...
    loose = find_junction(INDEX, read, as_bytes(read), seeds, min_anchor=12)
    assert loose is not None and loose.shift == far - 8 - here
    # ... while a 15-base anchor needs an exact stretch of four seeds on its diagonal.
    assert junction_of(read) is None


def test_an_error_that_matches_a_repeat_copy_is_no_better_than_the_wild_type() -> None:
    # The window holds two diverged Alu copies. A G>A error at 1392+7 makes a read's last
    # bases match the copy near the window's start exactly; split there, the read fits with
    # one mismatch, as it does unsplit on the wild type, so it shows no junction.
    error = 1392 + 7
    assert REF[error - 7 : error + 7] == "GCCTGTAGTCCCAG"
    for start in (1259, 1261, 1263):
        bases = list(REF[start : start + 150])
        bases[error - start] = "A"
        read = "".join(bases)
        seeds = INDEX.seeds(read)
        loose = find_junction(INDEX, read, as_bytes(read), seeds, min_anchor=15, min_gain=0)
        assert loose is not None and loose.mismatches == 1
        assert junction_of(read) is None


def test_a_true_junction_saves_many_mismatches_over_the_wild_type() -> None:
    # The margin keeps real ITD reads: even the shortest trusted anchor past the junction
    # disagrees with the wild type at most of its bases.
    p, length = 868, 60
    alt = itd_allele(p, length)
    for start in range(p - 150 + 16, p - 15, 7):
        read = alt[start : start + 150]
        junction = junction_of(read)
        assert junction is not None and junction.shift == length, start
