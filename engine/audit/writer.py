"""The writing side of the audit log: record contents, the hash chain, and batch transactions.

The standard library only (and orjson, for speed, when it can be imported), on purpose:
`AuditLog` runs this file as a separate writer process for large batches
(`python writer.py`, started in a few hundredths of a second), so that
hashing, chaining and SQLite run on a second core while the caller builds the next records.
Small batches use the same `BatchWriter` in the caller's own process.

A row handed to the writer ("wire row") is a plain tuple of the table's columns but seq and the
chain, in the table's order:

    (kind, record_id, account_id, action, policy_id, policy_version, policy_sha256, as_of,
     recorded_at, template sha256 or None, input_sha256 or None, body, inputs)

A decision's row may leave record_id None: the writer derives it from the row as `decide`
does (the SHA-256 of the policy hash, account, moment and input hash), which takes a hash per
record off the caller's core. Such a row may leave its input_sha256 None too, when its inputs
are the decision's inputs as they are (nothing redacted): the writer hashes them.

The process speaks in frames on its standard input and output: a 4-byte little-endian length,
then a `marshal`-ed tuple (the two ends are the same Clearline, so marshal's format is shared):

    ("begin",) ("rows", [wire rows], [(template sha, text)], [content] or None) ("commit",)
    ("rollback",) -> replies ("ok", count, seq, hash, work) or ("error", message)

`work` is the CPU seconds the process spent on the batch; the caller compares it with its own
and takes on more of the work (the ids, then the rows' contents, which it sends with the rows)
when this side is the slower, less when it is the faster.

A batch becomes visible only at "commit"; if the caller dies first the writer reads the end of
its input, rolls back and exits, so a batch is never half written.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import marshal
import signal
import sqlite3
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring
from typing import IO, Any

if __package__:
    from clearline.engine.audit.merkle import Frontier, leaf_hash
else:  # the writer process, run as a script with the standard library only: load the sibling
    import importlib.util
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location("merkle", Path(__file__).with_name("merkle.py"))
    assert _spec is not None and _spec.loader is not None
    _merkle = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_merkle)
    Frontier, leaf_hash = _merkle.Frontier, _merkle.leaf_hash  # type: ignore[misc]

_orjson_dumps: Callable[[Any], bytes] | None
try:  # writes the rows' headers several times faster than the standard library
    import orjson

    _orjson_dumps = orjson.dumps
except ImportError:  # pragma: no cover - a declared dependency; `contents` writes the same bytes
    _orjson_dumps = None

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
    "template",
    "input_sha256",
    "body",
    "inputs",
    "prev_hash",
    "hash",
)
# OR ROLLBACK: a row that breaks a constraint ends the whole transaction at once (a batch is
# all or nothing in any case). It spares SQLite the statement journal it otherwise keeps for a
# statement of many rows, a copy of each page it changes in case it must undo just itself
# (with 64 KB pages that journal spilled to a temporary file: a write for every two records).
_INSERT_INTO = f"INSERT OR ROLLBACK INTO records ({', '.join(COLUMNS)}) VALUES "
_ROW = f"({', '.join('?' * len(COLUMNS))})"
INSERT = _INSERT_INTO + _ROW
# Rows per INSERT statement. One statement of many rows costs SQLite and the sqlite3 module
# less per row than `executemany` of one row at a time (the writer process: 10% fewer
# instructions, `valgrind --tool=cachegrind`); 50 rows of 16 columns stay within the 999
# parameters older SQLite builds allow.
ROWS_PER_INSERT = 50
INSERT_ROWS = _INSERT_INTO + ", ".join([_ROW] * ROWS_PER_INSERT)

WireRow = tuple[Any, ...]
WIRE_WIDTH = len(COLUMNS) - 3  # a wire row: the table's columns but seq and the chain
_EMPTY_SHA256 = hashlib.sha256()


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of UTF-8 text."""
    # Copying an empty hash object costs less than making a new one (OpenSSL 3 looks the
    # digest up on every `hashlib.sha256()`), which shows on the short texts hashed per record.
    digest = _EMPTY_SHA256.copy()
    digest.update(text.encode())
    return digest.hexdigest()


def decision_id(policy_sha: str, account_id: str | None, as_of: str, input_sha: str) -> str:
    """A decision's id: the same policy, account, moment and inputs give the same id."""
    return sha256_hex("\n".join((policy_sha, account_id or "", as_of, input_sha)))[:32]


def with_ids(rows: Sequence[WireRow]) -> list[WireRow]:
    """The rows with the record_id (and input_sha256) a decision's row left out filled in."""
    done: list[WireRow] = []
    add = done.append
    for row in rows:
        if len(row) != WIRE_WIDTH:
            raise _odd_width(row)
        if row[1] is not None:
            add(row)
            continue
        # a decision: (kind, None, account_id, action, p_id, p_version, p_sha, as_of,
        # recorded_at, template, input_sha256 or None, body, inputs)
        if row[0] != "decision":
            raise ValueError(f"a {row[0]!r} row needs its record_id")
        input_sha = row[10]
        if input_sha is None:
            input_sha = sha256_hex(row[12])  # its inputs, unredacted
        record_id = decision_id(row[6], row[2], row[7], input_sha)
        add((row[0], record_id, *row[2:10], input_sha, *row[11:]))
    return done


def _odd_width(row: WireRow) -> ValueError:
    return ValueError(f"a row of {len(row)} values where the writer takes {WIRE_WIDTH}")


def _check_made(rows: Sequence[WireRow], texts: Sequence[str]) -> None:
    """Rows and the contents the caller made for them: as many of each, and each row as wide
    as the table's columns but seq and the chain (a row of another width would shift the
    columns of every row after it in `insert_values`)."""
    if len(texts) != len(rows):
        raise ValueError(f"{len(texts)} contents for {len(rows)} rows")
    for row in rows:
        if len(row) != WIRE_WIDTH:
            raise _odd_width(row)


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _header_by_hand(row: WireRow) -> str:
    """A row's header (see `contents`) written with the standard library."""
    return "[" + ",".join(map(_text, row[:11])) + f",{len(row[11])},{len(row[12])}]"


def contents(rows: Sequence[WireRow]) -> list[str]:
    """Each row's content: everything but seq and the chain, as the hash covers it.

    content = canonical JSON of [kind, record_id, account_id, action, policy_id,
    policy_version, policy_sha256, as_of, recorded_at, template, input_sha256, len(body),
    len(inputs)] + "\\n" + body + "\\n" + inputs. orjson writes the header (json.dumps cost as
    much as the rest of the append); the standard library writes the same bytes where orjson
    is missing or refuses a value (a string with a lone surrogate). The values are text or None.
    """
    dumps = _orjson_dumps
    if dumps is None:
        return [f"{_header_by_hand(row)}\n{row[11]}\n{row[12]}" for row in rows]
    texts: list[str] = []
    add = texts.append
    for row in rows:
        body, inputs = row[11], row[12]
        try:
            head = dumps([*row[:11], len(body), len(inputs)]).decode()
        except TypeError:
            head = _header_by_hand(row)
        add(f"{head}\n{body}\n{inputs}")
    return texts


def chain_hash(seq: int, prev_hash: str, content: str) -> str:
    """The hash of row `seq`: its content chained to the previous row's hash."""
    return sha256_hex(f"{seq}\n{prev_hash}\n{content}")


def chain_rows(
    rows: Sequence[WireRow],
    seq: int,
    prev: str,
    texts: Sequence[str] | None = None,
    tree: Frontier | None = None,
) -> tuple[list[Any], int, str]:
    """Number and chain rows after record `seq` with hash `prev`: the values of the table rows
    to insert, one row's columns after another's (see `insert_values`).

    `texts`: the rows' contents, if the caller made them (then the rows carry their ids).
    `tree`: the Merkle tree's right edge, to which each row's hash is appended as a leaf.
    """
    values: list[Any] = []
    add = values.append
    if texts is None:
        rows = with_ids(rows)
        texts = contents(rows)
    else:
        _check_made(rows, texts)
    for row, content in zip(rows, texts, strict=True):
        seq += 1
        record_hash = chain_hash(seq, prev, content)
        add(seq)
        values += row
        add(prev)
        add(record_hash)
        prev = record_hash
    if tree is not None:
        grow = tree.append
        # the leaves are the rows' hashes (32 bytes), each of which covers its whole row
        for at in range(len(COLUMNS) - 1, len(values), len(COLUMNS)):
            grow(leaf_hash(bytes.fromhex(values[at])))
    return values, seq, prev


def insert_values(db: sqlite3.Connection, values: list[Any]) -> int:
    """Insert table rows given as their values one row after another; how many rows."""
    width = len(COLUMNS)
    if len(values) % width:
        raise ValueError(f"{len(values)} values do not make rows of {width} columns")
    step = width * ROWS_PER_INSERT
    whole = len(values) - len(values) % step
    for start in range(0, whole, step):
        db.execute(INSERT_ROWS, values[start : start + step])
    if whole < len(values):
        db.executemany(INSERT, (values[at : at + width] for at in range(whole, len(values), width)))
    return len(values) // width


class BatchWriter:
    """Appends batches to an open audit log file, one transaction each."""

    def __init__(self, db: sqlite3.Connection, genesis: str) -> None:
        self.db = db
        self.genesis = genesis
        self.count = 0
        self.seq = 0
        self.prev = genesis
        self.tree = Frontier()  # the Merkle tree's right edge (see `merkle`), kept in meta
        # Rows of the batch given ids and contents before it took the write lock (`hold`).
        self.held: list[tuple[Sequence[WireRow], Sequence[tuple[str, str]], Sequence[str]]] = []

    def begin(self) -> None:
        """Start a batch; the write lock is taken with its first rows."""
        self.count = 0
        self.held = []

    def hold(
        self,
        rows: Sequence[WireRow],
        templates: Sequence[tuple[str, str]],
        texts: Sequence[str] | None = None,
    ) -> None:
        """Give rows of the batch their ids and contents now, and keep them to be chained and
        inserted once the batch takes the write lock (the next `write` or `commit`)."""
        if texts is None:
            rows = with_ids(rows)
            texts = contents(rows)
        else:
            _check_made(rows, texts)
        self.held.append((rows, templates, texts))

    def write(
        self,
        rows: Sequence[WireRow],
        templates: Sequence[tuple[str, str]],
        texts: Sequence[str] | None = None,
    ) -> None:
        """Chain and insert rows of the batch, with the record templates new among them (and
        the rows' contents, if the caller made them)."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute(
                "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            self.seq, self.prev = (int(row[0]), str(row[1])) if row else (0, self.genesis)
            self.tree = read_tree(self.db, self.seq)
        held, self.held = self.held, []
        for earlier in held:
            self._insert(*earlier)
        self._insert(rows, templates, texts)

    def _insert(
        self,
        rows: Sequence[WireRow],
        templates: Sequence[tuple[str, str]],
        texts: Sequence[str] | None,
    ) -> None:
        values, self.seq, self.prev = chain_rows(rows, self.seq, self.prev, texts, self.tree)
        if templates:
            # Another writer may have stored the same template: the same text, kept once.
            self.db.executemany("INSERT OR IGNORE INTO templates VALUES (?, ?)", templates)
        self.count += insert_values(self.db, values)

    def commit(self) -> tuple[int, int, str]:
        """Record the new head and commit; (rows written, last seq, last hash)."""
        if self.held:
            self.write((), ())
        if self.db.in_transaction:
            self.db.execute(
                "UPDATE meta SET value = ? WHERE key = 'head'", (f"{self.seq} {self.prev}",)
            )
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('tree', ?)",
                (self.tree.to_text(),),
            )
            self.db.execute("COMMIT")
        return self.count, self.seq, self.prev

    @property
    def root(self) -> str:
        """The Merkle tree's root after the last batch (hex)."""
        return str(self.tree.root().hex())

    def rollback(self) -> None:
        """Drop the batch."""
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self.count = 0
        self.held = []


def read_tree(db: sqlite3.Connection, size: int) -> Frontier:
    """The Merkle tree's right edge over the first `size` records, from meta; built from the
    records when meta holds none of that size (a log of the previous format, upgraded on its
    first append, or a tree meta lost)."""
    found = db.execute("SELECT value FROM meta WHERE key = 'tree'").fetchone()
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        if found is not None:
            tree = Frontier.from_text(found[0])
            if tree.size == size:
                return tree
    tree = Frontier()
    for (record_hash,) in db.execute(
        "SELECT hash FROM records WHERE seq <= ? ORDER BY seq", (size,)
    ):
        tree.append(leaf_hash(bytes.fromhex(record_hash)))
    return tree


class Checkpointer:
    """Copies the write-ahead log into the database file on a thread of its own.

    SQLite otherwise does it inside the commit that takes the log past 1,000 pages, and the
    caller of `append` waits for it (about a tenth of a run of batches of 10,000). Here the
    writer's connection never checkpoints; after each commit this thread runs a PASSIVE
    checkpoint through a second connection (which never blocks a writer), while the writer
    takes the next batch. SQLite releases the GIL while it works, so the two run side by side.

    SQLite starts the log afresh only when a batch takes the write lock after a checkpoint has
    copied all of it, and then writes over the same file pages (a commit of 10,000 records:
    8 - 9 ms of CPU instead of 11 - 15 for new ones); a batch that took it before would grow
    the log by a batch, and back-to-back batches would grow it without end. So the rows that
    arrive while the checkpoint runs are given their ids and contents and held
    (`BatchWriter.hold`); the batch takes the lock with the first rows after it, or at its
    commit, after waiting for the checkpoint (`wait`) if its rows all came first (a small
    batch). The log stays a batch long.
    """

    def __init__(self, path: str, synchronous: str, timeout: float) -> None:
        self.db = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self.db.execute(f"PRAGMA synchronous = {synchronous}")
        self._turns = threading.Condition()
        self._asked = self._done = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a checkpoint (requests made while one runs are served by one more)."""
        with self._turns:
            self._asked += 1
            self._turns.notify_all()

    def running(self) -> bool:
        """Whether a requested checkpoint has not finished yet."""
        return self._done < self._asked and self._thread.is_alive()

    def wait(self) -> None:
        """Wait for the requested checkpoints to finish."""
        with self._turns:
            while self.running():
                self._turns.wait(timeout=1.0)  # the timeout: never wait on a thread gone

    def _run(self) -> None:
        while True:
            with self._turns:
                while self._done == self._asked and not self._stopping:
                    self._turns.wait()
                if self._stopping:
                    return
                target = self._asked
            # A failed checkpoint loses nothing (the log keeps the pages); the next one
            # retries, and SQLite checkpoints when the last connection closes.
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            with self._turns:
                self._done = target
                self._turns.notify_all()

    def close(self) -> None:
        """Let a running checkpoint finish, then stop the thread."""
        with self._turns:
            self._stopping = True
            self._turns.notify_all()
        self._thread.join()
        self.db.close()


# -- the writer process -------------------------------------------------------------------------

_LENGTH = struct.Struct("<I")


def send(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    """Write one frame."""
    data = marshal.dumps(message)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)


def receive(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """Read one frame; None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        return None
    message = marshal.loads(data)
    return message if isinstance(message, tuple) else None


def serve(path: str, synchronous: str, timeout: float, genesis: str) -> int:
    """Write the batches that arrive on standard input until it ends."""
    # Ctrl-C reaches the whole process group: the caller decides (it rolls the batch back or
    # goes away, which ends the input), so that a batch is never cut by the signal here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The writer makes no reference cycles; the collector's passes over the rows it holds
    # cost about 1% of its instructions (`valgrind --tool=cachegrind`, 30,000 records).
    gc.disable()
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    synchronous = "FULL" if synchronous == "FULL" else "NORMAL"
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    db.execute(f"PRAGMA synchronous = {synchronous}")
    db.execute("PRAGMA cache_size = -65536")
    db.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer's job
    checkpointer = Checkpointer(path, synchronous, timeout)
    writer = BatchWriter(db, genesis)
    failure: str | None = None
    started = time.thread_time()
    while (message := receive(source)) is not None:
        kind = message[0]
        if kind == "begin":
            writer.begin()
            failure = None
            started = time.thread_time()
        elif kind == "rows":
            if failure is None:
                try:
                    if writer.db.in_transaction or not checkpointer.running():
                        writer.write(message[1], message[2], message[3])
                    else:
                        writer.hold(message[1], message[2], message[3])
                except (sqlite3.Error, ValueError) as exc:
                    failure = f"{type(exc).__name__}: {exc}"
                    writer.rollback()
        elif kind == "commit":
            reply: tuple[Any, ...] = ("error", failure)
            if failure is None:
                try:
                    if writer.held:  # every row came while the checkpoint ran
                        checkpointer.wait()
                    done = writer.commit()
                    reply = ("ok", *done, time.thread_time() - started, writer.root)
                except (sqlite3.Error, ValueError) as exc:
                    writer.rollback()
                    reply = ("error", f"{type(exc).__name__}: {exc}")
            send(sink, reply)
            sink.flush()
            if reply[0] == "ok":
                checkpointer.request()
        elif kind == "rollback":
            writer.rollback()
            send(sink, ("ok", 0, 0, "", 0.0))
            sink.flush()
    writer.rollback()  # the caller went away mid-batch: nothing of it is kept
    checkpointer.close()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]))
