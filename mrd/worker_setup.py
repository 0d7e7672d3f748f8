"""Worker processes that log, and let htslib speak, as the process that started them.

Both pools of mrd use it: samples of a cohort (:mod:`mrd.monitoring.parallel`) and the gene
windows of one sample (:func:`mrd.call.call_sample` with ``workers``).
"""

from __future__ import annotations

import importlib
import logging

import pysam


def worker_settings() -> tuple[int, str | None, int]:
    """This process's root log level and format and htslib's verbosity, for workers to match."""
    root = logging.getLogger()
    formats = [h.formatter._fmt for h in root.handlers if h.formatter is not None]
    return root.level, formats[0] if formats else None, pysam.get_verbosity()


def start_worker(
    modules: tuple[str, ...], level: int, log_format: str | None, htslib_verbosity: int
) -> None:
    """Set up a fresh worker process as :func:`worker_settings` described its parent.

    Module level, so that spawn can pickle it. A spawned process starts with no logging set up
    and htslib at its default verbosity: without this, ``--quiet`` would not quieten it, its
    warnings would lose their ``WARNING mrd...`` prefix, and htslib would print its own lines
    above a failing sample's error when the command line keeps them back (see
    :func:`mrd.ngs.alignment.show_htslib_messages`). Then ``modules`` are imported once,
    before the first task.
    """
    if log_format is not None:
        logging.basicConfig(level=level, format=log_format, force=True)
    else:
        logging.getLogger().setLevel(level)
    pysam.set_verbosity(htslib_verbosity)
    for name in modules:
        importlib.import_module(name)
