"""The case store (a real SQLite file) and `clearline case` run as a real subprocess."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clearline.engine import compile_policy, decide, load_policy
from clearline.engine.audit.log import AuditLog
from clearline.engine.cases.lifecycle import CaseError, CaseState, case_event
from clearline.engine.cases.store import KIND_CASE_TRANSITION, CaseStore

from .conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
COMPILED = compile_policy(load_policy(POLICY))
TZ = COMPILED.policy.metadata.timezone
# The shipped policy's own first example: a customer in good standing, limited once before (so
# a spree suspends instead of only warning).
GOOD: dict[str, Any] = {**dict(COMPILED.policy.tests[0].facts), "prior_adverse_actions_12m": 1}
SPREE = {**GOOD, "high_apr_applications_7d": 2, "days_since_first_loan": 45}


def test_store_replays_a_case_after_reopening_and_keeps_the_causes(tmp_path: Path) -> None:
    path = tmp_path / "cases.db"
    decision = decide(COMPILED, SPREE, "2027-03-01", account_id="A-1")
    with CaseStore(path) as store:
        case = store.open(COMPILED, decision, str(POLICY))
        store.record(case.case_id, case_event("notice_sent", "2027-03-01", tz=TZ))
        with pytest.raises(CaseError, match="already sent"):
            store.record(case.case_id, case_event("notice_sent", "2027-03-02", tz=TZ))
        with pytest.raises(CaseError, match="already open"):
            store.open(COMPILED, decision, str(POLICY))
    with CaseStore(path) as store:  # a new process would see the same: nothing is cached
        assert len(store.events(case.case_id)) == 1  # the rejected event left no trace
        changed = store.advance("2027-03-16").changed
        assert [c.state for c, _ in changed] == [CaseState.EFFECTIVE]
        assert store.advance("2027-03-17").changed == []
        now = store.case(case.case_id)
        assert [t.to_dict() for t in now.transitions] == store.transitions(case.case_id)
        assert store.transitions(case.case_id)[-1] == {
            "event": 1,
            "on": "2027-03-16",
            "from": "in_grace",
            "to": "effective",
            "cause": "deadline",
            "ref": "effective 2027-03-16",
        }
        assert store.states()[CaseState.EFFECTIVE] == 1


def test_store_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "cases.db"
    with CaseStore(path) as store:
        case = store.open(COMPILED, decide(COMPILED, SPREE, "2027-03-01"), str(POLICY))
        store.record(case.case_id, case_event("notice_sent", "2027-03-01", tz=TZ))
    db = sqlite3.connect(path)
    for statement in (
        "UPDATE events SET at = '2027-01-01'",
        "DELETE FROM transitions",
        "UPDATE cases SET facts = '{}'",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
    db.close()


def test_store_refuses_a_policy_that_changed_since_opening(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.read_text("utf-8").replace("notice_days: 15", "notice_days: 16", 1))
    edited = compile_policy(load_policy(policy))
    with CaseStore(tmp_path / "cases.db") as store:
        case = store.open(edited, decide(edited, SPREE, "2027-03-01"), str(policy))
        store.record(case.case_id, case_event("notice_sent", "2027-03-01", tz=TZ))
        other = store.open(COMPILED, decide(COMPILED, SPREE, "2027-03-02"), str(POLICY))
        store.record(other.case_id, case_event("notice_sent", "2027-03-02", tz=TZ))
    shutil.copy(POLICY, policy)  # the file now holds another version
    with CaseStore(tmp_path / "cases.db") as store:
        with pytest.raises(CaseError, match="opened under"):
            store.case(case.case_id)
        # The batch job reports the case it cannot rebuild and goes on with the others.
        result = store.advance("2027-04-01")
        assert [c.case_id for c, _ in result.changed] == [other.case_id]
        assert [case_id for case_id, _ in result.failed] == [case.case_id]


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("not a database at all, just text " * 20)
    with pytest.raises(CaseError, match="cannot use as a case store"):
        CaseStore(bogus)


def clearline(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clearline", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_walks_a_case_from_opening_to_effective(tmp_path: Path) -> None:
    accounts = "\n".join(
        json.dumps({"account_id": name, "facts": facts})
        for name, facts in (("spree", SPREE), ("fine", GOOD))
    )
    opened = clearline(
        "case",
        "open",
        "--policy",
        str(POLICY),
        "--as-of",
        "2027-03-01",
        "--audit",
        "a.db",
        cwd=tmp_path,
        stdin=accounts,
    )
    assert opened.returncode == 0, opened.stderr
    lines = [json.loads(line) for line in opened.stdout.splitlines()]
    assert [(x["account_id"], x["action"], x.get("state")) for x in lines] == [
        ("spree", "suspend", "pending_notice"),
        ("fine", "none", None),
    ]
    assert (tmp_path / "clearline-cases.db").exists()  # the default store, in the working folder
    case_id = lines[0]["case_id"]

    sent = clearline(
        "case",
        "event",
        case_id,
        "notice_sent",
        "--at",
        "2027-03-01",
        "--audit",
        "a.db",
        cwd=tmp_path,
    )
    assert sent.returncode == 0, sent.stderr
    assert "pending_notice -> in_grace" in sent.stdout

    late = clearline(
        "case", "event", case_id, "cured", "--at", "2027-03-17",
        "--facts", '{"high_apr_applications_7d": 0}', cwd=tmp_path,
    )  # fmt: skip
    assert late.returncode == 1
    assert "error[E301]: cured is not allowed: the cure window closed on 2027-03-16" in late.stderr
    assert "Traceback" not in late.stderr

    advanced = clearline(
        "case", "advance", "--as-of", "2027-03-16", "--audit", "a.db", cwd=tmp_path
    )
    assert advanced.returncode == 0, advanced.stderr
    assert (
        f"{case_id}  2027-03-16  in_grace -> effective  (deadline: effective 2027-03-16)"
        in advanced.stdout
    )
    assert "effective 1" in advanced.stdout

    verified = clearline("audit", "verify", "a.db", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "ok: 4 records" in verified.stdout  # the decision, opening, notice and deadline
    shown = clearline("case", "show", case_id, "--json", cwd=tmp_path)
    data = json.loads(shown.stdout)
    assert (data["state"], data["in_force"], data["effective"]) == ("effective", True, "2027-03-16")
    assert [e["kind"] for e in data["event_log"]] == ["notice_sent", "deadline_passed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("case", "show", "nope"), "error[E300]: no case store at clearline-cases.db"),
        (("case", "event", "nope", "notice_sent", "--at", "2027-03-01"), "no case `nope`"),
        (("case", "advance", "--as-of", "soon"), "not an ISO date"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = clearline(*args, cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    if args[1] == "show":
        assert not (tmp_path / "clearline-cases.db").exists()  # reading creates nothing


def test_demo_opens_cases_and_advances_them_sixty_days(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    result = clearline("demo", "-n", "400", "--audit", str(audit), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    opened = int(out.split("7. open ", 1)[1].split(" ", 1)[0])
    assert opened > 0
    assert "8. advance every case to 2027-04-02" in out
    counts = {}
    for line in out.split("states on 2027-04-02:\n", 1)[1].splitlines()[:6]:
        state, n = line.split()
        counts[state] = int(n)
    assert set(counts) == {s.value for s in CaseState}
    assert sum(counts.values()) == opened
    assert counts["pending_notice"] == 0  # every notice went out
    assert "hash chain ok" in out
    assert (tmp_path / "clearline-cases.db").exists()  # beside the audit log


def test_transitions_go_to_the_audit_log_with_the_store(tmp_path: Path) -> None:
    decision = decide(COMPILED, {**SPREE, "declared_hardship": True}, "2027-03-01", account_id="A")
    with AuditLog(tmp_path / "audit.db") as log:
        with CaseStore(tmp_path / "cases.db", audit=log) as store:
            case = store.open(COMPILED, decision, str(POLICY), audit_decision=True)
            store.record(case.case_id, case_event("notice_sent", "2027-03-01", tz=TZ))
            with pytest.raises(CaseError):  # refused: nothing reaches either file
                store.record(
                    case.case_id,
                    case_event("review_decided", "2027-03-02", tz=TZ, outcome="upheld"),
                )
            store.record(
                case.case_id,
                case_event("cured", "2027-03-05", facts={"declared_hardship": False, "high_apr_applications_7d": 0}, tz=TZ),
            )  # fmt: skip
            stored = store.transitions(case.case_id)
        records = list(log.records())
        assert log.verify().problem is None
    kinds = [r.kind for r in records]
    assert kinds == ["decision", *[KIND_CASE_TRANSITION] * 2, "decision", KIND_CASE_TRANSITION]
    # The re-decision the cure was judged on is logged too, under its own id.
    assert records[3].data()["reasons"] == []
    assert {r.record_id for r in records if r.seq != 4} == {case.case_id}
    bodies = [r.data() for r in records if r.kind == KIND_CASE_TRANSITION]
    assert [b["transition"] for b in bodies] == stored
    assert bodies[-1]["transition"]["cause"] == "cure"
    # Event facts are named, never copied into the log.
    assert bodies[-1]["event"]["facts"] == ["declared_hardship", "high_apr_applications_7d"]
    # A notice is made from a decision only: record 2 is a case transition.
    refused = clearline("notice", "--audit", str(tmp_path / "audit.db"), "--id", "#2", cwd=tmp_path)
    assert refused.returncode == 1
    assert f"error[N104]: record `#2` of {tmp_path / 'audit.db'} is a {KIND_CASE_TRANSITION}" in (
        refused.stderr
    )


def test_a_failed_audit_append_leaves_the_store_unchanged(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    with CaseStore(tmp_path / "cases.db", audit=log) as store:
        case = store.open(COMPILED, decide(COMPILED, SPREE, "2027-03-01"), str(POLICY))
        log.close()  # the log can no longer be written
        with pytest.raises(sqlite3.ProgrammingError):
            store.record(case.case_id, case_event("notice_sent", "2027-03-01", tz=TZ))
        assert store.events(case.case_id) == []
        assert store.case(case.case_id).state is CaseState.PENDING_NOTICE


def test_audit_list_shows_decisions_unless_asked_for_other_kinds(tmp_path: Path) -> None:
    from clearline.engine.audit.log import AuditLog, Entry

    db = tmp_path / "audit.db"
    with AuditLog(db) as log:
        log.append_entries(
            [Entry("case_transition", "case-1", "A1", None, None, None, None, None, "{}")]
        )
    plain = run_cli("audit", "list", str(db))
    assert plain.returncode == 0 and plain.stdout == ""
    assert "0 records" in plain.stderr
    every = run_cli("audit", "list", str(db), "--kind", "all")
    assert "case_transition" in every.stdout and "case-1" in every.stdout
