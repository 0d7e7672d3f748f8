from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mrd.errors import RegionError
from mrd.genome import Build, GenomeInfo
from mrd.ngs import Region, marker_regions, merge_regions


def test_parse_with_commas_and_pysam_coordinates():
    region = Region.parse("chr13:28,033,301-28,034,800", name="FLT3")
    assert (region.chrom, region.start, region.end) == ("chr13", 28033301, 28034800)
    assert region.pysam_args == ("chr13", 28033300, 28034800)
    assert len(region) == 1500
    assert str(region) == "chr13:28033301-28034800"


@pytest.mark.parametrize(
    "text", ["chr13", "chr13:10", "chr13:20-10", "chr13:0-5", ":1-2", "a b:1-2"]
)
def test_malformed_regions_are_refused(text):
    with pytest.raises(RegionError):
        Region.parse(text)


@given(st.text(max_size=30))
def test_parser_gives_a_region_or_a_clear_error(text):
    try:
        region = Region.parse(text)
    except RegionError as exc:
        assert "region" in str(exc)
    else:
        assert Region.parse(str(region)) == region


@given(
    st.from_regex(r"[A-Za-z0-9_.]{1,10}", fullmatch=True),
    st.integers(1, 10**9),
    st.integers(0, 10**6),
)
def test_round_trip(chrom, start, span):
    region = Region(chrom, start, start + span)
    assert Region.parse(str(region)) == region


def test_check_against_header_names_the_naming_style():
    region = Region.parse("13:100-200")
    with pytest.raises(RegionError, match="names chromosomes like 'chr13'"):
        region.check_against({"chr13": 114364328})
    with pytest.raises(RegionError, match="runs past the end"):
        Region.parse("chr13:100-200").check_against({"chr13": 150})


def test_marker_regions_follow_header_naming():
    regions = marker_regions(GenomeInfo(Build.GRCH37, False))
    assert {r.name: str(r) for r in regions} == {
        "FLT3": "13:28607438-28608937",
        "NPM1": "5:170837442-170837644",
    }


_spans = st.lists(
    st.tuples(st.sampled_from(["chr5", "chr13"]), st.integers(1, 500), st.integers(0, 60)),
    max_size=12,
)


@given(_spans)
def test_merge_covers_the_same_positions_without_overlaps(spans):
    regions = [Region(chrom, start, start + length) for chrom, start, length in spans]
    merged = merge_regions(regions)

    def positions(rs):
        return {(r.chrom, p) for r in rs for p in range(r.start, r.end + 1)}

    assert positions(merged) == positions(regions)
    for left, right in itertools.pairwise(merged):
        assert left.chrom != right.chrom or left.end + 1 < right.start
