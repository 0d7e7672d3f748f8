"""Fetch records of a target region through the index, each tagged with its filter verdict.

pysam's ``fetch`` returns everything (duplicates, secondary, QC-fail); ``pileup`` silently caps
depth at 8,000 by default. We fetch and classify each record ourselves, so deep MRD data is never
truncated and every record lands in the :class:`FilterCounts` exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pysam

from mrd.errors import InputFileError, RegionError
from mrd.ngs.alignment import AlignmentFormat, AlignmentSource
from mrd.ngs.filters import DropReason, FilterCounts, ReadFilter
from mrd.ngs.region import Region

ClassifiedRead = tuple[pysam.AlignedSegment, DropReason | None]


def iter_region(
    source: AlignmentSource,
    region: Region,
    read_filter: ReadFilter | None = None,
    counts: FilterCounts | None = None,
    *,
    allow_empty: bool = False,
) -> Iterator[ClassifiedRead]:
    """Yield every record overlapping ``region`` with the reason it is dropped (None = used).

    Marker code takes records with reason None as depth and may also read those whose reason
    :attr:`DropReason.keeps_evidence` for split-read evidence. Counting happens here, once per
    record, so callers cannot double-count.

    Args:
        source: An open alignment source.
        region: The region, named as the header names chromosomes.
        read_filter: Filter settings; defaults to :class:`ReadFilter` defaults.
        counts: Given the records' counts when the iteration ends (run to the end, closed, or
            failed), so a caller that stops early has counted what it was given.
        allow_empty: Yield nothing instead of raising when no record overlaps the region.

    Raises:
        RegionError: Unknown chromosome, region past the chromosome end, or (unless
            ``allow_empty``) a region without a single record.
        InputFileError: When the file turns out to be corrupt while reading.
    """
    active_filter = read_filter or ReadFilter()
    tally = counts if counts is not None else FilterCounts()
    region.check_against(source.lengths)
    classify = active_filter.classify
    # Counted locally and added once at the end (also when the caller stops early): a method
    # call per record is a measurable share of the time at millions of records.
    used = 0
    dropped: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
    try:
        records = source.file.fetch(*region.pysam_args)
        first = next(records, None)
        if first is None:
            if allow_empty:
                return
            raise RegionError(
                f"no reads in target region {region}{f' ({region.name})' if region.name else ''}"
                f" of {source.path}; is this the right sample and panel?"
            )
        reason = classify(first)
        if reason is None:
            used += 1
        else:
            dropped[reason] += 1
        yield first, reason
        for read in records:
            reason = classify(read)
            if reason is None:
                used += 1
            else:
                dropped[reason] += 1
            yield read, reason
    except OSError as exc:
        raise _read_error(source, region, exc) from None
    finally:
        tally.add(used, dropped)


def has_records(source: AlignmentSource, region: Region) -> bool:
    """Whether any record overlaps ``region``, reading no further than the first.

    Raises:
        RegionError: Unknown chromosome or a region past the chromosome end.
        InputFileError: When the file turns out to be corrupt there.
    """
    region.check_against(source.lengths)
    try:
        return next(source.file.fetch(*region.pysam_args), None) is not None
    except OSError as exc:
        raise _read_error(source, region, exc) from None


def _read_error(source: AlignmentSource, region: Region, exc: OSError) -> InputFileError:
    """The one-line error for a file that fails while being read.

    htslib's own explanation goes to standard error, which the command line keeps quiet, so
    the line names every cause a user can act on. A CRAM also fails this way when decoded with
    another reference than it was written with, if the two differ anywhere in a slice read.
    """
    if source.format is AlignmentFormat.CRAM:
        return InputFileError(
            f"{source.path} could not be decoded while reading {region}: it is corrupt or "
            f"truncated, or --reference is not the FASTA it was written with ({exc})"
        )
    return InputFileError(f"{source.path} is corrupt or truncated while reading {region}: {exc}")


def count_region(
    source: AlignmentSource, region: Region, read_filter: ReadFilter | None = None
) -> FilterCounts:
    """Filter counts of one region without keeping the records."""
    counts = FilterCounts()
    for _ in iter_region(source, region, read_filter, counts, allow_empty=True):
        pass
    return counts
