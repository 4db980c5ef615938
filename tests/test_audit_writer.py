"""The audit writer: crashes and concurrent writers, the writer process and its division of
work, records read back byte for byte, chunks and the write-ahead log."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
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
from clearline.engine.audit.log import (
    CALLER_SHARE,
    CHUNK,
    PARALLEL_MIN,
    AuditError,
    AuditLog,
    Entry,
    chunk_bounds,
    decision_entries,
    decision_rows,
)
from clearline.engine.audit.writer import (
    COLUMNS,
    ROWS_PER_INSERT,
    BatchWriter,
    Checkpointer,
    chain_rows,
    contents,
    insert_values,
    with_ids,
)
from clearline.engine.canonical import canonical_json
from clearline.engine.decisions.record import template_of
from clearline.engine.versions import PolicyRegistry

from .audit_helpers import (
    AS_OF,
    SHIPPED,
    _redacting_policy,
    fixed_clock,
)

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
        # The stored ids and input hashes were made for the log, by the writer (no share: the
        # decisions keep none) or by this process, which keeps them on the decisions so that
        # printing the records next (`clearline decide --audit`) does not make them again.
        for key in ("decision_id", "input_sha256"):
            assert [key in d.__dict__ for d in fresh] == [share >= 1] * len(fresh)
        if share >= 1:
            assert [d.decision_id for d in fresh] == [t.decision_id for t in twins]
            assert [d.input_sha256 for d in fresh] == [t.input_sha256 for t in twins]
        # Nor does an append keep the inputs JSON on them (memory a batch would hold on to).
        assert not any("inputs_json" in d.__dict__ for d in fresh)
        stored = [(r.record_id, r.input_sha256) for r in log.records()]
        assert log.verify().ok
    assert stored == [(t.decision_id, t.input_sha256) for t in twins]
    assert len({record_id for record_id, _ in stored}) == len(accounts)


def test_the_callers_share_is_fixed(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.db") as log:
        assert log._caller_share == CALLER_SHARE == 1  # ids and input hashes made by the caller


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
        templates = [(t.sha256, t.text) for t in {template_of(d) for d in decisions[:30]}]
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
        templates = [(t.sha256, t.text) for t in {template_of(d) for d in decisions[:total]}]
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
