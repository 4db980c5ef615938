"""Accounts missing a fact: the quick check gives what `normalise_facts` gives, errors alike."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine import CompiledPolicy, FactError, decide
from clearline.engine.decisions.decide import _present_values
from clearline.engine.facts import normalise_facts
from clearline.engine.synthetic.accounts import sample_accounts

AS_OF = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)


def checked(compiled: CompiledPolicy, facts: dict[str, Any]) -> Any:
    """normalise_facts' answer: (values, missing) or the FactError's problems."""
    try:
        return normalise_facts(compiled.policy, facts)
    except FactError as exc:
        return [(p.fact, p.code, p.message) for p in exc.problems]


ODD_VALUES = st.sampled_from([None, -1, 3.0, 1e9, "x", True, 0.5, "standard", "", "\ud800", 2**70])


@settings(max_examples=300)
@given(data=st.data())
def test_the_quick_check_agrees_with_normalise_facts(shipped: CompiledPolicy, data: Any) -> None:
    seed = data.draw(st.integers(0, 10_000))
    facts = dict(next(iter(sample_accounts(shipped.policy, 1, seed)))["facts"])
    names = sorted(fact.name for fact in shipped.policy.facts)
    for name in data.draw(st.lists(st.sampled_from(names), max_size=4)):
        facts.pop(name, None)
    for name in data.draw(st.lists(st.sampled_from([*names, "unknown_fact"]), max_size=2)):
        facts[name] = data.draw(ODD_VALUES)
    quick = _present_values(shipped, facts)
    expected = checked(shipped, facts)
    if quick is not None:  # taken only where it gives the very same values, in the same order
        assert list(quick[0].items()) == list(expected[0].items()) and quick[1] == expected[1]
        assert all(type(quick[0][k]) is type(v) for k, v in expected[0].items())
    # and `decide` refuses what normalise_facts refuses, with the same problems
    try:
        decide(shipped, facts, AS_OF, account_id="A")
    except FactError as exc:
        assert [(p.fact, p.code, p.message) for p in exc.problems] == expected
    else:
        assert isinstance(expected, tuple)


def test_a_missing_fact_is_read_the_quick_way(shipped: CompiledPolicy) -> None:
    facts = dict(next(iter(sample_accounts(shipped.policy, 1, 3)))["facts"])
    facts.pop("credit_score", None)
    facts["segment"] = None
    quick = _present_values(shipped, facts)
    assert quick is not None and quick == normalise_facts(shipped.policy, facts)
