"""The caller's side of the audit writer process (see `writer`): the same calls as a
`BatchWriter`, carried out on another core."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from clearline.engine.audit.schema import AuditError
from clearline.engine.audit.writer import WireRow, receive, send

# Batches at least this large are hashed, chained and written by a writer process on another
# core while this one builds the next records (see `audit_writer`); smaller ones here, where a
# round trip to the process would cost more than it saves.
PARALLEL_MIN = 2_000
CHUNK = 500  # records per message to the writer process
# The first messages of a batch are smaller (the writer process idles until the first arrives),
# and so are the last (the caller idles while the writer finishes the last one, then commits).
_EDGE_CHUNKS = (50, 150, 300)


def chunk_bounds(size: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each message's records in a batch of `size`."""
    edge = sum(_EDGE_CHUNKS)
    if size < 2 * edge:
        steps: tuple[int, ...] = (*_EDGE_CHUNKS, *([CHUNK] * (size // CHUNK + 1)))
    else:
        middle = size - 2 * edge
        steps = (
            *_EDGE_CHUNKS,
            *([CHUNK] * (middle // CHUNK)),
            *((middle % CHUNK,) if middle % CHUNK else ()),
            *reversed(_EDGE_CHUNKS),
        )
    start = 0
    for step in steps:
        if start >= size:
            return
        yield start, min(start + step, size)
        start += step


# A chunk of a batch for the writer: its rows, (sha256, text) of the record templates they name
# that the file does not hold yet, and the rows' contents when the caller made them.
WireChunk = tuple[list[WireRow], list[tuple[str, str]], list[str] | None]


WRITER_SCRIPT = Path(__file__).with_name("writer.py")


class WriterProcess:
    """The client side of a writer process (see `audit_writer`): the same calls as a
    `BatchWriter`, carried out by the process."""

    def __init__(self, path: str, synchronous: str, timeout: float, genesis: str) -> None:
        self.path = path
        # -I: the standard library only, no environment, no current directory on the path.
        command = [sys.executable, "-I", str(WRITER_SCRIPT), path, synchronous, str(timeout)]
        self.process = subprocess.Popen(
            [*command, genesis],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        with contextlib.suppress(ImportError, OSError, AttributeError):
            # A pipe of 1 MB (Linux) instead of 64 KB: this side runs a few chunks ahead.
            import fcntl

            fcntl.fcntl(self.process.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        self.work = 0.0  # CPU seconds the process spent on the last batch
        self.root = ""  # the Merkle tree's root after the last batch (hex)
        self.requests: IO[bytes] = self.process.stdin
        self.replies: IO[bytes] = self.process.stdout
        self._stop = weakref.finalize(self, _stop_process, self.process)

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def begin(self) -> None:
        """Start a batch."""
        self._send(("begin",))

    def write(
        self, rows: list[WireRow], templates: list[tuple[str, str]], texts: list[str] | None
    ) -> None:
        """Hand rows of the batch to the process (with their contents, if made here)."""
        self._send(("rows", rows, templates, texts))

    def commit(self) -> tuple[int, int, str]:
        """Commit the batch in the process; (rows written, last seq, last hash)."""
        self._send(("commit",))
        reply = self._reply()
        if reply[0] != "ok":
            raise AuditError(f"{self.path}: the batch was not written ({reply[1]})")
        self.work = float(reply[4])
        self.root = str(reply[5])
        return int(reply[1]), int(reply[2]), str(reply[3])

    def rollback(self) -> None:
        """Drop the batch (it was never committed); stop the process if it cannot answer."""
        try:
            self._send(("rollback",))
            self._reply()
        except AuditError:
            self.stop()

    def stop(self) -> None:
        """End the process: it rolls back anything uncommitted and exits."""
        self._stop()

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            send(self.requests, message)
        except (BrokenPipeError, ValueError):
            raise AuditError(f"{self.path}: {self._failure()}") from None

    def _reply(self) -> tuple[Any, ...]:
        try:
            self.requests.flush()
            reply = receive(self.replies)
        except (BrokenPipeError, ValueError):
            reply = None
        if reply is None:
            raise AuditError(f"{self.path}: {self._failure()}")
        return reply

    def _failure(self) -> str:
        """What became of a writer process that stopped answering."""
        self.process.kill()
        _, errors = self.process.communicate()
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        return f"the audit writer process stopped ({last[0]}); the batch was not written"


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """Close the writer's input (it rolls back and exits), and wait for it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(OSError, ValueError):
        assert process.stdin is not None
        process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
