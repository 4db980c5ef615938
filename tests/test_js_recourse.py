"""The page's "what would change it" is the notices' recourse: for random accounts of the shipped
policies, the compiled module's recourse search (run under node) changes the same facts to the
same values as `disclosures/recourse.py`, names the same blocked reasons, or finds nothing too."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.disclosures.recourse import recourse_for
from clearline.engine import CompiledPolicy, decide
from clearline.engine.errors import FactError
from tests.js_differential import NodeEngine, module_source
from tests.policy_strategies import accounts

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def node() -> Iterator[NodeEngine]:
    engine = NodeEngine()
    yield engine
    engine.close()


def _expected(compiled: CompiledPolicy, facts: dict[str, Any]) -> Any:
    try:
        decision = decide(compiled, facts, compiled.policy.metadata.effective_from, trace=False)
    except FactError:
        return None
    found = recourse_for(compiled, decision)
    if found is None:
        return None
    if found.blocked:
        return {"blocked": list(found.blocked)}  # no change the customer can make helps
    if found.values:
        return {"change": dict(found.values), "cure_days": _cure_days(decision)}
    return {}


def _cure_days(decision: Any) -> int:
    timeline = decision.timeline
    return int((timeline.cure_until - timeline.decided_on).days)


def _same(node: NodeEngine, compiled: CompiledPolicy, batch: list[dict[str, Any]]) -> int:
    answers = node.decide(module_source(compiled), batch, recourse=True)
    helped = 0
    for facts, answer in zip(batch, answers, strict=True):
        want = _expected(compiled, facts)
        assert answer == want, facts
        helped += bool(want and "change" in want)
    return helped


# Accounts near the shipped thresholds, so that most are adverse and many have recourse.
NEAR = {
    "credit_score": st.integers(300, 900),
    "credit_score_drop_90d": st.integers(0, 200),
    "days_past_due": st.integers(0, 120),
    "delinquencies_12m": st.integers(0, 4),
    "utilisation": st.sampled_from([0.1, 0.5, 0.85, 0.9, 0.95, 1.2]),
    "outflow_to_income_30d": st.sampled_from([0.0, 1.0, 2.9, 3.0, 3.5, 6.0]),
    "high_apr_applications_7d": st.integers(0, 5),
    "prior_adverse_actions_12m": st.integers(0, 2),
    "declared_hardship": st.booleans(),
    "days_since_first_loan": st.integers(0, 400),
}


@pytest.mark.parametrize("which", ["shipped", "shipped_v1"])
@settings(max_examples=4, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_page_recourse_equals_notice_recourse(
    which: str, node: NodeEngine, request: pytest.FixtureRequest, data: st.DataObject
) -> None:
    compiled: CompiledPolicy = request.getfixturevalue(which)
    names = {f.name for f in compiled.policy.facts}
    near = st.fixed_dictionaries({}, optional={k: v for k, v in NEAR.items() if k in names})
    batch = data.draw(st.lists(near, min_size=15, max_size=15))
    batch += data.draw(st.lists(accounts(compiled.policy, json=True), min_size=5, max_size=5))
    _same(node, compiled, batch)


def test_known_accounts_get_the_same_recourse(node: NodeEngine, shipped: CompiledPolicy) -> None:
    batch: list[dict[str, Any]] = [
        {"credit_score": 480, "days_past_due": 40, "delinquencies_12m": 1},
        {"credit_score": 700, "credit_score_drop_90d": 120, "utilisation": 0.95},
        {"credit_score": 650, "outflow_to_income_30d": 3.5, "prior_adverse_actions_12m": 1},
        {"credit_score": 690, "high_apr_applications_7d": 3, "prior_adverse_actions_12m": 1},
        {"credit_score": 720, "confirmed_fraud": True},
        {"credit_score": 720, "days_past_due": 0},
    ]
    assert _same(node, shipped, batch) >= 2  # the search itself is exercised, not only refusals
