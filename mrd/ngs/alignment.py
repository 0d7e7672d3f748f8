"""Open BAM and CRAM files with every check a lab would want before trusting a result.

A silent wrong answer is worse than a refusal: a truncated BAM reads "fine" up to the cut, a
CRAM decoded against the wrong reference gives wrong bases, and a BAM of the other build puts
FLT3 somewhere else. So :func:`open_alignments` checks, in order: the file exists and is BAM or
CRAM by its magic bytes; a CRAM has a reference; the BGZF end-of-file marker is present; the
header is coordinate-sorted with an index (or builds one on request); the genome build and
chromosome naming are told from the header and agree with ``--build``.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pysam
from pysam.utils import SamtoolsError

from mrd.errors import InputFileError
from mrd.genome import Build, GenomeInfo, detect_genome

log = logging.getLogger(__name__)

# An empty BGZF block: htslib writes it last in every complete BAM (SAM spec §4.1.2).
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
# The empty end-of-file container that ends every complete CRAM 3.x file (CRAM spec §9).
_CRAM3_EOF = bytes.fromhex(
    "0f000000ffffffff0fe0454f4600000000010005bdd94f0001000606010001000100ee63014b"
)


def show_htslib_messages(shown: bool) -> None:
    """Let htslib print its own diagnostics to standard error, or keep them back.

    htslib writes straight to file descriptor 2, so a damaged BAM gives lines such as
    ``[E::bgzf_uncompress] Inflate operation failed`` above the one line in which mrd says the
    same thing in words a lab can act on. The command line keeps them for debug output (-vv),
    where the low-level detail helps; a library caller keeps htslib's default. The setting is
    per process; mrd's worker processes copy their parent's (:mod:`mrd.worker_setup`). A read
    error's own line names every cause a user can act on (for a CRAM, the reference too), since
    htslib's explanation is not shown.
    """
    pysam.set_verbosity(_HTSLIB_WARNINGS if shown else 0)


_HTSLIB_WARNINGS = 3  # htslib's default level: errors and warnings


class AlignmentFormat(str, enum.Enum):
    """Formats we read; SAM is refused because it cannot be fetched by region."""

    BAM = "BAM"
    CRAM = "CRAM"


def sniff_format(path: Path) -> AlignmentFormat:
    """Tell BAM from CRAM by magic bytes, so a misnamed file is still read right.

    Raises:
        InputFileError: For a missing, empty, unreadable or non-BAM/CRAM file.
    """
    if not path.exists():
        raise InputFileError(f"alignment file not found: {path}")
    if not path.is_file():
        raise InputFileError(f"not a file: {path}")
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from None
    if not head:
        raise InputFileError(f"{path} is empty")
    if head == b"CRAM":
        return AlignmentFormat.CRAM
    if head[:2] == b"\x1f\x8b":
        return AlignmentFormat.BAM
    if head[:1] == b"@":
        raise InputFileError(
            f"{path} is SAM text; convert it with 'samtools sort -o OUT.bam {path}' "
            "and index it with 'samtools index OUT.bam'"
        )
    raise InputFileError(f"{path} is neither BAM nor CRAM (unrecognised file signature)")


def _ends_with(path: Path, marker: bytes) -> bool:
    size = path.stat().st_size
    if size < len(marker):
        return False
    with path.open("rb") as handle:
        handle.seek(size - len(marker))
        return handle.read() == marker


def _is_complete(path: Path, fmt: AlignmentFormat) -> bool:
    """Whether the file ends with its format's end-of-file marker (a cut copy does not)."""
    if fmt is AlignmentFormat.BAM:
        return _ends_with(path, _BGZF_EOF)
    with path.open("rb") as handle:
        major = handle.read(5)[4:5]
    # CRAM 2.x files have another marker; only 3.x, what current tools write, is checked.
    return major != b"\x03" or _ends_with(path, _CRAM3_EOF)


def _index_candidates(path: Path, fmt: AlignmentFormat) -> list[Path]:
    if fmt is AlignmentFormat.CRAM:
        return [Path(f"{path}.crai"), path.with_suffix(".crai")]
    return [Path(f"{path}.bai"), path.with_suffix(".bai"), Path(f"{path}.csi")]


def find_index(path: Path, fmt: AlignmentFormat) -> Path | None:
    """The index file next to an alignment file, in the places samtools looks, or None."""
    for candidate in _index_candidates(path, fmt):
        if candidate.is_file():
            return candidate
    return None


def build_index(path: Path) -> Path:
    """Build a .bai/.crai next to ``path`` with pysam (samtools index).

    Raises:
        InputFileError: When the folder is not writable or the file is not coordinate-sorted.
    """
    if not os.access(path.parent, os.W_OK):
        raise InputFileError(
            f"cannot build an index for {path}: {path.parent} is not writable; "
            f"run 'samtools index {path}' where you can write"
        )
    try:
        pysam.index(str(path))
    except SamtoolsError as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "samtools failed"
        raise InputFileError(
            f"cannot index {path} (is it coordinate-sorted? 'samtools sort' first): {detail}"
        ) from None
    fmt = sniff_format(path)
    found = find_index(path, fmt)
    if found is None:  # pragma: no cover - samtools reported success but wrote nothing
        raise InputFileError(f"indexing {path} produced no index file")
    return found


@dataclass
class AlignmentSource:
    """An open, checked alignment file plus what we learnt about it.

    Use as a context manager, or call :meth:`close`. Each worker process must open its own
    (pysam handles cannot be shared across processes).

    Attributes:
        path: The BAM or CRAM path.
        format: BAM or CRAM.
        genome: Detected build and chromosome naming.
        file: The open pysam handle.
        index_path: The index used for region fetches.
        lengths: Reference name to length, from the @SQ lines.
        read_groups: Read-group IDs with their sample names, from the header.
    """

    path: Path
    format: AlignmentFormat
    genome: GenomeInfo
    file: pysam.AlignmentFile
    index_path: Path
    lengths: dict[str, int] = field(default_factory=dict)
    read_groups: dict[str, str] = field(default_factory=dict)

    @property
    def samples(self) -> list[str]:
        """Distinct sample names (SM) in the read groups, in header order."""
        return list(dict.fromkeys(self.read_groups.values()))

    def close(self) -> None:
        """Close the pysam handle."""
        self.file.close()

    def __enter__(self) -> AlignmentSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        # After a read error htslib may fail to close as well; that second error would hide
        # the first (and the one-line message made for it) behind "Closing failed".
        with contextlib.suppress(OSError):
            self.close()


def open_alignments(
    path: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | None = None,
    build: Build | str | None = None,
    make_index: bool = False,
) -> AlignmentSource:
    """Open a BAM or CRAM after checking everything that could make its results wrong.

    Args:
        path: BAM or CRAM file.
        reference: Genome FASTA; required for CRAM (bases are stored as differences to it).
        build: The build the user says the file is; it must agree with the header.
        make_index: Build a missing index next to the file instead of failing.

    Returns:
        The open source; close it when done.

    Raises:
        InputFileError: Missing, unreadable, truncated or corrupt file; CRAM without reference;
            unsorted file; missing index.
        GenomeBuildError: Unknown build, or a build that contradicts ``build``.
    """
    file_path = Path(path)
    fmt = sniff_format(file_path)
    reference_path: Path | None = Path(reference) if reference is not None else None
    if fmt is AlignmentFormat.CRAM:
        if reference_path is None:
            raise InputFileError(
                f"{file_path} is CRAM: give the genome FASTA it was written against with "
                "--reference"
            )
        if not reference_path.is_file():
            raise InputFileError(f"reference FASTA not found: {reference_path}")
    if not _is_complete(file_path, fmt):
        raise InputFileError(
            f"{file_path} is truncated or corrupt (no {fmt.value} end-of-file marker); "
            "re-copy or re-create it"
        )

    index_path = find_index(file_path, fmt)
    if index_path is not None and index_path.stat().st_mtime < file_path.stat().st_mtime:
        # samtools warns the same way; a copy can reorder timestamps, so refusing would be wrong
        # as often as right, but a rewritten file with its old index fetches the wrong records.
        log.warning(
            "%s: index %s is older than the file; re-index it if the file was rewritten",
            file_path,
            index_path.name,
        )
    try:
        handle = _open_pysam(file_path, fmt, reference_path, index_path)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read {file_path}: {_one_line(exc)}") from None

    try:
        header = handle.header.to_dict()
        sort_order = header.get("HD", {}).get("SO", "unknown")
        if sort_order != "coordinate":
            raise InputFileError(
                f"{file_path} is not coordinate-sorted (@HD SO:{sort_order}); run "
                f"'samtools sort -o SORTED.bam {file_path}' and index the result"
            )
        lengths = dict(zip(handle.references, handle.lengths, strict=True))
        genome = detect_genome(lengths, build)
        if index_path is None:
            if not make_index:
                raise InputFileError(
                    f"{file_path} has no index; run 'samtools index {file_path}' "
                    "(or pass --index to build it next to the file)"
                )
            handle.close()
            index_path = build_index(file_path)
            log.info("built index %s", index_path)
            handle = _open_pysam(file_path, fmt, reference_path, index_path)
        read_groups = {
            str(rg.get("ID")): str(rg.get("SM", rg.get("ID"))) for rg in header.get("RG", [])
        }
    except BaseException:
        handle.close()
        raise
    return AlignmentSource(
        path=file_path,
        format=fmt,
        genome=genome,
        file=handle,
        index_path=index_path,
        lengths=lengths,
        read_groups=read_groups,
    )


def _open_pysam(
    path: Path, fmt: AlignmentFormat, reference: Path | None, index: Path | None
) -> pysam.AlignmentFile:
    if fmt is AlignmentFormat.CRAM:
        # Otherwise htslib may look reference sequences up by MD5 in REF_PATH, by default a
        # public server; a clinical run must decode against the FASTA it was given, only.
        os.environ["REF_PATH"] = os.devnull
        return pysam.AlignmentFile(
            str(path),
            "rc",
            reference_filename=str(reference),
            index_filename=str(index) if index else None,
        )
    return pysam.AlignmentFile(
        str(path), "rb", index_filename=str(index) if index else None, require_index=False
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
