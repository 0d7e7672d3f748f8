"""Errors that reach the user as one clear line.

Every problem caused by the user's input (a file, an option, a sample sheet) is raised as an
:class:`MrdError` subclass. The CLI prints ``str(error)`` on one line and exits non-zero; library
callers can catch the base class. Bugs stay ordinary exceptions so they are never mistaken for bad
input.
"""

from __future__ import annotations


class MrdError(Exception):
    """Base class for problems the user can fix; the message is meant to be read by them."""

    exit_code = 2


class InputFileError(MrdError):
    """An input file is missing, unreadable, truncated, corrupt or lacks its index."""


class GenomeBuildError(MrdError):
    """The genome build cannot be told, is not supported, or contradicts what the user said."""


class RegionError(MrdError):
    """A target region is malformed, outside the reference, or holds no reads."""


class ReferenceMismatchError(MrdError):
    """A user-supplied reference FASTA disagrees with the built-in marker catalog."""


class OutputError(MrdError):
    """An output file cannot be written where the user asked."""


class MissingDependencyError(MrdError):
    """An optional dependency needed for this feature is not installed."""


def user_error_behind(error: BaseException) -> MrdError | None:
    """The user-input error that ``error`` is, or was raised while handling; None for a bug.

    Cleanup can fail after a read error: closing a pysam handle whose BGZF stream broke raises
    ``OSError("Closing failed")`` from a ``with`` block's exit, and that second error would hide
    the clear message of the first behind a traceback. Following the exception chain recovers
    the message the user can act on.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, MrdError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
