"""`decide`: operators, missing facts, precedence, exemptions, timeline, determinism."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import ActionKind, CompiledPolicy, FactError, decide
from clearline.engine.decisions.decide import AsOfError
from clearline.engine.decisions.grace import timeline_for
from clearline.engine.synthetic.accounts import sample_accounts

from .conftest import compiled_text, small_policy

AS_OF = dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)
BASE = {"dpd": 0, "score": 700, "ratio": 0.5, "tier": "silver", "flagged": False}


def one_rule(when: str, action: str = "notify", extra: str = "") -> CompiledPolicy:
    rules = f"- {{id: r, action: {action}, reason: {{code: R}}, when: {when}{extra}}}\n"
    return compiled_text(small_policy(rules=rules))


def fires(compiled: CompiledPolicy, **changes: Any) -> bool:
    facts = {**BASE, **changes}
    traced = decide(compiled, facts, AS_OF)
    fast = decide(compiled, facts, AS_OF, trace=False)
    assert traced.fired == fast.fired
    return bool(traced.fired)


@pytest.mark.parametrize(
    ("when", "yes", "no"),
    [
        ("{fact: dpd, eq: 5}", {"dpd": 5}, {"dpd": 6}),
        ("{fact: dpd, ne: 5}", {"dpd": 6}, {"dpd": 5}),
        ("{fact: dpd, lt: 5}", {"dpd": 4}, {"dpd": 5}),
        ("{fact: dpd, le: 5}", {"dpd": 5}, {"dpd": 6}),
        ("{fact: dpd, gt: 5}", {"dpd": 6}, {"dpd": 5}),
        ("{fact: dpd, ge: 5}", {"dpd": 5}, {"dpd": 4}),
        ("{fact: dpd, between: [3, 5]}", {"dpd": 3}, {"dpd": 6}),
        ("{fact: dpd, between: [3, 5]}", {"dpd": 5}, {"dpd": 2}),
        ("{fact: tier, in: [gold, bronze]}", {"tier": "gold"}, {"tier": "silver"}),
        ("{fact: tier, not_in: [gold, bronze]}", {"tier": "silver"}, {"tier": "gold"}),
        ("{fact: ratio, ge: 0.75}", {"ratio": 0.75}, {"ratio": 0.7499}),
        ("{fact: ratio, lt: 1}", {"ratio": 0.99}, {"ratio": 1}),
        ("{fact: flagged, eq: true}", {"flagged": True}, {"flagged": False}),
        ("{fact: dpd, gt: {fact: ratio}}", {"dpd": 1, "ratio": 0.5}, {"dpd": 0, "ratio": 0.5}),
        (
            "{all: [{fact: dpd, gt: 1}, {fact: score, lt: 600}]}",
            {"dpd": 2, "score": 599},
            {"dpd": 2, "score": 600},
        ),
        ("{any: [{fact: dpd, gt: 1}, {fact: score, lt: 600}]}", {"score": 599}, {"dpd": 1}),
        ("{not: {fact: tier, eq: gold}}", {"tier": "silver"}, {"tier": "gold"}),
    ],
)
def test_each_operator(when: str, yes: dict[str, Any], no: dict[str, Any]) -> None:
    compiled = one_rule(when)
    assert fires(compiled, **yes)
    assert not fires(compiled, **no)


def test_a_comparison_on_a_missing_fact_never_fires_even_under_not() -> None:
    compiled = one_rule("{not: {fact: dpd, gt: 5}}")
    facts = {k: v for k, v in BASE.items() if k != "dpd"}
    decision = decide(compiled, facts, AS_OF)
    assert decision.fired == ()
    assert decision.missing_facts == ("dpd",)
    assert decision.action is ActionKind.NONE
    trace = decision.to_dict()["trace"]
    assert trace[0]["matched"] is None
    assert trace[0]["checks"][0] == {
        "fact": "dpd",
        "op": "gt",
        "value": None,
        "missing": ["dpd"],
        "threshold": 5,
        "result": None,
    }


def test_any_with_a_missing_branch_still_fires_on_the_known_branch() -> None:
    compiled = one_rule("{any: [{fact: dpd, gt: 5}, {fact: score, lt: 600}]}")
    facts = {"score": 550, "ratio": 0.1, "tier": "gold", "flagged": False}
    assert decide(compiled, facts, AS_OF).fired == (0,)


def test_null_means_missing() -> None:
    compiled = one_rule("{fact: dpd, gt: 5}")
    decision = decide(compiled, {**BASE, "dpd": None}, AS_OF)
    assert decision.missing_facts == ("dpd",)


def test_missing_fact_in_review_mode_sends_to_review() -> None:
    text = small_policy(
        rules="- {id: r, action: notify, reason: {code: R}, when: {fact: dpd, gt: 5}}\n"
    )
    text = text.replace(
        "  dpd:\n    type: integer\n    minimum: 0\n",
        "  dpd:\n    type: integer\n    minimum: 0\n    on_missing: review\n",
    )
    compiled = compiled_text(text)
    decision = decide(compiled, {k: v for k, v in BASE.items() if k != "dpd"}, AS_OF)
    assert decision.action is ActionKind.REVIEW
    record = decision.to_dict()
    assert record["reasons"][0]["rule"] == "missing-facts"
    assert record["reasons"][0]["facts"] == ["dpd"]
    assert record["missing_facts"] == ["dpd"]


def test_missing_required_fact_is_an_input_error() -> None:
    text = small_policy().replace(
        "  dpd:\n    type: integer\n    minimum: 0\n",
        "  dpd:\n    type: integer\n    minimum: 0\n    on_missing: error\n",
    )
    compiled = compiled_text(text)
    with pytest.raises(FactError) as caught:
        decide(compiled, {k: v for k, v in BASE.items() if k != "dpd"}, AS_OF)
    assert caught.value.problems[0].code == "F002"


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"dpdd": 1}, "F001", "did you mean `dpd`?"),
        ({"dpd": "3"}, "F003", "expected an integer"),
        ({"dpd": True}, "F003", "expected an integer"),
        ({"dpd": -1}, "F003", "below the minimum 0"),
        ({"score": 901}, "F003", "above the maximum 900"),
        ({"tier": "golden"}, "F003", "did you mean `gold`?"),
        ({"ratio": float("nan")}, "F003", "not a finite number"),
        ({"flagged": 1}, "F003", "expected true or false"),
    ],
)
def test_bad_facts_are_clear_errors(change: dict[str, Any], code: str, fragment: str) -> None:
    compiled = one_rule("{fact: dpd, gt: 5}")
    for trace in (True, False):
        with pytest.raises(FactError) as caught:
            decide(compiled, {**BASE, **change}, AS_OF, trace=trace)
        problem = caught.value.problems[0]
        assert problem.code == code
        assert fragment in problem.message


def test_integral_floats_are_accepted_for_integers() -> None:
    compiled = one_rule("{fact: dpd, gt: 5}")
    assert decide(compiled, {**BASE, "dpd": 6.0}, AS_OF).fired == (0,)
    with pytest.raises(FactError):
        decide(compiled, {**BASE, "dpd": 6.5}, AS_OF)


def test_facts_must_be_an_object() -> None:
    compiled = one_rule("{fact: dpd, gt: 5}")
    with pytest.raises(FactError):
        decide(compiled, [1, 2], AS_OF)  # type: ignore[arg-type]


@pytest.mark.parametrize("account_id", [123, b"A1", ["A1"], 1.5])
def test_an_account_id_that_is_not_text_is_refused(account_id: Any) -> None:
    compiled = one_rule("{fact: dpd, gt: 5}")
    for facts in (BASE, {**BASE, "dpd": "3"}):  # the fast path and the checked path alike
        with pytest.raises(FactError) as caught:
            decide(compiled, facts, AS_OF, account_id=account_id)
        problem = caught.value.problems[0]
        assert (problem.fact, problem.code) == ("account_id", "F004")
        assert problem.message == (
            f"`account_id` must be a string, not {type(account_id).__name__}"
        )
    assert decide(compiled, BASE, AS_OF, account_id="A1").account_id == "A1"
    assert decide(compiled, BASE, AS_OF).account_id is None


def test_an_account_id_with_a_lone_surrogate_is_refused() -> None:
    compiled = one_rule("{fact: dpd, gt: 5}")
    with pytest.raises(FactError) as caught:
        decide(compiled, BASE, AS_OF, account_id="A\udcff")
    assert caught.value.problems[0].message == (
        "`account_id` must be valid Unicode text (it holds a lone surrogate)"
    )
    assert decide(compiled, BASE, AS_OF, account_id="客户-7").to_json()  # any valid text


def test_as_of_must_be_a_moment() -> None:
    compiled = one_rule("{fact: dpd, gt: 5}")
    with pytest.raises(AsOfError):
        decide(compiled, BASE, "yesterday")
    with pytest.raises(AsOfError):
        decide(compiled, BASE, dt.datetime(2026, 1, 1))


def test_precedence_and_ranking(shipped: CompiledPolicy) -> None:
    facts = dict(shipped.policy.tests[0].facts)
    facts.update(utilisation=0.99, days_past_due=3, credit_score_drop_90d=150)
    decision = decide(shipped, facts, AS_OF)
    assert decision.action is ActionKind.REDUCE_LIMIT
    record = decision.to_dict()
    assert [r["rule"] for r in record["reasons"]] == [
        "score-drop",
        "high-utilisation-late",
        "early-late-payment",
    ]
    assert [r["rank"] for r in record["reasons"]] == [1, 2, 3]
    assert record["limit_factor"] == 0.5


def test_declared_precedence_is_honoured() -> None:
    rules = (
        "- {id: a, action: notify, reason: {code: A}, when: {fact: dpd, gt: 1}}\n"
        "- {id: b, action: review, reason: {code: B}, when: {fact: dpd, gt: 1}}\n"
    )
    default = compiled_text(small_policy(rules=rules))
    assert decide(default, {**BASE, "dpd": 2}, AS_OF).action is ActionKind.REVIEW
    swapped = compiled_text(
        small_policy(
            rules=rules,
            extra="outcome:\n  precedence: [close, suspend, reduce_limit, notify, review]\n",
        )
    )
    decision = decide(swapped, {**BASE, "dpd": 2}, AS_OF)
    assert decision.action is ActionKind.NOTIFY
    assert [r.rule for r in decision.reasons] == ["a", "b"]


def test_exemption_downgrades_and_extends(shipped: CompiledPolicy) -> None:
    facts = dict(shipped.policy.tests[0].facts)
    facts.update(high_apr_applications_7d=3, days_since_first_loan=10)
    first = decide(shipped, facts, AS_OF)
    assert first.action is ActionKind.NOTIFY
    assert first.to_dict()["reasons"][0]["exemptions"] == ["first-occurrence"]
    repeat = decide(shipped, {**facts, "prior_adverse_actions_12m": 1}, AS_OF)
    assert repeat.action is ActionKind.SUSPEND
    hardship = decide(
        shipped, {**facts, "prior_adverse_actions_12m": 1, "declared_hardship": True}, AS_OF
    )
    assert hardship.timeline is not None and repeat.timeline is not None
    assert (hardship.timeline.effective - repeat.timeline.effective).days == 30


def test_timeline_uses_the_policy_time_zone(shipped: CompiledPolicy) -> None:
    facts = dict(shipped.policy.tests[0].facts)
    facts.update(days_past_due=95)
    # 20:00 UTC on 1 March is already 2 March in Shanghai.
    late_evening = dt.datetime(2027, 3, 1, 20, 0, tzinfo=dt.UTC)
    timeline = decide(shipped, facts, late_evening).timeline
    assert timeline is not None
    assert timeline.decided_on == dt.date(2027, 3, 2)
    assert timeline.effective == dt.date(2027, 5, 1)
    assert timeline.appeal_until == dt.date(2027, 5, 1)
    assert timeline.paused_during_review


def test_timelines_follow_the_local_day_of_each_moment(shipped: CompiledPolicy) -> None:
    """Timelines are shared between decisions of one local day (and only of one day)."""
    facts = {**dict(shipped.policy.tests[0].facts), "days_past_due": 95}
    grace = shipped.policy.rules[1].grace
    assert grace is not None
    rule = shipped.policy.grace_rule(grace)
    # Shanghai is UTC+8: 15:59 and 16:00 UTC fall on two local days; 16:00 and 23:00 on one.
    for moment, local_day in (
        (dt.datetime(2027, 3, 1, 15, 59, tzinfo=dt.UTC), dt.date(2027, 3, 1)),
        (dt.datetime(2027, 3, 1, 16, 0, tzinfo=dt.UTC), dt.date(2027, 3, 2)),
        (dt.datetime(2027, 3, 1, 23, 0, tzinfo=dt.UTC), dt.date(2027, 3, 2)),
        (dt.datetime(2027, 3, 2, 15, 59, 59, tzinfo=dt.UTC), dt.date(2027, 3, 2)),
        (dt.datetime(2027, 3, 2, 16, 0, tzinfo=dt.UTC), dt.date(2027, 3, 3)),
    ):
        decision = decide(shipped, facts, moment)
        assert decision.reasons[0].grace == grace
        expected = timeline_for(rule, local_day, 0, shipped.policy.metadata.calendar)
        assert decision.timeline == expected
        assert json.loads(decision.to_json())["timeline"] == expected.to_dict()


def test_fraud_is_effective_at_once(shipped: CompiledPolicy) -> None:
    facts = {**dict(shipped.policy.tests[0].facts), "confirmed_fraud": True}
    decision = decide(shipped, facts, "2027-03-01")
    assert decision.action is ActionKind.CLOSE
    record = decision.to_dict()
    assert record["timeline"]["immediate"] is True
    assert record["timeline"]["effective"] == "2027-03-01"


def test_record_contract(shipped: CompiledPolicy) -> None:
    facts = {**dict(shipped.policy.tests[0].facts), "days_past_due": 45}
    record = decide(shipped, facts, AS_OF, account_id="A-1").to_dict()
    assert set(record) >= {
        "decision_id", "policy", "as_of", "input_sha256", "action", "reasons",
        "trace", "timeline", "missing_facts", "engine_version",
    }  # fmt: skip
    assert record["policy"] == {
        "id": "credit-line-closure",
        "version": "1.1.0",
        "sha256": shipped.sha256,
    }
    assert record["as_of"] == "2027-03-01T09:30:00Z"
    assert len(record["trace"]) == len(shipped.policy.rules)
    serious = next(t for t in record["trace"] if t["rule"] == "serious-delinquency")
    assert serious["matched"] is True
    assert serious["checks"] == [
        {
            "fact": "days_past_due",
            "op": "between",
            "value": 45,
            "threshold": [31, 90],
            "result": True,
        }
    ]
    no_trace = decide(shipped, facts, AS_OF, account_id="A-1", trace=False).to_dict()
    assert no_trace["trace"] is None
    assert {k: v for k, v in no_trace.items() if k != "trace"} == {
        k: v for k, v in record.items() if k != "trace"
    }


def test_every_shipped_rule_fires_on_some_sampled_account(shipped: CompiledPolicy) -> None:
    fired: set[str] = set()
    for account in sample_accounts(shipped.policy, 10_000, seed=1):
        decision = decide(shipped, account["facts"], AS_OF, trace=False)
        fired.update(shipped.policy.rules[r].id for r in decision.fired)
    assert fired == {rule.id for rule in shipped.policy.rules}


facts_strategy = st.fixed_dictionaries(
    {},
    optional={
        "dpd": st.one_of(st.integers(-5, 200), st.none(), st.just("x")),
        "score": st.integers(250, 950),
        "ratio": st.one_of(st.floats(-1, 5, allow_nan=False), st.integers(0, 5)),
        "tier": st.sampled_from(["gold", "silver", "bronze", "tin"]),
        "flagged": st.one_of(st.booleans(), st.integers(0, 1)),
    },
)

RULES = """\
- id: a
  action: suspend
  grace: standard
  reason: {code: A}
  when:
    any:
      - {fact: dpd, between: [30, 90]}
      - all: [{fact: score, lt: 600}, {not: {fact: tier, in: [gold]}}]
- {id: b, action: notify, reason: {code: B}, when: {fact: ratio, gt: {fact: dpd}}}
- {id: c, action: review, reason: {code: C}, when: {not: {fact: flagged, eq: false}}}
"""


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_strategy, shuffle=st.randoms(use_true_random=False))
def test_fast_and_traced_paths_agree_and_records_are_deterministic(
    facts: dict[str, Any], shuffle: random.Random
) -> None:
    compiled = _property_policy()
    try:
        traced = decide(compiled, facts, AS_OF, account_id="p")
    except FactError as exc:
        with pytest.raises(FactError) as again:
            decide(compiled, facts, AS_OF, account_id="p", trace=False)
        assert again.value.problems == exc.problems
        return
    fast = decide(compiled, facts, AS_OF, account_id="p", trace=False)
    assert fast.fired == traced.fired
    assert fast.action is traced.action
    assert [r.to_dict() for r in fast.reasons] == [r.to_dict() for r in traced.reasons]
    items = list(facts.items())
    shuffle.shuffle(items)
    reordered = decide(compiled, dict(items), AS_OF, account_id="p")
    assert reordered.to_json() == traced.to_json()
    assert json.loads(traced.to_json()) == traced.to_dict()


_COMPILED: list[CompiledPolicy] = []


def _property_policy() -> CompiledPolicy:
    if not _COMPILED:
        _COMPILED.append(compiled_text(small_policy(rules=RULES)))
    return _COMPILED[0]


def test_decision_ids_differ_by_account_and_moment(shipped: CompiledPolicy) -> None:
    facts = dict(shipped.policy.tests[0].facts)
    a = decide(shipped, facts, AS_OF, account_id="A").decision_id
    b = decide(shipped, facts, AS_OF, account_id="B").decision_id
    c = decide(shipped, facts, AS_OF + dt.timedelta(seconds=1), account_id="A").decision_id
    assert len({a, b, c}) == 3
    assert decide(shipped, facts, AS_OF, account_id="A").decision_id == a


def test_the_callers_dict_cannot_change_a_decision(shipped: CompiledPolicy) -> None:
    facts = {**dict(shipped.policy.tests[0].facts), "days_past_due": 95}
    decision = decide(shipped, facts, AS_OF)
    before = decision.to_json()
    facts["days_past_due"] = 0
    assert decision.to_json() == before
