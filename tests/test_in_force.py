"""A policy decides only while it is in force: decide() refuses other moments unless asked for a
what-if decision, and `clearline decide --policies DIR` picks the version in force per line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clearline
from clearline.engine import PolicyNotInForce, compile_policy, decide, load_policy
from tests.conftest import POLICIES, SHIPPED_V1, SHIPPED_V2, run_cli

GOOD = {"days_past_due": 0, "credit_score": 720}
# 1.0.0 is in force until, and 1.1.0 from, 2027-01-15 00:00 in Asia/Shanghai (UTC+8).
BOUNDARY = "2027-01-15T00:00:00+08:00"
BEFORE = "2027-01-14T23:59:59+08:00"
AFTER = "2027-01-15T00:00:01+08:00"


def test_decide_out_of_force_raises_the_typed_error_naming_the_window() -> None:
    compiled = compile_policy(load_policy(SHIPPED_V2))
    with pytest.raises(PolicyNotInForce) as caught:
        decide(compiled, GOOD, BEFORE)
    assert "from 2027-01-15T00:00:00+08:00 with no end" in str(caught.value)
    assert caught.value.version == "1.1.0"
    assert decide(compiled, GOOD, BOUNDARY).to_dict()["policy"]["version"] == "1.1.0"
    older = compile_policy(load_policy(SHIPPED_V1))
    with pytest.raises(PolicyNotInForce, match="until 2027-01-15"):
        decide(older, GOOD, BOUNDARY)
    assert clearline.PolicyNotInForce is PolicyNotInForce


def test_a_what_if_decision_is_asked_for_explicitly() -> None:
    compiled = compile_policy(load_policy(SHIPPED_V2))
    decision = decide(compiled, GOOD, "2020-01-01", what_if=True)
    assert decision.to_dict()["policy"]["version"] == "1.1.0"


def test_the_boundary_instant_belongs_to_the_new_version() -> None:
    old = compile_policy(load_policy(SHIPPED_V1))
    new = compile_policy(load_policy(SHIPPED_V2))
    decide(old, GOOD, BEFORE)
    decide(new, GOOD, BOUNDARY)
    decide(new, GOOD, AFTER)
    with pytest.raises(PolicyNotInForce):
        decide(new, GOOD, BEFORE)
    with pytest.raises(PolicyNotInForce):
        decide(old, GOOD, BOUNDARY)


def _lines(path: Path, moments: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i, moment in enumerate(moments):
            out.write(json.dumps({"account_id": f"a{i}", "as_of": moment, "facts": GOOD}) + "\n")
    return path


def test_decide_with_policies_picks_the_version_in_force_per_line(tmp_path: Path) -> None:
    accounts = _lines(tmp_path / "in.jsonl", [BEFORE, BOUNDARY, AFTER])
    run = run_cli("decide", "--policies", str(POLICIES), str(accounts))
    assert run.returncode == 0, run.stderr
    versions = [json.loads(line)["policy"]["version"] for line in run.stdout.splitlines()]
    assert versions == ["1.0.0", "1.1.0", "1.1.0"]
    assert "versions in force of credit-line-closure: 1.0.0 (1), 1.1.0 (2)" in run.stderr


def test_decide_with_policies_refuses_a_moment_no_version_covers(tmp_path: Path) -> None:
    accounts = _lines(tmp_path / "in.jsonl", ["2025-06-01", AFTER])
    run = run_cli("decide", "--format", "jsonl", "--policies", str(POLICIES), str(accounts))
    assert run.returncode == 1
    assert (
        "in.jsonl:1:1: error[V005]: no version of `credit-line-closure` is in force" in run.stderr
    )
    assert len(run.stdout.splitlines()) == 1 and "Traceback" not in run.stderr


def test_decide_with_one_policy_out_of_force_exits_1_naming_the_window(tmp_path: Path) -> None:
    accounts = _lines(tmp_path / "in.jsonl", [BEFORE])
    run = run_cli("decide", "--policy", str(SHIPPED_V2), str(accounts))
    assert run.returncode == 1
    assert "error[V005]: policy credit-line-closure 1.1.0 is not in force" in run.stderr
    assert "in force from 2027-01-15T00:00:00+08:00" in run.stderr
    what_if = run_cli("decide", "--what-if", "--policy", str(SHIPPED_V2), str(accounts))
    assert what_if.returncode == 0, what_if.stderr


def test_policy_and_policies_are_one_or_the_other(tmp_path: Path) -> None:
    accounts = _lines(tmp_path / "in.jsonl", [AFTER])
    both = run_cli(
        "decide", "--policy", str(SHIPPED_V2), "--policies", str(POLICIES), str(accounts)
    )
    assert both.returncode == 2
    assert run_cli("decide", str(accounts)).returncode == 2
