"""The audit log's file layout: its format, tables, lookup indexes and genesis."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3

from clearline.engine.errors import ClearlineError

# 3: record contents in RFC 8785 (JCS) canonical JSON, a Merkle tree over the records (meta
# `tree`) and signed checkpoints (table `checkpoints`). A log of format 2 is read and verified
# as it was written; `AuditLog.upgrade` (or its first append) makes it format 3 from then on.
FORMAT = "clearline-audit/3"
FORMAT_2 = "clearline-audit/2"
FORMATS = (FORMAT_2, FORMAT)
# The lookup indexes (decision id, account) are kept per block of this many records, by seq:
# an append inserts into the newest block's part of each index only, so its cost does not grow
# with the log (one index over the whole log, of random decision ids, made every batch of a
# large log rewrite most of that index's pages); a lookup seeks once in each block's part. A
# file's own index definitions say its block (`AuditLog.index_block`).
INDEX_BLOCK = 65_536
# The most blocks a lookup seeks one by one (65 billion records); a log whose seqs, or head,
# were altered to span more (which `verify` reports) is read whole.
_MOST_BLOCKS = 1_000_000


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
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
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


class AuditError(ClearlineError):
    """The audit log cannot be opened or written."""


def genesis_hash(log_id: str, salt: str, fmt: str = FORMAT) -> str:
    """What the first row chains to: binds the log's format (when it was made), identity and
    redaction salt."""
    return hashlib.sha256(f"{fmt}\n{log_id}\n{salt}".encode()).hexdigest()


# Every schema object a Clearline log holds (SQLite names its own indexes sqlite_autoindex_*):
# anything else (a trigger rewriting what is appended, a view, another index or table) was put
# there by someone else, and the log refuses appends until it is removed.
OWN_OBJECTS = frozenset(
    {
        ("table", "meta"),
        ("table", "records"),
        ("table", "templates"),
        ("table", "checkpoints"),
        ("index", "records_record_id"),
        ("index", "records_account_id"),
        ("index", "sqlite_autoindex_meta_1"),
        ("index", "sqlite_autoindex_templates_1"),
    }
)


def foreign_objects(db: sqlite3.Connection) -> list[str]:
    """The schema objects of the file that Clearline did not make, as 'trigger NAME' etc."""
    return [
        f"{kind} {name!r}"
        for kind, name in db.execute("SELECT type, name FROM sqlite_master ORDER BY type, name")
        if (kind, name) not in OWN_OBJECTS
    ]


_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = {"log_id": re.compile(r"[0-9a-f]{32}"), "salt": _HEX64}


def meta_problems(meta: dict[str, object]) -> list[str]:
    """What is wrong with the fields of a log's `meta` table, each as 'key K: what'."""
    problems = []
    for key in ("format", "log_id", "salt", "head"):
        if key not in meta and key == "head":
            continue  # `verify` reports a missing head as the chain's end it cannot check
        if key not in meta:
            problems.append(f"key {key!r}: missing")
        elif not isinstance(meta[key], str):
            problems.append(f"key {key!r}: holds {type(meta[key]).__name__}, not text")
    for key, pattern in _HEX.items():
        value = meta.get(key)
        if isinstance(value, str) and not pattern.fullmatch(value):
            problems.append(f"key {key!r}: {value[:40]!r} is not {pattern.pattern} hex")
    fmt = meta.get("format")
    if isinstance(fmt, str) and fmt not in FORMATS:
        problems.append(f"key 'format': {fmt[:40]!r}; this Clearline reads {', '.join(FORMATS)}")
    genesis = meta.get("genesis_format")
    if genesis is not None and genesis not in FORMATS:
        problems.append(f"key 'genesis_format': {str(genesis)[:40]!r} is not a format")
    for key in ("tree", "jcs_from", "key"):
        if key in meta and not isinstance(meta[key], str):
            problems.append(f"key {key!r}: holds {type(meta[key]).__name__}, not text")
    return problems


def _instant_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
