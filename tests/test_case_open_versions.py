"""`clearline case open --policies DIR` opens each account's case under the version in force at
that account's as_of and says which; a moment no version covers is a located error."""

from __future__ import annotations

import json
from pathlib import Path

from clearline.engine.versions import PolicyRegistry
from tests.conftest import POLICIES, SHIPPED_V2, run_cli

LATE = {"days_past_due": 95, "credit_score": 720}  # severe delinquency: a closure in both versions
GOOD = {"days_past_due": 0, "credit_score": 720}
# 1.0.0 is in force until, and 1.1.0 from, 2027-01-15 00:00 in Asia/Shanghai (UTC+8).
BOUNDARY = "2027-01-15T00:00:00+08:00"
BEFORE = "2027-01-14T23:59:59+08:00"
AFTER = "2027-01-15T00:00:01+08:00"
_REGISTRY, _ = PolicyRegistry.analyse([POLICIES])
assert _REGISTRY is not None
SHA256 = {v.version: v.sha256 for v in _REGISTRY.versions("credit-line-closure")}


def _lines(path: Path, rows: list[tuple[str, dict[str, int]]]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i, (moment, facts) in enumerate(rows):
            out.write(json.dumps({"account_id": f"a{i}", "as_of": moment, "facts": facts}) + "\n")
    return path


def test_case_open_picks_the_version_in_force_per_line(tmp_path: Path) -> None:
    accounts = _lines(
        tmp_path / "in.jsonl", [(BEFORE, LATE), (BOUNDARY, LATE), (AFTER, LATE), (AFTER, GOOD)]
    )
    store = str(tmp_path / "cases.db")
    run = run_cli(
        "case", "open", "--policies", str(POLICIES), "--as-of", AFTER, "--store", store,
        str(accounts),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["policy_version"] for line in lines] == ["1.0.0", "1.1.0", "1.1.0", "1.1.0"]
    assert [line["action"] for line in lines] == ["close", "close", "close", "none"]
    assert "versions in force of credit-line-closure: 1.0.0 (1), 1.1.0 (3)" in run.stderr
    # each case reloads the version it was opened under
    for line in lines[:3]:
        shown = run_cli("case", "show", line["case_id"], "--store", store, "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["policy_sha256"] == SHA256[line["policy_version"]]


def test_case_open_refuses_a_moment_no_version_covers(tmp_path: Path) -> None:
    accounts = _lines(tmp_path / "in.jsonl", [("2025-06-01", LATE), (AFTER, LATE)])
    store = str(tmp_path / "cases.db")
    run = run_cli(
        "case", "open", "--policies", str(POLICIES), "--as-of", AFTER, "--store", store,
        str(accounts),
    )  # fmt: skip
    assert run.returncode == 1
    assert (
        "in.jsonl:1:1: error[V005]: no version of `credit-line-closure` is in force" in run.stderr
    )
    assert "Traceback" not in run.stderr
    assert len(run.stdout.splitlines()) == 1


def test_case_open_with_one_policy_out_of_force_names_the_window(tmp_path: Path) -> None:
    accounts = _lines(tmp_path / "in.jsonl", [(BEFORE, LATE)])
    store = str(tmp_path / "cases.db")
    run = run_cli("case", "open", "--policy", str(SHIPPED_V2), "--as-of", BEFORE, "--store", store,
                  str(accounts))  # fmt: skip
    assert run.returncode == 1
    assert "error[V005]: policy credit-line-closure 1.1.0 is not in force" in run.stderr
    assert "Traceback" not in run.stderr


def test_case_open_takes_policy_or_policies(tmp_path: Path) -> None:
    accounts = _lines(tmp_path / "in.jsonl", [(AFTER, LATE)])
    store = str(tmp_path / "cases.db")
    both = run_cli("case", "open", "--policy", str(SHIPPED_V2), "--policies", str(POLICIES),
                   "--as-of", AFTER, "--store", store, str(accounts))  # fmt: skip
    assert both.returncode == 2
    neither = run_cli("case", "open", "--as-of", AFTER, "--store", store, str(accounts))
    assert neither.returncode == 2
