"""Lookups of the audit log: each index block sought, nothing missed, batches seen whole, and
logs whose indexes cover the whole log or fail midway through a reindex."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from clearline.engine import (
    Decision,
)
from clearline.engine.audit import log as audit
from clearline.engine.audit import lookups
from clearline.engine.audit.log import (
    AuditError,
    AuditLog,
)

from .audit_helpers import (
    tampered,
)
from .conftest import run_cli


def lookup_plans(log: AuditLog, lookup: Callable[[], object]) -> list[str]:
    """SQLite's query plan (EXPLAIN QUERY PLAN) of each statement that `lookup` runs to read
    records."""
    statements: list[str] = []
    log._db.set_trace_callback(statements.append)
    try:
        lookup()
    finally:
        log._db.set_trace_callback(None)
    return [
        " | ".join(row[3] for row in log._db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in statements
        if sql.startswith("SELECT seq, kind,")
    ]


def test_lookups_seek_each_index_block_and_miss_nothing(
    tmp_path: Path, decisions: list[Decision], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of 7 records, so that 300 records and a repeated one spread over 45 blocks.
    monkeypatch.setattr(audit, "INDEX_BLOCK", 7)
    monkeypatch.setattr(lookups, "INDEX_BLOCK", 7)
    path = tmp_path / "audit.db"
    again = decisions[5]
    with AuditLog(path) as log:
        for start in range(0, len(decisions), 40):
            log.append(decisions[start : start + 40])
        log.append([again])
    monkeypatch.setattr(audit, "INDEX_BLOCK", 65_536)  # the file says its own block
    monkeypatch.setattr(lookups, "INDEX_BLOCK", 65_536)
    with AuditLog(path) as log:
        assert log.index_block == 7
        stored = list(log.records())
        for record in stored[::7] + stored[-3:]:
            expected = [r.seq for r in stored if r.record_id == record.record_id]
            assert [r.seq for r in log.get(record.record_id)] == expected
            assert [r.seq for r in log.get(record.record_id[:6])] == [
                r.seq for r in stored if r.record_id.startswith(record.record_id[:6])
            ]
            assert [r.seq for r in log.records(account_id=record.account_id)] == [
                r.seq for r in stored if r.account_id == record.account_id
            ]
        assert [r.seq for r in log.get(again.decision_id)] == [6, len(decisions) + 1]
        assert log.get("zz") == []
        plans = lookup_plans(log, lambda: log.get(again.decision_id)) + lookup_plans(
            log, lambda: list(log.records(account_id=again.account_id, action="none"))
        )
        assert len(plans) == 2
        for plan in plans:
            assert "USING INDEX records_" in plan and "(<expr>=? AND " in plan, plan
    # Seqs altered (which verify reports) are found all the same: below zero (block -1, sought
    # from the lowest block there is), and far out of line (where a seek per block up to it
    # would not end: the log's head says how many blocks it spans, and the lookup reads it all).
    # The same with the head altered to match the far seq, or into something else.
    moved = stored[8]
    for seq, head in ((-7, None), (2**62, None), (2**62, f"{2**62} x"), (2**62, "garbage")):
        statements = [f"UPDATE records SET seq = {seq} WHERE seq = 9"]
        if head is not None:
            statements.append(f"UPDATE meta SET value = '{head}' WHERE key = 'head'")
        with tampered(path, tmp_path / "t.db", *statements) as log:
            assert [r.seq for r in log.get(moved.record_id)] == [seq]
            assert seq in [r.seq for r in log.records(account_id=moved.account_id)]
            assert not log.verify().ok


def test_a_lookup_sees_a_batch_committed_while_it_starts_whole(
    tmp_path: Path, decisions: list[Decision], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of 3: the log holds blocks 0 - 6 when the lookup starts, and another writer's
    # batch lands in blocks 6 - 100 just before its query runs (far past what the log's head
    # said a moment before).
    monkeypatch.setattr(audit, "INDEX_BLOCK", 3)
    monkeypatch.setattr(lookups, "INDEX_BLOCK", 3)
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        log.append(decisions[:20])
    late = decisions[20:300]
    with AuditLog(path) as reader, AuditLog(path) as other:

        def append_first(sql: str) -> None:
            if sql.startswith("SELECT seq, kind,") and len(other) == 20:
                other.append(late)

        reader._db.set_trace_callback(append_first)
        found = reader.get(late[-1].decision_id)
        reader._db.set_trace_callback(None)
        assert [r.seq for r in found] == [300]
        assert len(reader) == 300


def log_with_whole_log_indexes(path: Path, decisions: list[Decision]) -> None:
    """A log of `decisions` with the lookup indexes over the whole log that earlier versions
    made."""
    with AuditLog(path) as log:
        log.append(decisions)
    db = sqlite3.connect(path, isolation_level=None)
    for column in ("record_id", "account_id"):
        db.execute(f"DROP INDEX records_{column}")
        db.execute(f"CREATE INDEX records_{column} ON records ({column})")
    db.close()


def index_definitions(path: Path) -> list[str]:
    """The CREATE statements of a log's lookup indexes, by name."""
    db = sqlite3.connect(path)
    found = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"
    ).fetchall()
    db.close()
    return [sql for (sql,) in found]


def test_a_log_whose_indexes_cover_the_whole_log_still_reads_and_appends(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    path = tmp_path / "audit.db"
    log_with_whole_log_indexes(path, decisions[:100])
    with AuditLog(path) as log:
        assert log.index_block is None
        log.append(decisions[100:])
        target = decisions[150]
        assert [r.seq for r in log.get(target.decision_id)] == [151]
        assert [r.seq for r in log.records(account_id=target.account_id)] == [
            n + 1 for n, d in enumerate(decisions) if d.account_id == target.account_id
        ]
        assert "USING INDEX records_record_id (record_id>? AND record_id<?)" in " ".join(
            lookup_plans(log, lambda: log.get(target.decision_id))
        )
        assert log.verify().ok
    assert index_definitions(path) == [
        "CREATE INDEX records_account_id ON records (account_id)",
        "CREATE INDEX records_record_id ON records (record_id)",
    ]
    with AuditLog(path) as log:  # open while another process reindexes
        head = log.head()
        run = run_cli("audit", "reindex", str(path))
        assert run.returncode == 0, run.stderr
        assert (
            run.stdout
            == f"reindexed: {len(decisions)} records, lookup indexes per block of 65,536 records\n"
        )
        assert log.index_block == 65_536
        assert log.head() == head and log.verify().ok
        target = decisions[250]
        assert [r.seq for r in log.get(target.decision_id)] == [251]
        plans = lookup_plans(log, lambda: log.get(target.decision_id)) + lookup_plans(
            log, lambda: list(log.records(account_id=target.account_id))
        )
        assert "(<expr>=? AND record_id>? AND record_id<?)" in plans[0]
        assert "USING INDEX records_account_id (<expr>=? AND account_id=?)" in plans[1]
    assert index_definitions(path) == [
        "CREATE INDEX records_account_id ON records (seq / 65536, account_id)",
        "CREATE INDEX records_record_id ON records (seq / 65536, record_id)",
    ]
    again = run_cli("audit", "reindex", str(path))
    assert again.returncode == 0
    assert again.stdout.startswith("nothing to do: the lookup indexes are kept per block of 65,536")


def test_reindexing_a_log_another_process_holds_fails_and_keeps_its_indexes(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    path = tmp_path / "audit.db"
    log_with_whole_log_indexes(path, decisions[:20])
    log = AuditLog(path, timeout=0.2)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(AuditError, match=r"the indexes were not rebuilt .*locked"):
            log.reindex()
        assert log.index_block is None
        assert [r.seq for r in log.get(decisions[4].decision_id)] == [5]
        log.close()
        with pytest.raises(
            AuditError, match=r"audit.db: cannot open the audit log \(database is locked\)"
        ):
            AuditLog(path, timeout=0.2)
    finally:
        db.execute("ROLLBACK")
        db.close()
    with AuditLog(path) as log:
        assert log.index_block is None and log.reindex() and log.index_block == 65_536
        assert not log.reindex()


@pytest.mark.parametrize("block", ["0", "99999999999999999999", "007"])
def test_an_index_block_sqlite_cannot_divide_by_is_read_as_a_whole_log_index(
    tmp_path: Path, decisions: list[Decision], block: str
) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        log.append(decisions[:20])
    db = sqlite3.connect(path, isolation_level=None)
    for column in ("record_id", "account_id"):
        db.execute(f"DROP INDEX records_{column}")
        db.execute(f"CREATE INDEX records_{column} ON records (seq / {block}, {column})")
    db.close()
    with AuditLog(path) as log:
        assert log.index_block is None
        assert [r.seq for r in log.get(decisions[12].decision_id)] == [13]
        assert [r.seq for r in log.records(account_id=decisions[12].account_id)] == [13]
        assert log.reindex() and log.index_block == 65_536
        assert [r.seq for r in log.get(decisions[12].decision_id)] == [13]


def test_a_reindex_that_fails_midway_keeps_every_index_as_it_was(
    tmp_path: Path, decisions: list[Decision], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.db"
    log_with_whole_log_indexes(path, decisions[:20])
    before = index_definitions(path)
    # The rebuild fails at its last statement, after both old indexes were dropped and one
    # new one made.
    broken = audit._INDEXES + "CREATE INDEX records_broken ON records (no_such_column);"
    with AuditLog(path) as log:
        monkeypatch.setattr(lookups, "_INDEXES", broken)
        with pytest.raises(AuditError, match=r"the indexes were not rebuilt .*no_such_column"):
            log.reindex()
        assert log.index_block is None and not log._db.in_transaction
    assert index_definitions(path) == before


def test_a_log_with_one_index_of_each_layout_is_reindexed_whole(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        log.append(decisions[:20])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP INDEX records_account_id")
    db.execute("CREATE INDEX records_account_id ON records (account_id)")
    db.close()
    with AuditLog(path) as log:
        assert log.index_block is None  # lookups do not count on either
        assert [r.seq for r in log.get(decisions[3].decision_id)] == [4]
        assert log.reindex() and log.index_block == 65_536
    assert index_definitions(path) == [
        "CREATE INDEX records_account_id ON records (seq / 65536, account_id)",
        "CREATE INDEX records_record_id ON records (seq / 65536, record_id)",
    ]
