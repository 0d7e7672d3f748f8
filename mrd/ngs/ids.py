"""Template ids in ranges, so that deep windows sort their ids a range at a time.

A window of ten million records holds tens of MiB per column of 64-bit template ids; sorting
one whole column (or a concatenated copy) doubles that at the moment memory peaks. Cutting
the ids into ranges, each with every record of its templates, lets a caller sort a range at
a time and get the same answer as one sort of everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

IdArray = NDArray[np.int64]


def id_ranges(ids: IdArray, at_once: int) -> Iterator[tuple[int | None, int | None]]:
    """Half-open ranges ``[low, high)`` of id values (None: unbounded) covering every id.

    There are about ``len(ids) / at_once`` of them, cut at quantiles of a sample of ``ids``,
    so that any ids (hashes or small integers) split evenly; equal ids always share a range.
    One range (both bounds None) when the ids fit in one sort.
    """
    if at_once < 1:
        raise ValueError(f"at_once must be at least 1, not {at_once}")
    parts = -(-len(ids) // at_once)
    if parts <= 1:
        yield None, None
        return
    sample = np.sort(ids[:: max(1, len(ids) // (64 * parts))])
    cuts = np.unique(sample[(np.arange(1, parts) * len(sample)) // parts]).tolist()
    bounds: list[int | None] = [None, *cuts, None]
    yield from pairwise(bounds)


def in_range(ids: IdArray, low: int | None, high: int | None) -> NDArray[np.bool_]:
    """Which ids fall in ``[low, high)`` (see :func:`id_ranges`)."""
    if low is None:
        return np.ones(len(ids), dtype=bool) if high is None else ids < high
    mask = ids >= low
    if high is not None:
        mask &= ids < high
    return mask


def distinct(ids: IdArray) -> IdArray:
    """``ids`` sorted and without repeats; sorts ``ids`` itself.

    As ``np.unique`` without its copy, for arrays of tens of MiB that are the caller's own.
    """
    ids.sort()
    return ids[np.append(True, ids[1:] != ids[:-1])] if len(ids) else ids


def distinct_count(*columns: IdArray, at_once: int = 1 << 20) -> int:
    """How many distinct ids the columns hold together, sorting a range of ids at a time."""
    if not any(len(column) for column in columns):
        return 0
    largest = max(columns, key=len)
    total = 0
    for low, high in id_ranges(largest, at_once):
        part = np.concatenate([column[in_range(column, low, high)] for column in columns])
        total += len(distinct(part))
    return total
