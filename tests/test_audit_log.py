"""The audit log on real SQLite files: append and read back, batches as transactions, other
kinds of entries on the chain, redaction, and what is not an audit log."""

from __future__ import annotations

import datetime as dt
import gc
import shutil
import sqlite3
from pathlib import Path

import pytest

from clearline.engine import (
    Decision,
    compile_policy,
    decide,
    load_policy_text,
    sample_accounts,
)
from clearline.engine.audit.log import (
    PARALLEL_MIN,
    AuditError,
    AuditLog,
    Entry,
)
from clearline.engine.audit.replay import (
    REDACTED,
    replay,
)
from clearline.engine.audit.writer import (
    ROWS_PER_INSERT,
)
from clearline.engine.versions import PolicyRegistry

from .audit_helpers import (
    AS_OF,
    _redacting_policy,
    _write,
    fixed_clock,
)
from .conftest import run_cli

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


# -- redaction ---------------------------------------------------------------------------------


def scalars(data: object) -> list[object]:
    """Every number, string and boolean inside JSON data."""
    if isinstance(data, dict):
        return [x for value in data.values() for x in scalars(value)]
    if isinstance(data, list):
        return [x for value in data for x in scalars(value)]
    return [data]


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
