from __future__ import annotations

import pysam
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mrd.ngs import DropReason, FilterCounts, ReadFilter

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
