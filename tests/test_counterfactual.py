"""Counterfactuals: applying the change to the facts really stops the rule (re-run through decide)."""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.disclosures import Locale, Mood, counterfactuals, describe, negate
from clearline.engine import (
    CompiledPolicy,
    compile_policy,
    decide,
    load_policy_text,
    sample_accounts,
)
from clearline.engine.decisions.compile import _k_not
from clearline.engine.model import Comparison, Condition, FactType, Operator, comparisons

from .disclosure_fixtures import AS_OF, shapes, shipped


def _fired(compiled: CompiledPolicy, facts: dict[str, Any]) -> set[str]:
    return {compiled.policy.rules[r].id for r in decide(compiled, facts, AS_OF).fired}


def _edges(compiled: CompiledPolicy, region: Condition) -> list[tuple[str, Any]]:
    """The extreme values a region admits: its closed ends, one step inside its open ends."""
    found = []
    for cmp in comparisons(region):
        fact = compiled.policy.fact(cmp.fact)
        assert fact is not None
        operand = cmp.operand
        values = operand if isinstance(operand, tuple) else (operand,)
        for value in values:
            if cmp.op in (Operator.GT, Operator.LT) and isinstance(value, (int, float)):
                up = cmp.op is Operator.GT
                if fact.type is FactType.INTEGER:
                    value = value + 1 if up else value - 1
                else:
                    value = math.nextafter(float(value), math.inf if up else -math.inf)
            found.append((cmp.fact, value))
    return found


def _assert_counterfactuals_stop(compiled: CompiledPolicy, facts: dict[str, Any]) -> int:
    decision = decide(compiled, facts, AS_OF)
    checked = 0
    for index in decision.fired:
        rule = compiled.policy.rules[index]
        for cf in counterfactuals(compiled, rule, decision.facts):
            changed = {**facts, cf.fact: cf.value}
            assert rule.id not in _fired(compiled, changed), (rule.id, cf)
            for name, value in _edges(compiled, cf.region):
                assert rule.id not in _fired(compiled, {**facts, name: value}), (rule.id, cf)
            checked += 1
    return checked


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_shipped_counterfactuals_stop_their_rule(seed: int) -> None:
    compiled = shipped()
    for account in sample_accounts(compiled.policy, 12, seed):
        decision = decide(compiled, account["facts"], AS_OF)
        for index in decision.fired:
            # every shipped rule can be stopped by changing one fact
            assert counterfactuals(compiled, compiled.policy.rules[index], decision.facts)
        _assert_counterfactuals_stop(compiled, account["facts"])


_SHAPE_FACTS = st.fixed_dictionaries(
    {
        "a": st.integers(0, 100),
        "b": st.integers(0, 100),
        "r": st.floats(0, 1),
        "x": st.one_of(st.floats(-10, 10), st.sampled_from([-2.5, 1, 1.0, 3, 2.9999])),
        "seg": st.sampled_from(["p", "q", "s"]),
        "flag": st.booleans(),
        "d": st.dates(dt.date(2026, 6, 1), dt.date(2027, 6, 1)),
    }
)


@settings(max_examples=150, deadline=None)
@given(facts=_SHAPE_FACTS)
def test_counterfactuals_of_every_condition_shape(facts: dict[str, Any]) -> None:
    compiled = shapes()
    _assert_counterfactuals_stop(compiled, facts)
    decision = decide(compiled, facts, AS_OF)
    for index in decision.fired:
        rule = compiled.policy.rules[index]
        found = counterfactuals(compiled, rule, decision.facts)
        if rule.id != "either" or not (facts["r"] > 0.5 and facts["flag"]):
            assert found, rule.id  # only `any` with both parts true needs two changes


@settings(max_examples=150, deadline=None)
@given(facts=_SHAPE_FACTS, drop=st.sets(st.sampled_from(["a", "b", "r", "x", "seg", "flag", "d"])))
def test_negate_is_exact_under_three_valued_logic(facts: dict[str, Any], drop: set[str]) -> None:
    compiled = shapes()
    values = {k: v for k, v in facts.items() if k not in drop}
    for rule in compiled.policy.rules:
        holds = compiled.condition_fn(rule.when)(values)
        assert compiled.condition_fn(negate(rule.when))(values) == _k_not(holds)


def _sentences(compiled: CompiledPolicy, rule_id: str, facts: dict[str, Any]) -> list[str]:
    rule = compiled.policy.rule(rule_id)
    assert rule is not None
    decision = decide(compiled, facts, AS_OF)
    locale = Locale(compiled.policy, "en")
    return [
        describe(cf.region, locale, Mood.COUNTERFACTUAL)
        for cf in counterfactuals(compiled, rule, decision.facts)
    ]


BASE = {"a": 15, "b": 90, "r": 0.2, "x": 20.0, "seg": "s", "flag": False, "d": "2027-02-01"}


def test_between_picks_the_nearer_side() -> None:
    assert _sentences(shapes(), "band", {**BASE, "a": 18}) == [
        "the number of things were 21 or more"
    ]
    assert _sentences(shapes(), "band", {**BASE, "a": 11}) == [
        "the number of things were 9 or fewer"
    ]


def test_fact_against_fact_moves_either_side() -> None:
    assert _sentences(shapes(), "versus", {**BASE, "a": 50, "b": 40}) == [
        "the number of things were 40 or fewer",
        "the number of other things were 50 or more",
    ]


def test_percent_threshold_is_an_open_bound() -> None:
    assert _sentences(shapes(), "either", {**BASE, "r": 0.8}) == [
        "your share used were 50% or less"
    ]


def test_membership_lists_the_values_that_stop_the_rule() -> None:
    assert _sentences(shapes(), "groups", {**BASE, "seg": "p"}) == ["your group were s"]
    assert _sentences(shapes(), "not-group", {**BASE, "seg": "q"}) == ["your group were p"]


def test_boolean_and_date() -> None:
    assert _sentences(shapes(), "either", {**BASE, "flag": True}) == ["a flag were not on record"]
    assert _sentences(shapes(), "early", {**BASE, "d": "2026-12-01"}) == [
        "your last visit were January 1, 2027 or later"
    ]


def test_not_equal_region_is_a_single_point() -> None:
    # x in [-2.5, 3) and x != 1: from 1.5 the nearest stop is x = 1 exactly
    assert _sentences(shapes(), "unbounded", {**BASE, "x": 1.5}) == ["your ratio were 1"]


def test_a_change_that_fires_a_stronger_rule_is_avoided() -> None:
    # outflow-watch (review) is 2 <= ratio < 3; raising to 3 would suspend, so lower it instead
    facts = {
        **{f.name: None for f in shipped().policy.facts},
        "credit_score": 700,
        "outflow_to_income_30d": 2.6,
    }
    facts = {k: v for k, v in facts.items() if v is not None}
    sentences = _sentences(shipped(), "outflow-watch", facts)
    assert sentences == [
        "your large transfers out in the last 30 days compared with monthly income were below 2 times"
    ]


def test_bound_of_the_fact_reads_as_a_value() -> None:
    assert _sentences(
        shipped(), "early-late-payment", {"credit_score": 700, "days_past_due": 3}
    ) == ["the number of days past due were 0"]


def test_region_is_a_comparison_on_the_changed_fact() -> None:
    compiled = shapes()
    decision = decide(compiled, {**BASE, "a": 60}, AS_OF)
    rule = compiled.policy.rule("negated")
    assert rule is not None
    (cf,) = counterfactuals(compiled, rule, decision.facts)
    assert cf.value == 49
    assert cf.region == Comparison("a", Operator.LE, 49)


def _one_rule_policy(threshold: int) -> CompiledPolicy:
    data = {
        "apiVersion": "clearline/v1",
        "kind": "CreditLinePolicy",
        "metadata": {
            "id": "p",
            "version": "1.0.0",
            "title": {"en": "P"},
            "effective_from": "2026-01-01",
            "languages": ["en"],
        },
        "facts": {"dpd": {"type": "integer", "minimum": 0, "label": {"en": "days past due"}}},
        "rules": [
            {
                "id": "late",
                "action": "review",
                "reason": {"code": "L"},
                "when": {"fact": "dpd", "gt": threshold},
            }
        ],
    }
    return compile_policy(load_policy_text(json.dumps(data), "p.yaml"))


def test_policies_compiled_one_after_another_never_share_counterfactuals() -> None:
    # The compiled-condition cache was keyed by id(condition): once a policy was freed, the next
    # policy's condition could be allocated at the same address and be given the freed policy's
    # compiled condition, so its counterfactual came from another threshold.
    for threshold in range(10, 60):
        compiled = _one_rule_policy(threshold)
        found = counterfactuals(compiled, compiled.policy.rules[0], {"dpd": threshold + 5})
        assert [(cf.fact, cf.value) for cf in found] == [("dpd", threshold)]
        del compiled, found
        gc.collect()
