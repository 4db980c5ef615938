"""What would change the outcome: for a fired rule, the smallest change of one fact that stops it.

Computed from the compiled condition, not from the wording. For each fact the rule reads, the
candidate values are the fact's thresholds and their neighbours (one step below and above:
1 for integers, one day for dates, the next float for numbers), the other side of fact-vs-fact
comparisons and the fact's declared bounds. Between two neighbouring candidates every comparison
keeps its result, so testing the candidates with the compiled condition
(`CompiledPolicy.condition_fn`) finds every value that stops the rule. The nearest such value is
the counterfactual; the run of candidates around it that also stop the rule gives the region
shown to the reader ("30 or fewer", "below 90%").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from clearline.engine.conditions import compared_with, neighbours
from clearline.engine.decisions.compile import CompiledPolicy, ConditionFn
from clearline.engine.model import (
    AllOf,
    Comparison,
    Condition,
    Fact,
    FactType,
    Operator,
    Rule,
    condition_facts,
)

_ORDERED = frozenset({FactType.INTEGER, FactType.NUMBER, FactType.DATE, FactType.DATETIME})


@dataclass(frozen=True)
class Counterfactual:
    """Changing `fact` from `observed` to `value` (or anywhere in `region`) stops `rule`."""

    rule: str
    fact: str
    observed: Any
    value: Any
    region: Condition
    distance: float


def counterfactuals(
    compiled: CompiledPolicy, rule: Rule, values: Mapping[str, Any]
) -> list[Counterfactual]:
    """One counterfactual per fact of the rule that can stop it alone, smallest change first."""
    holds = _condition(compiled, rule.when)
    found: list[Counterfactual] = []
    for name in condition_facts(rule.when):
        fact = compiled.policy.fact(name)
        if fact is None:  # pragma: no cover - a checked policy names only declared facts
            continue
        found_one = _for_fact(compiled, rule, fact, holds, values)
        if found_one is not None:
            found.append(found_one)
    return sorted(found, key=lambda cf: cf.distance)


# Keyed by the policy's content hash and the condition's value: an id() can be reused by a new
# object once the old one is freed, and would then return another policy's compiled condition.
_CACHE: dict[tuple[str, Condition], ConditionFn] = {}


def _condition(compiled: CompiledPolicy, condition: Condition) -> ConditionFn:
    key = (compiled.sha256, condition)
    fn = _CACHE.get(key)
    if fn is None:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        fn = _CACHE[key] = compiled.condition_fn(condition)
    return fn


def _for_fact(
    compiled: CompiledPolicy,
    rule: Rule,
    fact: Fact,
    holds: ConditionFn,
    values: Mapping[str, Any],
) -> Counterfactual | None:
    observed = values.get(fact.name)
    candidates = sorted(set(_candidates(rule.when, fact, values)), key=_order_key)
    if observed is not None and fact.type in _ORDERED:
        candidates = sorted({*candidates, observed}, key=_order_key)
    stops = [holds({**values, fact.name: c}) is False for c in candidates]
    options = [c for c, stop in zip(candidates, stops, strict=True) if stop]
    if not options:
        return None
    # Prefer a change that does not make a rule of the same or a stronger action fire (lower a
    # review's transfers rather than raise them into a suspension), then the smallest change.
    worse = {c: _escalates(compiled, rule, {**values, fact.name: c}, values) for c in options}
    if fact.type not in _ORDERED:
        value = min(options, key=lambda c: worse[c])
        region: Condition = (
            Comparison(fact.name, Operator.EQ, value)
            if len(options) == 1 or fact.type is not FactType.ENUM
            else Comparison(fact.name, Operator.IN, tuple(options))
        )
        return Counterfactual(rule.id, fact.name, observed, value, region, 1.0)
    value = min(options, key=lambda c: (worse[c], _distance(c, observed)))
    at = candidates.index(value)
    low = at
    while low > 0 and stops[low - 1]:
        low -= 1
    high = at
    while high < len(candidates) - 1 and stops[high + 1]:
        high += 1
    region = _region(fact, candidates, low, high)
    return Counterfactual(rule.id, fact.name, observed, value, region, _relative(value, observed))


def _escalates(
    compiled: CompiledPolicy, rule: Rule, changed: Mapping[str, Any], values: Mapping[str, Any]
) -> bool:
    outcome = compiled.policy.outcome
    strength = outcome.rank(rule.action.kind)
    before = set(compiled.traced3(values)[2])
    return any(
        outcome.rank(compiled.policy.rules[r].action.kind) <= strength
        for r in compiled.traced3(changed)[2]
        if r not in before
    )


def _order_key(value: Any) -> Any:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, dt.datetime):
        return (2, value.timestamp())
    if isinstance(value, dt.date):
        return (2, value.toordinal())
    return (3, str(value))


def _candidates(condition: Condition, fact: Fact, values: Mapping[str, Any]) -> Iterator[Any]:
    """Values of `fact` at and around every point where a comparison on it can change result."""
    if fact.type is FactType.BOOLEAN:
        yield from (False, True)
        return
    if fact.type is FactType.ENUM:
        yield from fact.values
        return
    literals, others = compared_with([condition], fact.name)
    points: list[Any] = [bound for bound in (fact.minimum, fact.maximum) if bound is not None]
    points += literals
    points += [values[name] for name in others if values.get(name) is not None]
    if fact.type is FactType.STRING:
        yield from (point for point in points if isinstance(point, str))
        yield ""
        return
    for point in points:
        for candidate in _around(fact, point):
            if _within(fact, candidate):
                yield candidate


def _around(fact: Fact, point: Any) -> Iterator[Any]:
    if fact.type is FactType.DATE and not isinstance(point, dt.date):
        return
    if fact.type is FactType.DATETIME and not isinstance(point, dt.datetime):
        return
    beside = neighbours(fact.type, point)
    if beside is None:
        return
    below, above = beside
    yield below
    if fact.type is FactType.INTEGER:
        if not isinstance(point, float) or point.is_integer():
            yield int(point)  # a fraction is no value of an integer fact, its neighbours are
    elif fact.type is FactType.NUMBER:
        number = float(point)
        yield int(number) if number.is_integer() and abs(number) < 2**53 else number
    else:
        yield point
    yield above


def _within(fact: Fact, value: Any) -> bool:
    try:
        if fact.minimum is not None and value < fact.minimum:
            return False
        return not (fact.maximum is not None and value > fact.maximum)
    except TypeError:
        return False


def _distance(value: Any, observed: Any) -> float:
    if observed is None:
        return 0.0
    if isinstance(value, dt.datetime) and isinstance(observed, dt.datetime):
        return abs((value - observed).total_seconds())
    if isinstance(value, dt.date) and isinstance(observed, dt.date):
        return float(abs(value.toordinal() - observed.toordinal()))
    return float(abs(value - observed))


def _relative(value: Any, observed: Any) -> float:
    """A change's size relative to the value it changes, to compare changes of different facts."""
    distance = _distance(value, observed)
    if isinstance(observed, (int, float)) and not isinstance(observed, bool):
        return distance / max(abs(observed), 1.0)
    return distance


def _region(fact: Fact, candidates: list[Any], low: int, high: int) -> Condition:
    """The values from candidates[low] to candidates[high] (and beyond, at the ends)."""
    parts: list[Comparison] = []
    if low > 0:
        parts.append(_bound(fact, candidates[low - 1], candidates[low], lower=True))
    if high < len(candidates) - 1:
        parts.append(_bound(fact, candidates[high + 1], candidates[high], lower=False))
    if not parts:  # every value stops the rule: the nearest one is as good as any
        return Comparison(fact.name, Operator.EQ, candidates[low])
    if len(parts) == 1:
        only = parts[0]
        edge = fact.minimum if only.op is Operator.LE else fact.maximum
        if only.op in (Operator.LE, Operator.GE) and edge is not None and only.operand == edge:
            return Comparison(fact.name, Operator.EQ, edge)  # "0", not "0 or fewer"
        return only
    first, second = parts
    if first.op is Operator.GE and second.op is Operator.LE and first.operand == second.operand:
        return Comparison(fact.name, Operator.EQ, first.operand)
    if first.op is Operator.GE and second.op is Operator.LE:
        return Comparison(fact.name, Operator.BETWEEN, (first.operand, second.operand))  # type: ignore[arg-type]
    return AllOf(tuple(parts))


def _bound(fact: Fact, outside: Any, inside: Any, *, lower: bool) -> Comparison:
    """The comparison that admits `inside` and rejects `outside` (its neighbour candidate).

    For numbers the two are one float apart, so "below 0.9" and "0.8999999999999999 or less"
    admit the same values; the shorter spelling is the threshold the policy wrote.
    """
    if fact.type is FactType.NUMBER and len(repr(float(outside))) < len(repr(float(inside))):
        return Comparison(fact.name, Operator.GT if lower else Operator.LT, outside)
    return Comparison(fact.name, Operator.GE if lower else Operator.LE, inside)
