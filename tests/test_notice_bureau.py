"""Reasons regulators accept (issue 18 item 3): a score's key factors, the credit bureau's
elements, the warning before reporting to a bureau, the complaint route and the regulator, and
the checks that hold a policy to what its jurisdictions need."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearline.disclosures import decision_notice
from clearline.disclosures.locale import Locale
from clearline.disclosures.parties import score_factors
from clearline.engine import decide
from clearline.engine.policy.load import analyse_policy_text

from .conftest import SHIPPED_V2, run_cli
from .disclosure_fixtures import AS_OF, GOOD, LANGS, shipped

SHIPPED: dict[str, Any] = yaml.safe_load(SHIPPED_V2.read_text(encoding="utf-8"))
LOW_SCORE = {**GOOD, "credit_score": 499, "credit_score_factors": "K01,K03,K05,K02,K04"}
SPREE = {
    **GOOD,
    "high_apr_applications_7d": 3,
    "days_since_first_loan": 21,
    "prior_adverse_actions_12m": 1,
}


def _codes(edit: Callable[[dict[str, Any]], None]) -> list[str]:
    data = copy.deepcopy(SHIPPED)
    edit(data)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    result = analyse_policy_text(text, "policy.yaml", SHIPPED_V2.parent)
    return [d.code for d in result.diagnostics if d.severity == "error"]


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return edit


def _pop(*path: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])

    return edit


@pytest.mark.parametrize(
    ("code", "edit"),
    [
        ("C214", _set(("facts", "credit_score", "key_factors", "fact"), "credit_score_drop_90d")),
        ("C214", _set(("facts", "credit_score", "key_factors", "fact"), "no_such_fact")),
        ("C214", _pop("facts", "credit_score", "key_factors", "texts", "K01", "en")),
        ("C215", _set(("signals", "high_apr_after_loan", "source"), "experian")),
        ("C215", _set(("metadata", "reports_to_bureau", "bureau"), "experian")),
        ("C215", _pop("metadata", "bureaus", "pboc_crc", "contact", "en")),
        ("C213", _pop("metadata", "owner", "complaints", "en")),
        ("C213", _pop("metadata", "owner", "regulators", "CN", "contact", "zh-CN")),
        ("C175", _pop("metadata", "owner", "complaints")),
        ("C176", _set(("metadata", "jurisdictions"), ["CN", "US"])),
    ],
)
def test_check_requires_what_notices_and_jurisdictions_need(
    code: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    found = _codes(edit)
    assert code in found, found


def test_a_test_using_an_undeclared_factor_code_is_located() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["tests"][0]["facts"]["credit_score_factors"] = "K01,K99"

    assert "C214" in _codes(edit)


def test_the_us_pack_is_met_with_a_us_regulator() -> None:
    us = {
        "name": {"zh-CN": "消费者金融保护局", "en": "Consumer Financial Protection Bureau"},
        "contact": {"zh-CN": "consumerfinance.gov", "en": "consumerfinance.gov"},
    }

    def edit(data: dict[str, Any]) -> None:
        data["metadata"]["jurisdictions"] = ["CN", "US"]
        data["metadata"]["owner"]["regulators"]["US"] = us

    assert "C176" not in _codes(edit)


@pytest.mark.parametrize("lang", LANGS)
def test_score_factors_are_at_most_four_in_input_order(lang: str) -> None:
    compiled = shipped()
    policy = compiled.policy
    locale = Locale(policy, lang)
    factors = score_factors(policy, "very-low-score", LOW_SCORE, locale)
    texts = policy.fact("credit_score").key_factors.texts  # type: ignore[union-attr]
    words = dict(texts)
    assert factors == [f"{words[c].get(lang)} ({c})" for c in ("K01", "K03", "K05", "K02")]
    # A rule that does not read the score gives no factors; a hidden score gives none either.
    assert score_factors(policy, "severe-delinquency", LOW_SCORE, locale) == []
    hidden = frozenset({"credit_score_factors"})
    assert score_factors(policy, "very-low-score", LOW_SCORE, locale, hidden) == []


def test_a_reason_from_bureau_data_carries_the_bureau_elements_and_the_warning() -> None:
    compiled = shipped()
    decision = decide(compiled, SPREE, AS_OF)
    assert decision.action.value == "suspend"
    en = decision_notice(compiled, decision, "en")
    assert "Credit Reference Center of the People's Bank of China" in en
    assert "did not make this decision" in en
    assert "free copy of your report from the bureau if you ask within 60 days" in en
    assert "dispute it with the bureau" in en
    assert "400-810-8866" in en
    # Reported 15 days after the decision day at the earliest (AS_OF 2027-03-01).
    assert "on March 16, 2027 at the earliest" in en
    zh = decision_notice(compiled, decision, "zh-CN")
    assert "中国人民银行征信中心" in zh and "60天内" in zh and "提出异议" in zh
    assert "2027年3月16日" in zh


def test_a_reason_without_bureau_data_names_no_bureau_but_the_complaint_route() -> None:
    compiled = shipped()
    decision = decide(compiled, LOW_SCORE, AS_OF)
    for lang, complaint, regulator in (
        ("en", "Make a complaint", "National Financial Regulatory Administration"),
        ("zh-CN", "投诉", "国家金融监督管理总局"),
    ):
        text = decision_notice(compiled, decision, lang)
        assert "400-810-8866" not in text
        assert complaint in text and regulator in text and "12378" in text


def test_no_reporting_warning_on_a_decision_that_is_not_adverse() -> None:
    compiled = shipped()
    text = decision_notice(compiled, decide(compiled, GOOD, AS_OF), "en")
    assert "at the earliest" not in text and "Make a complaint" in text


@pytest.mark.parametrize("lang", LANGS)
def test_the_notice_of_a_low_score_gives_the_providers_factors(lang: str) -> None:
    compiled = shipped()
    decision = decide(compiled, LOW_SCORE, AS_OF)
    assert any(reason.rule == "very-low-score" for reason in decision.reasons)
    texts = dict(compiled.policy.fact("credit_score").key_factors.texts)  # type: ignore[union-attr]
    notice = decision_notice(compiled, decision, lang)
    for code in ("K01", "K03", "K05", "K02"):  # the first four, in the provider's order
        assert f"{texts[code].get(lang)} ({code})" in notice
    assert "(K04)" not in notice
    # A record alone does not hold the codes (no rule compares them); the inputs an audit log
    # stores bring them back, and nothing else of the notice changes.
    record = decision.to_dict()
    assert "(K01)" not in decision_notice(compiled, record, lang)
    assert decision_notice(compiled, record, lang, inputs=decision.inputs()) == notice


def test_a_notice_from_the_audit_log_gives_the_factors(tmp_path: Path) -> None:
    account = tmp_path / "low-score.json"
    account.write_text(json.dumps({"account_id": "K1", "facts": LOW_SCORE, "as_of": "2027-03-01"}))
    log = tmp_path / "audit.db"
    decided = run_cli("decide", "--policy", str(SHIPPED_V2), str(account), "--audit", str(log))
    assert decided.returncode == 0, decided.stderr
    decision_id = json.loads(decided.stdout)["decision_id"]
    notice = run_cli("notice", "--audit", str(log), "--id", decision_id, "--lang", "en")
    assert notice.returncode == 0, notice.stderr
    assert "(K01)" in notice.stdout and "(K02)" in notice.stdout


def test_a_code_the_policy_does_not_declare_is_left_out() -> None:
    compiled = shipped()
    decision = decide(compiled, {**LOW_SCORE, "credit_score_factors": "87,K02"}, AS_OF)
    notice = decision_notice(compiled, decision, "en")
    assert "(K02)" in notice and "87" not in notice.split("## Why")[1].split("## What")[0]
