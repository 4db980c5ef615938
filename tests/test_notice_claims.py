"""Every promise a notice makes is backed by the engine and the case lifecycle (issue 18, item 1).

Each case of the issue is a test: advice into a harsher rule, a cure the lifecycle refuses, a
pause on a reminder, a review that is never opened, and "fixing this alone lifts it" checked by
deciding again. The property test draws accounts of the shipped policy and replays every claim
through the real case lifecycle.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.disclosures.claims import claims_for
from clearline.disclosures.locale import Locale
from clearline.disclosures.notice import check_record, decision_notice, notice_context
from clearline.disclosures.texts import advice_text
from clearline.disclosures.verify import notice_problems
from clearline.engine.cases.lifecycle import (
    CaseError,
    CaseEvent,
    CaseState,
    EventKind,
    apply_event,
    open_case,
)
from clearline.engine.conditions import escape_routes, leads_to_stronger
from clearline.engine.decisions.decide import Decision, decide
from clearline.engine.model import ADVERSE_ACTIONS
from clearline.engine.synthetic.accounts import sample_accounts

from .disclosure_fixtures import GOOD, LANGS, shipped

AT = dt.datetime(2027, 3, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _decide(**changes: Any) -> Decision:
    facts = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    return decide(shipped(), facts, AT)


def _flat(markdown: str) -> str:
    return " ".join(markdown.replace("\\", "").split())


@pytest.mark.parametrize("rule_id", ["serious-delinquency", "outflow-watch", "approaching-spree"])
@pytest.mark.parametrize("lang", LANGS)
def test_generated_advice_never_points_into_a_harsher_rule(rule_id: str, lang: str) -> None:
    policy = shipped().policy
    rule = policy.rule(rule_id)
    assert rule is not None and not rule.advice
    routes = escape_routes(policy, rule)
    assert routes, "each of these rules has a way out that is not harsher"
    assert all(not leads_to_stronger(policy, rule, route) for route in routes)
    text = advice_text(rule, Locale(policy, lang))
    harsher = {
        "serious-delinquency": ("more than 90", "超过90"),
        "outflow-watch": ("3 times", "3倍"),
        "approaching-spree": ("more than 1", "超过1"),
    }[rule_id]
    assert not any(words in text for words in harsher), text


def test_a_way_out_into_a_closure_is_found_by_the_rules_not_by_wording() -> None:
    policy = shipped().policy
    suspend = policy.rule("serious-delinquency")
    assert suspend is not None
    from clearline.engine.model import Comparison, Operator

    over = [Comparison("days_past_due", Operator.GT, 90)]
    under = [Comparison("days_past_due", Operator.LT, 31)]
    assert "severe-delinquency" in [r.id for r in leads_to_stronger(policy, suspend, over)]
    assert leads_to_stronger(policy, suspend, under) == []


def test_fraud_and_late_closure_promises_no_cure() -> None:
    decision = _decide(confirmed_fraud=True, days_past_due=95)
    assert decision.action.value == "close"
    # The lifecycle refuses the cure: grace rule `immediate` has none.
    case = open_case(shipped(), decision)
    with pytest.raises(CaseError):
        apply_event(shipped(), case, CaseEvent(EventKind.CURED, AT, {"days_past_due": 0}))
    for lang in LANGS:
        markdown = decision_notice(shipped(), decision, lang)
        flat = _flat(markdown)
        rule = shipped().policy.rule("severe-delinquency")
        assert rule is not None
        assert rule.advice.get(lang) not in flat
        assert notice_problems(shipped(), decision, markdown, lang) == []
    en = _flat(decision_notice(shipped(), decision, "en"))
    assert "we cancel the change" not in en
    assert "Even if you fix this alone, the rules with codes F01, D03 apply." in en
    # A writer's template that promised the cure anyway fails the check.
    lying = (
        decision_notice(shipped(), decision, "en")
        + "\n- Pay what is late and we will cancel the closure.\n"
    )
    assert any("advice" in p for p in notice_problems(shipped(), decision, lying, "en"))
    lying = (
        decision_notice(shipped(), decision, "en")
        + "\n- If you fix the cause by April 1, 2027, we cancel the change.\n"
    )
    assert any("a cure" in p for p in notice_problems(shipped(), decision, lying, "en"))


def test_a_suspension_downgraded_to_a_reminder_promises_no_pause() -> None:
    decision = _decide(high_apr_applications_7d=2, days_since_first_loan=20)
    assert decision.action.value == "notify"
    with pytest.raises(CaseError):
        open_case(shipped(), decision)  # nothing is paused, so nothing can be lifted
    for lang in LANGS:
        markdown = decision_notice(shipped(), decision, lang)
        flat = _flat(markdown)
        rule = shipped().policy.rule("credit-seeking-spree")
        assert rule is not None and rule.advice.get(lang) not in flat
        locale = Locale(shipped().policy, lang)
        assert locale.phrase("claims", "pause") not in flat
        assert notice_problems(shipped(), decision, markdown, lang) == []
    lying = decision_notice(shipped(), decision, "en") + "\n- While we review, the change waits.\n"
    assert any("pause" in p for p in notice_problems(shipped(), decision, lying, "en"))


def test_a_closure_without_a_score_does_not_say_a_person_looks() -> None:
    decision = _decide(credit_score=None, days_past_due=95)
    assert decision.action.value == "close"
    for lang in LANGS:
        review_text = shipped().policy.outcome.missing_facts.review_reason.get(lang)
        markdown = decision_notice(shipped(), decision, lang)
        assert review_text and review_text not in _flat(markdown)
        assert notice_problems(shipped(), decision, markdown, lang) == []
        lying = markdown + f"\n{review_text}\n"
        assert any(
            "person will look" in p for p in notice_problems(shipped(), decision, lying, lang)
        )
    # Sent to review for the missing score alone, the same text is true and shown.
    alone = _decide(credit_score=None)
    assert alone.action.value == "review"
    text = shipped().policy.outcome.missing_facts.review_reason.get("en")
    assert text and text in _flat(decision_notice(shipped(), alone, "en"))


def test_fixing_one_reason_says_whether_it_lifts_the_decision() -> None:
    # 95 days late: fixing it to 90 trades the closure for a suspension (D03), and says so.
    decision = _decide(days_past_due=95)
    en = _flat(decision_notice(shipped(), decision, "en"))
    assert "Even if you fix this alone, the rule with code D03 applies." in en
    # ... while the policy's own advice (pay what is late) is kept: paying lifts it.
    assert "Pay what is late and we will cancel the closure." in en
    low = _decide(credit_score=450)
    assert "Fixing this alone lifts the decision." in _flat(decision_notice(shipped(), low, "en"))


def _replay_claims(record: dict[str, Any]) -> None:
    """Every claim the notice context makes, replayed through the lifecycle or decided again."""
    compiled = shipped()
    values = check_record(compiled, record)
    claims = claims_for(compiled, record, values)
    context = notice_context(compiled, record, "en")
    said = context["claims"]
    decision = decide(compiled, {**record["_facts"]}, AT)
    if said["cure"] or said["review"] or said["pause"]:
        assert decision.action in ADVERSE_ACTIONS
        case = open_case(compiled, decision)
        case = apply_event(compiled, case, CaseEvent(EventKind.NOTICE_SENT, AT))
        if said["review"]:
            appealed = apply_event(compiled, case, CaseEvent(EventKind.APPEAL_FILED, AT))
            assert appealed.state is CaseState.UNDER_REVIEW
            assert appealed.paused == bool(said["pause"])
        if said["cure"]:
            top = claims.reasons[decision.reasons[0].rule]
            cured = apply_event(compiled, case, CaseEvent(EventKind.CURED, AT, top.change))
            assert cured.state is CaseState.RESCINDED
    for reason in context["principal"] + context["other"]:
        check = claims.reasons.get(reason["rule"])
        if reason["lift"] is None or check is None:
            continue
        after = decide(compiled, {**record["_facts"], **check.change}, AT)
        still_adverse = [r for r in after.reasons if r.action in ADVERSE_ACTIONS]
        if check.lifts:
            if decision.action in ADVERSE_ACTIONS:
                assert not still_adverse
        else:
            assert {r.code for r in after.reasons} >= set(check.still)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_every_claim_of_random_notices_is_backed(seed: int) -> None:
    policy = shipped().policy
    for account in sample_accounts(policy, 4, seed):
        decision = decide(shipped(), account["facts"], AT)
        record = {**decision.to_dict(), "_facts": decision.inputs()}
        _replay_claims(record)


def test_notice_check_passes_on_the_cli_for_a_fraud_closure(tmp_path: Any) -> None:
    import json

    from .conftest import SHIPPED_V2, run_cli

    decision = _decide(confirmed_fraud=True, days_past_due=95)
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(decision.to_dict()), encoding="utf-8")
    for lang in LANGS:
        done = run_cli("notice", "--policy", str(SHIPPED_V2), "--lang", lang, "--check", str(path))
        assert done.returncode == 0, done.stderr
