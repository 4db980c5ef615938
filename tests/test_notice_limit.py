"""A limit-cut notice gives the current and the new limit when the policy names the limit fact."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

from clearline.disclosures.notice import decision_notice
from clearline.engine import compile_policy, decide, load_policy_text

from .conftest import run_cli

AS_OF = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

POLICY: dict[str, Any] = {
    "apiVersion": "clearline/v1",
    "kind": "CreditLinePolicy",
    "metadata": {
        "id": "limits",
        "version": "1.0.0",
        "title": {"en": "Limits", "zh-CN": "额度"},
        "effective_from": "2026-01-01",
        "languages": ["en", "zh-CN"],
        "limit_fact": "credit_limit",
    },
    "facts": {
        "utilisation": {
            "type": "number",
            "minimum": 0,
            "unit": "percent",
            "label": {"en": "share of your limit in use", "zh-CN": "额度使用率"},
        },
        "credit_limit": {
            "type": "integer",
            "minimum": 0,
            "unit": "currency",
            "label": {"en": "credit limit", "zh-CN": "信用额度"},
        },
    },
    "rules": [
        {
            "id": "high-use",
            "action": {"kind": "reduce_limit", "limit_factor": 0.7},
            "grace": "std",
            "reason": {"code": "L1"},
            # The record keeps the facts conditions read; this rule reads the limit (no cut of
            # a small line), so its value is in the record the notice is written from.
            "when": {
                "all": [{"fact": "utilisation", "ge": 0.9}, {"fact": "credit_limit", "gt": 1000}]
            },
        }
    ],
    "grace": {"std": {"notice_days": 15, "cure": {"days": 15}, "appeal": {"days": 30}}},
}


def _notice(policy: dict[str, Any], facts: dict[str, Any], lang: str) -> str:
    compiled = compile_policy(load_policy_text(json.dumps(policy), "limits.yaml"))
    return decision_notice(compiled, decide(compiled, facts, AS_OF), lang)


def test_a_limit_cut_gives_the_new_limit_in_both_languages() -> None:
    facts = {"utilisation": 0.95, "credit_limit": 12345}
    assert "Your limit goes from 12,345 to 8,641." in _notice(POLICY, facts, "en")
    assert "您的额度将从12,345降到8,641。" in _notice(POLICY, facts, "zh-CN")


def test_no_amount_without_a_limit_fact_or_a_cut() -> None:
    unnamed = copy.deepcopy(POLICY)
    del unnamed["metadata"]["limit_fact"]
    facts = {"utilisation": 0.95, "credit_limit": 10000}
    assert "Your limit goes from" not in _notice(unnamed, facts, "en")
    # no cut decided: no amount either
    assert "Your limit goes from" not in _notice(POLICY, {**facts, "utilisation": 0.5}, "en")
    # the limit itself not given: the notice says nothing it cannot compute
    assert "Your limit goes from" not in _notice(POLICY, {"utilisation": 0.95}, "en")


def test_check_refuses_a_limit_fact_that_is_not_money(tmp_path: Path) -> None:
    bad = copy.deepcopy(POLICY)
    bad["metadata"]["limit_fact"] = "utilisation"
    path = tmp_path / "limits.yaml"
    path.write_text(json.dumps(bad, indent=1), "utf-8")
    result = run_cli("check", str(path))
    assert result.returncode == 1
    assert "error[C031]" in result.stderr and "`utilisation`" in result.stderr
    line = next(
        i for i, text in enumerate(path.read_text().splitlines(), 1) if "limit_fact" in text
    )
    assert f"limits.yaml:{line}:" in result.stderr
