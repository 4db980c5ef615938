"""Replay of audit logs against the policy versions that made them."""

from __future__ import annotations

import shutil
from pathlib import Path

from clearline.engine import (
    Decision,
)
from clearline.engine.audit.log import (
    AuditLog,
)
from clearline.engine.audit.replay import (
    DIFFERS,
    HASH_MISMATCH,
    MISSING_POLICY,
    SAME,
    replay,
)
from clearline.engine.versions import PolicyRegistry

from .audit_helpers import (
    SHIPPED,
    _write,
    decide_into,
)
from .conftest import run_cli

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
