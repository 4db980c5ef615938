"""Reading the audit log: its head, records by seq, id, account or filter, the lookup indexes."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from clearline.engine.audit.entries import AuditRecord, foreign_value
from clearline.engine.audit.schema import (
    _BLOCKED_INDEX,
    _INDEX_NAMES,
    _INDEXES,
    INDEX_BLOCK,
    AuditError,
    _execute_each,
    _instant_text,
)
from clearline.engine.audit.writer import COLUMNS
from clearline.engine.canonical import is_text
from clearline.engine.decisions.record_layout import RecordTemplate

# The most blocks a lookup seeks one by one (65 billion records); a log whose seqs, or head,
# were altered to span more (which `verify` reports) is read whole.
_MOST_BLOCKS = 1_000_000


class LogReader:
    """The read side of an open audit log (`AuditLog` adds opening, appending, verifying)."""

    path: str
    genesis: str
    _db: sqlite3.Connection
    _forms: dict[str, RecordTemplate | None]

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
                f"{self.path}: the log's head (its last seq and hash, table meta, key 'head') was "
                f"altered: "
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
