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

import contextlib
import datetime as dt
import gc
import hashlib
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from clearline.engine.audit.writer import (
    COLUMNS,
    BatchWriter,
    WireRow,
    chain_hash,
    contents,
    decision_id,
    receive,
    send,
)
from clearline.engine.canonical import canonical_json, is_text, sha256_hex
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision
from clearline.engine.decisions.record import RecordTemplate, layout_for
from clearline.engine.errors import ClearlineError
from clearline.engine.model import ActionKind

FORMAT = "clearline-audit/2"
KIND_DECISION = "decision"
BATCH_SIZE = 10_000
# Batches at least this large are hashed, chained and written by a writer process on another
# core while this one builds the next records (see `audit_writer`); smaller ones here, where a
# round trip to the process would cost more than it saves.
PARALLEL_MIN = 2_000
CHUNK = 500  # records per message to the writer process
# CPU seconds per record by which one side of an append outworks the other before the caller
# takes on a step more, or less, of the writer process's work (see `AuditLog._balance`).
_SHIFT = 1.5e-6
# The first messages of a batch are smaller (the writer process idles until the first arrives),
# and so are the last (the caller idles while the writer finishes the last one, then commits).
_EDGE_CHUNKS = (50, 150, 300)
# The lookup indexes (decision id, account) are kept per block of this many records, by seq:
# an append inserts into the newest block's part of each index only, so its cost does not grow
# with the log (one index over the whole log, of random decision ids, made every batch of a
# large log rewrite most of that index's pages); a lookup seeks once in each block's part. A
# file's own index definitions say its block (`AuditLog.index_block`).
INDEX_BLOCK = 65_536
# The most blocks a lookup seeks one by one (65 billion records); a log whose seqs, or head,
# were altered to span more (which `verify` reports) is read whole.
_MOST_BLOCKS = 1_000_000


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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    account_id TEXT,
    action TEXT,
    policy_id TEXT,
    policy_version TEXT,
    policy_sha256 TEXT,
    as_of TEXT,
    recorded_at TEXT NOT NULL,
    template TEXT,
    input_sha256 TEXT,
    body TEXT NOT NULL,
    inputs TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (sha256 TEXT PRIMARY KEY, text TEXT NOT NULL);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS records_record_id ON records (seq / {block}, record_id);
CREATE INDEX IF NOT EXISTS records_account_id ON records (seq / {block}, account_id);
"""
# A block of 1 to 18 digits (below 2**63: SQLite divides by it as an integer); any other
# definition is read as an index over the whole log.
_BLOCKED_INDEX = re.compile(r"\(seq / ([1-9]\d{0,17}), (record_id|account_id)\)")
_INDEX_NAMES = ("records_record_id", "records_account_id")


def _execute_each(db: sqlite3.Connection, script: str) -> None:
    """Run each statement of a script inside the open transaction (`executescript` would
    commit it first)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


# A chunk of a batch for the writer: its rows, (sha256, text) of the record templates they name
# that the file does not hold yet, and the rows' contents when the caller made them.
WireChunk = tuple[list[WireRow], list[tuple[str, str]], list[str] | None]


class AuditError(ClearlineError):
    """The audit log cannot be opened or written."""


class Entry(NamedTuple):
    """What a caller appends: one record before it is numbered, timed and chained.

    Decisions become entries with `kind="decision"`; other features (case transitions, say)
    may append their own kinds with a canonical JSON `body` of their choosing. A decision's
    entry may leave `record_id` None: the writer derives it from its other columns and its
    `input_sha256` as `decide` does (see `audit_writer.with_ids`); any other kind names its id.
    """

    kind: str
    record_id: str | None
    account_id: str | None
    action: str | None
    policy_id: str | None
    policy_version: str | None
    policy_sha256: str | None
    as_of: str | None
    body: str
    inputs: str = "{}"
    template: RecordTemplate | None = None  # a decision: the record is this template, filled
    input_sha256: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One stored record."""

    seq: int
    kind: str
    record_id: str
    account_id: str | None
    action: str | None
    policy_id: str | None
    policy_version: str | None
    policy_sha256: str | None
    as_of: str | None
    recorded_at: str
    template: str | None
    input_sha256: str | None
    body: str
    inputs: str
    prev_hash: str
    hash: str
    form: RecordTemplate | None = field(default=None, compare=False, repr=False)

    @property
    def document(self) -> str:
        """The record's JSON text: for a decision, its record rendered from the template."""
        if self.template is None:
            return self.body
        if self.form is None or self.form.sha256 != self.template:
            raise AuditError(f"record {self.seq}: its record template {self.template} is missing")
        return self.form.render(
            {
                "account_id": self.account_id,
                "as_of": self.as_of,
                "record_id": self.record_id,
                "input_sha256": self.input_sha256,
            },
            self.facts(),  # the trace's values, from the inputs object
        )

    def data(self) -> Any:
        """The document as JSON data (for a decision: the decision record)."""
        try:
            return json.loads(self.document)
        except ValueError:
            raise AuditError(f"{self._altered}: its document is not valid JSON") from None

    def facts(self) -> dict[str, Any]:
        """The stored inputs (redacted facts as `{"redacted": "<salted sha256>"}`)."""
        try:
            facts = json.loads(self.inputs)
        except ValueError:
            facts = None
        if not isinstance(facts, dict):
            raise AuditError(f"{self._altered}: its inputs are not a JSON object")
        return facts

    @property
    def _altered(self) -> str:
        return f"record {self.seq} (id {self.record_id}) was altered"

    @property
    def redacted_facts(self) -> tuple[str, ...]:
        """The facts stored only as salted hashes."""
        return tuple(
            name
            for name, value in self.facts().items()
            if isinstance(value, dict) and set(value) == {"redacted"}
        )


@dataclass(frozen=True)
class Problem:
    """The first place the chain breaks."""

    seq: int
    kind: str  # altered, deleted, inserted, reordered, truncated, extended
    message: str


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain."""

    count: int
    head: str
    problem: Problem | None

    @property
    def ok(self) -> bool:
        """Whether the whole chain holds."""
        return self.problem is None


def foreign_value(row: Sequence[Any]) -> str | None:
    """What is wrong with a stored row holding a value Clearline never writes (binary data
    where text belongs: SQLite keeps numbers written to a text column as text), or None."""
    if bytes not in map(type, row):
        return None
    column = next(name for name, value in zip(COLUMNS, row, strict=True) if type(value) is bytes)
    record_id = row[2] if type(row[2]) is str else "in binary"
    return f"record {row[0]} (id {record_id}) was altered: its {column} holds binary data, not text"


def content_text(record: AuditRecord) -> str:
    """A stored record's content: everything its hash covers but seq and the chain."""
    return contents([tuple(getattr(record, name) for name in COLUMNS[1:-2])])[0]


def genesis_hash(log_id: str, salt: str) -> str:
    """What the first row chains to: binds the log's identity and redaction salt."""
    return hashlib.sha256(f"{FORMAT}\n{log_id}\n{salt}".encode()).hexdigest()


def redacted_value(salt: str, fact: str, value_json: str) -> dict[str, str]:
    """A redacted fact value: sha256 over the log's salt, the fact name and the JSON value."""
    digest = hashlib.sha256(f"{salt}\n{fact}\n{value_json}".encode()).hexdigest()
    return {"redacted": digest}


def redacted_inputs(decision: Decision, salt: str) -> str:
    """The inputs JSON of a decision, with the policy's redacted facts hashed.

    The record's trace shows observed values from these same inputs, so they are hashed there
    too (a comparison's result still shows, which is the point of the trace). `input_sha256`
    and `decision_id` stay as `decide` made them, so the record still names the exact inputs;
    see the README for what that means for small value sets.
    """
    inputs = decision.inputs_json
    redact = layout_for(decision.compiled).redacted
    if not redact or redact.isdisjoint(decision.facts):
        return inputs
    facts = json.loads(inputs)
    for name, value in facts.items():
        if name in redact:
            facts[name] = redacted_value(salt, name, canonical_json(value))
    return canonical_json(facts)


def decision_entry(decision: Decision, salt: str) -> Entry:
    """The entry that records one decision."""
    return decision_entries((decision,), salt)[0]


def decision_entries(decisions: Iterable[Decision], salt: str) -> list[Entry]:
    """The entries of a batch of decisions, each naming its record template and input hash."""
    templates: dict[str, RecordTemplate] = {}
    return [
        # (kind, record_id, account_id, ..., as_of, body, inputs, template, input_sha256); a
        # row of a decision with unredacted inputs leaves their hash to the writer
        Entry._make((*row[:8], row[11], row[12], templates[row[9]], row[10] or sha256_hex(row[12])))
        for row in decision_rows(decisions, salt, "", templates)
    ]


def decision_rows(
    decisions: Iterable[Decision],
    salt: str,
    recorded_at: str,
    templates: dict[str, RecordTemplate],
    *,
    hash_here: bool = False,
) -> list[WireRow]:
    """The writer's rows of a batch of decisions; the record templates they name go into
    `templates` (by sha256).

    The policy's part of a row is looked up once per compiled policy, not per decision. A
    decision's id is left to the writer unless the decision holds it already, and so is its
    input hash unless the inputs are redacted (the hash is of the inputs before redaction, so
    it is made here then, while they are at hand). With `hash_here` both are made here (when
    the writer process is the slower side). The rows are built straight from the decisions,
    without an `Entry` between: per record, that cost a tenth of the caller's side of an
    append.
    """
    rows: list[WireRow] = []
    add = rows.append
    actions = {kind: kind.value for kind in ActionKind}
    compiled: CompiledPolicy | None = None
    p_id = p_version = p_sha = ""
    redact: frozenset[str] = frozenset()
    last: RecordTemplate | None = None
    for decision in decisions:
        if decision.compiled is not compiled:
            compiled = decision.compiled
            metadata = compiled.policy.metadata
            p_id, p_version, p_sha = metadata.id, metadata.version, compiled.sha256
            redact = layout_for(compiled).redacted
        as_of, inputs, template = decision.record_parts()
        cache = decision.__dict__
        input_sha256 = cache.get("input_sha256")
        record_id = cache.get("decision_id")
        if hash_here and record_id is None:
            input_sha256 = input_sha256 or sha256_hex(inputs)
            record_id = decision_id(p_sha, decision.account_id, as_of, input_sha256)
        if redact and not redact.isdisjoint(decision.facts):
            if input_sha256 is None:
                input_sha256 = cache["input_sha256"] = sha256_hex(inputs)
            inputs = redacted_inputs(decision, salt)
        if template is not last:
            templates[template.sha256] = last = template
        add(
            (
                KIND_DECISION,
                record_id,
                decision.account_id,
                actions[decision.action],
                p_id,
                p_version,
                p_sha,
                as_of,
                recorded_at,
                last.sha256,
                input_sha256,
                "",
                inputs,
            )
        )
    return rows


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


def _instant_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class AuditLog:
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
    ) -> None:
        self.path = os.fspath(path)
        self._synchronous = "FULL" if durable else "NORMAL"
        self._timeout = timeout
        self._parallel = parallel
        self._writer: _WriterProcess | None = None
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
            if found is None or found[0] != FORMAT:
                raise AuditError(
                    f"{self.path}: audit log format {found[0] if found else None!r}; this "
                    f"Clearline reads {FORMAT!r} (a log written by another version stays "
                    "readable by that version)"
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
        if meta.get("format") != FORMAT:
            raise AuditError(f"{self.path}: unknown audit log format {meta.get('format')!r}")
        self.log_id: str = meta["log_id"]
        self.salt: str = meta["salt"]
        self.genesis = genesis_hash(self.log_id, self.salt)
        self._stored: set[str] = set()  # templates known to be in the file
        # How much of the writer process's work this process takes on (see `_balance`).
        self._caller_share = 0
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
        sink: BatchWriter | _WriterProcess = self._inline
        if self._parallel and size >= PARALLEL_MIN:
            sink = self._process() or self._inline
        recorded_at = _instant_text(self._clock())
        work = time.thread_time()
        sink.begin()
        fresh: set[str] = set()
        try:
            for rows, templates, texts in chunks(recorded_at, fresh, sink is not self._inline):
                sink.write(rows, templates, texts)
            count, _, _ = sink.commit()
            if isinstance(sink, _WriterProcess) and count:
                self._balance((sink.work - (time.thread_time() - work)) / count)
        except BaseException:
            sink.rollback()
            raise
        if count != size:  # the writer's own count: a batch is all of it or an error
            raise AuditError(f"{self.path}: {count} of a batch of {size} records were written")
        self._stored |= fresh
        return count

    def _balance(self, excess: float) -> None:
        """Choose how much of the writer process's work this process does for the next batch,
        from the CPU seconds per record the writer spent on this one beyond this process's.

        The two sides' speeds move with the machine and the records. Share 0: the writer does
        it all; 1: this process hashes the decisions' inputs and makes their ids (about 2 µs per
        record); 2: it also renders the rows' contents (about 1.5 µs more). When the writer is
        the slower side by more than `_SHIFT` the share goes up a step, when it is the faster
        by as much, down a step; a step moves about twice that between the sides, so the
        choice settles instead of flapping.
        """
        if excess > _SHIFT:
            self._caller_share = min(self._caller_share + 1, 2)
        elif excess < -_SHIFT:
            self._caller_share = max(self._caller_share - 1, 0)

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

    def _process(self) -> _WriterProcess | None:
        """The writer process of this log, started on first use; None if none can be started
        (then batches are written here, the same rows, only slower)."""
        if self._writer is None or not self._writer.alive():
            try:
                self._writer = _WriterProcess(
                    self.path, self._synchronous, self._timeout, self.genesis
                )
            except OSError:
                self._parallel = False
                return None
        return self._writer

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    def head(self) -> tuple[int, str]:
        """The last seq and hash the log itself recorded; AuditError if that was altered into
        something else."""
        found = self._db.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        value = found[0] if found else None
        seq, _, hash_ = value.partition(" ") if isinstance(value, str) else ("", "", "")
        if not (seq.isascii() and seq.isdigit() and len(seq) <= 19):
            shown = "missing" if found is None else f"{value!r}"[:80]
            raise AuditError(
                f"{self.path}: the log's head (its last seq and hash, table meta) was altered: "
                f"{shown}, not 'SEQ HASH'"
            )
        return int(seq), hash_

    def records(
        self,
        *,
        kind: str | None = None,
        account_id: str | None = None,
        action: str | None = None,
        policy_id: str | None = None,
        policy_version: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Iterator[AuditRecord]:
        """Records in log order, filtered; `since`/`until` bound the decision's as_of
        (`since` inclusive, `until` exclusive)."""
        where: list[str] = []
        args: list[Any] = []
        if not all(
            is_text(value)
            for value in (kind, account_id, action, policy_id, policy_version)
            if isinstance(value, str)
        ):
            return  # no record holds text that is not valid Unicode
        for column, value in (
            ("kind", kind),
            ("account_id", account_id),
            ("action", action),
            ("policy_id", policy_id),
            ("policy_version", policy_version),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("as_of >= ?")
            args.append(_instant_text(since))
        if until is not None:
            where.append("as_of < ?")
            args.append(_instant_text(until))
        if account_id is not None:
            where.append(self._in_blocks())
        sql = f"SELECT {', '.join(COLUMNS)} FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        for row in self._db.execute(sql, args):
            yield self._record(row)

    def at(self, seq: int) -> AuditRecord | None:
        """The record numbered `seq`, if any."""
        if not -(2**63) <= seq < 2**63:  # beyond SQLite's integers: no such record
            return None
        row = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM records WHERE seq = ?", (seq,)
        ).fetchone()
        return self._record(row) if row else None

    def get(self, record_id: str) -> list[AuditRecord]:
        """Records whose id is `record_id` or starts with it, in log order."""
        if not is_text(record_id):  # no record holds text that is not valid Unicode
            return []
        rows = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM records WHERE {self._in_blocks()} "
            "AND record_id >= ? AND record_id < ? ORDER BY seq LIMIT 100",
            (record_id, record_id + "\U0010ffff"),
        )
        return [self._record(row) for row in rows]

    @property
    def index_block(self) -> int | None:
        """Records per block of the lookup indexes; None where they cover the whole log (made
        so by Clearline before they were kept per block; `reindex` rebuilds them).

        Read from the file each time: another process may have rebuilt them since this one
        opened the log."""
        blocks = set()
        for (sql,) in self._db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name IN (?, ?)", _INDEX_NAMES
        ):
            found = _BLOCKED_INDEX.search(str(sql))
            blocks.add(int(found[1]) if found else None)
        return blocks.pop() if len(blocks) == 1 else None  # both indexes, or not at all

    def _in_blocks(self) -> str:
        """A condition every row meets, which lets SQLite seek a lookup index block by block
        (`INDEX_BLOCK`); always true where the indexes are not kept per block, or where the
        log's seqs (or its head) were altered out of line: then the lookup reads it whole."""
        block = self.index_block
        if block is None:
            return "1"
        first, last = self._db.execute(
            f"SELECT (SELECT min(seq) FROM records) / {block}, "
            f"(SELECT max(seq) FROM records) / {block}"
        ).fetchone()
        try:
            spans = self.head()[0] // block + 1  # the blocks the log's own head says it spans
        except AuditError:
            return "1"
        if first is None or not 0 <= last - first <= min(spans, _MOST_BLOCKS):
            return "1"
        # The bounds once more inside the query, which reads one state of the file (a batch
        # committed meanwhile is seen whole or not at all); the cap only keeps a seq altered
        # meanwhile from making the count endless.
        low = f"(SELECT min(seq) FROM records) / {block}"
        return (
            f"seq / {block} IN (WITH RECURSIVE block(n) AS (SELECT {low} UNION ALL "
            f"SELECT n + 1 FROM block WHERE n < (SELECT max(seq) FROM records) / {block} "
            f"AND n < {low} + {_MOST_BLOCKS}) SELECT n FROM block)"
        )

    def reindex(self) -> bool:
        """Rebuild lookup indexes made over the whole log (by Clearline before they were kept
        per block) per block of `INDEX_BLOCK`; False when they are per block already.

        One transaction, which holds the write lock while it runs (appends wait): if it fails,
        the log keeps the indexes it had. The records and the chain are not touched (the
        indexes are not part of it).
        """
        if self.index_block is not None:
            return False
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if self.index_block is not None:  # another process rebuilt them meanwhile
                    db.execute("COMMIT")
                    return False
                for name in _INDEX_NAMES:
                    db.execute(f"DROP INDEX IF EXISTS {name}")
                _execute_each(db, _INDEXES.format(block=INDEX_BLOCK))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back itself (disk full)
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: the indexes were not rebuilt ({exc})") from None
        return True

    def _record(self, row: Sequence[Any]) -> AuditRecord:
        """A stored row, with its record template when it names one."""
        foreign = foreign_value(row)
        if foreign is not None:
            raise AuditError(f"{self.path}: {foreign} (`clearline audit verify` walks the chain)")
        template = row[10]
        if template is None:
            return AuditRecord(*row)
        return AuditRecord(**dict(zip(COLUMNS, row, strict=True)), form=self._template(template))

    def _template(self, sha: str) -> RecordTemplate | None:
        """A record template read back; None when it is missing or does not match its hash."""
        if sha in self._forms:
            return self._forms[sha]
        found = self._db.execute("SELECT text FROM templates WHERE sha256 = ?", (sha,)).fetchone()
        form = None
        if found is not None:
            with contextlib.suppress(ValueError, TypeError):
                form = RecordTemplate.parse(str(found[0]))
        if form is not None and form.sha256 != sha:
            form = None
        self._forms[sha] = form
        return form

    def verify(self) -> Verification:
        """Walk the chain from the first record; report the first that does not hold."""
        expected = 1
        prev = self.genesis
        count = 0
        intact = {
            sha
            for sha, text in self._db.execute("SELECT sha256, text FROM templates")
            if sha256_hex(str(text)) == sha
        }
        cursor = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM records ORDER BY seq")
        for row in cursor:
            foreign = foreign_value(row)
            if foreign is not None:
                return Verification(count, prev, Problem(int(row[0]), "altered", foreign))
            record = AuditRecord(*row)
            problem = self._check(record, expected, prev)
            if problem is None and record.template is not None and record.template not in intact:
                problem = self._broken_template(record)
            if problem is not None:
                return Verification(count, prev, problem)
            prev = record.hash
            expected += 1
            count += 1
        try:
            head_seq, head_hash = self.head()
        except AuditError as exc:
            message = str(exc).removeprefix(f"{self.path}: ")
            return Verification(count, prev, Problem(count + 1, "altered", message))
        if head_seq > count:
            problem = Problem(
                count + 1,
                "truncated",
                f"records {count + 1} to {head_seq} were deleted: the log's head says "
                f"{head_seq} records, the chain ends at {count}",
            )
            return Verification(count, prev, problem)
        if head_seq < count or (count and head_hash != prev):
            problem = Problem(
                head_seq + 1 if head_seq < count else count,
                "extended" if head_seq < count else "altered",
                f"the chain ends at record {count} with hash {prev[:16]}…, but the log's head "
                f"says record {head_seq} with hash {head_hash[:16]}…: records were added or "
                "rewritten after the last append",
            )
            return Verification(count, prev, problem)
        return Verification(count, prev, None)

    def _broken_template(self, record: AuditRecord) -> Problem:
        """The record template a record names is missing, or was altered."""
        sha = str(record.template)
        found = self._db.execute("SELECT 1 FROM templates WHERE sha256 = ?", (sha,)).fetchone()
        what = "was altered: its text does not match its hash" if found else "is missing"
        return Problem(
            record.seq,
            "altered",
            f"record {record.seq} (id {record.record_id}): its record template {sha[:16]}… {what}",
        )

    def _check(self, record: AuditRecord, expected: int, prev: str) -> Problem | None:
        seq = record.seq
        if seq != expected:
            return Problem(
                expected,
                "deleted",
                f"record {expected} is missing"
                + (f" (and up to {seq - 1})" if seq - 1 > expected else "")
                + f": the next record is {seq}",
            )
        content = content_text(record)
        if chain_hash(seq, record.prev_hash, content) != record.hash:
            return self._misplaced(record, content, prev)
        if record.prev_hash != prev and seq == 1:
            return Problem(
                1,
                "altered",
                "record 1 does not chain to this log's genesis: the log's id or redaction "
                "salt (table meta) was altered",
            )
        if record.prev_hash != prev:
            return Problem(
                seq - 1,
                "altered",
                f"record {seq - 1} was altered: record {seq} chains to a different hash "
                f"({record.prev_hash[:16]}…) than record {seq - 1} now has ({prev[:16]}…)",
            )
        return None

    def _misplaced(self, record: AuditRecord, content: str, prev: str) -> Problem:
        """A row whose hash does not match: altered in place, or moved from elsewhere."""
        seq = record.seq
        where = f"record {seq} (id {record.record_id})"
        altered = Problem(
            seq, "altered", f"{where} was altered: its content does not match its hash"
        )
        if record.prev_hash == prev:
            return altered
        # The row does not follow its predecessor: find the position its hash was made for.
        candidates = [seq + 1, seq - 1]
        if record.prev_hash == self.genesis:
            candidates.insert(0, 1)
        found = self._db.execute(
            "SELECT seq FROM records WHERE hash = ? LIMIT 1", (record.prev_hash,)
        ).fetchone()
        if found:
            candidates.insert(0, found[0] + 1)
        origin = next(
            (
                s
                for s in candidates
                if s > 0 and chain_hash(s, record.prev_hash, content) == record.hash
            ),
            None,
        )
        if origin is None:
            return altered
        if origin == seq - 1:
            return Problem(
                seq - 1,
                "inserted",
                f"record {seq - 1} was inserted: {where} holds what was record {origin}",
            )
        if origin > seq:
            return Problem(
                seq,
                "moved",
                f"{where} holds what was record {origin}: a record was deleted before it, or "
                "records were reordered",
            )
        return Problem(
            seq,
            "moved",
            f"{where} holds what was record {origin}: records were inserted before it, or "
            "reordered",
        )


WRITER_SCRIPT = Path(__file__).with_name("writer.py")


class _WriterProcess:
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
