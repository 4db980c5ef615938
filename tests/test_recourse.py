"""Recourse a customer can act on (issue 18 item 2): actionable facts, the smallest set of
changes that lifts the whole decision (decided again, accepted by the case lifecycle as a cure),
a plain "no change you can make" when none exists, and dated warnings of what comes next."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.disclosures.notice import decision_notice
from clearline.disclosures.recourse import next_steps, recourse_for
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import decide
from clearline.engine.model import ADVERSE_ACTIONS, Actionable, ActionKind
from clearline.engine.policy.load import analyse_policy_text
from clearline.engine.synthetic.accounts import sample_accounts

from .conftest import compiled_text, small_policy

AS_OF = "2027-03-01T10:00:00+08:00"
GOOD: dict[str, Any] = {
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
    "prior_adverse_actions_12m": 1,
    "high_apr_after_loan": False,
    "large_transfers_out_30d": 0,
}


def test_shipped_policies_declare_who_can_change_each_fact(
    shipped: CompiledPolicy, shipped_v1: CompiledPolicy
) -> None:
    for compiled in (shipped, shipped_v1):
        policy = compiled.policy
        undeclared = [f.name for f in policy.facts if f.actionable is None]
        assert undeclared == []
        for name in ("confirmed_fraud", "segment", "delinquencies_12m"):
            fact = policy.fact(name)
            assert fact is not None and fact.actionable is Actionable.NO
        late = policy.fact("days_past_due")
        assert late is not None and late.actionable is Actionable.DECREASE and late.grows_daily


def test_actionable_is_read_in_every_spelling() -> None:
    text = small_policy().replace(
        "    label: {en: days past due}",
        "    label: {en: days past due}\n    actionable: {direction: decrease}",
    )
    text = text.replace(
        "    label: {en: flagged}", "    label: {en: flagged}\n    actionable: false"
    )
    text = text.replace("    label: {en: tier}", "    label: {en: tier}\n    actionable: true")
    policy = compiled_text(text).policy
    kinds = {f.name: f.actionable for f in policy.facts}
    assert kinds["dpd"] is Actionable.DECREASE
    assert kinds["flagged"] is Actionable.NO
    assert kinds["tier"] is Actionable.EITHER
    assert kinds["score"] is None  # not declared: either way


def test_a_direction_the_schema_does_not_know_is_a_located_error() -> None:
    text = small_policy().replace(
        "    label: {en: days past due}",
        "    label: {en: days past due}\n    actionable: {direction: sideways}",
    )
    result = analyse_policy_text(text, "bad.yaml")
    assert result.policy is None
    assert any("actionable" in d.render() or "sideways" in d.render() for d in result.diagnostics)


def _decide(compiled: CompiledPolicy, **changes: Any) -> Any:
    return decide(compiled, {**GOOD, **changes}, AS_OF)


def test_suspension_at_89_days_late_names_the_closure_date(shipped: CompiledPolicy) -> None:
    decision = _decide(shipped, days_past_due=89)
    assert decision.action is ActionKind.SUSPEND
    steps = next_steps(shipped, decision)
    assert steps and steps[0].code == "D01" and steps[0].action is ActionKind.CLOSE
    assert steps[0].on == dt.date(2027, 3, 3)  # 91 days late two days later
    # The date is true: deciding again two days later, 91 days late, closes the line.
    later = decide(shipped, {**GOOD, "days_past_due": 91}, "2027-03-03T10:00:00+08:00")
    assert later.action is ActionKind.CLOSE
    english = decision_notice(shipped, decision, "en")
    assert "If nothing changes, on March 3, 2027 we will close your credit line (code D01)." in (
        english
    )
    assert "2027年3月3日" in decision_notice(shipped, decision, "zh-CN")


def test_reminder_names_the_next_step(shipped: CompiledPolicy) -> None:
    decision = _decide(shipped, high_apr_applications_7d=1, days_since_first_loan=30)
    assert [r.code for r in decision.reasons] == ["N03"]
    steps = next_steps(shipped, decision)
    assert [(s.code, s.action) for s in steps] == [("B01", ActionKind.SUSPEND)]
    change = steps[0].change
    assert change is not None and change.fact == "high_apr_applications_7d"
    worse = _decide(shipped, high_apr_applications_7d=2, days_since_first_loan=30)
    assert worse.action is ActionKind.SUSPEND
    english = decision_notice(shipped, decision, "en")
    assert "2 or more, we will pause new borrowing on your credit line (code B01)" in english


def test_fraud_has_no_recourse_and_says_what_the_review_is_for(shipped: CompiledPolicy) -> None:
    decision = _decide(shipped, confirmed_fraud=True, days_past_due=95)
    found = recourse_for(shipped, decision)
    assert found is not None and not found.changes and found.blocked == ("F01",)
    english = decision_notice(shipped, decision, "en")
    assert "No change you can make would remove the reason with code F01" in english
    assert "That is what the review is for." in english
    assert "we cancel this decision" not in english


def test_several_reasons_need_several_changes(shipped: CompiledPolicy) -> None:
    decision = _decide(shipped, credit_score=480, days_past_due=40, delinquencies_12m=3)
    found = recourse_for(shipped, decision)
    assert found is not None
    assert {c.fact for c in found.changes} == {"days_past_due", "credit_score"}
    lifted = decide(
        shipped, {**GOOD, "credit_score": 480, "delinquencies_12m": 3, **found.values}, AS_OF
    )
    assert lifted.action not in ADVERSE_ACTIONS
    english = decision_notice(shipped, decision, "en")
    assert "we cancel this decision. We checked this by deciding again." in english


def test_a_threshold_neighbour_reads_as_the_threshold(shipped: CompiledPolicy) -> None:
    decision = _decide(shipped, utilisation=0.95, days_past_due=10)
    found = recourse_for(shipped, decision)
    assert found is not None and found.changes
    assert "below 90%" in decision_notice(shipped, decision, "en")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000))
def test_recourse_changes_only_what_the_customer_can_and_lifts_the_decision(
    shipped: CompiledPolicy, seed: int
) -> None:
    policy = shipped.policy
    for account in sample_accounts(policy, 4, seed=seed):
        facts = account["facts"]
        decision = decide(shipped, facts, AS_OF)
        found = recourse_for(shipped, decision)
        if decision.action not in ADVERSE_ACTIONS:
            assert found is None
            continue
        assert found is not None
        if not found.changes:
            continue
        for name, value in found.values.items():
            fact = policy.fact(name)
            assert fact is not None and fact.can_move(decision.facts.get(name), value)
        after = decide(shipped, {**facts, **found.values}, AS_OF)
        assert after.action not in ADVERSE_ACTIONS
        assert found.by is not None and decision.timeline is not None
        assert found.by == decision.timeline.cure_until


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_notice_without_adverse_action_offers_no_recourse(
    shipped: CompiledPolicy, lang: str
) -> None:
    decision = _decide(shipped)
    text = decision_notice(shipped, decision, lang)
    assert "We checked this by deciding again" not in text
    assert "重新判断核实" not in text
