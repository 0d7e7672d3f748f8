"""Writing result files so that a reader never sees a half-written one.

Everything goes to a temporary file in the destination folder and is renamed into place only
when complete; a crash or a kill leaves either the old file or none, never a truncated one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mrd.errors import InputFileError


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Give a temporary path beside ``destination`` and rename it there on success.

    Use this for writers that want a path (pysam, samtools). On error the temporary file is
    removed and ``destination`` is untouched.

    Raises:
        InputFileError: When the destination folder does not exist or is not writable.
    """
    target = Path(destination)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputFileError(f"output folder does not exist: {folder}")
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".part{suffix}", dir=folder
        )
    except OSError as exc:
        raise InputFileError(f"cannot write to {folder}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(destination: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Open a text file for writing that appears at ``destination`` only when closed cleanly."""
    with atomic_path(destination) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        yield handle


def write_json(destination: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_open(destination) as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")
