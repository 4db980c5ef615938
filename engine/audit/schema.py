"""The audit log's file layout: its format, tables, lookup indexes and genesis."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3

from clearline.engine.errors import ClearlineError

FORMAT = "clearline-audit/2"
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


def genesis_hash(log_id: str, salt: str) -> str:
    """What the first row chains to: binds the log's identity and redaction salt."""
    return hashlib.sha256(f"{FORMAT}\n{log_id}\n{salt}".encode()).hexdigest()


def _instant_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
