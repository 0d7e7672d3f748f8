from __future__ import annotations

import pysam
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mrd.ngs import DropReason, FilterCounts, ReadFilter
from mrd.ngs.filters import quality_sum

_HEADER = pysam.AlignmentHeader.from_dict({"SQ": [{"SN": "chr13", "LN": 114364328}]})


def _read(flag: int = 0, mapq: int = 60, quality: int = 30) -> pysam.AlignedSegment:
    read = pysam.AlignedSegment(_HEADER)
    read.query_name = "r"
    read.flag = flag
    read.reference_id = 0
    read.reference_start = 28034000
    read.cigarstring = "10M"
    read.query_sequence = "ACGTACGTAC"
    read.query_qualities = pysam.qualitystring_to_array(chr(33 + quality) * 10)
    read.mapping_quality = mapq
    return read


@pytest.mark.parametrize(
    ("flag", "mapq", "quality", "reason"),
    [
        (0, 60, 30, None),
        (0x4 | 0x400 | 0x100, 0, 2, DropReason.UNMAPPED),
        (0x200 | 0x400, 60, 30, DropReason.QC_FAIL),
        (0x400 | 0x100, 60, 30, DropReason.DUPLICATE),
        (0x100 | 0x800, 0, 30, DropReason.SECONDARY),
        (0x800, 0, 30, DropReason.SUPPLEMENTARY),
        (0, 19, 2, DropReason.LOW_MAPQ),
        (0, 20, 19, DropReason.LOW_BASE_QUALITY),
        (0x1 | 0x2 | 0x40, 20, 20, None),
    ],
)
def test_first_reason_in_precedence_order_wins(flag, mapq, quality, reason):
    assert ReadFilter().classify(_read(flag, mapq, quality)) is reason


def test_duplicates_kept_for_amplicon_or_umi_data():
    read = _read(0x400)
    assert ReadFilter().classify(read) is DropReason.DUPLICATE
    assert ReadFilter(drop_duplicates=False).classify(read) is None


def test_read_without_qualities_is_not_trusted():
    read = _read()
    read.query_qualities = None
    assert ReadFilter().classify(read) is DropReason.LOW_BASE_QUALITY


@given(st.binary(max_size=700))
def test_quality_sum_is_the_exact_sum_at_any_length_and_value(data):
    assert quality_sum(data) == sum(data)
    assert quality_sum(pysam.qualitystring_to_array(bytes(b % 94 + 33 for b in data))) == sum(
        b % 94 for b in data
    )


@pytest.mark.parametrize("length", [255, 256, 257, 258, 1000])
def test_quality_sum_at_the_checksum_modulus(length):
    # 256 bytes of 255 come closest to Adler-32's modulus; one more and the fast path would wrap.
    assert quality_sum(bytes([255]) * length) == 255 * length
    assert quality_sum(bytes([254]) * length) == 254 * length


@given(st.lists(st.integers(0, 93), min_size=1, max_size=400), st.floats(0, 60))
def test_mean_quality_filter_matches_the_plain_mean(qualities, threshold):
    read = _read()
    read.cigarstring = f"{len(qualities)}M"
    read.query_sequence = "A" * len(qualities)
    read.query_qualities = pysam.qualitystring_to_array("".join(chr(q + 33) for q in qualities))
    low = sum(qualities) < threshold * len(qualities)
    reason = ReadFilter(min_mean_base_quality=threshold).classify(read)
    assert (reason is DropReason.LOW_BASE_QUALITY) == low


def test_only_split_alignments_keep_evidence():
    assert {r for r in DropReason if r.keeps_evidence} == {
        DropReason.SECONDARY,
        DropReason.SUPPLEMENTARY,
    }


_reasons = st.lists(st.sampled_from([None, *DropReason]), max_size=200)


@given(_reasons, _reasons)
def test_counts_add_up_and_merge(first, second):
    a, b = FilterCounts(), FilterCounts()
    for reason in first:
        a.record(reason)
    for reason in second:
        b.record(reason)
    total = FilterCounts.total([a, b])
    assert total.is_consistent()
    assert total.fetched == len(first) + len(second)
    assert total.used == [*first, *second].count(None)
    assert FilterCounts.from_dict(total.as_dict()) == total
