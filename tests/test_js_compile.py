"""The JavaScript back end against `decide()`: same action, ranked reasons, missing facts and
grace terms on random accounts of the shipped policies and of random valid policies, run in
one node process per module; and no policy text in the generated code."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import CompiledPolicy, compile_policy, load_policy_text
from clearline.engine.js import compile_js
from clearline.engine.js.compile import DATA_END, DATA_START
from tests.js_differential import NodeEngine, expected, module_source, observed
from tests.policy_strategies import accounts, policies

# Loading a random policy (schema and semantic checks) takes most of an example's time.
_SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def node() -> Iterator[NodeEngine]:
    engine = NodeEngine()
    yield engine
    engine.close()


def _same(node: NodeEngine, compiled: CompiledPolicy, batch: list[dict[str, Any]]) -> None:
    answers = node.decide(module_source(compiled), batch)
    for facts, answer in zip(batch, answers, strict=True):
        want = expected(compiled, facts)
        assert observed(answer, want) == want, facts


@pytest.mark.parametrize("which", ["shipped", "shipped_v1"])
@settings(max_examples=5, suppress_health_check=_SLOW)
@given(data=st.data())
def test_shipped_policies_decide_alike(
    which: str, node: NodeEngine, request: pytest.FixtureRequest, data: st.DataObject
) -> None:
    compiled: CompiledPolicy = request.getfixturevalue(which)
    batch = data.draw(st.lists(accounts(compiled.policy, json=True), min_size=40, max_size=40))
    _same(node, compiled, batch)


@settings(max_examples=25, suppress_health_check=_SLOW)
@given(drawn=policies(), data=st.data())
def test_random_policies_decide_alike(
    node: NodeEngine, drawn: tuple[str, Any], data: st.DataObject
) -> None:
    compiled = compile_policy(drawn[1])
    batch = data.draw(st.lists(accounts(compiled.policy, json=True), min_size=1, max_size=40))
    _same(node, compiled, batch)


@settings(max_examples=10, suppress_health_check=_SLOW)
@given(drawn=policies(), data=st.data())
def test_invalid_accounts_are_refused_alike(
    node: NodeEngine, drawn: tuple[str, Any], data: st.DataObject
) -> None:
    compiled = compile_policy(drawn[1])
    batch = data.draw(
        st.lists(accounts(compiled.policy, json=True, invalid=True), min_size=1, max_size=10)
    )
    _same(node, compiled, batch)


def test_unknown_fact_and_wrong_shape_are_refused(
    node: NodeEngine, shipped: CompiledPolicy
) -> None:
    batch: list[Any] = [{"credit_scor": 700}, {"credit_score": "700"}, {"credit_score": 1000}]
    _same(node, shipped, batch)


def test_lender_only_facts_send_no_one_to_review(node: NodeEngine, shipped: CompiledPolicy) -> None:
    # The page cannot ask for some facts; their absence is not the customer's to explain.
    answer = node.decide(module_source(shipped), [{"days_past_due": 0}], ("credit_score",))[0]
    assert answer["action"] == "none"
    assert node.decide(module_source(shipped), [{"days_past_due": 0}])[0]["action"] == "review"


HOSTILE = """\
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: hostile
  version: 1.0.0
  title: {en: "</script><script>alert(1)</script>"}
  effective_from: 2026-01-01
  languages: [en]
facts:
  FACT:
    type: enum
    values: ["VALUE", "b"]
    label: {en: "label \\" '); alert(1); //"}
rules:
  - id: RULE
    action: suspend
    when: {fact: FACT, eq: "VALUE"}
    reason: {code: CODE, text: {en: "TEXT"}}
    grace: GRACE
grace:
  GRACE:
    notice_days: 10
    cure: {days: 10}
    appeal: {days: 30}
"""


def _hostile(fact: str, value: str, rule: str, text: str) -> str:
    return (
        HOSTILE.replace("FACT", fact)
        .replace("VALUE", value)
        .replace("RULE", rule)
        .replace("TEXT", text)
        .replace("GRACE", "g")
    )


def test_no_policy_text_reaches_the_code(node: NodeEngine) -> None:
    bland = compile_js(load_policy_text(_hostile("f", "a", "r", "t")))
    hostile = compile_js(
        load_policy_text(_hostile("constructor", "a'); x(\\\"", "r-script", "</script><!-- ${x} `"))
    )
    assert hostile.code == bland.code
    source = hostile.source
    block = source[source.index(DATA_START) : source.index(DATA_END)]
    assert "<" not in block and "\u2028" not in block
    data = re.search(r"var POLICY = (.*);\n", block)
    assert data is not None and json.loads(data.group(1)) == hostile.data
    assert source.replace(block, "") == bland.source.replace(
        bland.source[bland.source.index(DATA_START) : bland.source.index(DATA_END)], ""
    )
    # A fact named like an Object property is read from the input, never from the prototype.
    value = "a'); x(\""
    answers = node.decide(hostile.source, [{"constructor": value}, {}])
    assert [answer["action"] for answer in answers] == ["suspend", "none"]
