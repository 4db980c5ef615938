"""The shared threshold cuts (engine/conditions.py) agree with the compiled engine.

`threshold_cuts` says where a fact's comparisons can change result and which side each cut's
own value falls on; `neighbours` gives the values just beside it. The compiled condition of a
real policy (`CompiledPolicy.condition_fn`) is the judge: a value just below, at and just above
each cut must evaluate as the cut says, and no value between two cuts may differ from its cell.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine import CompiledPolicy
from clearline.engine.conditions import (
    Cut,
    Side,
    compared_with,
    neighbours,
    points,
    threshold_cuts,
)
from clearline.engine.model import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Fact,
    FactRef,
    FactType,
    Operator,
    Text,
)
from clearline.engine.policy.impossible import candidates
from tests.conftest import compiled_text

# Facts of the small policy, one per ordered type the cuts serve.
_FACTS = {"dpd": FactType.INTEGER, "balance": FactType.NUMBER, "opened": FactType.DATE}
_SINGLE = [Operator.LT, Operator.LE, Operator.GT, Operator.GE, Operator.EQ, Operator.NE]
_DAY0 = dt.date(2026, 1, 1)


_POLICY = """\
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: cuts
  version: 1.0.0
  title: {en: Cuts}
  effective_from: 2026-01-01
  languages: [en]
facts:
  dpd: {type: integer, label: {en: days past due}}
  balance: {type: number, label: {en: balance}}
  opened: {type: date, label: {en: opening date}}
rules:
  - id: any
    action: review
    when:
      any:
        - {fact: dpd, gt: 30}
        - {fact: balance, lt: 0}
        - {fact: opened, lt: 2020-01-01}
    reason: {code: R1}
"""


@pytest.fixture(scope="module")
def compiled() -> CompiledPolicy:
    return compiled_text(_POLICY)


def _literals(kind: FactType) -> st.SearchStrategy[Any]:
    if kind is FactType.INTEGER:
        return st.integers(-50, 50)
    if kind is FactType.NUMBER:
        return st.one_of(
            st.integers(-50, 50),
            st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
            st.sampled_from([0.1, 0.9, 1e300, -0.0]),
        )
    return st.integers(-400, 400).map(lambda days: _DAY0 + dt.timedelta(days=days))


def _values(kind: FactType) -> st.SearchStrategy[Any]:
    if kind is FactType.NUMBER:
        return st.floats(-2e6, 2e6, allow_nan=False, allow_infinity=False)
    return _literals(kind)


@st.composite
def _comparison(draw: st.DrawFn, fact: str) -> Comparison:
    literal = _literals(_FACTS[fact])
    if draw(st.integers(0, 5)) == 0:
        low, high = sorted((draw(literal), draw(literal)))
        return Comparison(fact, Operator.BETWEEN, (low, high))
    return Comparison(fact, draw(st.sampled_from(_SINGLE)), draw(literal))


@st.composite
def _case(draw: st.DrawFn) -> tuple[str, list[Comparison], Condition, list[Any]]:
    fact = draw(st.sampled_from(sorted(_FACTS)))
    cmps = draw(st.lists(_comparison(fact), min_size=1, max_size=4))
    combine = draw(st.sampled_from([AllOf, AnyOf]))
    condition: Condition = cmps[0] if len(cmps) == 1 else combine(tuple(cmps))
    return fact, cmps, condition, draw(st.lists(_values(_FACTS[fact]), min_size=1, max_size=8))


def _judge(compiled: CompiledPolicy, condition: Condition, fact: str) -> Any:
    holds = compiled.condition_fn(condition)

    def at(value: Any) -> bool | None:
        if _FACTS[fact] is FactType.INTEGER:
            value = int(value)
        return holds({fact: value})

    return at


@settings(max_examples=150, deadline=None)
@given(_case())
def test_each_cut_falls_on_the_side_it_names(
    compiled: CompiledPolicy, case: tuple[str, list[Comparison], Condition, list[Any]]
) -> None:
    fact, cmps, _, _ = case
    for cmp in cmps:
        holds = _judge(compiled, cmp, fact)
        for cut in threshold_cuts([cmp], fact):
            beside = neighbours(_FACTS[fact], cut.value)
            assert beside is not None
            below, above = holds(beside[0]), holds(beside[1])
            at = holds(cut.value)
            if cut.side is Side.BELOW:
                assert at == below != above, (cmp, cut)
            elif cut.side is Side.ABOVE:
                assert below != above == at, (cmp, cut)
            else:
                assert below != at != above, (cmp, cut)
    # Merged over several comparisons, a side is a promise every one of them keeps (on whole
    # numbers the next cut may be the very neighbour: then no value lies between the two).
    merged = threshold_cuts(cmps, fact)
    for cut in merged:
        beside = neighbours(_FACTS[fact], cut.value)
        assert beside is not None
        below, above = (None if any(c.value == v for c in merged) else v for v in beside)
        for cmp in cmps:
            holds = _judge(compiled, cmp, fact)
            if cut.side is Side.BELOW and below is not None:
                assert holds(cut.value) == holds(below), (cmp, cut)
            elif cut.side is Side.ABOVE and above is not None:
                assert holds(cut.value) == holds(above), (cmp, cut)


@settings(max_examples=150, deadline=None)
@given(_case())
def test_between_two_cuts_nothing_changes(
    compiled: CompiledPolicy, case: tuple[str, list[Comparison], Condition, list[Any]]
) -> None:
    fact, _, condition, values = case
    holds = _judge(compiled, condition, fact)
    cuts = threshold_cuts([condition], fact)
    assert [c.value for c in cuts] == sorted({c.value for c in cuts})
    for value in values:
        if any(value == cut.value for cut in cuts):
            continue
        lower = [cut for cut in cuts if cut.value < value]
        if lower:
            beside = neighbours(_FACTS[fact], lower[-1].value)
            assert beside is not None
            assert holds(value) == holds(beside[1]), (condition, value)
        elif cuts:
            beside = neighbours(_FACTS[fact], cuts[0].value)
            assert beside is not None
            assert holds(value) == holds(beside[0]), (condition, value)
        else:
            assert holds(value) == holds(values[0])


def test_equal_literals_make_one_cut_and_disagreeing_sides_stand_alone() -> None:
    cmps = [
        Comparison("dpd", Operator.LE, 30),
        Comparison("dpd", Operator.GT, 30.0),
        Comparison("dpd", Operator.LT, 90),
        Comparison("dpd", Operator.LE, 90),
        Comparison("dpd", Operator.BETWEEN, (1, 1)),
        Comparison("dpd", Operator.IN, (5, 7)),
        Comparison("dpd", Operator.GT, FactRef("score")),
        Comparison("score", Operator.GT, 600),
    ]
    assert threshold_cuts(cmps, "dpd") == [
        Cut(1, Side.ALONE),
        Cut(5, Side.ALONE),
        Cut(7, Side.ALONE),
        Cut(30, Side.BELOW),
        Cut(90, Side.ALONE),
    ]
    assert compared_with([AllOf(tuple(cmps))], "score") == ([600], ["dpd"])


def test_neighbours_step_by_the_facts_own_unit() -> None:
    assert neighbours(FactType.INTEGER, 30) == (29, 31)
    assert neighbours(FactType.INTEGER, 2.5) == (2, 3)
    assert neighbours(FactType.NUMBER, 0.9) == (0.8999999999999999, 0.9000000000000001)
    assert neighbours(FactType.DATE, dt.date(2026, 3, 1)) == (
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 2),
    )
    moment = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    tick = dt.timedelta(microseconds=1)
    assert neighbours(FactType.DATETIME, moment) == (moment - tick, moment + tick)
    assert neighbours(FactType.BOOLEAN, True) is None
    assert neighbours(FactType.STRING, "gold") is None


def test_the_one_whole_number_between_two_fractions_is_tried() -> None:
    # `gt 2.5, lt 3.5` on a whole number holds only at 3; the points used to step one past
    # the floor and ceiling (1, 4, 2, 5) and never tried it.
    fact = Fact("n", FactType.INTEGER, Text(), minimum=0)
    cmps = [Comparison("n", Operator.GT, 2.5), Comparison("n", Operator.LT, 3.5)]
    assert 3 in list(points(fact, cmps))
    assert candidates(fact, cmps) == [3]
