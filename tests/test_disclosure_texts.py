"""Rule texts: generated from conditions when absent, and checked against thresholds when given."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearline.disclosures import Locale, advice_text, reason_text, text_problems
from clearline.engine import PolicyError, load_policy_text
from clearline.engine.policy.load import analyse_policy_text

from .conftest import run_cli
from .disclosure_fixtures import SHIPPED, shipped

SOURCE = SHIPPED.read_text(encoding="utf-8")


def _codes(text: str) -> list[str]:
    result = analyse_policy_text(text, "p.yaml")
    return [d.code for d in result.errors]


def test_missing_texts_are_generated_from_the_condition() -> None:
    policy = shipped().policy
    rule = policy.rule("serious-delinquency")
    assert rule is not None and not rule.reason
    assert (
        reason_text(rule, Locale(policy, "en")) == "The number of days past due is from 31 to 90."
    )
    assert reason_text(rule, Locale(policy, "zh-CN")) == "逾期天数在31天到90天之间。"
    # More than 90 days late is a closure: generated advice never points into a harsher rule.
    assert advice_text(rule, Locale(policy, "en")) == (
        "This no longer applies if the number of days past due is fewer than 31."
    )
    spree = policy.rule("approaching-spree")
    assert spree is not None
    assert reason_text(spree, Locale(policy, "zh-CN")) == (
        "近7天申请高息贷款次数为1次，且距首次借款的天数不超过60天。"
    )


def test_own_texts_are_used_verbatim() -> None:
    policy = shipped().policy
    rule = policy.rule("severe-delinquency")
    assert rule is not None
    assert reason_text(rule, Locale(policy, "en")) == "A payment is more than 90 days late."


def test_the_shipped_policies_have_no_text_problems() -> None:
    assert list(text_problems(shipped().policy)) == []
    assert _codes(SOURCE) == []


def test_percent_written_as_percentage_satisfies_the_threshold() -> None:
    # utilisation ge 0.9 is written "90%" in both languages of the shipped policy
    assert "90%" in SOURCE and "ge: 0.9}" in SOURCE
    assert "C123" not in _codes(SOURCE)


def test_a_changed_threshold_without_its_text_is_an_error() -> None:
    drifted = SOURCE.replace("{fact: utilisation, ge: 0.9}", "{fact: utilisation, ge: 0.85}")
    with pytest.raises(PolicyError) as caught:
        load_policy_text(drifted, "p.yaml")
    messages = [d.render() for d in caught.value.diagnostics]
    missing = [m for m in messages if "C123" in m]
    assert len(missing) == 2  # zh-CN and en
    assert any("threshold 0.85 (85%)" in m for m in missing)
    stray = [m for m in messages if "C124" in m]
    assert any("mentions 90%" in m for m in stray)
    # located at the reason text's line
    line = next(i for i, text in enumerate(drifted.splitlines(), 1) if "您已用掉90%" in text)
    assert all(m.startswith(f"p.yaml:{line}:") for m in missing)


def test_a_stray_number_in_advice_is_an_error() -> None:
    drifted = SOURCE.replace("把逾期天数降到30天或以内", "把逾期天数降到20天或以内")
    assert "C124" in _codes(drifted)


def test_zero_threshold_need_not_be_spelt() -> None:
    # high-utilisation-late has days_past_due gt 0, written "a payment is late"
    assert "{fact: days_past_due, gt: 0}" in SOURCE
    assert _codes(SOURCE) == []


FRENCH = """
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: fr-test
  version: 1.0.0
  title: {en: Test, fr: Essai}
  effective_from: 2027-01-01
  languages: [en, fr]
facts:
  days_past_due: {type: integer, minimum: 0, unit: day, label: {en: days past due, fr: jours de retard}}
rules:
  - id: late
    action: notify
    when: {fact: days_past_due, gt: 10}
    reason: {code: N1}
"""


def test_check_reports_a_language_without_a_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "fr.yaml"
    path.write_text(FRENCH, encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.returncode == 1
    assert "error[D100]: no phrase catalogue for `fr`" in result.stderr
    assert f"{path}:9:" in result.stderr or "fr.yaml:9:" in result.stderr


def test_check_cli_reports_threshold_drift_with_location(tmp_path: Path) -> None:
    path = tmp_path / "drift.yaml"
    path.write_text(
        SOURCE.replace("{fact: credit_score, lt: 500}", "{fact: credit_score, lt: 480}")
    )
    result = run_cli("check", str(path))
    assert result.returncode == 1
    assert "error[C123]" in result.stderr
    assert "does not mention its threshold 480" in result.stderr
    assert "Traceback" not in result.stderr
