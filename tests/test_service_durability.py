"""Answered = recorded: a real server process under concurrent load is stopped (SIGTERM) or
killed (SIGKILL); every decision it answered is in the audit log and the chain verifies. A log
that cannot take records makes the service answer 503 and no decision."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from clearline.engine import AuditLog
from tests.conftest import POLICIES
from tests.service_process import ServiceProcess

DECIDE = "/v1/policies/credit-line-closure/decide"


def _folder(tmp_path: Path) -> Path:
    shutil.copytree(POLICIES, tmp_path / "policies")
    return tmp_path / "policies"


def _load(url: str, clients: int, stop: threading.Event) -> tuple[list[str], list[str]]:
    """Clients deciding distinct accounts until `stop` or the server goes away; the ids of
    the decisions answered, and the statuses of refusals."""
    answered: list[str] = []
    refused: list[str] = []

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(100_000):
                if stop.is_set():
                    return
                body = {"account_id": f"C{n}-{i}", "facts": {"days_past_due": i % 120}}
                try:
                    answer = http.post(DECIDE, json=body)
                except httpx.TransportError:
                    return  # the server is gone: this request was never answered
                if answer.status_code == 200:
                    answered.append(answer.json()["decision_id"])
                else:
                    refused.append(str(answer.status_code))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    return answered, refused


def _wait_for(answered: list[str], count: int) -> None:
    for _ in range(600):
        if len(answered) >= count:
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"only {len(answered)} answers")


def _all_recorded(audit: Path, answered: list[str]) -> None:
    with AuditLog(audit, create=False) as log:
        assert log.verify().problem is None
        recorded = {record.record_id for record in log.records()}
    missing = set(answered) - recorded
    assert not missing, f"{len(missing)} answered decisions are not in the log"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_every_answered_decision_survives_a_stop(tmp_path: Path, sig: int) -> None:
    audit = tmp_path / "audit.db"
    server = ServiceProcess(_folder(tmp_path), audit)
    stop = threading.Event()
    answered, refused = _load(server.url, 8, stop)
    _wait_for(answered, 100)
    code, err = server.stop(sig)
    stop.set()
    threading.Event().wait(0.2)
    if sig == signal.SIGTERM:
        assert code == 0, err
        assert "every answered decision is in the audit log" in err
    else:
        assert code == -signal.SIGKILL
    assert not refused
    _all_recorded(audit, list(answered))


def test_a_log_that_cannot_record_answers_503_and_no_decision(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    server = ServiceProcess(_folder(tmp_path), audit, "--audit-timeout", "0.2")
    body = {"account_id": "L1", "facts": {"days_past_due": 40}, "as_of": "2027-03-01"}
    try:
        # Another process holds the log's write lock past the service's timeout.
        holder = sqlite3.connect(audit, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        refused = server.post(DECIDE, body)
        assert refused.status_code == 503
        problem = refused.json()
        assert problem["code"] == "H009"
        assert "locked" in problem["detail"]
        assert "decision_id" not in refused.text
        not_ready = server.client.get("/readyz")
        assert (not_ready.status_code, not_ready.json()["code"]) == (503, "H011")
        assert "the last audit batch failed" in not_ready.json()["detail"]
        holder.execute("ROLLBACK")
        holder.close()
        answered = server.post(body=body, path=DECIDE)
        assert answered.status_code == 200
        assert server.client.get("/readyz").status_code == 200
    finally:
        code, err = server.stop()
    assert code == 0, err
    with AuditLog(audit, create=False) as log:
        assert [r.account_id for r in log.records()] == ["L1"]  # once: the refused one is not
