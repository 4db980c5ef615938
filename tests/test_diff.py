"""Semantic diff, change classification, notice-period check and backtest between versions."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clearline.engine import compile_policy, decide, load_policy, load_policy_text
from clearline.engine.change.backtest import Account, backtest
from clearline.engine.change.diff import diff_policies
from clearline.engine.change.impact import Impact
from clearline.engine.change.notice_period import notice_period_diagnostics
from clearline.engine.policy.source import read_yaml
from clearline.engine.synthetic.accounts import sample_accounts

from .conftest import SHIPPED_V1, SHIPPED_V2, run_cli

BASE: dict[str, Any] = {
    "apiVersion": "clearline/v1",
    "kind": "CreditLinePolicy",
    "metadata": {
        "id": "p",
        "version": "1.0.0",
        "title": {"en": "P"},
        "effective_from": "2026-01-01",
        "languages": ["en"],
        "adverse_change_notice_days": 45,
    },
    "facts": {
        "dpd": {"type": "integer", "minimum": 0, "label": {"en": "days past due"}},
        "score": {"type": "integer", "label": {"en": "score"}},
        "tier": {"type": "enum", "values": ["a", "b", "c"], "label": {"en": "tier"}},
    },
    "rules": [
        {
            "id": "late",
            "action": "suspend",
            "grace": "std",
            "reason": {"code": "L"},
            "when": {"fact": "dpd", "gt": 30},
        },
        {
            "id": "low",
            "action": "close",
            "grace": "std",
            "reason": {"code": "S"},
            "when": {"all": [{"fact": "score", "lt": 500}, {"not": {"fact": "tier", "in": ["a"]}}]},
        },
        {
            "id": "watch",
            "action": "notify",
            "reason": {"code": "W"},
            "when": {"any": [{"fact": "dpd", "ge": 1}]},
        },
    ],
    "grace": {
        "std": {
            "notice_days": 30,
            "cure": {"days": 30},
            "appeal": {"days": 60, "pauses_action": True},
            "exemptions": [
                {"id": "x", "when": {"fact": "tier", "eq": "c"}, "extend_notice_days": 10}
            ],
        }
    },
}


def policy(edit: Callable[[dict[str, Any]], None] | None = None, version: str = "1.1.0") -> Any:
    data = copy.deepcopy(BASE)
    data["metadata"]["version"] = version
    if edit:
        edit(data)
    return load_policy_text(json.dumps(data), f"{version}.yaml")


OLD = policy(version="1.0.0")


def only(edit: Callable[[dict[str, Any]], None]) -> tuple[str, Impact]:
    changes = diff_policies(OLD, policy(edit)).changes
    assert len(changes) == 1, changes
    return changes[0].kind, changes[0].impact


def rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in data["rules"] if r["id"] == rule_id)


def test_same_policy_reordered_is_no_change() -> None:
    def reorder(data: dict[str, Any]) -> None:
        data["facts"] = dict(reversed(list(data["facts"].items())))
        data["rules"] = [data["rules"][0], data["rules"][2], data["rules"][1]]  # different actions
        data["metadata"] = dict(reversed(list(data["metadata"].items())))

    assert diff_policies(OLD, policy(reorder, version="1.0.0")).changes == ()


@pytest.mark.parametrize(
    ("edit", "kind", "impact"),
    [
        (lambda d: rule(d, "late")["when"].update(gt=20), "threshold", Impact.ADVERSE),
        (lambda d: rule(d, "late")["when"].update(gt=40), "threshold", Impact.FAVOURABLE),
        (
            lambda d: (
                rule(d, "late")["when"].update({"ge": 30, "gt": None})
                or rule(d, "late")["when"].pop("gt")
            ),
            "operator",
            Impact.ADVERSE,
        ),
        # a threshold moved inside a `not`: excluding fewer tiers hits more accounts
        (
            lambda d: rule(d, "low")["when"]["all"][1]["not"].update({"in": ["a", "b"]}),
            "threshold",
            Impact.FAVOURABLE,
        ),
        (
            lambda d: rule(d, "low")["when"]["all"][1]["not"].update({"in": ["b"]}),
            "threshold",
            Impact.ADVERSE,
        ),
        (
            lambda d: rule(d, "low")["when"]["all"].append({"fact": "dpd", "gt": 0}),
            "added",
            Impact.FAVOURABLE,
        ),
        (lambda d: rule(d, "low")["when"]["all"].pop(1), "removed", Impact.ADVERSE),
        (
            lambda d: (
                rule(d, "late")["when"].update(gt=40)
                or d["rules"][0].update(
                    when={"any": [{"fact": "dpd", "gt": 40}, {"fact": "score", "lt": 300}]}
                )
            ),
            "rewritten",
            Impact.ADVERSE,
        ),
        # an `any` gaining a branch reaches more accounts, but notify takes nothing away
        (
            lambda d: rule(d, "watch")["when"]["any"].append({"fact": "score", "lt": 400}),
            "added",
            Impact.NEUTRAL,
        ),
        (lambda d: rule(d, "late").update(action="close"), "action", Impact.ADVERSE),
        (lambda d: rule(d, "low").update(action="suspend"), "action", Impact.FAVOURABLE),
        (
            lambda d: d["rules"].append(
                {
                    "id": "new",
                    "action": "suspend",
                    "grace": "std",
                    "reason": {"code": "N"},
                    "when": {"fact": "score", "lt": 400},
                }
            ),
            "rule_added",
            Impact.ADVERSE,
        ),
        (lambda d: d["rules"].pop(1), "rule_removed", Impact.FAVOURABLE),
        (lambda d: rule(d, "late").update(id="very-late"), "rule_renamed", Impact.NEUTRAL),
        (lambda d: d["grace"]["std"].update(notice_days=15), "grace_notice", Impact.ADVERSE),
        (lambda d: d["grace"]["std"].update(notice_days=60), "grace_notice", Impact.FAVOURABLE),
        (
            lambda d: d["grace"]["std"].update(cure={"none": {"en": "This cannot be cured."}}),
            "grace_cure",
            Impact.ADVERSE,
        ),
        (
            lambda d: d["grace"]["std"]["appeal"].update(pauses_action=False),
            "grace_appeal",
            Impact.ADVERSE,
        ),
        (lambda d: d["grace"]["std"]["appeal"].update(days=40), "grace_appeal", Impact.ADVERSE),
        (lambda d: d["grace"]["std"].update(exemptions=[]), "grace_exemption", Impact.ADVERSE),
        (
            lambda d: (
                d["outcome"]
                if False
                else d.update(
                    outcome={"precedence": ["suspend", "close", "reduce_limit", "review", "notify"]}
                )
            ),
            "precedence",
            Impact.FAVOURABLE,
        ),
        (
            lambda d: d.update(
                outcome={"precedence": ["close", "suspend", "reduce_limit", "notify", "review"]}
            ),
            "precedence",
            Impact.FAVOURABLE,
        ),
        (
            lambda d: d["metadata"].update(adverse_change_notice_days=30),
            "change_notice_days",
            Impact.ADVERSE,
        ),
        (
            lambda d: rule(d, "late").update(
                reason={"code": "L", "text": {"en": "Late by more than 30 days."}}
            ),
            "text",
            Impact.NEUTRAL,
        ),
        (lambda d: d["facts"]["dpd"].update(label={"en": "days late"}), "text", Impact.NEUTRAL),
    ],
)
def test_each_kind_of_change_is_classified(
    edit: Callable[[dict[str, Any]], None], kind: str, impact: Impact
) -> None:
    assert only(edit) == (kind, impact)


def test_precedence_swap_that_lets_the_harsher_action_win_is_adverse() -> None:
    old = policy(
        lambda d: d.update(
            outcome={"precedence": ["suspend", "close", "reduce_limit", "review", "notify"]}
        ),
        "1.0.0",
    )
    new = policy()
    changes = diff_policies(old, new).changes
    assert [(c.kind, c.impact) for c in changes] == [("precedence", Impact.ADVERSE)]


def test_shipped_versions_diff() -> None:
    result = diff_policies(load_policy(SHIPPED_V1), load_policy(SHIPPED_V2))
    adverse = {(c.subject, c.kind) for c in result.adverse}
    assert adverse == {
        ("credit-seeking-spree", "threshold"),
        ("high-utilisation-late", "threshold"),
        ("segment-tightening", "threshold"),
    }
    assert len(result.adverse) == 4
    assert result.favourable == ()


def _pair(tmp_path: Path, effective: str, announced: str | None = None) -> list[Any]:
    old = copy.deepcopy(BASE)
    old["metadata"]["effective_until"] = effective
    new = copy.deepcopy(BASE)
    new["metadata"].update(version="1.1.0", effective_from=effective)
    if announced:
        new["metadata"]["announced_on"] = announced
    rule(new, "late")["when"]["gt"] = 20
    paths = []
    for data, name in ((old, "1.0.0.yaml"), (new, "1.1.0.yaml")):
        path = tmp_path / name
        path.write_text(json.dumps(data, indent=1))
        paths.append(path)
    return [load_policy(p) for p in paths]


def test_notice_period_boundary(tmp_path: Path) -> None:
    # 45 days after 2026-01-01 is 2026-02-15: that day passes, the day before fails.
    on_time = _pair(tmp_path, "2026-02-15", announced="2026-01-01")
    assert list(notice_period_diagnostics(on_time)) == []
    failed = list(notice_period_diagnostics(_pair(tmp_path, "2026-02-14", announced="2026-01-01")))
    assert [d.code for d in failed] == ["C150"]
    assert "effective no earlier than 2026-02-15, not 2026-02-14" in failed[0].message
    line = read_yaml((tmp_path / "1.1.0.yaml").read_text(), "x").source.locate(
        ("metadata", "effective_from")
    )
    assert (failed[0].line, failed[0].column) == line
    # announced later than the old version's start: counts from the announcement
    assert (
        list(notice_period_diagnostics(_pair(tmp_path, "2026-03-01", announced="2026-01-15"))) == []
    )
    late = list(notice_period_diagnostics(_pair(tmp_path, "2026-03-01", announced="2026-01-16")))
    assert [d.code for d in late] == ["C150"]


def test_an_adverse_change_must_say_when_it_was_announced(tmp_path: Path) -> None:
    # Without announced_on the notice period is checked against nothing (C151), however late
    # the new version starts; with it, the period is counted from that day.
    unannounced = list(notice_period_diagnostics(_pair(tmp_path, "2027-01-01")))
    assert [d.code for d in unannounced] == ["C151"]
    assert "no `announced_on`" in unannounced[0].message
    line = read_yaml((tmp_path / "1.1.0.yaml").read_text(), "x").source.locate(("metadata",))
    assert (unannounced[0].line, unannounced[0].column) == line
    assert list(notice_period_diagnostics(_pair(tmp_path, "2027-01-01", "2026-06-01"))) == []


def test_the_shipped_stricter_version_is_announced_in_time() -> None:
    policies = [load_policy(SHIPPED_V1), load_policy(SHIPPED_V2)]
    assert policies[1].metadata.announced_on is not None
    assert list(notice_period_diagnostics(policies)) == []


def test_check_cli_runs_the_notice_period_check(tmp_path: Path) -> None:
    _pair(tmp_path, "2026-02-14", announced="2026-02-01")  # 13 days' notice of 45
    result = run_cli("check", str(tmp_path))
    assert result.returncode == 1
    assert "1.1.0.yaml:" in result.stderr and "error[C150]" in result.stderr
    _pair(tmp_path, "2026-02-14")  # not announced at all
    result = run_cli("check", str(tmp_path))
    assert result.returncode == 1 and "error[C151]" in result.stderr


def test_favourable_change_needs_no_notice(tmp_path: Path) -> None:
    old = load_policy_text(json.dumps(BASE), "1.0.0.yaml")
    data = copy.deepcopy(BASE)
    data["metadata"].update(version="1.1.0", effective_from="2026-01-02")
    rule(data, "late")["when"]["gt"] = 60
    assert (
        list(notice_period_diagnostics([old, load_policy_text(json.dumps(data), "1.1.0.yaml")]))
        == []
    )


def test_backtest_agrees_with_deciding_each_account_separately() -> None:
    old = compile_policy(load_policy(SHIPPED_V1))
    new = compile_policy(load_policy(SHIPPED_V2))
    accounts = list(sample_accounts(new.policy, 3000, seed=11))
    as_of = dt.date(2027, 2, 1)
    report = backtest(old, new, (Account(a["account_id"], a["facts"]) for a in accounts), as_of)
    expected: Counter[tuple[str, str]] = Counter()
    newly: Counter[str] = Counter()
    old_facts = {f.name for f in old.policy.facts} | {s.name for s in old.policy.signals}
    for account in accounts:
        # Each version decides on the facts it declares, as the backtest does (a what-if).
        facts = {name: v for name, v in account["facts"].items() if name in old_facts}
        a = decide(old, facts, as_of, what_if=True)
        b = decide(new, account["facts"], as_of, what_if=True)
        expected[(a.action.value, b.action.value)] += 1
        if a.action is not b.action and b.reasons:
            newly[b.reasons[0].rule] += 1
    assert report.accounts == 3000
    assert report.transitions == expected
    assert report.newly_deciding == newly
    assert report.changed == sum(n for (x, y), n in expected.items() if x != y) > 0


def test_backtest_cli_counts_rejected_accounts(tmp_path: Path) -> None:
    lines = [json.dumps(a) for a in sample_accounts(load_policy(SHIPPED_V2), 50, seed=2)]
    lines.append(json.dumps({"account_id": "bad", "facts": {"credit_score": "x"}}))
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli(
        "backtest",
        "--from",
        str(SHIPPED_V1),
        "--to",
        str(SHIPPED_V2),
        "--facts",
        str(path),
        "--format",
        "json",
    )
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["accounts"] == 51 and data["rejected"] == 1
    assert "rejected bad:" in result.stderr
    assert sum(t["accounts"] for t in data["transitions"]) == 50


def test_diff_cli_formats() -> None:
    text = run_cli("diff", str(SHIPPED_V1), str(SHIPPED_V2))
    assert text.returncode == 0
    assert "4 adverse, 0 favourable" in text.stdout
    data = json.loads(run_cli("diff", str(SHIPPED_V1), str(SHIPPED_V2), "--format", "json").stdout)
    assert data["summary"]["adverse"] == 4
    md = run_cli("diff", str(SHIPPED_V1), str(SHIPPED_V2), "--format", "md").stdout
    assert md.startswith("# credit-line-closure: 1.0.0 → 1.1.0")
    assert "## Adverse (4)" in md


def test_backtest_from_an_audit_log(tmp_path: Path) -> None:
    accounts = tmp_path / "a.jsonl"
    accounts.write_text(
        "".join(json.dumps(a) + "\n" for a in sample_accounts(load_policy(SHIPPED_V1), 300, seed=4))
    )
    db = tmp_path / "audit.db"
    decided = run_cli(
        "decide",
        "--policy",
        str(SHIPPED_V1),
        "--as-of",
        "2026-06-01",
        str(accounts),
        "--audit",
        str(db),
        "-o",
        str(tmp_path / "out.jsonl"),
    )
    assert decided.returncode == 0, decided.stderr
    from_audit = run_cli(
        "backtest",
        "--from",
        str(SHIPPED_V1),
        "--to",
        str(SHIPPED_V2),
        "--audit",
        str(db),
        "--format",
        "json",
    )
    from_file = run_cli(
        "backtest",
        "--from",
        str(SHIPPED_V1),
        "--to",
        str(SHIPPED_V2),
        "--facts",
        str(accounts),
        "--format",
        "json",
    )
    assert from_audit.returncode == 0, from_audit.stderr
    assert (
        json.loads(from_audit.stdout)["transitions"] == json.loads(from_file.stdout)["transitions"]
    )
    assert json.loads(from_audit.stdout)["accounts"] == 300
    both = run_cli("backtest", "--from", str(SHIPPED_V1), "--to", str(SHIPPED_V2))
    assert both.returncode == 2
    not_a_log = tmp_path / "notes.txt"
    not_a_log.write_text("these are notes, not an audit log\n" * 100)
    wrong = run_cli(
        "backtest", "--from", str(SHIPPED_V1), "--to", str(SHIPPED_V2), "--audit", str(not_a_log)
    )
    assert wrong.returncode == 1
    assert wrong.stderr.startswith(
        f"clearline: error[A000]: {not_a_log}: not a Clearline audit log"
    )


def test_backtest_rejects_redacted_inputs_instead_of_guessing(tmp_path: Path) -> None:
    policy_path = tmp_path / "p.yaml"
    data = copy.deepcopy(BASE)
    data["facts"]["tier"]["redact"] = True
    policy_path.write_text(json.dumps(data))
    db = tmp_path / "audit.db"
    line = json.dumps({"account_id": "A1", "facts": {"dpd": 3, "score": 600, "tier": "b"}})
    assert (
        run_cli(
            "decide",
            "--policy",
            str(policy_path),
            "--as-of",
            "2026-06-01",
            "--audit",
            str(db),
            stdin=line,
        ).returncode
        == 0
    )
    result = run_cli(
        "backtest", "--from", str(policy_path), "--to", str(policy_path), "--audit", str(db)
    )
    assert result.returncode == 1
    assert "rejected A1: record 1 stores tier only as salted hashes" in result.stderr
