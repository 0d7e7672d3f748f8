"""Align simulated read pairs with a real aligner and place them at genomic coordinates.

The reads are aligned to the catalog windows as small contigs (fast, and no genome FASTA is
needed), then every record is moved to its chromosome and true position. Records keep what the
aligner decided (CIGAR insertions, soft clips, split alignments with hard-clipped supplementary
records and ``SA`` tags, MAPQ, NM, MD), because callers must be tested on what aligners really
write, not on an idealised picture of the variant.
"""

from __future__ import annotations

import array
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pysam

from mrd.catalog import ReferenceWindow
from mrd.errors import MissingDependencyError, MrdError
from mrd.simulate.reads import ReadPair, reverse_complement

# BAM CIGAR operation codes.
_SOFT, _HARD = 4, 5
_REF_CONSUMING = frozenset((0, 2, 3, 7, 8))

MAX_PROPER_INSERT = 2000
"""Largest template length still called a proper pair (the windows are at most 1.5 kb)."""


class AlignerError(MrdError):
    """The requested aligner is unavailable or failed."""


@dataclass(frozen=True)
class Contig:
    """A window as aligned to, and where it sits in the genome header."""

    name: str
    window: ReferenceWindow
    tid: int
    chrom: str

    def genomic(self, offset: int) -> int:
        """0-based genomic position of a 0-based contig offset."""
        return self.window.start - 1 + offset


@dataclass
class AlignmentStats:
    """Counts of what the aligner made of the reads, per gene window."""

    read_pairs: int = 0
    records: int = 0
    mapped_reads: int = 0
    unmapped_reads: int = 0
    supplementary: int = 0
    proper_pairs: int = 0
    by_haplotype: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        """Plain dict for the truth JSON."""
        return {
            "read_pairs": self.read_pairs,
            "records": self.records,
            "mapped_reads": self.mapped_reads,
            "unmapped_reads": self.unmapped_reads,
            "supplementary_records": self.supplementary,
            "proper_pairs": self.proper_pairs,
        }


def write_contigs(contigs: Iterable[Contig], path: Path) -> None:
    """Write the windows as a FASTA of small contigs for the aligner."""
    with path.open("w", encoding="ascii") as out:
        for contig in contigs:
            out.write(f">{contig.name}\n")
            sequence = contig.window.sequence
            for i in range(0, len(sequence), 60):
                out.write(sequence[i : i + 60] + "\n")


def _cigar_string(cigar: list[tuple[int, int]]) -> str:
    return "".join(f"{length}{'MIDNSHP=X'[op]}" for op, length in cigar)


def _reference_span(cigar: list[tuple[int, int]]) -> int:
    return sum(length for op, length in cigar if op in _REF_CONSUMING)


def md_and_nm(
    reference: str, pos: int, cigar: list[tuple[int, int]], query: str, query_start: int
) -> tuple[str, int]:
    """The ``MD`` string and edit distance ``NM`` of an alignment, as the SAM spec defines them.

    Args:
        reference: Contig sequence.
        pos: 0-based start of the alignment on the contig.
        cigar: Aligned part of the CIGAR (no clips), BAM operation codes.
        query: Read bases in alignment orientation.
        query_start: Offset of the first aligned base in ``query`` (the left clip).
    """
    md: list[str] = []
    run = 0
    nm = 0
    r, q = pos, query_start
    for op, n in cigar:
        if op in (0, 7, 8):
            if query[q : q + n] == reference[r : r + n]:
                run += n
            else:
                for read_base, ref_base in zip(query[q : q + n], reference[r : r + n], strict=True):
                    if read_base == ref_base:
                        run += 1
                    else:
                        md.append(f"{run}{ref_base}")
                        run = 0
                        nm += 1
            r += n
            q += n
        elif op == 1:
            nm += n
            q += n
        elif op == 2:
            md.append(f"{run}^{reference[r : r + n]}")
            run = 0
            nm += n
            r += n
        elif op == 3:
            r += n
    md.append(str(run))
    return "".join(md), nm


@dataclass
class _Hit:
    """One linear alignment of one read, in contig coordinates."""

    contig: Contig
    pos: int
    reverse: bool
    core: list[tuple[int, int]]
    clip_left: int
    clip_right: int
    mapq: int
    nm: int
    md: str

    def cigar(self, clip_op: int) -> list[tuple[int, int]]:
        out = [(clip_op, self.clip_left)] if self.clip_left else []
        out += self.core
        if self.clip_right:
            out.append((clip_op, self.clip_right))
        return out

    @property
    def genomic_pos(self) -> int:
        return self.contig.genomic(self.pos)

    @property
    def end(self) -> int:
        return self.genomic_pos + _reference_span(self.core)

    @property
    def five_prime(self) -> int:
        """The read's 5' edge: its start, or its (exclusive) end when reversed."""
        return self.end if self.reverse else self.genomic_pos

    def sa_entry(self) -> str:
        strand = "-" if self.reverse else "+"
        cigar = _cigar_string(self.cigar(_SOFT))
        return f"{self.contig.chrom},{self.genomic_pos + 1},{strand},{cigar},{self.mapq},{self.nm};"


def _oriented(seq: str, qual: Any, reverse: bool) -> tuple[str, Any]:
    if reverse:
        return reverse_complement(seq), qual[::-1]
    return seq, qual


def _quality_array(qual: Any) -> array.array[int]:
    return array.array("B", bytes(qual))


class MappyAligner:
    """minimap2 through mappy, preset ``sr``, pairs mapped together.

    Raises:
        MissingDependencyError: When mappy is not installed.
    """

    name = "minimap2"

    def __init__(self, contigs: list[Contig], scratch: Path) -> None:
        try:
            import mappy
        except ImportError:
            raise MissingDependencyError(
                "the read simulator aligns with minimap2 through mappy, which is not installed; "
                "run: pip install 'mrd[simulate]'"
            ) from None
        fasta = scratch / "windows.fa"
        write_contigs(contigs, fasta)
        self._aligner = mappy.Aligner(str(fasta), preset="sr")
        if not self._aligner:
            raise AlignerError("minimap2 (mappy) could not index the window sequences")
        self._contigs = {c.name: c for c in contigs}
        self.version = str(getattr(mappy, "__version__", "unknown"))
        self.command_line = "mappy.Aligner(preset='sr').map(read1, read2)"

    def _hits(self, seq1: str, seq2: str) -> tuple[list[_Hit], list[_Hit]]:
        hits: tuple[list[_Hit], list[_Hit]] = ([], [])
        for hit in self._aligner.map(seq1, seq2):
            if not hit.is_primary:
                continue  # secondary alignments are dropped, as samtools users expect
            seq = seq1 if hit.read_num == 1 else seq2
            length = len(seq)
            q_st, q_en = hit.q_st, hit.q_en
            if hit.read_num == 2:
                # mappy reports read 2 query offsets on its reverse complement (frag mode
                # flips read 2 internally), and its MD for read 2 is not usable: both are
                # recomputed here from the read itself.
                q_st, q_en = length - q_en, length - q_st
            reverse = hit.strand < 0
            left, right = (length - q_en, q_st) if reverse else (q_st, length - q_en)
            contig = self._contigs[hit.ctg]
            core = [(op, n) for n, op in hit.cigar]
            oriented = reverse_complement(seq) if reverse else seq
            md, nm = md_and_nm(contig.window.sequence, hit.r_st, core, oriented, left)
            hits[hit.read_num - 1].append(
                _Hit(contig, hit.r_st, reverse, core, left, right, hit.mapq, nm, md)
            )
        return hits

    def align(
        self, pairs: list[ReadPair], header: pysam.AlignmentHeader, read_group: str
    ) -> Iterator[tuple[ReadPair, list[pysam.AlignedSegment]]]:
        """Align each pair and build its SAM records (name-grouped: read 1, then read 2)."""
        for pair in pairs:
            hits1, hits2 = self._hits(pair.seq1, pair.seq2)
            yield pair, _pair_records(pair, hits1, hits2, header, read_group)


def _proper(first: _Hit | None, second: _Hit | None) -> bool:
    """Whether two primary hits form a proper pair: same contig, FR orientation, sane span."""
    if first is None or second is None or first.contig.tid != second.contig.tid:
        return False
    if first.reverse == second.reverse:
        return False
    forward, reverse = (second, first) if first.reverse else (first, second)
    span = max(first.end, second.end) - min(first.genomic_pos, second.genomic_pos)
    return forward.genomic_pos <= reverse.end and span <= MAX_PROPER_INSERT


def _pair_records(
    pair: ReadPair,
    hits1: list[_Hit],
    hits2: list[_Hit],
    header: pysam.AlignmentHeader,
    read_group: str,
) -> list[pysam.AlignedSegment]:
    reads = ((pair.seq1, pair.qual1, hits1), (pair.seq2, pair.qual2, hits2))
    primaries = [hits[0] if hits else None for _, _, hits in reads]
    proper = _proper(primaries[0], primaries[1])
    records: list[pysam.AlignedSegment] = []
    for index, (seq, qual, hits) in enumerate(reads):
        own, mate = primaries[index], primaries[1 - index]
        base_flag = 0x1 | (0x40 if index == 0 else 0x80)
        if proper:
            base_flag |= 0x2
        if mate is None:
            base_flag |= 0x8
        elif mate.reverse:
            base_flag |= 0x20
        tags: list[tuple[str, Any]] = []
        if own is None:
            record = pysam.AlignedSegment(header)
            record.query_name = pair.name
            record.flag = base_flag | 0x4
            record.query_sequence = seq
            record.query_qualities = _quality_array(qual)
            if mate is not None:  # placed with its mate, as the SAM spec recommends
                record.reference_id = mate.contig.tid
                record.reference_start = mate.genomic_pos
                record.next_reference_id = mate.contig.tid
                record.next_reference_start = mate.genomic_pos
                tags.append(("MC", _cigar_string(mate.cigar(_SOFT))))
            else:
                record.reference_id = -1
                record.reference_start = -1
                record.next_reference_id = -1
                record.next_reference_start = -1
            record.mapping_quality = 0
            _finish_tags(record, tags, pair, read_group)
            records.append(record)
            continue
        tlen = 0
        if mate is not None and mate.contig.tid == own.contig.tid:
            # From this read's 5' end to its mate's, as samtools fixmate measures it; for the
            # usual FR pair that is the leftmost-to-rightmost span.
            tlen = mate.five_prime - own.five_prime
        for n, hit in enumerate(hits):
            supplementary = n > 0
            record = pysam.AlignedSegment(header)
            record.query_name = pair.name
            flag = base_flag | (0x10 if hit.reverse else 0) | (0x800 if supplementary else 0)
            record.flag = flag
            oriented_seq, oriented_qual = _oriented(seq, qual, hit.reverse)
            if supplementary:
                stop = len(oriented_seq) - hit.clip_right
                oriented_seq = oriented_seq[hit.clip_left : stop]
                oriented_qual = oriented_qual[hit.clip_left : stop]
                record.cigartuples = hit.cigar(_HARD)
            else:
                record.cigartuples = hit.cigar(_SOFT)
            record.query_sequence = oriented_seq
            record.query_qualities = _quality_array(oriented_qual)
            record.reference_id = hit.contig.tid
            record.reference_start = hit.genomic_pos
            record.mapping_quality = hit.mapq
            if mate is not None:
                record.next_reference_id = mate.contig.tid
                record.next_reference_start = mate.genomic_pos
                record.template_length = tlen
            else:
                # The unmapped mate sits at its partner's primary position, so every record of
                # this read, supplementary ones included, points there.
                record.next_reference_id = own.contig.tid
                record.next_reference_start = own.genomic_pos
            tags = [("NM", hit.nm), ("MD", hit.md)]
            if mate is not None:
                tags.append(("MC", _cigar_string(mate.cigar(_SOFT))))
            if len(hits) > 1:
                tags.append(("SA", "".join(h.sa_entry() for h in hits if h is not hit)))
            _finish_tags(record, tags, pair, read_group)
            records.append(record)
    return records


def _finish_tags(
    record: pysam.AlignedSegment,
    tags: list[tuple[str, Any]],
    pair: ReadPair,
    read_group: str,
) -> None:
    tags.append(("RG", read_group))
    if pair.umi:
        tags.append(("RX", pair.umi))
    record.set_tags(tags)


# --------------------------------------------------------------------------------------------
# bwa mem


class BwaAligner:
    """``bwa mem`` on a temporary index of the windows, its SAM moved to genomic coordinates.

    Raises:
        AlignerError: When bwa is not on PATH or fails.
    """

    name = "bwa"

    def __init__(self, contigs: list[Contig], scratch: Path) -> None:
        executable = shutil.which("bwa")
        if executable is None:
            raise AlignerError(
                "aligner 'bwa' was requested but no bwa executable is on PATH; install bwa or "
                "use the default aligner (mappy)"
            )
        self._bwa = executable
        self._scratch = scratch
        self._contigs = {c.name: c for c in contigs}
        self._fasta = scratch / "windows.fa"
        write_contigs(contigs, self._fasta)
        self._run([self._bwa, "index", str(self._fasta)])
        self.version = self._detect_version()
        self.command_line = "bwa mem -t 1 -C windows.fa reads_1.fq reads_2.fq"

    def _run(self, command: list[str], stdout: Any = subprocess.DEVNULL) -> None:
        try:
            result = subprocess.run(
                command, stdout=stdout, stderr=subprocess.PIPE, check=False, cwd=self._scratch
            )
        except OSError as exc:
            raise AlignerError(f"cannot run {command[0]}: {exc}") from None
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip().splitlines()
            raise AlignerError(f"{' '.join(command[:2])} failed: {message[-1] if message else ''}")

    def _detect_version(self) -> str:
        result = subprocess.run([self._bwa], capture_output=True, check=False)
        for line in result.stderr.decode(errors="replace").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    def align_all(
        self, chunks: Iterable[list[ReadPair]], header: pysam.AlignmentHeader, read_group: str
    ) -> Iterator[tuple[ReadPair, list[pysam.AlignedSegment]]]:
        """Write all pairs to FASTQ, run bwa once, and yield relocated records per pair."""
        fastq1, fastq2 = self._scratch / "reads_1.fq", self._scratch / "reads_2.fq"
        pairs: dict[str, ReadPair] = {}
        with fastq1.open("w", encoding="ascii") as out1, fastq2.open("w", encoding="ascii") as out2:
            for chunk in chunks:
                for pair in chunk:
                    pairs[pair.name] = pair
                    comment = f"\tRX:Z:{pair.umi}" if pair.umi else ""
                    for out, seq, qual in (
                        (out1, pair.seq1, pair.qual1),
                        (out2, pair.seq2, pair.qual2),
                    ):
                        phred = bytes(q + 33 for q in bytes(qual)).decode("ascii")
                        out.write(f"@{pair.name}{comment}\n{seq}\n+\n{phred}\n")
        sam = self._scratch / "aligned.sam"
        with sam.open("wb") as handle:
            command = [self._bwa, "mem", "-t", "1", "-v", "1", "-C", str(self._fasta)]
            self._run([*command, str(fastq1), str(fastq2)], stdout=handle)
        with pysam.AlignmentFile(str(sam), "r") as aligned:
            current: list[pysam.AlignedSegment] = []
            name = None
            for record in aligned:
                if record.is_secondary:
                    continue
                if record.query_name != name and current:
                    yield pairs[str(name)], _order(current)
                    current = []
                name = record.query_name
                current.append(self._relocate(record, header, read_group))
            if current:
                yield pairs[str(name)], _order(current)
        for path in (sam, fastq1, fastq2):
            os.unlink(path)

    def _relocate(
        self, record: pysam.AlignedSegment, header: pysam.AlignmentHeader, read_group: str
    ) -> pysam.AlignedSegment:
        data = record.to_dict()
        own = self._contigs.get(data["ref_name"])
        for name_key, pos_key in (("ref_name", "ref_pos"), ("next_ref_name", "next_ref_pos")):
            contig = own if data[name_key] == "=" else self._contigs.get(data[name_key])
            if contig is not None:
                if data[name_key] != "=":
                    data[name_key] = contig.chrom
                data[pos_key] = str(int(data[pos_key]) + contig.window.start - 1)
        tags = []
        for tag in data.get("tags", []):
            key = tag[:2]
            if key == "SA":
                tag = "SA:Z:" + self._shift_list(tag[5:], sa=True)
            elif key == "XA":
                tag = "XA:Z:" + self._shift_list(tag[5:], sa=False)
            elif key == "RG":
                continue
            tags.append(tag)
        tags.append(f"RG:Z:{read_group}")
        data["tags"] = tags
        relocated: pysam.AlignedSegment = pysam.AlignedSegment.from_dict(data, header)
        return relocated

    def _shift_list(self, text: str, *, sa: bool) -> str:
        """Move ``SA`` (``ctg,pos,strand,...``) or ``XA`` (``ctg,±pos,...``) entries."""
        out = []
        for entry in filter(None, text.split(";")):
            fields = entry.split(",")
            contig = self._contigs[fields[0]]
            fields[0] = contig.chrom
            shift = contig.window.start - 1
            if sa:
                fields[1] = str(int(fields[1]) + shift)
            else:
                fields[1] = f"{fields[1][0]}{int(fields[1][1:]) + shift}"
            out.append(",".join(fields))
        return "".join(f"{e};" for e in out)


def _order(records: list[pysam.AlignedSegment]) -> list[pysam.AlignedSegment]:
    """Read 1 before read 2, each primary before its supplementary records."""
    return sorted(records, key=lambda r: (r.is_read2, r.is_supplementary))
