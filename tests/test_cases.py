"""Grace-period cases, walked end to end on the shipped policy with fixed dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine import compile_policy, decide, load_policy, load_policy_text
from clearline.engine.cases.lifecycle import (
    FINAL_STATES,
    Case,
    CaseError,
    CaseEvent,
    CaseState,
    apply_event,
    case_event,
    next_deadline,
    open_case,
    replay,
)
from clearline.engine.decisions.compile import CompiledPolicy

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
COMPILED = compile_policy(load_policy(POLICY))
TZ = COMPILED.policy.metadata.timezone
D = dt.date.fromisoformat

# The shipped policy's own first example: a customer in good standing, limited once before (so
# a spree suspends instead of only warning).
GOOD: dict[str, Any] = {**dict(COMPILED.policy.tests[0].facts), "prior_adverse_actions_12m": 1}
# The seed story: a first loan, then two high-interest applications in a week elsewhere.
SPREE = {**GOOD, "high_apr_applications_7d": 2, "days_since_first_loan": 45}
SEVERE = {**GOOD, "days_past_due": 91}
FRAUD = {**GOOD, "confirmed_fraud": True}


def opened(
    facts: dict[str, Any], on: str = "2027-03-01", compiled: CompiledPolicy = COMPILED
) -> Case:
    return open_case(compiled, decide(compiled, facts, on, account_id="acct-1"))


def step(case: Case, kind: str, at: str, compiled: CompiledPolicy = COMPILED, **extra: Any) -> Case:
    return apply_event(
        compiled, case, case_event(kind, at, tz=compiled.policy.metadata.timezone, **extra)
    )


def noticed(facts: dict[str, Any], on: str = "2027-03-01") -> Case:
    return step(opened(facts, on), "notice_sent", on)


def causes(case: Case) -> list[tuple[str, str, str]]:
    return [(t.on.isoformat(), t.to_state.value, t.cause) for t in case.transitions]


def test_the_base_account_is_in_good_standing() -> None:
    assert decide(COMPILED, GOOD, "2027-03-01").action.value == "none"


# -- the seed story, end to end ------------------------------------------------------------------


def test_spree_suspension_gives_fifteen_days_notice_and_is_cured_in_time() -> None:
    case = opened(SPREE)
    assert (case.action.value, case.rule, case.grace) == (
        "suspend",
        "credit-seeking-spree",
        "behaviour",
    )
    assert case.state is CaseState.PENDING_NOTICE and not case.in_force
    case = step(case, "notice_sent", "2027-03-01")
    assert case.state is CaseState.IN_GRACE
    assert (case.effective, case.cure_until, case.appeal_until) == (
        D("2027-03-16"),
        D("2027-03-16"),
        D("2027-03-31"),
    )
    case = step(case, "reevaluated", "2027-03-10", facts={"high_apr_applications_7d": 0})
    assert case.state is CaseState.RESCINDED and not case.in_force
    assert case.transitions[-1].ref == "rule credit-seeking-spree no longer fires"
    with pytest.raises(CaseError, match="rescinded since 2027-03-10"):
        step(case, "deadline_passed", "2027-04-01")


def test_a_reevaluation_that_does_not_cure_changes_nothing_but_the_facts() -> None:
    case = noticed(SPREE)
    after = step(case, "reevaluated", "2027-03-05", facts={"high_apr_applications_7d": 3})
    assert after.state is CaseState.IN_GRACE and after.transitions == case.transitions
    assert after.facts["high_apr_applications_7d"] == 3
    with pytest.raises(CaseError, match="rule credit-seeking-spree still fires"):
        step(case, "cured", "2027-03-05", facts={"high_apr_applications_7d": 3})


def test_uncured_suspension_takes_effect_on_the_exact_day() -> None:
    case = noticed(SPREE)
    with pytest.raises(CaseError, match="the next is effective on 2027-03-16"):
        step(case, "deadline_passed", "2027-03-15T23:59:59+08:00")
    assert next_deadline(COMPILED, case) == (D("2027-03-16"), "effective")
    case = step(case, "deadline_passed", "2027-03-16")
    assert case.state is CaseState.EFFECTIVE and case.in_force
    assert causes(case)[-1] == ("2027-03-16", "effective", "deadline")
    assert case.transitions[-1].ref == "effective 2027-03-16"


def test_a_late_batch_records_the_deadline_on_its_own_day() -> None:
    case = step(noticed(SPREE), "deadline_passed", "2027-03-20")
    assert causes(case)[-1] == ("2027-03-16", "effective", "deadline")


def test_cure_on_the_deadline_day_counts_and_one_day_late_does_not() -> None:
    on_the_day = step(noticed(SPREE), "cured", "2027-03-16", facts={"high_apr_applications_7d": 1})
    assert on_the_day.state is CaseState.RESCINDED
    late = noticed(SPREE)
    with pytest.raises(CaseError, match="cure window closed on 2027-03-16"):
        step(late, "cured", "2027-03-17", facts={"high_apr_applications_7d": 1})
    late = step(late, "reevaluated", "2027-03-17", facts={"high_apr_applications_7d": 1})
    assert late.state is CaseState.EFFECTIVE and late.in_force


def test_appeal_on_the_last_day_pauses_a_closure_and_is_overturned() -> None:
    case = noticed(SEVERE)
    assert (case.grace, case.effective, case.appeal_until) == (
        "closure",
        D("2027-04-30"),
        D("2027-04-30"),
    )
    case = step(case, "appeal_filed", "2027-04-30")
    assert case.state is CaseState.UNDER_REVIEW and not case.in_force  # paused on its first day
    assert case.review_until == D("2027-05-15")
    assert next_deadline(COMPILED, case) == (D("2027-05-16"), "review_until")
    case = step(case, "review_decided", "2027-05-06", outcome="overturned", note="paid in full")
    assert case.state is CaseState.OVERTURNED and not case.in_force
    assert causes(case)[-1] == ("2027-05-06", "overturned", "review")
    assert next_deadline(COMPILED, case) is None


def test_appeal_one_day_late_is_rejected() -> None:
    with pytest.raises(CaseError, match="appeal window closed on 2027-04-30"):
        step(noticed(SEVERE), "appeal_filed", "2027-05-01")


def test_upheld_review_puts_the_paused_action_in_force_from_the_decision_day() -> None:
    case = step(noticed(SEVERE), "appeal_filed", "2027-04-20")
    case = step(case, "review_decided", "2027-05-03", outcome="upheld")
    assert case.state is CaseState.EFFECTIVE and case.in_force
    assert causes(case)[-1] == ("2027-05-03", "effective", "review")


def test_upheld_before_the_effective_date_returns_to_grace() -> None:
    case = step(noticed(SEVERE), "appeal_filed", "2027-03-02")
    case = step(case, "review_decided", "2027-03-05", outcome="upheld")
    assert case.state is CaseState.IN_GRACE and not case.in_force
    assert step(case, "deadline_passed", "2027-04-30").state is CaseState.EFFECTIVE


def test_unanswered_review_times_out_for_the_customer() -> None:
    case = step(noticed(SPREE), "appeal_filed", "2027-03-05")
    assert case.review_until == D("2027-03-15")
    with pytest.raises(CaseError, match="the next is review_until on 2027-03-16"):
        step(case, "deadline_passed", "2027-03-15")  # the reviewer has all of the last day
    timed_out = step(case, "deadline_passed", "2027-03-16")
    assert timed_out.state is CaseState.OVERTURNED and not timed_out.in_force
    assert timed_out.transitions[-1].ref == "review until 2027-03-15 unanswered; overturn"
    with pytest.raises(CaseError, match="overturned since 2027-03-16"):
        step(case, "review_decided", "2027-03-16", outcome="upheld")
    answered = step(case, "review_decided", "2027-03-15", outcome="upheld")
    assert answered.state is CaseState.IN_GRACE


def test_hardship_extends_the_notice_of_a_closure() -> None:
    case = noticed({**SEVERE, "days_past_due": 120, "declared_hardship": True})
    assert (case.effective, case.cure_until) == (D("2027-05-30"), D("2027-05-30"))
    with pytest.raises(CaseError, match="the next is effective on 2027-05-30"):
        step(case, "deadline_passed", "2027-04-30")
    assert step(case, "deadline_passed", "2027-05-30").state is CaseState.EFFECTIVE


def test_hardship_declared_after_the_notice_extends_it() -> None:
    case = step(noticed(SPREE), "reevaluated", "2027-03-10", facts={"declared_hardship": True})
    assert case.state is CaseState.IN_GRACE
    assert (case.effective, case.cure_until) == (D("2027-04-15"), D("2027-04-15"))
    assert causes(case)[-1] == ("2027-03-10", "in_grace", "exemption")
    assert case.transitions[-1].ref == "hardship: effective 2027-04-15"
    with pytest.raises(CaseError, match="the next is effective on 2027-04-15"):
        step(case, "deadline_passed", "2027-03-16")
    # Withdrawing the declaration does not shorten the notice already given.
    kept = step(case, "reevaluated", "2027-03-12", facts={"declared_hardship": False})
    assert kept.effective == D("2027-04-15")
    # Declared once the action is in force, it changes nothing.
    late = step(noticed(SPREE), "reevaluated", "2027-03-16", facts={"declared_hardship": True})
    assert late.state is CaseState.EFFECTIVE and late.effective == D("2027-03-16")


def test_confirmed_fraud_takes_effect_at_once_and_a_review_does_not_pause_it() -> None:
    case = opened(FRAUD)
    assert case.state is CaseState.EFFECTIVE and case.in_force
    assert causes(case) == [("2027-03-01", "effective", "rule")]
    assert case.transitions[0].ref == "confirmed-fraud; grace immediate: at once"
    case = step(case, "notice_sent", "2027-03-01")
    case = step(case, "appeal_filed", "2027-03-10")
    assert case.state is CaseState.UNDER_REVIEW and case.in_force
    # The immediate grace rule upholds an unanswered review.
    timed_out = step(case, "deadline_passed", "2027-03-26")
    assert timed_out.state is CaseState.EFFECTIVE and timed_out.in_force
    with pytest.raises(CaseError, match="has no cure"):
        step(case, "cured", "2027-03-11", facts={"confirmed_fraud": False})


def test_no_notice_means_no_effect() -> None:
    case = opened(SPREE)
    with pytest.raises(CaseError, match="none is pending"):
        step(case, "deadline_passed", "2028-01-01")
    with pytest.raises(CaseError, match="notice has not been sent"):
        step(case, "appeal_filed", "2027-03-02")


def test_a_late_notice_moves_every_window() -> None:
    case = step(opened(SPREE), "notice_sent", "2027-03-04")
    assert (case.effective, case.cure_until, case.appeal_until) == (
        D("2027-03-19"),
        D("2027-03-19"),
        D("2027-04-03"),
    )


def test_rejected_events_change_nothing() -> None:
    case = noticed(SPREE)
    before = case.to_dict()
    for kind, at, extra in [
        ("notice_sent", "2027-03-02", {}),
        ("review_decided", "2027-03-02", {"outcome": "upheld"}),
        ("reevaluated", "2027-03-02", {"facts": {"credit_score": 10}}),
        ("reevaluated", "2027-03-02", {"facts": {"no_such_fact": 1}}),
        ("appeal_filed", "2027-02-27", {}),
    ]:
        with pytest.raises(CaseError):
            step(case, kind, at, **extra)
    assert case.to_dict() == before


@pytest.mark.parametrize(
    ("kind", "extra", "message"),
    [
        ("opened", {}, "unknown event `opened`"),
        ("reevaluated", {}, "needs the facts that changed"),
        ("notice_sent", {"facts": {"a": 1}}, "takes no facts"),
        ("review_decided", {"outcome": "maybe"}, "upheld or overturned"),
        ("appeal_filed", {"outcome": "upheld"}, "takes no outcome"),
    ],
)
def test_malformed_events_are_refused(kind: str, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(CaseError, match=message):
        case_event(kind, "2027-03-01", tz=TZ, **extra)


def test_malformed_time_is_refused() -> None:
    with pytest.raises(CaseError, match="not an ISO date"):
        case_event("notice_sent", "first of March")


def test_only_adverse_decisions_open_cases() -> None:
    first_spree = {**SPREE, "prior_adverse_actions_12m": 0}  # the first one only warns
    decision = decide(COMPILED, first_spree, "2027-03-01")
    assert decision.action.value == "notify"
    with pytest.raises(CaseError, match="opens no case"):
        open_case(COMPILED, decision)


def test_replay_gives_the_same_case() -> None:
    events = [
        case_event("notice_sent", "2027-03-01", tz=TZ),
        case_event("reevaluated", "2027-03-03", facts={"high_apr_applications_7d": 4}, tz=TZ),
        case_event("appeal_filed", "2027-03-20", tz=TZ),
    ]
    decision = decide(COMPILED, SPREE, "2027-03-01", account_id="acct-1")
    assert (
        replay(COMPILED, decision, events).to_dict() == replay(COMPILED, decision, events).to_dict()
    )
    other = compile_policy(load_policy(ROOT / "policies" / "credit-line-closure" / "1.0.0.yaml"))
    with pytest.raises(CaseError, match="opened under policy sha256"):
        apply_event(other, open_case(COMPILED, decision), events[0])


CURE_POLICY = """
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: cure-demo
  version: 1.0.0
  title: {en: Cure demo}
  effective_from: 2027-01-01
  languages: [en]
facts:
  days_past_due: {type: integer, minimum: 0, label: {en: days past due}}
  overdue_amount: {type: number, minimum: 0, label: {en: overdue amount}}
rules:
  - id: late
    action: suspend
    when: {fact: days_past_due, gt: 30}
    reason: {code: D1, text: {en: You are more than 30 days late.}}
    grace: repay
grace:
  repay:
    notice_days: 10
    cure: {when: {fact: overdue_amount, eq: 0}, days: 5}
    appeal: {days: 10}
"""


def test_an_explicit_cure_condition_decides_the_cure() -> None:
    compiled = compile_policy(load_policy_text(CURE_POLICY))
    case = step(
        opened({"days_past_due": 40, "overdue_amount": 100.0}, compiled=compiled),
        "notice_sent",
        "2027-03-01",
        compiled,
    )
    assert (case.cure_until, case.effective) == (D("2027-03-06"), D("2027-03-11"))
    # Still 40 days late on paper, but the overdue amount is repaid: the policy's cure holds.
    cured = step(case, "reevaluated", "2027-03-06", compiled, facts={"overdue_amount": 0})
    assert cured.state is CaseState.RESCINDED
    assert cured.transitions[-1].ref == "cure condition of grace repay holds"
    # The rule no longer firing is not this policy's cure.
    kept = step(case, "reevaluated", "2027-03-06", compiled, facts={"days_past_due": 0})
    assert kept.state is CaseState.IN_GRACE
    with pytest.raises(CaseError, match="appeal window closed"):
        step(case, "appeal_filed", "2027-03-12", compiled)


# -- random event sequences --------------------------------------------------------------------

OPENINGS: list[dict[str, Any]] = [
    SPREE,
    SEVERE,
    FRAUD,
    {**SEVERE, "days_past_due": 120, "declared_hardship": True},
    {**SPREE, "credit_score": 480},  # suspended for the score, the spree ranks second
]
FACT_CHANGES: list[dict[str, Any]] = [
    {"high_apr_applications_7d": 0},
    {"high_apr_applications_7d": 5},
    {"days_past_due": 0},
    {"days_past_due": 95},
    {"credit_score": 650},
    {"confirmed_fraud": False},
    {"declared_hardship": True},
    {"declared_hardship": False},
    {"credit_score": 100},  # out of range: rejected
]
KINDS = ["notice_sent", "reevaluated", "cured", "appeal_filed", "review_decided", "deadline_passed"]
START = dt.date(2027, 3, 1)

steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(min_value=-1, max_value=25),  # days after the previous event
        st.sampled_from(FACT_CHANGES),
        st.sampled_from(["upheld", "overturned"]),
    ),
    max_size=12,
)


def _event(kind: str, day: dt.date, facts: dict[str, Any], outcome: str) -> CaseEvent:
    return case_event(
        kind,
        day.isoformat(),
        facts=facts if kind in ("reevaluated", "cured") else None,
        outcome=outcome if kind == "review_decided" else None,
        tz=TZ,
    )


def _check(case: Case, today: dt.date, notice_days: int) -> None:
    if case.in_force:
        assert case.state in (CaseState.EFFECTIVE, CaseState.UNDER_REVIEW)
        assert today >= case.effective
    if case.state is CaseState.EFFECTIVE:
        assert case.in_force
    for t in case.transitions:
        if t.to_state is CaseState.EFFECTIVE:
            assert t.on >= case.effective
            if case.notice_on is not None and notice_days:
                assert t.on >= case.notice_on + dt.timedelta(days=notice_days)
    final_seen = False
    for t in case.transitions:
        assert not final_seen, "a rescinded or overturned case moved again"
        final_seen = t.to_state in FINAL_STATES


@settings(max_examples=150, deadline=None)
@given(opening=st.sampled_from(OPENINGS), plan=steps)
def test_random_event_sequences_keep_the_invariants(
    opening: dict[str, Any], plan: list[tuple[str, int, dict[str, Any], str]]
) -> None:
    decision = decide(COMPILED, opening, START.isoformat(), account_id="prop")
    assert decision.timeline is not None
    notice_days = decision.timeline.notice_days
    case = open_case(COMPILED, decision)
    accepted: list[CaseEvent] = []
    day = START
    for kind, gap, facts, outcome in plan:
        day = day + dt.timedelta(days=gap)
        event = _event(kind, day, facts, outcome)
        snapshot = case.to_dict()
        was_final = case.state in FINAL_STATES
        try:
            after = apply_event(COMPILED, case, event)
        except CaseError:
            assert case.to_dict() == snapshot  # a rejected event changes nothing
            continue
        assert not was_final, "a final case accepted an event"
        accepted.append(event)
        case = after
        _check(case, day, notice_days)
    again = replay(COMPILED, decision, accepted)
    assert again.to_dict() == case.to_dict()
    assert again == case
