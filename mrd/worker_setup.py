"""Worker processes that log, and let htslib speak, as the process that started them.

mrd's local process pools use it when they spawn their processes: samples of a cohort
(:mod:`mrd.monitoring.parallel`) and, where processes are not forked, the gene windows of one
sample (:func:`mrd.call.call_sample` with ``workers``). Workers of a Dask cluster belong to
the cluster and keep its settings.
"""

from __future__ import annotations

import importlib
import logging

import pysam

from mrd.memory import return_freed_memory


def worker_settings() -> tuple[int, str | None, int]:
    """This process's root log level and format and htslib's verbosity, for workers to match.

    Only a ``%``-style format is passed on (as the command line's is): another style would
    not parse in the worker, which then keeps logging's defaults at the same level.
    """
    root = logging.getLogger()
    formats = [
        h.formatter._fmt
        for h in root.handlers
        if h.formatter is not None and type(h.formatter._style) is logging.PercentStyle
    ]
    return root.level, formats[0] if formats else None, pysam.get_verbosity()


def start_worker(
    modules: tuple[str, ...], level: int, log_format: str | None, htslib_verbosity: int
) -> None:
    """Set up a fresh worker process as :func:`worker_settings` described its parent.

    Module level, so that spawn can pickle it. A spawned process starts with no logging set up
    and htslib at its default verbosity: without this, ``--quiet`` would not quieten it, its
    warnings would lose their ``WARNING mrd...`` prefix, and htslib would print its own lines
    above a failing sample's error when the command line keeps them back (see
    :func:`mrd.ngs.alignment.show_htslib_messages`). Freed memory is returned to the system
    as in the command line (:mod:`mrd.memory`). Then ``modules`` are imported once, before the
    first task.
    """
    if log_format is not None:
        logging.basicConfig(level=level, format=log_format, force=True)
    else:
        logging.getLogger().setLevel(level)
    pysam.set_verbosity(htslib_verbosity)
    return_freed_memory()  # the worker is mrd's own process, as the command line is
    for name in modules:
        importlib.import_module(name)
