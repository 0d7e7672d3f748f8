"""Where a monitoring run's sample calls execute: in this process, in local processes, or on Dask.

A run of 200 samples spends nearly all its time in independent per-sample calls, each reading
its own BAM; they parallelise well as long as each worker opens its own file handle (a pysam
handle cannot cross a process boundary). The one ordering constraint, a patient's diagnosis
before that patient's follow-ups, is kept by the caller (:func:`mrd.monitoring.monitor.monitor`),
which submits a follow-up only after its diagnosis came back. So the runners here only need to
start tasks and hand back whichever finishes next, and may accept new tasks while others run.

All three runners behave the same to the caller: a task that raises comes back as its exception
instead of ending the run, so one bad sample never costs the other samples' work.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import IO, Any, Generic, Protocol, TypeVar

from mrd.errors import MissingDependencyError, MrdError
from mrd.worker_setup import start_worker, worker_settings

__all__ = [
    "DaskRunner",
    "ProcessRunner",
    "ProgressLine",
    "Runner",
    "SerialRunner",
    "WorkerDiedError",
    "make_runner",
    "one_line_error",
]

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K")


def one_line_error(exc: BaseException) -> str:
    """An exception as the one line a sample's ``error`` field holds.

    User errors (:class:`~mrd.errors.MrdError`) are already written to be read; anything else is
    a bug or a crashed worker, so its type is kept to tell the two apart.
    """
    text = " ".join(str(exc).split())
    if isinstance(exc, MrdError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Runner(Protocol[K, T, R]):
    """Starts ``fn(item)`` tasks and yields ``(key, result or exception)`` as each finishes."""

    def submit(self, key: K, fn: Callable[[T], R], item: T) -> None:
        """Queue one task; ``fn`` must be a module-level function when work leaves the process."""

    def completed(self) -> Iterator[tuple[K, R | BaseException]]:
        """Finished tasks, including those submitted while iterating, until none is pending."""

    def close(self) -> None:
        """Release workers or the scheduler connection."""


class SerialRunner(Generic[K, T, R]):
    """Runs each task in this process when asked for the next result: ``--workers 1``."""

    def __init__(self) -> None:
        self._queue: deque[tuple[K, Callable[[T], R], T]] = deque()

    def submit(self, key: K, fn: Callable[[T], R], item: T) -> None:
        """Queue one task; it runs when :meth:`completed` reaches it."""
        self._queue.append((key, fn, item))

    def completed(self) -> Iterator[tuple[K, R | BaseException]]:
        """Run queued tasks in order; an exception is handed back like a result."""
        while self._queue:
            key, fn, item = self._queue.popleft()
            try:
                outcome: R | BaseException = fn(item)
            except Exception as exc:  # one sample's bug must not lose the others' work
                outcome = exc
            yield key, outcome

    def close(self) -> None:
        """Nothing to release."""


class WorkerDiedError(MrdError):
    """A task's worker process ended without an answer: killed, out of memory, or a crash."""


@dataclass(frozen=True)
class _Task(Generic[K, T, R]):
    key: K
    fn: Callable[[T], R]
    item: T


class ProcessRunner(Generic[K, T, R]):
    """Runs tasks in ``workers`` spawned processes: ``--workers N``.

    Spawn rather than fork: forking a process that holds pysam handles or threads (logging,
    Dask) can deadlock, and spawn behaves the same on Linux and macOS. Each worker imports
    :mod:`mrd` once and opens every BAM it is given itself.

    A worker that dies (the kernel's out-of-memory killer, a crash in a C library) breaks the
    whole pool: every task in it fails at once, and so would every later submission. So the
    pool holds at most two tasks per worker (one running, one ready for when it ends while this
    process is busy with an answer); the rest wait here. After a death the runner starts a new
    pool and runs the tasks that were in it again, one at a time and alone, so that each one's
    fate is its own. A task that ends its worker when alone comes back as
    :class:`WorkerDiedError`; the waiting tasks then run as before.
    """

    def __init__(self, workers: int, preload: Sequence[str] = ()) -> None:
        self._workers = workers
        self._preload = tuple(preload)
        self._pool = self._new_pool()
        self._pending: dict[Future[R], _Task[K, T, R]] = {}
        self._queue: deque[_Task[K, T, R]] = deque()  # not yet in the pool
        self._suspects: deque[_Task[K, T, R]] = deque()  # in the pool when a worker died
        self._alone: _Task[K, T, R] | None = None  # the suspect now running by itself
        self._broken = False  # the pool refused a task: a worker died while idle
        self._closed = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker,
            initargs=(self._preload, *worker_settings()),
        )

    def submit(self, key: K, fn: Callable[[T], R], item: T) -> None:
        """Queue one task; it goes to the pool as soon as a worker is free."""
        self._queue.append(_Task(key, fn, item))
        self._fill()

    def completed(self) -> Iterator[tuple[K, R | BaseException]]:
        """Yield tasks as they finish; a task whose worker died alone comes back as an error."""
        while not self._closed and (self._pending or self._queue or self._suspects):
            self._fill()
            if self._broken:
                yield from self._recover()
                continue
            done, _ = wait(list(self._pending), return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                yield from self._recover()
                continue
            for future in done:
                task = self._pending.pop(future)
                if task is self._alone:
                    self._alone = None
                error = future.exception()
                yield task.key, error if error is not None else future.result()

    def _fill(self) -> None:
        """Give free workers the next suspect (alone) or, with none left, queued tasks."""
        while not self._broken and not self._closed:
            if self._suspects:
                if self._pending:
                    return
                task, source = self._suspects[0], self._suspects
            elif self._queue and len(self._pending) < 2 * self._workers:
                task, source = self._queue[0], self._queue
            else:
                return
            try:
                future = self._pool.submit(task.fn, task.item)
            except BrokenProcessPool:  # a worker died while idle; the task never started
                self._broken = True
                return
            source.popleft()
            self._pending[future] = task
            if source is self._suspects:
                self._alone = task

    def _recover(self) -> Iterator[tuple[K, R | BaseException]]:
        """After a worker died: answers that made it, a new pool, and the lost tasks to rerun."""
        self._pool.shutdown(wait=True, cancel_futures=True)  # every pending future is now done
        pending, self._pending = self._pending, {}
        alone, self._alone = self._alone, None  # before yielding: the caller may submit
        self._pool = self._new_pool()
        self._broken = False
        for future, task in pending.items():
            error = None if future.cancelled() else future.exception()
            if not future.cancelled() and not isinstance(error, BrokenProcessPool):
                yield task.key, error if error is not None else future.result()
            elif task is alone:
                yield (
                    task.key,
                    WorkerDiedError(
                        "its worker process ended without an answer (killed, out of memory, or a"
                        " crash)"
                    ),
                )
            else:
                self._suspects.append(task)

    def close(self) -> None:
        """Stop the workers; tasks not finished are dropped (the caller stopped waiting)."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner(Generic[K, T, R]):
    """Runs tasks on a Dask cluster: ``--dask-scheduler ADDRESS``.

    The workers need :mod:`mrd` installed and must see the BAM paths of the sample sheet (a
    shared file system); results come back to this process, which writes every output file.
    """

    def __init__(self, address: str) -> None:
        try:  # imported by name: Dask is optional and untyped, so it stays Any to mypy
            distributed: Any = importlib.import_module("dask.distributed")
        except ImportError:
            raise MissingDependencyError(
                "--dask-scheduler needs dask.distributed: pip install 'mrd[dask]'"
            ) from None
        try:
            self._client: Any = distributed.Client(address)
        except (OSError, TimeoutError, ValueError) as exc:
            raise MrdError(
                f"cannot reach the Dask scheduler at {address}: {one_line_error(exc)}"
            ) from None
        self._as_completed: Any = distributed.as_completed(with_results=False)
        self._keys: dict[Any, K] = {}

    def submit(self, key: K, fn: Callable[[T], R], item: T) -> None:
        """Send one task to the cluster; ``pure=False`` so no two samples share a result."""
        future = self._client.submit(fn, item, pure=False)
        self._keys[future.key] = key
        self._as_completed.add(future)

    def completed(self) -> Iterator[tuple[K, R | BaseException]]:
        """Yield tasks as they finish, including ones added meanwhile."""
        while self._keys:
            future = next(self._as_completed)
            key = self._keys.pop(future.key)
            outcome: R | BaseException
            try:
                outcome = future.result()
            except Exception as exc:  # the task's own exception, re-raised here by Dask
                outcome = exc
            finally:
                future.release()
            yield key, outcome

    def close(self) -> None:
        """Disconnect; the cluster itself belongs to whoever started it."""
        self._client.close()


def make_runner(
    workers: int = 1, dask_scheduler: str | None = None, preload: Sequence[str] = ()
) -> Runner[Any, Any, Any]:
    """The runner for the ``--workers`` / ``--dask-scheduler`` options.

    ``preload`` names modules local worker processes import as they start.

    Raises:
        MrdError: For both options at once (Dask decides its own parallelism), a worker count
            below one, or an unreachable scheduler; MissingDependencyError without Dask.
    """
    if dask_scheduler is not None:
        if workers != 1:
            raise MrdError("give --workers or --dask-scheduler, not both")
        return DaskRunner(dask_scheduler)
    if workers < 1:
        raise MrdError(f"--workers must be at least 1, not {workers}")
    if workers == 1:
        return SerialRunner()
    return ProcessRunner(workers, preload)


@dataclass
class ProgressLine:
    """Shows ``[3/12] P001-C2: POSITIVE`` per finished sample on stderr.

    On a terminal the line updates in place, so a 200-sample run does not scroll the summary
    away; in a log file (not a TTY, or ``CI`` set) each sample gets its own line, since carriage
    returns make logs unreadable.
    """

    stream: IO[str] | None = None
    live: bool | None = None
    _width: int = 0

    def __post_init__(self) -> None:
        if self.stream is None:
            self.stream = sys.stderr
        if self.live is None:
            isatty = getattr(self.stream, "isatty", None)
            self.live = bool(isatty and isatty()) and not os.environ.get("CI")

    def show(self, done: int, total: int, sample: str, status: str, resumed: bool) -> None:
        """Report one finished sample; ``resumed`` marks one taken from an earlier run."""
        assert self.stream is not None
        text = f"[{done}/{total}] {sample}: {status}{' (resumed)' if resumed else ''}"
        if self.live:
            pad = " " * max(0, self._width - len(text))
            self.stream.write(f"\r{text}{pad}")
            self._width = len(text)
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
