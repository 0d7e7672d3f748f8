"""Freed arrays leave the process, so one deep window's peak is not carried into the next."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# One 31 MiB array freed raises glibc's dynamic mmap threshold (mrd's own import may have
# raised it already); then 100 arrays of 1 MiB come from the heap, pinned apart by small arrays
# that stay, and are freed. Prints the MiB still resident after the free.
_PROBE = """
import os
import sys
import numpy as np
from mrd.memory import return_freed_memory

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

if sys.argv[1] == "fixed":
    assert return_freed_memory()
base = resident()
first = np.ones(31 * 2**17)
del first
held, pins = [], []
for _ in range(100):
    held.append(np.ones(2**17))
    pins.append(np.ones(2**9))
del held
print(resident() - base)
"""


def _left_resident(mode: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_arrays_are_returned_to_the_system() -> None:
    if _left_resident("dynamic") < 20:
        pytest.skip("this C library returns such memory without being told")
    assert _left_resident("fixed") < 5


def test_return_freed_memory_says_whether_it_could() -> None:
    # True exactly where glibc's mallopt takes the settings (in a fresh process, so the test
    # process keeps its allocator as it was).
    done = subprocess.run(
        [sys.executable, "-c", "from mrd.memory import return_freed_memory as r; print(r())"],
        capture_output=True,
        text=True,
        check=True,
    )
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert done.stdout.strip() == str(glibc)
