"""Template ids cut into ranges: the same answers as one sort of everything."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mrd.ngs.ids import distinct, distinct_count, id_ranges, in_range

_IDS = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300) | st.lists(
    st.integers(0, 20), max_size=300
)


@given(ids=_IDS, at_once=st.integers(1, 50))
def test_ranges_put_every_id_in_exactly_one_range_with_its_equals(
    ids: list[int], at_once: int
) -> None:
    column = np.array(ids, dtype=np.int64)
    masks = [in_range(column, low, high) for low, high in id_ranges(column, at_once)]
    hits = np.sum(masks, axis=0) if masks else np.zeros(0)
    assert np.all(hits == 1)
    for mask in masks:
        chosen = set(column[mask].tolist())
        assert not chosen & set(column[~mask].tolist())


@given(ids=_IDS, others=_IDS, at_once=st.integers(1, 50))
def test_distinct_count_is_that_of_one_sort(
    ids: list[int], others: list[int], at_once: int
) -> None:
    first = np.array(ids, dtype=np.int64)
    second = np.array(others, dtype=np.int64)
    expected = len(np.unique(np.concatenate([first, second])))
    assert distinct_count(first, second, at_once=at_once) == expected


def test_ranges_split_many_ids_evenly() -> None:
    # Hashes and small integers alike: no range holds much more than its share.
    rng = np.random.default_rng(7)
    for column in (rng.integers(-(2**63), 2**63 - 1, 100_000), rng.integers(0, 60_000, 100_000)):
        sizes = [int(in_range(column, lo, hi).sum()) for lo, hi in id_ranges(column, 10_000)]
        assert len(sizes) >= 9
        assert max(sizes) < 2 * 10_000


def test_a_range_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(id_ranges(np.zeros(3, dtype=np.int64), 0))


@given(ids=_IDS)
def test_distinct_is_np_unique(ids: list[int]) -> None:
    column = np.array(ids, dtype=np.int64)
    assert np.array_equal(distinct(column.copy()), np.unique(column))
