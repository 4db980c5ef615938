"""Signals described in plain words: events watched, their conditions, thresholds and windows."""

from __future__ import annotations

import pytest

from clearline.disclosures import decision_notice, disclosure_problems, measure, policy_disclosure
from clearline.disclosures.locale import Locale
from clearline.disclosures.signals import signal_text
from clearline.engine import compile_policy, decide
from clearline.engine.policy.load import analyse_policy_text

from .disclosure_fixtures import AS_OF, SUSPENDED, shipped

SHIPPED_HOW = {
    "en": {
        "high_apr_applications_7d": "We count how many times in the last 7 days there was an "
        "application for credit elsewhere where the yearly interest rate is more than 24%.",
        "high_apr_after_loan": "This is on record if there was a loan paid out, then an "
        "application for credit elsewhere where the yearly interest rate is more than 24%, "
        "all within 7 days. It counts for 30 days.",
        "large_transfers_out_30d": "In the last 30 days, we add up the amount of each transfer "
        "out where the amount is 10,000 or more.",
    },
    "zh-CN": {
        "high_apr_applications_7d": "我们统计近7天内向其他机构申请贷款（年化利率超过24%）的次数。",
        "high_apr_after_loan": "7天内先出现放款，然后向其他机构申请贷款（年化利率超过24%）时，"
        "记录显示此项；此记录保留30天。",
        "large_transfers_out_30d": "我们把近30天内每笔转出（金额达到10,000或以上）的金额相加。",
    },
}


def _flat(markdown: str) -> str:
    return " ".join(markdown.replace("\\", "").split())


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_shipped_disclosure_says_how_each_signal_is_worked_out(lang: str) -> None:
    compiled = shipped()
    text = _flat(policy_disclosure(compiled, lang))
    locale = Locale(compiled.policy, lang)
    assert {s.name for s in compiled.policy.signals} == set(SHIPPED_HOW[lang])
    for signal in compiled.policy.signals:
        assert SHIPPED_HOW[lang][signal.name] in text
        assert f"{locale.label(signal.fact)}" in text
    for event in compiled.policy.events:  # every watched event, with its description
        assert f"{event.label.get(lang)}" in text
        assert f"{event.description.get(lang)}" in text
    assert disclosure_problems(compiled, policy_disclosure(compiled, lang), lang) == []


def test_the_disclosure_check_misses_a_signal_left_out() -> None:
    compiled = shipped()
    markdown = policy_disclosure(compiled, "en")
    how = SHIPPED_HOW["en"]["large_transfers_out_30d"]
    cut = markdown.replace(how, "We add it up.")
    assert cut != markdown
    assert (
        "signal `large_transfers_out_30d`: how it is worked out is not in the en disclosure"
        in disclosure_problems(compiled, cut, "en")
    )


def test_a_changed_window_in_the_text_is_a_stray_number() -> None:
    compiled = shipped()
    markdown = policy_disclosure(compiled, "en").replace(
        "in the last 7 days there was", "in the last 97 days there was"
    )
    assert "the en disclosure shows 97, which is not in the policy" in disclosure_problems(
        compiled, markdown, "en"
    )


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_notice_explains_the_signal_its_fired_rule_reads(lang: str) -> None:
    compiled = shipped()
    decision = decide(compiled, SUSPENDED, AS_OF, account_id="A-1002")
    assert decision.reasons[0].rule == "credit-seeking-spree"
    text = _flat(decision_notice(compiled, decision, lang))
    assert SHIPPED_HOW[lang]["high_apr_applications_7d"] in text
    assert SHIPPED_HOW[lang]["high_apr_after_loan"] not in text  # its rule did not fire


KINDS = """\
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: signal-kinds
  version: 1.0.0
  title: {en: Signal kinds, zh-CN: 信号种类}
  effective_from: 2027-01-01
  languages: [en, zh-CN]
facts:
  score: {type: integer, label: {en: score, zh-CN: 评分}}
events:
  payment:
    label: {en: payment, zh-CN: 还款}
    fields:
      amount: {type: number, minimum: 0, unit: currency, label: {en: amount, zh-CN: 金额}}
      channel:
        type: enum
        values: [app, bank]
        value_labels: {app: {en: the app, zh-CN: 手机应用}, bank: {en: a bank, zh-CN: 银行}}
        label: {en: channel, zh-CN: 渠道}
  login:
    label: {en: new-device login, zh-CN: 新设备登录}
signals:
  app_payment:
    label: {en: paid in the app, zh-CN: 在应用内还款}
    match: {event: payment, when: {field: channel, eq: app}}
    window: 12h
  login_then_payment:
    label: {en: login then payment, zh-CN: 登录后还款}
    sequence:
      - {event: login}
      - {event: payment, when: {field: amount, gt: 500}}
    within: 30m
    window: 2d
  payments_1d:
    label: {en: payments today, zh-CN: 当天还款次数}
    count: {event: payment}
    window: 1d
  paid_14d:
    label: {en: paid in 14 days, zh-CN: 14天还款总额}
    sum: {event: payment, field: amount, when: {field: amount, between: [10, 900]}}
    window: 14d
rules:
  - {id: m, action: notify, when: {fact: app_payment, eq: true}, reason: {code: N1}}
  - {id: s, action: notify, when: {fact: login_then_payment, eq: true}, reason: {code: N2}}
  - {id: c, action: notify, when: {fact: payments_1d, ge: 3}, reason: {code: N3}}
  - {id: t, action: notify, when: {fact: paid_14d, lt: 100}, reason: {code: N4}}
  - {id: low, action: notify, when: {fact: score, lt: 5}, reason: {code: N5}}
"""

KIND_SENTENCES = {
    "en": {
        "app_payment": "This is on record if in the last 12 hours there was a payment where the "
        "channel is the app.",
        "login_then_payment": "This is on record if there was a new-device login, then a payment "
        "where the amount is more than 500, all within 30 minutes. It counts for 2 days.",
        "payments_1d": "We count how many times in the last 1 day there was a payment.",
        "paid_14d": "In the last 14 days, we add up the amount of each payment where the amount "
        "is from 10 to 900.",
    },
    "zh-CN": {
        "app_payment": "近12小时内出现过还款（渠道为手机应用）时，记录显示此项。",
        "login_then_payment": "30分钟内先出现新设备登录，然后还款（金额超过500）时，"
        "记录显示此项；此记录保留2天。",
        "payments_1d": "我们统计近1天内还款的次数。",
        "paid_14d": "我们把近14天内每笔还款（金额在10到900之间）的金额相加。",
    },
}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_each_signal_kind_reads_as_a_sentence(lang: str) -> None:
    result = analyse_policy_text(KINDS, "kinds.yaml")
    assert result.policy is not None, [d.render() for d in result.diagnostics]
    compiled = compile_policy(result.policy)
    locale = Locale(compiled.policy, lang)
    written = {s.name: signal_text(s, locale) for s in compiled.policy.signals}
    assert written == KIND_SENTENCES[lang]
    markdown = policy_disclosure(compiled, lang)
    assert disclosure_problems(compiled, markdown, lang) == []
    for how in written.values():
        assert how in _flat(markdown)
    figures = measure(markdown, lang)
    if lang == "en":
        assert figures.grade <= 8
    else:
        assert figures.chars_per_sentence <= 30 and figures.longest <= 60
