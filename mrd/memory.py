"""Memory that mrd frees goes back to the operating system, not only to the C allocator.

glibc's malloc raises its mmap threshold to the size of each large block freed (up to 32
MiB). After a deep window frees its first arrays, later arrays of a few MiB come from the
heap instead of their own mappings, and freeing them leaves the heap fragmented and the
process's resident memory at its high-water mark. The next window, or the next pass over a
deep window, then grows on top of memory no longer in use. Fixing the thresholds (which ends
their dynamic adjustment, see ``mallopt(3)``) keeps large arrays in their own mappings, so
they are returned when freed. Dask's nanny does the same for its workers through
``MALLOC_TRIM_THRESHOLD_``.

Only the command line's entry point (:func:`mrd.cli.main`, in whatever process runs it) and
the workers mrd spawns call this: a pipeline that imports mrd's functions keeps its allocator as
it set it.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
THRESHOLD = 128 * 1024
"""Blocks from this size on get their own mapping, and a free heap top this large is trimmed
(glibc's initial values, fixed)."""


def return_freed_memory() -> bool:
    """Fix glibc's malloc thresholds at :data:`THRESHOLD`; False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; musl's accepts the call and returns 0.
    return bool(mallopt(_M_MMAP_THRESHOLD, THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, THRESHOLD)
    )
