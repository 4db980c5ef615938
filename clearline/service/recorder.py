"""Group commit: the decisions of concurrent requests go to the audit log in one transaction.

One thread owns the AuditLog (SQLite connections belong to the thread that made them). Requests
hand it their decisions and wait; the thread takes what has arrived, waits up to `window` for
more (or until `max_batch` records), appends them all with one `AuditLog.append` (one
transaction, synchronous=FULL) and only then wakes the requests. So one fsync serves many
answers, and nothing is answered that is not on disk. While a batch commits, the next one
gathers by itself: under load the batches grow with no waiting at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from clearline.engine.audit.checkpoint import SignerKey
from clearline.engine.audit.log import AuditLog
from clearline.engine.decisions.decide import Decision

T = TypeVar("T")

_STOP = object()


class NotRecorded(Exception):
    """The audit log refused a batch; the requests in it get no decision."""


class _Job:
    """Decisions to append, or a function to run on the log, and the future that waits."""

    __slots__ = ("call", "decisions", "future", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        decisions: Sequence[Decision] = (),
        call: Callable[[AuditLog], Any] | None = None,
    ) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.decisions = decisions
        self.call = call


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the request went away meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GroupCommitRecorder:
    """The one writer of a service's audit log."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        window: float = 0.001,
        max_batch: int = 1000,
        timeout: float = 10.0,
        on_batch: Callable[[int], None] | None = None,
        signer: SignerKey | None = None,
        checkpoints: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.signer = signer  # with a key, each committed batch publishes a signed checkpoint
        self._checkpoints = checkpoints
        self.window = window
        self.max_batch = max_batch
        self._timeout = timeout
        self._on_batch = on_batch
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self.last_error: str | None = None

    def start(self) -> None:
        """Open the log in the writer thread; raise what opening it raised."""
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    @property
    def alive(self) -> bool:
        """Whether the writer thread runs."""
        return self._thread.is_alive()

    async def record(self, decisions: Sequence[Decision]) -> None:
        """Return once the decisions are committed; NotRecorded if they could not be."""
        if not self.alive:
            raise NotRecorded("the audit writer is stopped")
        job = _Job(asyncio.get_running_loop(), decisions)
        self._jobs.put(job)
        await job.future

    async def read(self, call: Callable[[AuditLog], T]) -> T:
        """Run `call(log)` in the writer thread, between batches (it sees every commit)."""
        if not self.alive:
            raise NotRecorded("the audit writer is stopped")
        job = _Job(asyncio.get_running_loop(), call=call)
        self._jobs.put(job)
        result: T = await job.future
        return result

    def close(self) -> None:
        """Commit what was handed over, then close the log (the shutdown drain)."""
        if self.alive:
            self._jobs.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            log = AuditLog(
                self.path,
                parallel=False,
                timeout=self._timeout,
                signer=self.signer,
                checkpoints=self._checkpoints,
            )
        except BaseException as exc:
            self._open_error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            stopping = False
            while not stopping:
                first = self._jobs.get()
                if first is _STOP:
                    break
                batch, stopping = self._gather(first)
                self._commit(log, batch)
        finally:
            log.close()

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """The jobs to commit together: what waits now, and what comes within the window."""
        batch = [first]
        size = len(first.decisions)
        deadline = time.monotonic() + self.window
        while size < self.max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0 or first.call is not None:
                    break
                try:
                    job = self._jobs.get(timeout=left)
                except queue.Empty:
                    break
            if job is _STOP:
                return batch, True
            batch.append(job)
            size += len(job.decisions)
        return batch, False

    def _commit(self, log: AuditLog, batch: list[_Job]) -> None:
        appends = [job for job in batch if job.call is None]
        decisions = [d for job in appends for d in job.decisions]
        error: BaseException | None = None
        if decisions:
            try:
                log.append(decisions)
                self.last_error = None
                if self._on_batch is not None:
                    self._on_batch(len(decisions))
            except Exception as exc:  # the log said no: every request of the batch hears why
                self.last_error = f"{type(exc).__name__}: {exc}"
                error = NotRecorded(f"the audit log did not record the decision ({exc})")
        for job in appends:
            _wake(job, None, error)
        for job in batch:
            if job.call is not None:
                try:
                    result, failure = job.call(log), None
                except Exception as exc:
                    result, failure = None, exc
                _wake(job, result, failure)


def _wake(job: _Job, result: Any, error: BaseException | None) -> None:
    """Hand the outcome to the request's event loop (gone only if the server stopped hard)."""
    # A closed loop (RuntimeError): nobody is waiting for this answer any more.
    with contextlib.suppress(RuntimeError):
        job.loop.call_soon_threadsafe(_settle, job.future, result, error)
