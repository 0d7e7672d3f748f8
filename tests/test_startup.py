"""What loading the command line costs before any sample is read."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_leaves_heavy_scipy_modules_unloaded() -> None:
    """scipy.stats and scipy.signal load on first use, not with the command line.

    Together they are some 70 MiB resident and most of a second: loaded at start-up they sit
    under the deepest window's reads, where a 10M-record run peaks, and they slow every
    ``mrd --help`` and every rejected input.
    """
    probe = (
        "import sys, mrd, mrd.cli, mrd.call, mrd.stats.sensitivity, mrd.markers.insertions\n"
        "print(sorted(m for m in sys.modules if m in ('scipy.stats', 'scipy.signal',"
        " 'scipy.optimize', 'pandas', 'matplotlib')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
