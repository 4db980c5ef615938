"""The audit log: an append-only, hash-chained SQLite file of every decision.

One row per record. `hash` covers every other column of the row, including `seq` and the
previous row's hash, so altering, deleting, inserting or reordering rows breaks the chain where
it happened, and `verify` names that row. The hash of a row is

    content = canonical JSON of [kind, record_id, account_id, action, policy_id,
              policy_version, policy_sha256, as_of, recorded_at, template, input_sha256,
              len(body), len(inputs)] + "\\n" + body + "\\n" + inputs
    hash    = sha256("<seq>\\n<prev_hash>\\n" + content)

and the first row chains to a genesis hash derived from the log's id and redaction salt, so
those are covered too. The lengths make the split between the parts unambiguous. (One hash per
row: the earlier format hashed the content first, outside the write lock, and then chained that
digest; hashing once costs less in all, and the writer process does it beside the caller.)

Appends are one transaction per batch (`BEGIN IMMEDIATE`, WAL journal, synchronous FULL): a
crash leaves a batch wholly present or wholly absent, and several processes appending to the
same file queue on SQLite's write lock and read the chain head inside it, so the chain stays
whole. The log also keeps its head (last seq and hash) in `meta`, updated in the same
transaction; `verify` reports a log cut short or extended behind the head's back. Whoever can
rewrite the whole file can rewrite the head too: publish `verify`'s head hash elsewhere (a
ticket, a daily e-mail) to anchor it.

A decision's record is not stored whole: most of a traced record (rule ids, operators,
thresholds, reasons, timeline) repeats from decision to decision. The row names a *record
template* (table `templates`, keyed by the sha256 of its text, stored once) and keeps only what
varies: its columns, `input_sha256` and the inputs; its `body` is empty and
`AuditRecord.document` renders the record byte for byte (see `RecordTemplate`). The template's
hash is part of the row's content, and `verify` re-hashes every template, so a template cannot
be altered behind the chain. This makes a record about a sixth of its size and an append
several times cheaper. Records of other kinds (case transitions, monitor causes) keep their
whole body in `body`.

Facts a policy marks `redact: true` are stored as salted hashes, in the inputs and in the
trace's observed values alike (see `redacted_inputs`).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clearline.engine.audit.anchors import publish, upgrade
from clearline.engine.audit.checkpoint import SignerKey
from clearline.engine.audit.client import (
    CHUNK,
    PARALLEL_MIN,
    WRITER_SCRIPT,
    WireChunk,
    WriterProcess,
    chunk_bounds,
)
from clearline.engine.audit.entries import (
    KIND_DECISION,
    AuditRecord,
    Entry,
    content_text,
    decision_entries,
    decision_entry,
    decision_rows,
    foreign_value,
    redacted_inputs,
    redacted_value,
)
from clearline.engine.audit.schema import (
    _INDEXES,
    _SCHEMA,
    FORMAT,
    FORMATS,
    INDEX_BLOCK,
    AuditError,
    _execute_each,
    _instant_text,
    foreign_objects,
    genesis_hash,
    meta_problems,
)
from clearline.engine.audit.verify import ChainVerifier, Problem, Verification
from clearline.engine.audit.writer import BatchWriter, WireRow, contents
from clearline.engine.decisions.decide import Decision
from clearline.engine.decisions.record_layout import RecordTemplate

# The public names of the log, wherever they live now (callers import them from here).
__all__ = [
    "BATCH_SIZE",
    "CALLER_SHARE",
    "CHUNK",
    "FORMAT",
    "INDEX_BLOCK",
    "KIND_DECISION",
    "PARALLEL_MIN",
    "WRITER_SCRIPT",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "Entry",
    "Problem",
    "Verification",
    "chunk_bounds",
    "content_text",
    "decision_entries",
    "decision_entry",
    "decision_rows",
    "foreign_value",
    "genesis_hash",
    "redacted_inputs",
    "redacted_value",
]

BATCH_SIZE = 10_000
# How much of the writer process's work the caller does, fixed: 0, the writer does it all; 1,
# the caller hashes the decisions' inputs and makes their ids; 2, it also renders the rows'
# contents. Measured side by side (three interleaved rounds of 10,000-record batches), 1 was as
# fast as 0 and faster than 2, and moving the share by measured CPU (as earlier versions did)
# paid under the 15% that would justify its complexity; see docs/design.md.
CALLER_SHARE = 1


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a batch is built and written.

    A batch allocates tens of thousands of tuples (encoded facts, entries, rows) and no
    reference cycles; the collector's passes over them, and over every decision the caller
    holds, cost a tenth of an append. Restored afterwards, if it was on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuditLog(ChainVerifier):
    """An append-only, hash-chained log of decisions in one SQLite file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
        create: bool = True,
        durable: bool = True,
        timeout: float = 120.0,
        parallel: bool = True,
        signer: SignerKey | None = None,
        checkpoints: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        # With a key, each committed batch is followed by a signed checkpoint of the tree, kept
        # in the log and, with `checkpoints`, in a folder outside it (see `anchors`).
        self._signer = signer
        self._checkpoints = checkpoints
        self._synchronous = "FULL" if durable else "NORMAL"
        self._timeout = timeout
        self._parallel = parallel
        self._writer: WriterProcess | None = None
        self._clock = clock
        if not create and not os.path.exists(self.path):
            raise AuditError(f"{self.path}: no such audit log")
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot open the audit log ({exc})") from None
        try:
            try:
                self._open(create)
            except sqlite3.OperationalError as exc:
                if create or "readonly" not in str(exc):
                    raise
                self._db.close()  # a file this process may only read (an auditor's copy)
                self._open_read_only()
        except sqlite3.OperationalError as exc:
            # A write lock held past the timeout: nothing of what the file is.
            self._db.close()
            raise AuditError(f"{self.path}: cannot open the audit log ({exc})") from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise AuditError(f"{self.path}: not a Clearline audit log ({exc})") from None
        except AuditError:
            self._db.close()
            raise

    def _open_read_only(self) -> None:
        """Open a log this process may read but not write (an auditor's copy) without writing
        anything: verify, show, list and replay work, an append fails.

        In a folder it may not write either, SQLite cannot make the log's shared-memory file;
        the log is then read as immutable, which is right only when no records wait in its
        write-ahead log (and no writer has it open, which would have made that file)."""
        uri = Path(self.path).absolute().as_uri()
        for options in ("mode=ro", "mode=ro&immutable=1"):
            self._db = sqlite3.connect(
                f"{uri}?{options}", uri=True, timeout=self._timeout, isolation_level=None
            )
            try:
                self._check_kind(create=False)
                break
            except sqlite3.OperationalError:
                self._db.close()
                wal = Path(f"{self.path}-wal")
                if "immutable" in options or (wal.exists() and wal.stat().st_size):
                    raise  # as immutable, the records in the WAL would be silently left out
        self._take(dict(self._db.execute("SELECT key, value FROM meta").fetchall()))

    def _check_kind(self, create: bool) -> set[str]:
        """The file's tables, once it is known to be a log of this format (or, with `create`,
        an empty database); AuditError otherwise. Reads, never writes."""
        db = self._db
        # Look before touching anything: never turn another application's database into one.
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and not {"meta", "records"} <= tables:
            raise AuditError(f"{self.path}: not a Clearline audit log (it holds other tables)")
        if not tables and not create:
            raise AuditError(f"{self.path}: not a Clearline audit log (an empty database)")
        if tables:
            found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if found is None:
                raise AuditError(f"{self.path}: table meta, key 'format': missing")
            if found[0] not in FORMATS:
                raise AuditError(
                    f"{self.path}: table meta, key 'format': audit log format {found[0]!r}; "
                    f"this Clearline reads {', '.join(FORMATS)} (a log written by another "
                    "version stays readable by that version)"
                )
        return tables

    def _open(self, create: bool) -> None:
        db = self._db
        self._check_kind(create)
        # Large pages keep a traced decision (a few KB) on one page: several times faster
        # appends than the 4 KB default. Only takes effect when the file is created.
        db.execute("PRAGMA page_size = 65536")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise AuditError(f"{self.path}: cannot use WAL journal mode ({mode})")
        # FULL: a batch is on disk when append returns, even if the power fails right after.
        # NORMAL (durable=False) keeps batches whole after a crash but may lose the last ones.
        db.execute(f"PRAGMA synchronous = {self._synchronous}")
        # A page cache large enough for the indexes' pages touched by a batch (random decision
        # ids); memory is taken only as pages are used.
        db.execute("PRAGMA cache_size = -65536")
        db.execute("BEGIN IMMEDIATE")
        try:
            _execute_each(db, _SCHEMA + _INDEXES.format(block=INDEX_BLOCK))
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                meta = {
                    "format": FORMAT,
                    "log_id": secrets.token_hex(16),
                    "salt": secrets.token_hex(32),
                    "head": "0 ",
                }
                db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._take(meta)

    def _take(self, meta: dict[str, Any]) -> None:
        """Set up from the log's `meta` table."""
        problems = meta_problems(meta)
        if problems:
            raise AuditError(f"{self.path}: table meta, " + "; ".join(problems))
        self.format: str = meta["format"]
        self.log_id: str = meta["log_id"]
        self.salt: str = meta["salt"]
        self.genesis = genesis_hash(self.log_id, self.salt, meta.get("genesis_format", self.format))
        self._stored: set[str] = set()  # templates known to be in the file
        self._caller_share = CALLER_SHARE  # of the writer process's work (see CALLER_SHARE)
        self._inline = BatchWriter(self._db, self.genesis)
        self._forms: dict[str, RecordTemplate | None] = {}  # templates read back, by sha256

    def close(self) -> None:
        """Close the file (and stop the writer process, if one was started)."""
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, decisions: Iterable[Decision]) -> int:
        """Append decisions as one batch in one transaction; return how many were written."""
        batch = decisions if isinstance(decisions, Sequence) else list(decisions)

        def chunks(recorded_at: str, fresh: set[str], parallel: bool) -> Iterator[WireChunk]:
            share = self._caller_share if parallel else 0
            for start, end in chunk_bounds(len(batch)):
                templates: dict[str, RecordTemplate] = {}
                rows = decision_rows(
                    batch[start:end], self.salt, recorded_at, templates, hash_here=share >= 1
                )
                texts = contents(rows) if share >= 2 else None
                yield rows, self._new_templates(templates, fresh), texts

        with _collector_paused():
            return self._write(chunks, len(batch))

    def append_entries(self, entries: Sequence[Entry]) -> int:
        """Append records of any kind as one batch in one transaction."""

        def chunks(recorded_at: str, fresh: set[str], parallel: bool) -> Iterator[WireChunk]:
            for start, end in chunk_bounds(len(entries)):
                yield (*self._wire(entries[start:end], recorded_at, fresh), None)

        return self._write(chunks, len(entries))

    def _write(
        self, chunks: Callable[[str, set[str], bool], Iterator[WireChunk]], size: int
    ) -> int:
        """Write a batch, chunk by chunk, in one transaction: all of it or nothing.

        `chunks(recorded_at, fresh, parallel)` gives each chunk's rows, the record templates
        new to the file among them (their hashes go into `fresh`) and the rows' contents when
        made here (else None); `parallel`: the rows go to the writer process.
        """
        if not size:
            return 0
        foreign = foreign_objects(self._db)
        if foreign:
            raise AuditError(
                f"{self.path}: refusing to append: the log holds schema objects Clearline did "
                f"not make ({', '.join(foreign)}); `clearline audit verify` names them"
            )
        if self.format != FORMAT:
            upgrade(self._db, self.path)
            self.format = FORMAT
        sink: BatchWriter | WriterProcess = self._inline
        if self._parallel and size >= PARALLEL_MIN:
            sink = self._process() or self._inline
        recorded_at = _instant_text(self._clock())
        sink.begin()
        fresh: set[str] = set()
        try:
            for rows, templates, texts in chunks(recorded_at, fresh, sink is not self._inline):
                sink.write(rows, templates, texts)
            count, last, _ = sink.commit()
        except BaseException:
            sink.rollback()
            raise
        if count != size:  # the writer's own count: a batch is all of it or an error
            raise AuditError(f"{self.path}: {count} of a batch of {size} records were written")
        self._stored |= fresh
        if self._signer is not None:
            publish(self._db, self.log_id, last, sink.root, self._signer, self._checkpoints)
        return count

    def _new_templates(
        self, templates: dict[str, RecordTemplate], fresh: set[str]
    ) -> list[tuple[str, str]]:
        """(sha256, text) of the templates neither in the file nor sent in this batch."""
        new = [
            (sha, template.text)
            for sha, template in templates.items()
            if sha not in self._stored and sha not in fresh
        ]
        fresh.update(sha for sha, _ in new)
        return new

    def _wire(
        self, entries: Sequence[Entry], recorded_at: str, fresh: set[str]
    ) -> tuple[list[WireRow], list[tuple[str, str]]]:
        """The writer's rows for entries, and the record templates not yet in the file."""
        rows: list[WireRow] = []
        add = rows.append
        templates: dict[str, RecordTemplate] = {}
        for entry in entries:
            template = entry[10]
            if entry[1] is None and (entry[0] != KIND_DECISION or entry[11] is None):
                raise AuditError(f"a {entry[0]!r} record needs its record_id")
            for value in (*entry[:10], entry[11]):
                if value is not None and not isinstance(value, str):
                    raise AuditError(
                        f"a {entry[0]!r} record holds {type(value).__name__} {value!r} "
                        "where the log keeps text"
                    )
            sha = None
            if template is not None:
                sha = template.sha256
                templates[sha] = template
            add((*entry[:8], recorded_at, sha, entry[11], entry[8], entry[9]))
        return rows, self._new_templates(templates, fresh)

    def _process(self) -> WriterProcess | None:
        """The writer process of this log, started on first use; None if none can be started
        (then batches are written here, the same rows, only slower)."""
        if self._writer is None or not self._writer.alive():
            try:
                self._writer = WriterProcess(
                    self.path, self._synchronous, self._timeout, self.genesis
                )
            except OSError:
                self._parallel = False
                return None
        return self._writer
