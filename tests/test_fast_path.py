"""The flat hot path of `decide` (a dict of facts) gives exactly what the checked path gives.

A mapping that is not a dict always takes the checked path (normalise, then three-valued
evaluation), so deciding the same facts both ways must give the same record or the same error,
whatever the values: valid, at the bounds, mistyped, NaN, missing, unknown.
"""

from __future__ import annotations

import datetime as dt
import math
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import CompiledPolicy, FactError, compile_policy, decide, load_policy
from clearline.engine.model import Fact, FactType

from .conftest import SHIPPED_V1, SHIPPED_V2

POLICIES = [compile_policy(load_policy(path)) for path in (SHIPPED_V1, SHIPPED_V2)]
AS_OF = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)
ODD = st.sampled_from([None, True, False, -1, 0, 1, 2.0, 0.5, math.nan, math.inf, "1", "standard"])


def value_for(fact: Fact, clean: bool) -> st.SearchStrategy[Any]:
    """Values for a fact around the shipped thresholds: within its range when clean, else also
    outside it and odd ones."""
    low = fact.minimum if clean and fact.minimum is not None else -2
    if fact.type is FactType.INTEGER:
        high = fact.maximum if clean and fact.maximum is not None else 1000
        valid: st.SearchStrategy[Any] = st.integers(low, high)  # type: ignore[arg-type]
    elif fact.type is FactType.NUMBER:
        high = fact.maximum if clean and fact.maximum is not None else 5
        valid = st.one_of(
            st.floats(low, high, allow_nan=False),  # type: ignore[arg-type]
            st.integers(max(0, int(low)), int(high)),  # type: ignore[arg-type]
        )
    elif fact.type is FactType.BOOLEAN:
        valid = st.booleans()
    elif fact.type is FactType.STRING:
        valid = st.sampled_from(["K01,K03", "", "K02", "中文"])
    else:
        valid = st.sampled_from(fact.values)
    return valid if clean else st.one_of(valid, valid, valid, ODD)


@st.composite
def accounts(draw: st.DrawFn) -> tuple[CompiledPolicy, dict[str, Any]]:
    compiled = draw(st.sampled_from(POLICIES))
    clean = draw(st.booleans())  # half the cases: every fact present and of its type
    facts = {}
    for fact in compiled.policy.facts:
        if not clean and draw(st.integers(0, 30)) == 0:
            continue  # absent
        facts[fact.name] = draw(value_for(fact, clean))
    if not clean and draw(st.integers(0, 30)) == 0:
        facts["unknown_fact"] = 1
    return compiled, facts


def outcome(compiled: CompiledPolicy, facts: Any, trace: bool) -> Any:
    try:
        # Both shipped versions at one moment: a what-if for the one not in force then.
        decision = decide(compiled, facts, AS_OF, account_id="A1", trace=trace, what_if=True)
    except FactError as exc:
        return ("error", str(exc))
    return (decision.to_json(), decision.action, decision.fired, decision.missing_facts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts(), st.booleans())
def test_the_flat_path_and_the_checked_path_agree(
    case: tuple[CompiledPolicy, dict[str, Any]], trace: bool
) -> None:
    compiled, facts = case
    assert outcome(compiled, facts, trace) == outcome(compiled, MappingProxyType(facts), trace)


def test_the_decision_keeps_a_copy_of_the_facts() -> None:
    compiled = POLICIES[1]
    facts = dict(compiled.policy.tests[0].facts)
    decision = decide(compiled, facts, AS_OF)
    before = decision.to_json()
    facts["days_past_due"] = 120
    assert decision.to_json() == before
    assert decision.facts["days_past_due"] == 0
