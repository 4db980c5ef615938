"""The audit log: an append-only, hash-chained SQLite file of every decision.

One row per record. `hash` covers every other column of the row, including `seq` and the
previous row's hash, so altering, deleting, inserting or reordering rows breaks the chain where
it happened, and `verify` names that row. The hash of a row is

    content = canonical JSON of [kind, record_id, account_id, action, policy_id,
              policy_version, policy_sha256, as_of, recorded_at, len(body), len(inputs)]
              + "\\n" + body + "\\n" + inputs
    hash    = sha256("<seq>\\n<prev_hash>\\n" + sha256(content))

and the first row chains to a genesis hash derived from the log's id and redaction salt, so
those are covered too. The lengths make the split between the parts unambiguous; hashing the
content first lets a writer hash each record before it takes the write lock, and only chain
the short second step inside it.

Appends are one transaction per batch (`BEGIN IMMEDIATE`, WAL journal, synchronous FULL): a
crash leaves a batch wholly present or wholly absent, and several processes appending to the
same file queue on SQLite's write lock and read the chain head inside it, so the chain stays
whole. The log also keeps its head (last seq and hash) in `meta`, updated in the same
transaction; `verify` reports a log cut short or extended behind the head's back. Whoever can
rewrite the whole file can rewrite the head too: publish `verify`'s head hash elsewhere (a
ticket, a daily e-mail) to anchor it.

Facts a policy marks `redact: true` are stored as salted hashes, in the inputs and in the
trace's observed values alike (see `redact_record`).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from .canonical import canonical_json
from .compile import CompiledPolicy
from .decide import Decision
from .errors import ClearlineError
from .model import ActionKind
from .record import layout_for

FORMAT = "clearline-audit/1"
KIND_DECISION = "decision"
BATCH_SIZE = 10_000

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
    body TEXT NOT NULL,
    inputs TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_record_id ON records (record_id);
CREATE INDEX IF NOT EXISTS records_account_id ON records (account_id);
"""

COLUMNS = (
    "seq",
    "kind",
    "record_id",
    "account_id",
    "action",
    "policy_id",
    "policy_version",
    "policy_sha256",
    "as_of",
    "recorded_at",
    "body",
    "inputs",
    "prev_hash",
    "hash",
)


class AuditError(ClearlineError):
    """The audit log cannot be opened or written."""


class Entry(NamedTuple):
    """What a caller appends: one record before it is numbered, timed and chained.

    Decisions become entries with `kind="decision"`; other features (case transitions, say)
    may append their own kinds with a canonical JSON `body` of their choosing.
    """

    kind: str
    record_id: str
    account_id: str | None
    action: str | None
    policy_id: str | None
    policy_version: str | None
    policy_sha256: str | None
    as_of: str | None
    body: str
    inputs: str = "{}"


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
    body: str
    inputs: str
    prev_hash: str
    hash: str

    def data(self) -> Any:
        """The body as JSON data (for a decision: the decision record)."""
        return json.loads(self.body)

    def facts(self) -> dict[str, Any]:
        """The stored inputs (redacted facts as `{"redacted": "<salted sha256>"}`)."""
        facts: dict[str, Any] = json.loads(self.inputs)
        return facts

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


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def content_digest(entry: Entry | AuditRecord, recorded_at: str) -> str:
    """Hex sha256 of a record's content (everything but seq and the chain)."""
    # The header is canonical JSON of a list of strings and two integers, written by hand:
    # json.dumps cost as much as the rest of the append.
    header = ",".join(
        (
            _text(entry.kind),
            _text(entry.record_id),
            _text(entry.account_id),
            _text(entry.action),
            _text(entry.policy_id),
            _text(entry.policy_version),
            _text(entry.policy_sha256),
            _text(entry.as_of),
            _text(recorded_at),
            str(len(entry.body)),
            str(len(entry.inputs)),
        )
    )
    text = "[" + header + "]\n" + entry.body + "\n" + entry.inputs
    return hashlib.sha256(text.encode()).hexdigest()


def content_digests(entries: Sequence[Entry], recorded_at: str) -> list[str]:
    """`content_digest` of every entry of a batch, the same hex digests, faster.

    The kind, action, policy and as_of of a batch repeat from record to record, so their
    part of the header is rendered once per distinct combination.
    """
    kinds: dict[str | None, str] = {}
    middles: dict[tuple[str | None, ...], str] = {}
    stamp = _text(recorded_at)
    sha256 = hashlib.sha256
    digests = []
    for kind, record_id, account_id, action, p_id, p_version, p_sha, as_of, body, inputs in entries:
        head = kinds.get(kind)
        if head is None:
            head = kinds[kind] = "[" + _text(kind) + ","
        middle = middles.get((action, p_id, p_version, p_sha, as_of))
        if middle is None:
            if len(middles) > 4_096:
                middles.clear()
            middle = middles[action, p_id, p_version, p_sha, as_of] = ",".join(
                ("", *(_text(v) for v in (action, p_id, p_version, p_sha, as_of)), stamp, "")
            )
        text = "".join(
            (
                head,
                _text(record_id),
                ",",
                "null" if account_id is None else encode_basestring(account_id),
                middle,
                str(len(body)),
                ",",
                str(len(inputs)),
                "]\n",
                body,
                "\n",
                inputs,
            )
        )
        digests.append(sha256(text.encode()).hexdigest())
    return digests


def chain_hash(seq: int, prev_hash: str, content: str) -> str:
    """The hash of row `seq`: its content digest chained to the previous row's hash."""
    return hashlib.sha256(f"{seq}\n{prev_hash}\n{content}".encode()).hexdigest()


def genesis_hash(log_id: str, salt: str) -> str:
    """What the first row chains to: binds the log's identity and redaction salt."""
    return hashlib.sha256(f"{FORMAT}\n{log_id}\n{salt}".encode()).hexdigest()


def redacted_value(salt: str, fact: str, value_json: str) -> dict[str, str]:
    """A redacted fact value: sha256 over the log's salt, the fact name and the JSON value."""
    digest = hashlib.sha256(f"{salt}\n{fact}\n{value_json}".encode()).hexdigest()
    return {"redacted": digest}


def redact_record(decision: Decision, salt: str) -> tuple[str, str]:
    """The record and inputs JSON of a decision, with the policy's redacted facts hashed.

    The trace repeats observed values, so they are hashed there too (a comparison's result
    still shows, which is the point of the trace). `input_sha256` and `decision_id` stay as
    `decide` made them, so the record still names the exact inputs; see the README for what
    that means for small value sets.
    """
    body = decision.to_json()
    inputs = decision.inputs_json
    redact = layout_for(decision.compiled).redacted
    if not redact or redact.isdisjoint(decision.facts):
        return body, inputs
    hidden = {
        name: redacted_value(salt, name, canonical_json(value))
        for name, value in json.loads(inputs).items()
        if name in redact
    }
    facts = json.loads(inputs)
    facts.update(hidden)
    record = json.loads(body)
    for rule in record["trace"] or ():
        for check in rule["checks"]:
            if check["fact"] in hidden:
                check["value"] = hidden[check["fact"]]
            threshold = check["threshold"]
            if isinstance(threshold, dict) and threshold.get("fact") in hidden:
                threshold["value"] = hidden[threshold["fact"]]
    return canonical_json(record), canonical_json(facts)


def decision_entry(decision: Decision, salt: str) -> Entry:
    """The entry that records one decision."""
    policy = decision.compiled.policy.metadata
    body, inputs = redact_record(decision, salt)
    return Entry(
        KIND_DECISION,
        decision.decision_id,
        decision.account_id,
        decision.action.value,
        policy.id,
        policy.version,
        decision.compiled.sha256,
        decision.as_of_text,
        body,
        inputs,
    )


def decision_entries(decisions: Iterable[Decision], salt: str) -> list[Entry]:
    """The entries of a batch of decisions: what `decision_entry` gives for each, faster.

    The policy's part of an entry is looked up once per compiled policy, not per decision.
    """
    entries: list[Entry] = []
    add = entries.append
    new = tuple.__new__
    actions = {kind: kind.value for kind in ActionKind}
    compiled: CompiledPolicy | None = None
    p_id = p_version = p_sha = ""
    redact: frozenset[str] = frozenset()
    for decision in decisions:
        if decision.compiled is not compiled:
            compiled = decision.compiled
            metadata = compiled.policy.metadata
            p_id, p_version, p_sha = metadata.id, metadata.version, compiled.sha256
            redact = layout_for(compiled).redacted
        if redact and not redact.isdisjoint(decision.facts):
            body, inputs = redact_record(decision, salt)
        else:
            body, inputs = decision.to_json(), decision.inputs_json
        add(
            new(
                Entry,
                (
                    KIND_DECISION,
                    decision.decision_id,
                    decision.account_id,
                    actions[decision.action],
                    p_id,
                    p_version,
                    p_sha,
                    decision.as_of_text,
                    body,
                    inputs,
                ),
            )
        )
    return entries


INSERT = f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def _chain(
    entries: Sequence[Entry], digests: list[str], seq: int, prev: str, recorded_at: str
) -> tuple[list[tuple[Any, ...]], int, str]:
    """Number and chain a chunk of entries after record `seq` with hash `prev`."""
    rows: list[tuple[Any, ...]] = []
    add = rows.append
    sha256 = hashlib.sha256
    for entry, digest in zip(entries, digests, strict=True):
        seq += 1
        # chain_hash, inlined: this loop runs while the write lock is held.
        record_hash = sha256(f"{seq}\n{prev}\n{digest}".encode()).hexdigest()
        add((seq, *entry[:8], recorded_at, entry[8], entry[9], prev, record_hash))
        prev = record_hash
    return rows, seq, prev


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
    ) -> None:
        self.path = os.fspath(path)
        self._synchronous = "FULL" if durable else "NORMAL"
        self._clock = clock
        if not create and not os.path.exists(self.path):
            raise AuditError(f"{self.path}: no such audit log")
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot open the audit log ({exc})") from None
        try:
            self._open(create)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise AuditError(f"{self.path}: not a Clearline audit log ({exc})") from None
        except AuditError:
            self._db.close()
            raise

    def _open(self, create: bool) -> None:
        db = self._db
        # Look before touching anything: never turn another application's database into one.
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and not {"meta", "records"} <= tables:
            raise AuditError(f"{self.path}: not a Clearline audit log (it holds other tables)")
        if not tables and not create:
            raise AuditError(f"{self.path}: not a Clearline audit log (an empty database)")
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
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
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
        if meta.get("format") != FORMAT:
            raise AuditError(f"{self.path}: unknown audit log format {meta.get('format')!r}")
        self.log_id: str = meta["log_id"]
        self.salt: str = meta["salt"]
        self.genesis = genesis_hash(self.log_id, self.salt)

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, decisions: Iterable[Decision]) -> int:
        """Append decisions as one batch in one transaction; return how many were written."""
        with _collector_paused():
            return self.append_entries(decision_entries(decisions, self.salt))

    def append_entries(self, entries: Sequence[Entry]) -> int:
        """Append records of any kind as one batch in one transaction."""
        if not entries:
            return 0
        recorded_at = _instant_text(self._clock())
        # Build and hash every record before taking the write lock; inside it only the short
        # chaining step and the writes happen, so concurrent writers wait as little as possible.
        # (Handing chunks to a writer thread to overlap SQLite with this work measured slower.)
        digests = content_digests(entries, recorded_at)
        seq, prev = self._begin()
        try:
            rows, seq, prev = _chain(entries, digests, seq, prev, recorded_at)
            self._db.executemany(INSERT, rows)
            self._commit(seq, prev)
        except BaseException:
            self._rollback()
            raise
        return len(rows)

    def _begin(self) -> tuple[int, str]:
        """Take the write lock and read the chain head inside it."""
        self._db.execute("BEGIN IMMEDIATE")
        row = self._db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, self.genesis)

    def _commit(self, seq: int, head: str) -> None:
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'head'", (f"{seq} {head}",))
        self._db.execute("COMMIT")

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    def head(self) -> tuple[int, str]:
        """The last seq and hash the log itself recorded."""
        value = self._db.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()[0]
        seq, _, hash_ = str(value).partition(" ")
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
        sql = f"SELECT {', '.join(COLUMNS)} FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        for row in self._db.execute(sql, args):
            yield AuditRecord(*row)

    def at(self, seq: int) -> AuditRecord | None:
        """The record numbered `seq`, if any."""
        row = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM records WHERE seq = ?", (seq,)
        ).fetchone()
        return AuditRecord(*row) if row else None

    def get(self, record_id: str) -> list[AuditRecord]:
        """Records whose id is `record_id` or starts with it, in log order."""
        rows = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM records "
            "WHERE record_id >= ? AND record_id < ? ORDER BY seq LIMIT 100",
            (record_id, record_id + "\U0010ffff"),
        )
        return [AuditRecord(*row) for row in rows]

    def verify(self) -> Verification:
        """Walk the chain from the first record; report the first that does not hold."""
        expected = 1
        prev = self.genesis
        count = 0
        cursor = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM records ORDER BY seq")
        for row in cursor:
            record = AuditRecord(*row)
            problem = self._check(record, expected, prev)
            if problem is not None:
                return Verification(count, prev, problem)
            prev = record.hash
            expected += 1
            count += 1
        head_seq, head_hash = self.head()
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
        digest = content_digest(record, record.recorded_at)
        if chain_hash(seq, record.prev_hash, digest) != record.hash:
            return self._misplaced(record, digest, prev)
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

    def _misplaced(self, record: AuditRecord, digest: str, prev: str) -> Problem:
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
                if s > 0 and chain_hash(s, record.prev_hash, digest) == record.hash
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
