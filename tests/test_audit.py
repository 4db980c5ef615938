"""The audit log on real SQLite files: append, verify and locate tampering, crash safety,
concurrent writers, redaction, replay and the `clearline audit` commands."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline.engine import (
    Decision,
    compile_policy,
    decide,
    load_policy_text,
    sample_accounts,
)
from clearline.engine.audit import log as audit
from clearline.engine.audit import lookups
from clearline.engine.audit import writer as audit_writer
from clearline.engine.audit.log import (
    CHUNK,
    PARALLEL_MIN,
    AuditError,
    AuditLog,
    Entry,
    chunk_bounds,
    decision_entries,
    decision_rows,
)
from clearline.engine.audit.replay import (
    DIFFERS,
    HASH_MISMATCH,
    MISSING_POLICY,
    REDACTED,
    SAME,
    replay,
)
from clearline.engine.audit.writer import (
    COLUMNS,
    ROWS_PER_INSERT,
    BatchWriter,
    Checkpointer,
    chain_hash,
    chain_rows,
    contents,
    insert_values,
    with_ids,
)
from clearline.engine.canonical import canonical_json
from clearline.engine.versions import PolicyRegistry

from .conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "credit-line-closure"
V110_TEXT = (SHIPPED / "1.1.0.yaml").read_text(encoding="utf-8")
AS_OF = dt.datetime(2027, 2, 1, 2, 30, tzinfo=dt.UTC)
RECORDED = dt.datetime(2027, 2, 1, 3, 0, tzinfo=dt.UTC)


def fixed_clock() -> dt.datetime:
    return RECORDED


@pytest.fixture(scope="module")
def registry() -> PolicyRegistry:
    return PolicyRegistry.load(SHIPPED)


@pytest.fixture(scope="module")
def decisions(registry: PolicyRegistry) -> list[Decision]:
    """Decisions under both shipped versions, traced and not, some with missing facts."""
    made = []
    for version, as_of in (("1.0.0", "2026-06-01"), ("1.1.0", AS_OF)):
        item = registry.get("credit-line-closure", version)
        assert item is not None
        for n, account in enumerate(sample_accounts(item.policy, 150, seed=3)):
            made.append(
                decide(
                    item.compiled,
                    account["facts"],
                    as_of,
                    account_id=account["account_id"],
                    trace=n % 5 != 0,
                )
            )
    return made


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def small_log(path: Path, decisions: list[Decision], n: int = 6) -> None:
    with AuditLog(path, clock=fixed_clock) as log:
        log.append(decisions[: n // 2])
        log.append(decisions[n // 2 : n])


def tampered(source: Path, target: Path, *statements: str) -> AuditLog:
    """A copy of a closed log with SQL applied to it behind the log's back."""
    remove_db(target)
    shutil.copy(source, target)
    db = sqlite3.connect(target, isolation_level=None)
    for statement in statements:
        db.execute(statement)
    db.close()
    return AuditLog(target)


# -- append, read back ------------------------------------------------------------------------


def test_append_then_read_back(tmp_path: Path, decisions: list[Decision]) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path, clock=fixed_clock) as log:
        assert log.append(decisions[:100]) == 100
        assert log.append(decisions[100:]) == len(decisions) - 100
        assert len(log) == len(decisions)
        records = list(log.records())
        assert [r.seq for r in records] == list(range(1, len(decisions) + 1))
        for record, decision in zip(records, decisions, strict=True):
            assert record.document == decision.to_json()
            assert record.inputs == decision.inputs_json
            assert record.record_id == decision.decision_id
            assert record.recorded_at == "2027-02-01T03:00:00Z"
        first = decisions[7]
        assert [r.seq for r in log.get(first.decision_id)] == [8]
        assert log.get(first.decision_id[:10])[0].seq == 8
        assert log.at(8) == records[7]
        assert log.at(len(decisions) + 1) is None
        result = log.verify()
        assert result.ok and result.count == len(decisions)
        assert log.head() == (len(decisions), records[-1].hash)


def test_filters(tmp_path: Path, decisions: list[Decision]) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        log.append(decisions)
        account = decisions[3].account_id
        assert [r.account_id for r in log.records(account_id=account)] == [
            d.account_id for d in decisions if d.account_id == account
        ]
        suspended = [d.decision_id for d in decisions if d.action.value == "suspend"]
        assert suspended
        assert [r.record_id for r in log.records(action="suspend")] == suspended
        old = [r for r in log.records(policy_version="1.0.0")]
        assert len(old) == 150 and {r.policy_version for r in old} == {"1.0.0"}
        switch = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
        assert len(list(log.records(until=switch))) == 150
        assert len(list(log.records(since=switch))) == 150
        assert list(log.records(since=AS_OF + dt.timedelta(seconds=1))) == []
        assert len(list(log.records(since=AS_OF, until=AS_OF + dt.timedelta(seconds=1)))) == 150


def test_a_batch_is_one_transaction(tmp_path: Path, decisions: list[Decision]) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        log.append(decisions[:5])
        good = Entry("decision", "x", None, None, None, None, None, None, "{}", "{}")
        with pytest.raises(sqlite3.IntegrityError):
            # The second row breaks a NOT NULL constraint inside the transaction: the first
            # row of the batch does not stay either.
            log.append_entries([good, good._replace(kind=None)])  # type: ignore[arg-type]
        assert len(log) == 5
        # The same inside a statement of many rows, after whole statements went in, and among
        # the rows after the last whole statement, which go in one at a time.
        batch = [good._replace(record_id=f"x{n}") for n in range(3 * ROWS_PER_INSERT + 7)]
        for broken in (ROWS_PER_INSERT + 7, 3 * ROWS_PER_INSERT + 3):
            odd = [*batch[:broken], good._replace(kind=None), *batch[broken + 1 :]]
            with pytest.raises(sqlite3.IntegrityError):
                log.append_entries(odd)  # type: ignore[arg-type]
            assert len(log) == 5
            assert not log._db.in_transaction
        assert log.append_entries(batch[:ROWS_PER_INSERT]) == ROWS_PER_INSERT  # and it goes on
        # And in the writer process, which reports what broke.
        large = [good._replace(record_id=f"y{n}") for n in range(PARALLEL_MIN + 10)]
        large[PARALLEL_MIN // 2] = good._replace(kind=None)  # type: ignore[arg-type]
        with pytest.raises(AuditError, match=r"batch was not written.*NOT NULL"):
            log.append_entries(large)
        process = log._writer
        assert process is not None and process.alive()
        assert len(log) == 5 + ROWS_PER_INSERT
        # The same process writes the next batch.
        large[PARALLEL_MIN // 2] = good._replace(record_id="y-fixed")
        assert log.append_entries(large) == len(large)
        assert log._writer is process
        assert len(log) == 5 + ROWS_PER_INSERT + len(large)
        assert log.verify().ok


def test_append_leaves_the_cycle_collector_as_it_found_it(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    with AuditLog(tmp_path / "audit.db") as log:
        assert gc.isenabled()
        log.append(decisions[:5])
        assert gc.isenabled()
        with pytest.raises(AttributeError):  # not a decision: nothing written
            log.append([decisions[5], None])  # type: ignore[list-item]
        assert gc.isenabled()
        gc.disable()
        try:
            log.append(decisions[5:10])
            assert not gc.isenabled()
        finally:
            gc.enable()
        assert len(log) == 10 and log.verify().ok


def test_other_kinds_share_the_chain(tmp_path: Path, decisions: list[Decision]) -> None:
    path = tmp_path / "audit.db"
    with AuditLog(path) as log:
        log.append(decisions[:3])
        note = Entry(
            "case-transition",
            "case-1",
            "S3-0000001",
            None,
            None,
            None,
            None,
            None,
            '{"from":"open","to":"closed"}',
        )
        log.append_entries([note])
        log.append(decisions[3:6])
        assert log.verify().ok
        assert [r.kind for r in log.records(kind="case-transition")] == ["case-transition"]


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


def test_not_an_audit_log(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, just text that is long enough to be read " * 20)
    with pytest.raises(AuditError):
        AuditLog(path)
    with pytest.raises(AuditError):
        AuditLog(tmp_path / "missing.db", create=False)
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE customers (id TEXT)")
    db.close()
    with pytest.raises(AuditError, match="other tables"):
        AuditLog(other)
    db = sqlite3.connect(other)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["customers"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()
    run = run_cli("audit", "verify", str(other))
    assert run.returncode == 1 and "not a Clearline audit log" in run.stderr


# -- verify: tampering is detected and located ------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, decisions: list[Decision]) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "audit.db"
    small_log(path, decisions, 6)
    assert not Path(f"{path}-wal").exists()  # closed: the WAL was checkpointed into the file
    return path


def _changed(column: str, value: object) -> str:
    if column == "inputs":
        return f"replace({column}, ':', ': ')"
    if column == "body":
        return "body || ' '"
    if value is None:
        return "'S9-0000000'"
    return f"{column} || 'x'"


@pytest.mark.parametrize("column", [c for c in COLUMNS if c != "seq"])
def test_tampering_any_column_of_any_record_is_located(
    pristine: Path, tmp_path: Path, column: str
) -> None:
    db = sqlite3.connect(pristine)
    values = dict(db.execute(f"SELECT seq, {column} FROM records").fetchall())
    db.close()
    for seq, value in values.items():
        with tampered(
            pristine,
            tmp_path / "t.db",
            f"UPDATE records SET {column} = {_changed(column, value)} WHERE seq = {seq}",
        ) as log:
            result = log.verify()
        assert result.problem is not None, (column, seq)
        assert result.problem.seq == seq, (column, seq, result.problem)
        assert result.problem.kind == "altered"


def test_renumbering_a_record_is_located(pristine: Path, tmp_path: Path) -> None:
    with tampered(pristine, tmp_path / "t.db", "UPDATE records SET seq = 99 WHERE seq = 4") as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 4


@pytest.mark.parametrize("seq", [1, 3, 4])
def test_deleting_a_record_is_located(pristine: Path, tmp_path: Path, seq: int) -> None:
    with tampered(pristine, tmp_path / "t.db", f"DELETE FROM records WHERE seq = {seq}") as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == seq and problem.kind == "deleted"


def test_deleting_and_renumbering_is_located(pristine: Path, tmp_path: Path) -> None:
    with tampered(
        pristine,
        tmp_path / "t.db",
        "DELETE FROM records WHERE seq = 3",
        "UPDATE records SET seq = seq - 1 WHERE seq > 3",
        "UPDATE meta SET value = '5 ' || (SELECT hash FROM records WHERE seq = 5) "
        "WHERE key = 'head'",
    ) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 3


def test_deleting_the_last_record_is_located(pristine: Path, tmp_path: Path) -> None:
    with tampered(pristine, tmp_path / "t.db", "DELETE FROM records WHERE seq = 6") as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 6 and problem.kind == "truncated"


def _shift_up_from(seq: int) -> list[str]:
    # Renumber from the top so the primary key never collides.
    return [
        f"UPDATE records SET seq = -seq - 1 WHERE seq >= {seq}",
        "UPDATE records SET seq = -seq WHERE seq < 0",
    ]


def test_inserting_a_copy_is_located(pristine: Path, tmp_path: Path) -> None:
    columns = ", ".join(c for c in COLUMNS if c != "seq")
    with tampered(
        pristine,
        tmp_path / "t.db",
        *_shift_up_from(3),
        f"INSERT INTO records (seq, {columns}) SELECT 3, {columns} FROM records WHERE seq = 6",
    ) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 3


def test_inserting_a_forged_record_with_a_valid_hash_is_located(
    pristine: Path, tmp_path: Path
) -> None:
    target = tmp_path / "t.db"
    with tampered(pristine, target, *_shift_up_from(3)) as log:
        before = log.at(2)
        template = log.at(4)  # what was record 3
        assert before is not None and template is not None
    forged = Entry(
        "decision",
        "f" * 32,
        "S9-0000009",
        "none",
        template.policy_id,
        template.policy_version,
        template.policy_sha256,
        template.as_of,
        template.document.replace('"action":', '"action": '),
        template.inputs,
    )
    stored = (*forged[:8], template.recorded_at, None, None, forged.body, forged.inputs)
    content = contents([stored])[0]
    row = (3, *stored, before.hash, chain_hash(3, before.hash, content))
    db = sqlite3.connect(target, isolation_level=None)
    db.execute(f"INSERT INTO records VALUES ({', '.join('?' * len(COLUMNS))})", row)
    db.close()
    with AuditLog(target) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 3 and problem.kind == "inserted"


def test_appending_behind_the_logs_back_is_located(pristine: Path, tmp_path: Path) -> None:
    target = tmp_path / "t.db"
    with tampered(pristine, target) as log:
        last = log.at(6)
        assert last is not None
    entry = Entry("decision", "e" * 32, "S9-1", "none", None, None, None, None, "{}", "{}")
    stored = (*entry[:8], last.recorded_at, None, None, "{}", "{}")
    row = (7, *stored, last.hash, chain_hash(7, last.hash, contents([stored])[0]))
    db = sqlite3.connect(target, isolation_level=None)
    db.execute(f"INSERT INTO records VALUES ({', '.join('?' * len(COLUMNS))})", row)
    db.close()
    with AuditLog(target) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 7 and problem.kind == "extended"


@pytest.mark.parametrize(("i", "j"), [(2, 5), (3, 4), (1, 6)])
def test_swapping_two_records_is_located(pristine: Path, tmp_path: Path, i: int, j: int) -> None:
    with tampered(
        pristine,
        tmp_path / "t.db",
        f"UPDATE records SET seq = -1 WHERE seq = {i}",
        f"UPDATE records SET seq = {i} WHERE seq = {j}",
        f"UPDATE records SET seq = {j} WHERE seq = -1",
    ) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == i


def test_changing_the_salt_is_located_at_the_first_record(pristine: Path, tmp_path: Path) -> None:
    with tampered(
        pristine,
        tmp_path / "t.db",
        "UPDATE meta SET value = 'ab' || substr(value, 3) WHERE key = 'salt'",
    ) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 1


# -- crashes and concurrent writers -----------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, datetime as dt
    from clearline.engine import compile_policy, decide, load_policy, sample_accounts
    from clearline.engine.audit.log import AuditLog

    path, prefix, count, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    first = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    compiled = compile_policy(load_policy(sys.argv[6] if len(sys.argv) > 6 else {policy!r}))
    accounts = list(sample_accounts(compiled.policy, count, seed=ord(prefix[0])))
    made = [
        decide(compiled, a["facts"], "2027-02-01", account_id=f"{{prefix}}-{{i}}")
        for i, a in enumerate(accounts)
    ]
    with AuditLog(path) as log:
        if first:
            log.append(made[:first])
            print("ready", flush=True)
            sys.stdin.readline()
            log.append(made[first:])
        else:
            print("ready", flush=True)
            sys.stdin.readline()
            for start in range(0, count, batch):
                log.append(made[start : start + batch])
    print("done", flush=True)
    """
).format(policy=str(SHIPPED / "1.1.0.yaml"))


def _writer(
    path: Path, prefix: str, count: int, batch: int, first: int = 0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), prefix, str(count), str(batch), str(first)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, with its audit writer process
    )


def _writing(path: Path) -> bool:
    """Whether another connection holds the log's write lock (a batch is being written)."""
    db = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        db.close()


def test_sigkill_during_a_large_batch_leaves_it_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    child = _writer(path, "K", 12_000, 0, first=1_000)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    child.stdin.write("go\n")  # type: ignore[union-attr]
    child.stdin.flush()  # type: ignore[union-attr]
    # Kill the whole process group (the process and its writer process, as a crash of the
    # machine or container would) once the batch's transaction holds the write lock.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None and not _writing(path):
        time.sleep(0.001)
    killed_midway = child.poll() is None
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert killed_midway, "the batch was written before it could be killed"
    with AuditLog(path) as log:
        result = log.verify()
        assert result.ok, result.problem
        assert result.count in (1_000, 12_000)
        assert result.count == 1_000  # killed before the commit: the whole batch is absent


def test_two_processes_appending_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditLog(path).close()
    writers = [_writer(path, prefix, 10_000, 500) for prefix in ("A", "B")]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    for writer in writers:
        writer.stdin.write("go\n")  # type: ignore[union-attr]
        writer.stdin.flush()  # type: ignore[union-attr]
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0 and "done" in out
    with AuditLog(path) as log:
        result = log.verify()
        assert result.ok, result.problem
        assert result.count == 20_000
        owners = [r.account_id[0] for r in log.records() if r.account_id]
    assert owners.count("A") == owners.count("B") == 10_000


# -- redaction ---------------------------------------------------------------------------------


def scalars(data: object) -> list[object]:
    """Every number, string and boolean inside JSON data."""
    if isinstance(data, dict):
        return [x for value in data.values() for x in scalars(value)]
    if isinstance(data, list):
        return [x for value in data for x in scalars(value)]
    return [data]


def _redacting_policy() -> str:
    text = V110_TEXT.replace(
        "    on_missing: review          # no score: a person looks at the account instead of a guess\n",
        "    on_missing: review\n    redact: true\n",
    )
    assert "redact: true" in text
    return text


def test_redacted_facts_are_hashed_in_inputs_and_trace(tmp_path: Path) -> None:
    compiled = compile_policy(load_policy_text(_redacting_policy()))
    facts = dict(next(iter(sample_accounts(compiled.policy, 1, seed=1)))["facts"])
    facts["credit_score"] = 487
    decision = decide(compiled, facts, AS_OF, account_id="R1")
    twin = decide(compiled, facts, AS_OF, account_id="R2")
    with AuditLog(tmp_path / "a.db") as log:
        log.append([decision, twin])
        first, second = list(log.records())
        assert log.verify().ok
        salt = log.salt
    stored = first.facts()["credit_score"]
    assert set(stored) == {"redacted"} and len(stored["redacted"]) == 64
    assert 487 not in scalars(first.facts()) and 487 not in scalars(first.data())
    checks = [c for rule in first.data()["trace"] for c in rule["checks"]]
    seen = [c["value"] for c in checks if c["fact"] == "credit_score"]
    assert seen and all(value == stored for value in seen)
    # The comparison results still show: the trace explains without the value.
    assert any(c["result"] is True for c in checks if c["fact"] == "credit_score")
    assert second.facts()["credit_score"] == stored  # same log, same value, same hash
    assert first.redacted_facts == ("credit_score",)
    with AuditLog(tmp_path / "b.db") as other:
        other.append([decision])
        assert other.salt != salt
        assert next(iter(other.records())).facts()["credit_score"] != stored
    registry = PolicyRegistry.load(_write(tmp_path / "p", _redacting_policy()))
    outcome = next(replay([first], registry))
    assert outcome.status == REDACTED and "credit_score" in outcome.message


def _expected_record(decision: Decision, salt: str) -> str:
    """The decision record as the log must give it back: redacted facts hashed in the trace."""
    record = json.loads(decision.to_json())
    redact = {fact.name for fact in decision.compiled.policy.facts if fact.redact}
    hidden = {
        name: {
            "redacted": hashlib.sha256(f"{salt}\n{name}\n{canonical_json(v)}".encode()).hexdigest()
        }
        for name, v in json.loads(decision.inputs_json).items()
        if name in redact
    }
    for rule in record["trace"] or ():
        for check in rule["checks"]:
            if check["fact"] in hidden:
                check["value"] = hidden[check["fact"]]
            threshold = check["threshold"]
            if isinstance(threshold, dict) and threshold.get("fact") in hidden:
                threshold["value"] = hidden[threshold["fact"]]
    return canonical_json(record)


@pytest.mark.parametrize("parallel", [False, True])
def test_records_read_back_byte_for_byte(
    tmp_path: Path, decisions: list[Decision], parallel: bool
) -> None:
    """Each decision is stored as a record template plus its values; what comes back is its
    record, for mixed policies, traced or not, redacted and missing facts, in both the
    in-process and the writer-process path (a batch large enough to use the process)."""
    compiled = compile_policy(load_policy_text(_redacting_policy()))
    redacted = []
    for n, account in enumerate(sample_accounts(compiled.policy, 40, seed=5)):
        facts = dict(account["facts"])
        if n % 4 == 0:
            del facts["credit_score"]  # on_missing: review
        redacted.append(decide(compiled, facts, AS_OF, account_id=account["account_id"]))
    batch = (decisions + redacted) * (PARALLEL_MIN // len(decisions) + 1)
    assert len(batch) >= PARALLEL_MIN
    with AuditLog(tmp_path / "a.db", clock=fixed_clock, parallel=parallel) as log:
        assert log.append(batch) == len(batch)
        if parallel:
            assert log._writer is not None and log._writer.alive()
        else:
            assert log._writer is None
        records = list(log.records())
        assert log.verify().ok
        salt = log.salt
        templates = log._db.execute("SELECT count(*) FROM templates").fetchone()[0]
    assert [r.document for r in records] == [_expected_record(d, salt) for d in batch]
    assert all(r.body == "" and r.template for r in records)
    assert templates < len(batch) // 10  # shared, not one per record


@pytest.mark.parametrize(("parallel", "share"), [(False, 0), (True, 0), (True, 1), (True, 2)])
def test_the_writer_derives_decision_ids_as_decide_does(
    tmp_path: Path, registry: PolicyRegistry, parallel: bool, share: int
) -> None:
    """Decisions appended before anything asked for their ids leave them and their input hashes
    to the writer (in this process or the writer process), or, when the writer process is the
    slower side, this process makes them (share 1) and renders the rows' contents too (share
    2): the stored ones are `decide`'s, and the chain holds."""
    item = registry.get("credit-line-closure", "1.1.0")
    assert item is not None
    accounts = list(sample_accounts(item.policy, PARALLEL_MIN + 50, seed=11))

    def made() -> list[Decision]:
        return [
            decide(item.compiled, a["facts"], AS_OF, account_id=a["account_id"]) for a in accounts
        ]

    fresh, twins = made(), made()
    with AuditLog(tmp_path / "a.db", parallel=parallel) as log:
        log._caller_share = share
        assert log.append(fresh) == len(fresh)
        assert (log._writer is not None) is parallel
        if log._writer is not None:  # it reports the CPU time it spent on the batch
            assert 0 < log._writer.work < 60
        # The decisions keep no id or input hash (no fact is redacted): the stored ones were
        # made for the log, by the writer or, with a share, by this process.
        assert not any("decision_id" in d.__dict__ for d in fresh)
        assert not any("input_sha256" in d.__dict__ for d in fresh)
        # Nor does an append keep the inputs JSON on them (memory a batch would hold on to).
        assert not any("inputs_json" in d.__dict__ for d in fresh)
        stored = [(r.record_id, r.input_sha256) for r in log.records()]
        assert log.verify().ok
    assert stored == [(t.decision_id, t.input_sha256) for t in twins]
    assert len({record_id for record_id, _ in stored}) == len(accounts)


def test_the_callers_share_follows_which_side_works_longer(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.db") as log:
        assert log._caller_share == 0  # the writer does it all until it shows it is the slower
        shares = []
        # the writer's CPU per record beyond this process's: over the band a step up, under it
        # a step down, within it no change
        for excess in (3e-6, 1e-6, 3e-6, 3e-6, -1e-6, -3e-6, 0.0, -3e-6, -3e-6):
            log._balance(excess)
            shares.append(log._caller_share)
        assert shares == [1, 1, 2, 2, 2, 1, 1, 0, 0]


def test_the_writer_process_refuses_a_row_of_another_kind_without_its_id() -> None:
    """The caller checks entries first; the writer holds the same line on its own."""
    row = (
        "case_transition",
        None,
        "A1",
        *[None] * 5,
        "2027-01-01T00:00:00Z",
        None,
        None,
        "{}",
        "{}",
    )
    with pytest.raises(ValueError, match="'case_transition' row needs its record_id"):
        with_ids([row])


def test_only_a_decision_may_leave_its_id_to_the_writer(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.db") as log:
        note = Entry("case_transition", None, "A1", None, None, None, None, None, "{}")
        with pytest.raises(AuditError, match="'case_transition' record needs its record_id"):
            log.append_entries([note])
        # A decision's id is derived from its input hash: without one it cannot be.
        with pytest.raises(AuditError, match="'decision' record needs its record_id"):
            log.append_entries([note._replace(kind="decision")])
        assert len(log) == 0


def test_an_entry_holding_anything_but_text_is_refused(tmp_path: Path) -> None:
    # SQLite would keep a number as text, and the header hashed as a number: a record that
    # could never verify. Refused before anything is written.
    note = Entry("case_transition", "n1", "A1", None, None, None, None, None, "{}", "{}")
    with AuditLog(tmp_path / "a.db") as log:
        for odd in (note._replace(account_id=7), note._replace(inputs=b"{}")):
            with pytest.raises(AuditError, match="where the log keeps text"):
                log.append_entries([odd])
        log.append_entries([note])
        assert len(log) == 1 and log.verify().ok


@given(size=st.integers(0, 12_000))
def test_a_batch_goes_to_the_writer_whole_and_in_order(size: int) -> None:
    bounds = list(chunk_bounds(size))
    assert [i for start, end in bounds for i in range(start, end)] == list(range(size))
    assert all(0 < end - start <= CHUNK for start, end in bounds)
    if size >= 1_000:  # a batch for the writer process starts and ends with small messages
        assert [end - start for start, end in bounds[:3]] == [50, 150, 300]
        assert [end - start for start, end in bounds[-3:]] == [300, 150, 50]


def test_both_paths_write_the_same_log(tmp_path: Path, decisions: list[Decision]) -> None:
    batch = decisions * (PARALLEL_MIN // len(decisions) + 1)
    rows = []
    for parallel in (False, True):
        path = tmp_path / f"{parallel}.db"
        with AuditLog(path, clock=fixed_clock, parallel=parallel) as log:
            log.append(batch[:10])
            log.append(batch)
            salt, log_id = log.salt, log.log_id
        db = sqlite3.connect(path)
        # Both logs under one identity, so that their chains can be compared row for row.
        db.execute("UPDATE meta SET value = ? WHERE key = 'salt'", ("s",))
        rows.append(db.execute("SELECT * FROM records ORDER BY seq").fetchall())
        db.close()
        assert salt and log_id
    inline, process = rows
    assert len(inline) == len(process) == len(batch) + 10
    strip = lambda row: row[:-2]  # noqa: E731 - everything but the chain, which has its own genesis
    assert [strip(r) for r in inline] == [strip(r) for r in process]


def test_the_writer_process_moves_the_wal_into_the_file_after_a_commit(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    path = tmp_path / "a.db"
    batch = decisions * (PARALLEL_MIN // len(decisions) + 1)
    with AuditLog(path) as log:
        log.append(batch[:5])  # in this process: a few pages in the WAL, none in the file
        empty = path.stat().st_size
        log.append(batch)
        # The records reach the database file while the log stays open (SQLite would leave
        # them in the WAL until it held 1,000 pages, or until the last connection closed).
        deadline = time.monotonic() + 30
        while path.stat().st_size < empty + 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size >= empty + 1_000_000
        log.append(batch)  # the next batch is written as before
    with AuditLog(path, create=False) as log:
        assert log.verify().ok
        assert len(log) == 5 + 2 * len(batch)


def _wal_sizes(path: Path, batch: list[Decision], times: int) -> list[int]:
    """The WAL file's size after each of `times` appends of `batch`, back to back."""
    sizes = []
    with AuditLog(path) as log:
        for _ in range(times):
            log.append(batch)
            sizes.append(Path(f"{path}-wal").stat().st_size)
        assert log.verify().ok and len(log) == times * len(batch)
    return sizes


def test_rows_held_before_the_write_lock_are_written_first_and_in_order(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    path = tmp_path / "a.db"
    AuditLog(path).close()
    with AuditLog(path) as log:
        rows = decision_rows(decisions[:30], log.salt, "2027-01-01T00:00:00Z", {})
        templates = [(t.sha256, t.text) for t in {d.template() for d in decisions[:30]}]
        genesis = log.genesis
    db = sqlite3.connect(path, isolation_level=None)
    writer = BatchWriter(db, genesis)
    writer.begin()
    writer.hold(rows[:10], templates)  # ids and contents made, no lock taken, nothing written
    ided = with_ids(rows[10:20])
    writer.hold(ided, [], contents(ided))  # as the caller sends them when it made the contents
    assert not db.in_transaction
    writer.write(rows[20:25], [])
    writer.hold(rows[25:], [])  # inside the transaction: written at the commit
    assert writer.commit()[0] == 30
    writer.begin()
    writer.hold(rows[:3], [])
    writer.rollback()  # held rows of a dropped batch are dropped with it
    assert writer.commit()[0] == 0
    db.close()
    with AuditLog(path, create=False) as log:
        assert log.verify().ok
        stored = [r.record_id for r in log.records()]
    assert stored == [d.decision_id for d in decisions[:30]]


@pytest.mark.parametrize(
    "sizes",
    [
        (1,),
        (ROWS_PER_INSERT - 1,),
        (ROWS_PER_INSERT,),
        (ROWS_PER_INSERT + 1, 2 * ROWS_PER_INSERT + 13),
        (0, 3 * ROWS_PER_INSERT, 7),
    ],
)
def test_rows_go_in_whole_and_in_order_however_a_chunk_divides(
    tmp_path: Path, decisions: list[Decision], sizes: tuple[int, ...]
) -> None:
    """A chunk's rows go into the table in statements of ROWS_PER_INSERT rows and the rest one
    at a time: every row lands with its seq and chain hashes, in order, whatever the sizes."""
    path = tmp_path / "a.db"
    AuditLog(path).close()
    total = sum(sizes)
    with AuditLog(path) as log:
        rows = decision_rows(decisions[:total], log.salt, "2027-01-01T00:00:00Z", {})
        templates = [(t.sha256, t.text) for t in {d.template() for d in decisions[:total]}]
        genesis = log.genesis
    db = sqlite3.connect(path, isolation_level=None)
    writer = BatchWriter(db, genesis)
    writer.begin()
    start = 0
    for size in sizes:
        writer.write(rows[start : start + size], templates if not start else [])
        start += size
    assert writer.commit()[0] == total
    expected, _, _ = chain_rows(rows, 0, genesis)
    stored = db.execute(f"SELECT {', '.join(COLUMNS)} FROM records ORDER BY seq").fetchall()
    assert [value for row in stored for value in row] == expected
    assert [row[0] for row in stored] == list(range(1, total + 1))
    with pytest.raises(ValueError, match="do not make rows of 16 columns"):
        insert_values(db, expected[:-1])  # never a row cut short
    # Nor a wire row of another width, which would shift the columns of the rows after it:
    # refused with or without the contents made by the caller, held or written at once.
    ided = with_ids(decision_rows(decisions[:6], "salt", "2027-01-01T00:00:00Z", {}))
    made = contents(ided)
    for odd in (ided[0][:-1], (*ided[0], "")):
        message = f"a row of {len(odd)} values where the writer takes 13"
        odd_rows = [*ided[:3], odd, *ided[4:]]
        for call in (writer.hold, writer.write):
            writer.begin()
            with pytest.raises(ValueError, match=message):
                call(odd_rows, [], made)
            with pytest.raises(ValueError, match=message):
                call(odd_rows, [])
            writer.rollback()
    writer.begin()
    with pytest.raises(ValueError, match="5 contents for 6 rows"):
        writer.hold(ided, [], made[:-1])
    writer.rollback()
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == total
    db.close()
    with AuditLog(path, create=False) as log:
        assert log.verify().ok
        assert [r.record_id for r in log.records()] == [d.decision_id for d in decisions[:total]]


def test_the_writer_process_refuses_a_row_of_another_width_and_goes_on(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    with AuditLog(tmp_path / "a.db") as log:
        process = log._process()
        assert process is not None
        ided = with_ids(decision_rows(decisions[:6], log.salt, "2027-01-01T00:00:00Z", {}))
        odd = [*ided[:3], ided[3][:-1], *ided[4:]]
        for texts in (contents(ided), None):  # held or written, ids made here or there
            process.begin()
            process.write(odd, [], texts)
            with pytest.raises(AuditError, match="a row of 12 values where the writer takes 13"):
                process.commit()
            assert process.alive()
        assert len(log) == 0
        assert log.append(decisions * (PARALLEL_MIN // len(decisions) + 1)) > PARALLEL_MIN
        assert log._writer is process and log.verify().ok


def test_a_batch_never_waits_on_a_checkpoint_thread_that_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    AuditLog(path).close()
    checkpoints = Checkpointer(str(path), "FULL", 5.0)
    checkpoints.request()
    checkpoints.wait()
    assert not checkpoints.running()
    checkpoints.close()  # the thread ends; a request it will never serve
    checkpoints.request()
    assert not checkpoints.running()
    started = time.monotonic()
    checkpoints.wait()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("size", "times"), [(10_000, 8), (2_500, 24)])
def test_back_to_back_batches_start_the_wal_afresh(
    tmp_path: Path, decisions: list[Decision], size: int, times: int
) -> None:
    """Rows that reach the writer process while the checkpoint of the last batch runs get their
    ids and contents and wait; the batch takes the write lock once the checkpoint is done (at
    its commit, if all its rows came first), so that the commit starts the WAL afresh, writing
    over the same file pages. Before, back-to-back batches grew the WAL by a batch each
    (8 batches of 10,000: 11, 21, 32, ... 80 MB), and a checkpoint's page count had to stop it."""
    batch = decisions * (size // len(decisions) + 1)
    sizes = _wal_sizes(tmp_path / "a.db", batch, times)
    assert max(sizes) < 3 * sizes[0], sizes


def test_a_writer_process_that_dies_loses_the_batch_not_the_log(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    batch = decisions * (PARALLEL_MIN // len(decisions) + 1)
    with AuditLog(tmp_path / "a.db") as log:
        log.append(batch[:5])
        log.append(batch)  # starts the writer process
        writer = log._writer
        assert writer is not None

        class Killing(list[Entry]):
            """Entries that kill the writer process when the second message is taken."""

            def __getitem__(self, index):  # type: ignore[no-untyped-def]
                if isinstance(index, slice) and index.start:
                    writer.process.kill()
                    writer.process.wait()
                return super().__getitem__(index)

        entries = Killing(decision_entries(batch, log.salt))
        with pytest.raises(AuditError, match="writer process stopped"):
            log.append_entries(entries)
        assert len(log) == 5 + len(batch)
        assert log.verify().ok
        assert log.append(batch) == len(batch)  # a new writer process takes over
        assert log._writer is not writer
        assert log.verify().count == 5 + 2 * len(batch)


def test_templates_are_covered_by_verify(pristine: Path, tmp_path: Path) -> None:
    db = sqlite3.connect(pristine)
    sha, first = db.execute(
        "SELECT template, min(seq) FROM records WHERE template IS NOT NULL "
        "GROUP BY template ORDER BY min(seq) DESC LIMIT 1"
    ).fetchone()
    db.close()
    altered = f"UPDATE templates SET text = text || ' ' WHERE sha256 = '{sha}'"
    with tampered(pristine, tmp_path / "t.db", altered) as log:
        problem = log.verify().problem
        assert problem is not None and problem.seq == first and problem.kind == "altered"
        assert "template" in problem.message and "does not match its hash" in problem.message
        record = log.at(first)
        assert record is not None
        with pytest.raises(AuditError, match="template"):
            _ = record.document
    deleted = f"DELETE FROM templates WHERE sha256 = '{sha}'"
    with tampered(pristine, tmp_path / "t.db", deleted) as log:
        problem = log.verify().problem
        assert problem is not None and problem.seq == first and "is missing" in problem.message


def test_an_older_log_format_is_refused_untouched(pristine: Path, tmp_path: Path) -> None:
    target = tmp_path / "old.db"
    shutil.copy(pristine, target)
    db = sqlite3.connect(target, isolation_level=None)
    db.execute("UPDATE meta SET value = 'clearline-audit/1' WHERE key = 'format'")
    db.close()
    before = target.read_bytes()
    with pytest.raises(AuditError, match="format 'clearline-audit/1'"):
        AuditLog(target)
    assert target.read_bytes() == before
    run = run_cli("audit", "verify", str(target))
    assert run.returncode == 1 and "clearline-audit/1" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_chain_hash_is_the_documented_formula(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    """hash = sha256("<seq>\\n<prev_hash>\\n" + content), content = canonical JSON of the header,
    then body and inputs, each after a newline; checked on every stored row."""
    with AuditLog(tmp_path / "a.db") as log:
        log.append(decisions[:20])
        log.append_entries(
            [
                Entry(
                    "case-transition", "c\u00e9-1", 'S\u4e2d"1', None, None, None, None, None, "{}"
                ),
                Entry("x", "y", None, None, None, None, None, None, '{"a": "\\n"}', "{}"),
            ]
        )
        rows = log._db.execute(f"SELECT {', '.join(COLUMNS)} FROM records ORDER BY seq")
        prev = log.genesis
        for row in rows:
            stored = dict(zip(COLUMNS, row, strict=True))
            header = [stored[c] for c in COLUMNS[1:12]]
            header += [len(stored["body"]), len(stored["inputs"])]
            content = canonical_json(header) + "\n" + stored["body"] + "\n" + stored["inputs"]
            expected = hashlib.sha256(f"{stored['seq']}\n{prev}\n{content}".encode()).hexdigest()
            assert stored["prev_hash"] == prev and stored["hash"] == expected
            prev = expected
        assert stored["seq"] == 22


# Any text, lone surrogates included (orjson refuses them: the standard library writes those).
any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12)


@given(
    rows=st.lists(
        st.tuples(*[st.none() | any_text] * 11, any_text, any_text),
        max_size=4,
    )
)
def test_contents_are_the_documented_formula_with_and_without_orjson(
    rows: list[tuple[str | None, ...]],
) -> None:
    def reference(row: tuple[str | None, ...]) -> str:
        header = [*row[:11], len(str(row[11])), len(str(row[12]))]
        # ensure_ascii=False, as canonical_json: json.dumps writes a lone surrogate as it is
        text = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
        return f"{text}\n{row[11]}\n{row[12]}"

    expected = [reference(row) for row in rows]
    assert audit_writer._orjson_dumps is not None  # the declared dependency is used
    assert contents(rows) == expected
    fast, audit_writer._orjson_dumps = audit_writer._orjson_dumps, None
    try:
        assert contents(rows) == expected  # the standard library's way: the same bytes
    finally:
        audit_writer._orjson_dumps = fast


def _write(folder: Path, text: str, name: str = "policy.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


# -- replay ------------------------------------------------------------------------------------


def test_replay_reproduces_every_decision(
    tmp_path: Path, decisions: list[Decision], registry: PolicyRegistry
) -> None:
    with AuditLog(tmp_path / "a.db") as log:
        log.append(decisions)
        outcomes = list(replay(log.records(), registry))
    assert len(outcomes) == len(decisions)
    assert all(o.status == SAME for o in outcomes), [
        o.message for o in outcomes if not o.reproduced
    ][:3]


def test_replay_reports_a_changed_decision(
    tmp_path: Path, decisions: list[Decision], registry: PolicyRegistry
) -> None:
    with AuditLog(tmp_path / "a.db") as log:
        log.append(decisions[:3])
        record = log.at(2)
    assert record is not None
    changed = type(record)(
        **{
            **record.__dict__,
            "template": None,
            "body": record.document.replace('"trace":', '"trace": '),
        }
    )
    outcome = next(replay([changed], registry))
    assert outcome.status == DIFFERS


def _accounts_jsonl(n: int) -> str:
    policy = load_policy_text(V110_TEXT)
    return "".join(json.dumps(a) + "\n" for a in sample_accounts(policy, n, seed=5))


def decide_into(
    db: Path, accounts: int, policy: Path = SHIPPED / "1.1.0.yaml"
) -> subprocess.CompletedProcess[str]:
    """`clearline decide --audit DB` on sampled accounts; decisions go to DB's `.jsonl` beside it."""
    return run_cli(
        "decide",
        "--policy",
        str(policy),
        "--as-of",
        "2027-02-01",
        "--audit",
        str(db),
        "-o",
        str(db.with_suffix(".jsonl")),
        stdin=_accounts_jsonl(accounts),
    )


def test_replay_after_editing_a_policy_file_names_the_hash_mismatch(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(SHIPPED, folder)
    db = tmp_path / "a.db"
    run = decide_into(db, 50, folder / "1.1.0.yaml")
    assert run.returncode == 0, run.stderr
    assert run_cli("audit", "replay", str(db), "--policies", str(folder)).returncode == 0
    before = PolicyRegistry.load(folder).get("credit-line-closure", "1.1.0")
    policy_file = folder / "1.1.0.yaml"
    policy_file.write_text(
        # a rule without its own text: a threshold named in a text must change with it (C123)
        policy_file.read_text(encoding="utf-8").replace("between: [31, 90]", "between: [31, 89]"),
        encoding="utf-8",
    )
    after = PolicyRegistry.load(folder).get("credit-line-closure", "1.1.0")
    assert before is not None and after is not None and before.sha256 != after.sha256
    run = run_cli("audit", "replay", str(db), "--policies", str(folder))
    assert run.returncode == 1
    assert "policy hash mismatch" in run.stderr
    assert before.sha256 in run.stderr and after.sha256 in run.stderr
    assert "Traceback" not in run.stderr
    with AuditLog(db) as log:
        statuses = {o.status for o in replay(log.records(), PolicyRegistry.load(folder))}
    assert statuses == {HASH_MISMATCH}


def test_replay_without_the_version_is_an_error(tmp_path: Path, decisions: list[Decision]) -> None:
    with AuditLog(tmp_path / "a.db") as log:
        log.append(decisions)
    only_old = _write(tmp_path / "p", (SHIPPED / "1.0.0.yaml").read_text(encoding="utf-8"))
    with AuditLog(tmp_path / "a.db") as log:
        statuses = [o.status for o in replay(log.records(), PolicyRegistry.load(only_old))]
    assert statuses.count(SAME) == 150 and statuses.count(MISSING_POLICY) == 150
    run = run_cli("audit", "replay", str(tmp_path / "a.db"), "--policies", str(only_old))
    assert run.returncode == 1 and "is not among the policies given" in run.stderr


# -- the command line --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("cli")
    db = folder / "audit.db"
    run = decide_into(db, 300)
    assert run.returncode == 0, run.stderr
    yield db


def run_cli_unprivileged(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI run without the power to write what its permissions forbid (as root, the
    file-permission override capabilities dropped)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: read-only files are writable")
        drop = "-dac_override,-dac_read_search,-fowner"
        prefix = [setpriv, f"--bounding-set={drop}", "--inh-caps=-all", "--"]
    return run_cli(*args, stdin=stdin, prefix=prefix)


def test_an_auditor_reads_a_copy_of_the_log_it_may_not_write(cli_log: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    copy = folder / "audit.db"
    shutil.copy(cli_log, copy)
    with AuditLog(cli_log) as log:
        first = log.at(1)
        assert first is not None
        count = len(log)
    # A second copy, taken while a writer still had it open: records in its write-ahead log.
    live = tmp_path / "live"
    live.mkdir()
    with AuditLog(live / "audit.db") as log:
        log.append(
            [decide(compile_policy(load_policy_text(V110_TEXT)), {}, AS_OF, account_id="A1")]
        )
        for end in ("", "-wal", "-shm"):
            shutil.copy(live / f"audit.db{end}", folder / f"live.db{end}")
            if end:
                shutil.copy(live / f"audit.db{end}", folder / f"waiting.db{end}")
        shutil.copy(live / "audit.db", folder / "waiting.db")
        (folder / "waiting.db-shm").unlink()
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    try:
        run = run_cli_unprivileged("audit", "verify", str(copy))
        assert run.returncode == 0 and run.stdout.startswith(f"ok: {count} records"), run.stderr
        run = run_cli_unprivileged("audit", "show", str(copy), first.record_id[:12])
        assert run.returncode == 0 and f"decision {first.record_id}" in run.stdout, run.stderr
        run = run_cli_unprivileged("audit", "list", str(copy), "--account", str(first.account_id))
        assert run.returncode == 0 and first.record_id[:32] in run.stdout, run.stderr
        # With its shared-memory file the records in the WAL are read; without it, SQLite
        # cannot read the WAL, and the log is refused rather than read without them.
        run = run_cli_unprivileged("audit", "verify", str(folder / "live.db"))
        assert run.returncode == 0 and run.stdout.startswith("ok: 1 records"), run.stderr
        run = run_cli_unprivileged("audit", "verify", str(folder / "waiting.db"))
        assert run.returncode == 1 and "cannot open the audit log" in run.stderr, run.stderr
        run = run_cli_unprivileged(
            "decide",
            "--policy",
            str(SHIPPED / "1.1.0.yaml"),
            "--audit",
            str(copy),
            stdin='{"account_id": "A2", "facts": {}}',
        )
        assert run.returncode == 1 and "readonly" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    finally:
        folder.chmod(0o755)
        for path in folder.iterdir():
            path.chmod(0o644)
    assert sorted(path.name for path in folder.iterdir()) == [
        "audit.db",
        "live.db",
        "live.db-shm",
        "live.db-wal",
        "waiting.db",
        "waiting.db-wal",
    ]


def test_cli_decide_audit_then_verify(cli_log: Path) -> None:
    out = cli_log.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines()
    with AuditLog(cli_log) as log:
        assert [r.document for r in log.records()] == out
    run = run_cli("audit", "verify", str(cli_log))
    assert run.returncode == 0
    assert run.stdout.startswith("ok: 300 records")


def test_cli_verify_locates_tampering(cli_log: Path, tmp_path: Path) -> None:
    target = tmp_path / "t.db"
    tampered(cli_log, target, "UPDATE records SET action = action || 'x' WHERE seq = 42").close()
    run = run_cli("audit", "verify", str(target))
    assert run.returncode == 1
    assert "record 42" in run.stderr and "altered" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("account_id = X'41'", "its account_id holds binary data, not text"),
        ("record_id = X'00ff'", "its record_id holds binary data, not text"),
        ("inputs = '5.5'", "its inputs are not a JSON object"),
        ("inputs = '{\"broken'", "its inputs are not a JSON object"),
    ],
)
def test_every_audit_command_names_a_record_altered_to_what_clearline_never_writes(
    cli_log: Path, tmp_path: Path, change: str, message: str
) -> None:
    target = tmp_path / "t.db"
    tampered(cli_log, target, f"UPDATE records SET {change} WHERE seq = 42").close()
    policies = str(ROOT / "policies")
    commands = [
        ("verify", str(target)),
        ("show", str(target), "#42"),
        ("show", str(target), "#42", "--format", "json"),
        ("replay", str(target), "--policies", policies),
    ]
    if "binary" in message:  # a listing does not read the inputs
        commands.append(("list", str(target)))
    for command in commands:
        run = run_cli("audit", *command)
        assert run.returncode == 1, (command, run.stderr)
        # verify walks the chain: altered text fails its hash, binary data is named as such
        expected = "was altered" if command[0] == "verify" and "binary" not in message else message
        assert "record 42" in run.stderr and expected in run.stderr, (command, run.stderr)
        assert "internal error" not in run.stderr and "Traceback" not in run.stderr


def test_cli_list_filters(cli_log: Path) -> None:
    run = run_cli("audit", "list", str(cli_log), "--action", "close", "--format", "jsonl")
    assert run.returncode == 0
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert rows and {row["action"] for row in rows} == {"close"}
    account = rows[0]["account_id"]
    run = run_cli("audit", "list", str(cli_log), "--account", account)
    assert run.returncode == 0 and len(run.stdout.splitlines()) == 1
    run = run_cli("audit", "list", str(cli_log), "--policy-version", "1.0.0")
    assert run.returncode == 0 and run.stdout == ""
    run = run_cli("audit", "list", str(cli_log), "--since", "2027-02-02")
    assert run.returncode == 0 and run.stdout == ""
    run = run_cli("audit", "list", str(cli_log), "--since", "2027-01-31", "--until", "2027-02-01")
    assert run.returncode == 0 and len(run.stdout.splitlines()) == 300
    run = run_cli("audit", "list", str(cli_log), "--since", "soon")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_cli_show(cli_log: Path) -> None:
    with AuditLog(cli_log) as log:
        record = next(log.records(action="suspend"))
    run = run_cli("audit", "show", str(cli_log), record.record_id[:12])
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert f"decision {record.record_id}" in text
    assert "credit-line-closure 1.1.0" in text
    for rule in record.data()["trace"]:
        assert rule["rule"] in text
    assert ": matched" in text and "not matched" in text and "saw " in text
    assert "effective" in text
    run = run_cli("audit", "show", str(cli_log), f"#{record.seq}", "--format", "json")
    assert run.returncode == 0
    shown = json.loads(run.stdout)
    assert shown["record"] == record.data() and shown["seq"] == record.seq
    run = run_cli("audit", "show", str(cli_log), "0" * 16)
    assert run.returncode == 1 and "no record" in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        [b"audit", b"show", b"LOG", b"\xff\xfe" * 6],  # not UTF-8 (read with surrogates)
        [b"audit", b"show", b"LOG", b"#99999999999999999999999"],  # beyond SQLite's integers
        [b"audit", b"list", b"LOG", b"--account", b"\xff\xfe"],
    ],
)
def test_cli_lookups_of_what_no_record_can_hold_find_nothing(
    cli_log: Path, args: list[bytes]
) -> None:
    command = [sys.executable.encode(), b"-m", b"clearline"]
    command += [os.fsencode(cli_log) if arg == b"LOG" else arg for arg in args]
    run = subprocess.run(command, capture_output=True, cwd=ROOT, timeout=300)
    errors = run.stderr.decode(errors="replace")
    assert "internal error" not in errors and "Traceback" not in errors
    if args[1] == b"show":
        assert run.returncode == 1 and "error[A002]: no record" in errors
    else:
        assert run.returncode == 0 and run.stdout == b"" and "0 records" in errors


@pytest.mark.parametrize(
    ("seq", "error"),
    [
        ("#\u00b2", "error[A003]: give at least 8 characters"),  # a digit, but not 0 - 9
        ("#" + "9" * 5_000, "error[A002]: no record"),  # beyond any seq
    ],
)
def test_cli_show_of_a_seq_no_record_can_have_finds_nothing(
    cli_log: Path, seq: str, error: str
) -> None:
    run = run_cli("audit", "show", str(cli_log), seq)
    assert run.returncode == 1 and error in run.stderr, run.stderr


@pytest.mark.parametrize("head", ["garbage", "", "150.0 x", "9" * 5_000, None])
def test_verify_reports_a_head_altered_into_something_else(
    cli_log: Path, tmp_path: Path, head: str | None
) -> None:
    statement = (
        "DELETE FROM meta WHERE key = 'head'"
        if head is None
        else f"UPDATE meta SET value = '{head}' WHERE key = 'head'"
    )
    with tampered(cli_log, tmp_path / "t.db", statement) as log:
        count = len(log)
        result = log.verify()
        assert result.problem is not None and result.count == count
        assert (result.problem.seq, result.problem.kind) == (count + 1, "altered")
        assert "the log's head" in result.problem.message
        assert list(log.records(account_id=123)) == []  # type: ignore[arg-type]
    run = run_cli("audit", "verify", str(tmp_path / "t.db"))
    assert run.returncode == 1 and "error[A100]" in run.stderr and "head" in run.stderr
    assert "internal error" not in run.stderr


def test_cli_decide_audit_into_a_missing_folder(tmp_path: Path) -> None:
    run = decide_into(tmp_path / "no" / "such" / "a.db", 2)
    assert run.returncode == 1 and "cannot open the audit log" in run.stderr
    assert "clearline: error[A001]: " in run.stderr
    assert "Traceback" not in run.stderr


def test_cli_on_a_missing_log(tmp_path: Path) -> None:
    for command in ("verify", "list"):
        run = run_cli("audit", command, str(tmp_path / "nope.db"))
        assert run.returncode == 1 and "no such audit log" in run.stderr
        assert not (tmp_path / "nope.db").exists()


def test_cli_demo_writes_verifies_and_replays(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    run = run_cli("demo", "-n", "2000", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "ok: 2000 records" in run.stdout
    assert "2000 of 2000 reproduced byte for byte (100.0%)" in run.stdout
    run = run_cli("audit", "replay", "clearline-audit.db", "--policies", "policies", cwd=tmp_path)
    assert run.returncode == 0 and "(100.0% reproduced)" in run.stdout
    first = os.path.getmtime(tmp_path / "clearline-audit.db")
    run = run_cli("demo", "-n", "500", cwd=tmp_path)  # fresh each run, not appended
    assert run.returncode == 0 and "ok: 500 records" in run.stdout
    assert os.path.getmtime(tmp_path / "clearline-audit.db") >= first


def test_without_a_writer_process_the_batch_is_written_here(
    tmp_path: Path, decisions: list[Decision], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no process can be started (no interpreter at sys.executable), large batches are
    written in the caller's process: the same log, only slower."""
    batch = decisions * (PARALLEL_MIN // len(decisions) + 1)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    with AuditLog(tmp_path / "a.db") as log:
        assert log.append(batch) == len(batch)
        assert log._writer is None
        assert log.verify().count == len(batch)
