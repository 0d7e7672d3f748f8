"""Writing result files so that a reader never sees a half-written one.

Everything goes to a temporary file in the destination folder and is renamed into place only
when complete; a crash or a kill leaves either the old file or none, never a truncated one.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from mrd.errors import OutputError


@contextlib.contextmanager
def staged_path(destination: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Give a temporary path beside ``destination``, removed again unless the caller renames it.

    For writers that produce several files that must appear together (a BAM and its index):
    stage each, then rename them all. Staging in the destination folder keeps the final rename
    on one file system, so it is atomic.

    Raises:
        OutputError: When the destination folder does not exist or is not writable, or the
            destination is not a regular file.
    """
    target = Path(destination)
    check_replaceable(target)
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}")
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".part{suffix}", dir=folder
        )
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); results get the mode the user's umask gives.
    tmp.chmod(0o666 & ~_umask())
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def check_replaceable(destination: str | os.PathLike[str]) -> None:
    """Refuse a destination that exists but is not a regular file (or a link to one).

    Results are renamed over their destination, which replaces whatever is there: given
    ``/dev/null`` or ``/dev/stdout`` by a user allowed to write in ``/dev`` (root, in a
    container), the rename would replace the device itself for every process on the machine.

    Raises:
        OutputError: When ``destination`` is a device, pipe, socket or folder.
    """
    target = Path(destination)
    try:
        mode = target.stat().st_mode  # follows links: a link to a device is a device
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device or pipe)"
        raise OutputError(f"output path {target} is {kind}; give the name of a file to write")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Give a temporary path beside ``destination`` and rename it there on success.

    Use this for writers that want a path (pysam, samtools). On error the temporary file is
    removed and ``destination`` is untouched.
    """
    with staged_path(destination, suffix) as tmp:
        yield tmp
        os.replace(tmp, destination)


@contextlib.contextmanager
def atomic_open(destination: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Open a text file for writing that appears at ``destination`` only when closed cleanly."""
    with atomic_path(destination) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        yield handle


def write_text(destination: str | os.PathLike[str], text: str) -> None:
    """Write a text file that appears under its name only once complete."""
    with atomic_open(destination) as handle:
        handle.write(text)


def write_json(destination: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text(destination, json.dumps(data, indent=2) + "\n")


def file_stem(name: str) -> str:
    """A sample name as a file name: anything but letters, digits and ``-_.`` becomes ``_``.

    Sample names come from BAM headers and sample sheets, which may hold path separators or
    markup; a file name built from them must stay inside the output folder (and not be hidden).
    """
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    return stem or "sample"


def input_clash(outputs: Mapping[str, Path], inputs: Mapping[str, Path]) -> tuple[str, str] | None:
    """The first ``(output name, input name)`` pair where writing would replace an input file.

    Outputs are renamed over their destination, so an output that is (or links to) an input
    would destroy the user's data; both must exist to be the same file.
    """
    existing = {name: path for name, path in inputs.items() if path.exists()}
    for output, target in outputs.items():
        if not target.exists():
            continue
        for name, source in existing.items():
            if target.samefile(source):
                return output, name
    return None
