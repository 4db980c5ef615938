"""The `clearline` command line, run for real in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from clearline.engine import load_policy

from .conftest import POLICIES, SHIPPED_V2, SMALL_POLICY, run_cli

GOOD = {
    "credit_score": 720,
    "credit_score_drop_90d": 5,
    "days_past_due": 0,
    "delinquencies_12m": 0,
    "high_apr_applications_7d": 0,
    "days_since_first_loan": 200,
    "outflow_to_income_30d": 0.4,
    "utilisation": 0.35,
    "days_since_last_draw": 20,
    "segment": "standard",
    "confirmed_fraud": False,
    "declared_hardship": False,
    "prior_adverse_actions_12m": 0,
}


def test_check_the_shipped_folder() -> None:
    result = run_cli("check", "policies")
    assert result.returncode == 0, result.stderr
    # the one warning: 1.1.0's thin-file-low-score never decides (W002, see test_load)
    assert result.stdout.strip() == "checked 2 policies: 0 errors, 1 warning"
    assert "warning[W002]: rule `thin-file-low-score` (review) never decides" in result.stderr


def test_check_a_broken_policy(tmp_path: Path) -> None:
    broken = SMALL_POLICY.replace("when: {fact: dpd, gt: 30}", "when: {fact: dpdd, gt: 30}")
    (tmp_path / "broken.yaml").write_text(broken)
    result = run_cli("check", str(tmp_path / "broken.yaml"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error[" in line]
    assert errors == [
        f"{tmp_path}/broken.yaml:33:18: error[C100]: unknown fact `dpdd`; did you mean `dpd`?"
    ]


def test_check_a_missing_file_and_usage_errors(tmp_path: Path) -> None:
    missing = run_cli("check", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1
    assert "error[E009]: cannot read file" in missing.stderr
    usage = run_cli("check")
    assert usage.returncode == 2
    unknown = run_cli("frobnicate")
    assert unknown.returncode == 2


def test_test_command_reports_like_pytest(tmp_path: Path) -> None:
    result = run_cli("test", "policies")
    assert result.returncode == 0, result.stdout + result.stderr
    shipped_tests = sum(len(load_policy(p).tests) for p in sorted(POLICIES.rglob("[0-9]*.yaml")))
    assert result.stdout.strip().splitlines()[-1].startswith(f"{shipped_tests} passed in ")
    failing = SMALL_POLICY + (
        "tests:\n"
        "  - name: wrong on purpose\n"
        "    facts: {dpd: 31, score: 700, ratio: 0.1, tier: gold, flagged: false}\n"
        "    expect: {action: close}\n"
        "  - name: right\n"
        "    facts: {dpd: 31, score: 700, ratio: 0.1, tier: gold, flagged: false}\n"
        "    expect: {action: suspend, reasons: [late]}\n"
    )
    (tmp_path / "p.yaml").write_text(failing)
    result = run_cli("test", str(tmp_path))
    assert result.returncode == 1
    assert "p.yaml::wrong on purpose FAILED" in result.stdout
    assert "action: expected close, got suspend" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("1 passed, 1 failed in ")


def test_tests_file_beside_the_policy(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(SMALL_POLICY)
    (tmp_path / "p.tests.yaml").write_text(
        "tests:\n"
        "  - name: late\n"
        "    facts: {dpd: 31, score: 700, ratio: 0.1, tier: gold, flagged: false}\n"
        "    expect: {action: suspend, reasons: [late], effective: 2026-01-11}\n"
    )
    result = run_cli("test", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("1 passed")
    (tmp_path / "p.tests.yaml").write_text(
        "tests:\n  - name: bad\n    facts: {dpd: x}\n    expect: {action: nope}\n"
    )
    result = run_cli("check", str(tmp_path))
    assert result.returncode == 1
    assert (
        "p.tests.yaml:4:22: error[S004]: tests/0/expect/action: `nope` is not one of"
        in result.stderr
    )
    assert "p.tests.yaml:3:17: error[C140]" not in result.stderr  # schema errors stop before facts


def test_decide_one_object_gives_indented_json(tmp_path: Path) -> None:
    result = run_cli(
        "decide", "--policy", str(SHIPPED_V2), "--as-of", "2027-03-01",
        stdin=json.dumps({**GOOD, "days_past_due": 95}),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["action"] == "close"
    assert record["reasons"][0]["rule"] == "severe-delinquency"
    assert record["timeline"]["effective"] == "2027-04-30"
    assert "\n  " in result.stdout


def test_decide_jsonl_reports_bad_lines_and_keeps_good_ones(tmp_path: Path) -> None:
    lines = [
        json.dumps({"account_id": "A1", "facts": GOOD}),
        "{not json",
        json.dumps({"account_id": "A3", "facts": {**GOOD, "credit_score": "high"}}),
        json.dumps(
            {"account_id": "A4", "facts": {**GOOD, "days_past_due": 40}, "as_of": "2027-03-05"}
        ),
        json.dumps({"account_id": "A5", "facts": {**GOOD, "segment": "x" * (1 << 20)}}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli(
        "decide", "--policy", str(SHIPPED_V2), "--as-of", "2027-03-01", str(path), "--no-trace"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "in.jsonl:2:2: error[F005]: invalid JSON" in result.stderr
    assert "in.jsonl:3:1: error[F003]: fact `credit_score`: expected an integer" in result.stderr
    assert "in.jsonl:5:1: error[F011]: line is longer than 1048576 bytes" in result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["account_id"] for d in out] == ["A1", "A4"]
    assert out[1]["action"] == "suspend" and out[1]["as_of"] == "2027-03-04T16:00:00Z"
    assert out[0]["trace"] is None


def test_decide_is_deterministic_across_runs(tmp_path: Path) -> None:
    sample = run_cli("sample", "--policy", str(SHIPPED_V2), "-n", "200", "--seed", "3")
    assert sample.returncode == 0
    again = run_cli("sample", "--policy", str(SHIPPED_V2), "-n", "200", "--seed", "3")
    assert sample.stdout == again.stdout
    other = run_cli("sample", "--policy", str(SHIPPED_V2), "-n", "200", "--seed", "4")
    assert other.stdout != sample.stdout
    path = tmp_path / "accounts.jsonl"
    path.write_text(sample.stdout)
    first = run_cli(
        "decide", "--policy", str(SHIPPED_V2), "--as-of", "2027-03-01T08:00:00+08:00", str(path)
    )
    second = run_cli(
        "decide", "--policy", str(SHIPPED_V2), "--as-of", "2027-03-01T08:00:00+08:00", str(path)
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(first.stdout.splitlines()) == 200


def test_decide_with_a_broken_policy_or_bad_as_of(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("apiVersion: clearline/v2\n")
    result = run_cli("decide", "--policy", str(tmp_path / "p.yaml"), stdin="{}")
    assert result.returncode == 1
    assert "error[S004]" in result.stderr or "error[S002]" in result.stderr
    bad = run_cli("decide", "--policy", str(SHIPPED_V2), "--as-of", "someday", stdin="{}")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
