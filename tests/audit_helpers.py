"""Shared fixtures and helpers of the audit log tests (tests/test_audit_*.py), which load the
fixtures through `pytest_plugins`."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from clearline.engine import (
    Decision,
    decide,
    load_policy_text,
    sample_accounts,
)
from clearline.engine.audit.log import (
    AuditLog,
)
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


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, decisions: list[Decision]) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "audit.db"
    small_log(path, decisions, 6)
    assert not Path(f"{path}-wal").exists()  # closed: the WAL was checkpointed into the file
    return path


def _redacting_policy() -> str:
    text = V110_TEXT.replace(
        "    on_missing: review          # no score: a person looks at the account instead of a guess\n",
        "    on_missing: review\n    redact: true\n",
    )
    assert "redact: true" in text
    return text


def _write(folder: Path, text: str, name: str = "policy.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


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
