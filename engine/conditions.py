"""Condition algebra shared by the disclosures, the event monitor and the advice checks.

One De Morgan rewrite (`negate`) and one disjunctive normal form (`branches`) serve every
reader of the model that needs "when does this not hold" or "which alternatives make this
hold": sentences for customers, durable_rules patterns for the monitor, and the escape routes
of generated advice. Keeping them here means the three can never disagree about a negation.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from clearline.engine.model import (
    NEGATED_OPERATORS,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Fact,
    FactRef,
    FactType,
    Not,
    Operator,
    Policy,
    Rule,
    comparisons,
)

_ORDERED = frozenset({FactType.INTEGER, FactType.NUMBER, FactType.DATE, FactType.DATETIME})


def negate(condition: Condition) -> Condition:
    """The condition that holds exactly when `condition` is false (De Morgan, pushed down)."""
    if isinstance(condition, Not):
        return condition.part
    if isinstance(condition, AllOf):
        return AnyOf(tuple(negate(part) for part in condition.parts), condition.path)
    if isinstance(condition, AnyOf):
        return AllOf(tuple(negate(part) for part in condition.parts), condition.path)
    cmp = condition
    if cmp.op is Operator.BETWEEN:
        assert isinstance(cmp.operand, tuple)
        low, high = cmp.operand
        return AnyOf(
            (
                Comparison(cmp.fact, Operator.LT, low, cmp.path),
                Comparison(cmp.fact, Operator.GT, high, cmp.path),
            ),
            cmp.path,
        )
    if isinstance(cmp.operand, bool) and cmp.op in (Operator.EQ, Operator.NE):
        # A present boolean is true or false, so "not true" reads better as "false".
        flipped = not cmp.operand if cmp.op is Operator.EQ else cmp.operand
        return Comparison(cmp.fact, Operator.EQ, flipped, cmp.path)
    return Comparison(cmp.fact, NEGATED_OPERATORS[cmp.op], cmp.operand, cmp.path)


def branches(condition: Condition) -> list[list[Comparison]]:
    """The condition in disjunctive normal form: alternatives, each a conjunction of comparisons.

    `not` is pushed down with `negate` first, so no branch holds a negation.
    """
    if isinstance(condition, Comparison):
        return [[condition]]
    if isinstance(condition, Not):
        return branches(negate(condition.part))
    parts = [branches(part) for part in condition.parts]
    if isinstance(condition, AllOf):  # a conjunction: every combination
        result: list[list[Comparison]] = [[]]
        for options in parts:
            result = [branch + option for branch in result for option in options]
        return result
    return [branch for options in parts for branch in options]


def literal_holds(cmp: Comparison, value: Any) -> bool | None:
    """Whether `value` satisfies a comparison with a literal operand (None: cannot tell)."""
    operand = cmp.operand
    if isinstance(operand, FactRef) or value is None:
        return None
    try:
        match cmp.op:
            case Operator.EQ:
                return bool(value == operand)
            case Operator.NE:
                return bool(value != operand)
            case Operator.LT:
                return bool(value < operand)
            case Operator.LE:
                return bool(value <= operand)
            case Operator.GT:
                return bool(value > operand)
            case Operator.GE:
                return bool(value >= operand)
            case Operator.IN:
                return value in operand  # type: ignore[operator]
            case Operator.NOT_IN:
                return value not in operand  # type: ignore[operator]
            case Operator.BETWEEN:
                assert isinstance(operand, tuple)
                return bool(operand[0] <= value <= operand[1])
    except TypeError:
        return None
    return None  # pragma: no cover - every operator is matched above


def _split(cmp: Comparison, fact: Fact | None) -> list[Comparison]:
    """`ne v` on an ordered fact as its two sides, so each side can be judged on its own."""
    ordered = fact is not None and fact.type in _ORDERED
    if cmp.op is Operator.NE and ordered and not isinstance(cmp.operand, FactRef):
        return [
            Comparison(cmp.fact, Operator.LT, cmp.operand, cmp.path),
            Comparison(cmp.fact, Operator.GT, cmp.operand, cmp.path),
        ]
    return [cmp]


def literal_thresholds(conditions: Iterable[Condition]) -> dict[str, list[Any]]:
    """Every literal each fact is compared with in `conditions`, in order of first use."""
    found: dict[str, list[Any]] = {}
    for condition in conditions:
        for cmp in comparisons(condition):
            if isinstance(cmp.operand, FactRef):
                continue
            values = found.setdefault(cmp.fact, [])
            for value in cmp.operand if isinstance(cmp.operand, tuple) else (cmp.operand,):
                if value not in values:
                    values.append(value)
    return found


def points(fact: Fact, cmps: Sequence[Comparison]) -> Iterator[Any]:
    """Values of `fact` at and beside every threshold of `cmps` (where results can change)."""
    if fact.type is FactType.BOOLEAN:
        yield from (False, True)
        return
    if fact.type is FactType.ENUM:
        yield from fact.values
        return
    for bound in (fact.minimum, fact.maximum):
        if bound is not None:
            yield bound
    for cmp in cmps:
        operand = cmp.operand
        if isinstance(operand, FactRef):
            continue
        for point in operand if isinstance(operand, tuple) else (operand,):
            yield point
            if isinstance(point, bool) or not isinstance(point, (int, float, dt.date)):
                continue
            if isinstance(point, (int, float)) and fact.type is FactType.INTEGER:
                yield from (math.floor(point) - 1, math.ceil(point) + 1)
            elif isinstance(point, (int, float)) and fact.type is FactType.NUMBER:
                yield from (math.nextafter(point, -math.inf), math.nextafter(point, math.inf))
            elif isinstance(point, dt.datetime):
                yield from (
                    point - dt.timedelta(microseconds=1),
                    point + dt.timedelta(microseconds=1),
                )
            elif isinstance(point, dt.date):
                yield from (point - dt.timedelta(days=1), point + dt.timedelta(days=1))


def _overlap(fact: Fact, ours: Sequence[Comparison], theirs: Sequence[Comparison]) -> bool:
    """Whether one value of `fact` satisfies every comparison of both lists (None counts as yes)."""
    cmps = [*ours, *theirs]
    for value in points(fact, cmps):
        if fact.minimum is not None and value < fact.minimum:
            continue
        if fact.maximum is not None and value > fact.maximum:
            continue
        if all(literal_holds(cmp, value) is not False for cmp in cmps):
            return True
    return False


def leads_to_stronger(policy: Policy, rule: Rule, route: Sequence[Comparison]) -> list[Rule]:
    """Rules of an equal or stronger action than `rule` that a value in `route` may make fire.

    A rule counts when one of its branches reads a fact of the route and every comparison of
    that branch on the route's facts can hold together with the route: moving there may trade
    this rule for one at least as harsh, so advice must not point there.
    """
    strength = policy.outcome.rank(rule.action.kind)
    named = {cmp.fact for cmp in route}
    found: list[Rule] = []
    for other in policy.rules:
        if other.id == rule.id or policy.outcome.rank(other.action.kind) > strength:
            continue
        for branch in branches(other.when):
            if not named & {cmp.fact for cmp in branch}:
                continue
            if all(
                _overlap(
                    fact,
                    [c for c in route if c.fact == name],
                    [c for c in branch if c.fact == name],
                )
                for name in named
                if (fact := policy.fact(name)) is not None
            ):
                found.append(other)
                break
    return found


def escape_routes(policy: Policy, rule: Rule) -> list[list[Comparison]]:
    """The ways out of `rule` (branches of its negation) that do not lead into a rule of an
    equal or stronger action; "more than 90 days late" is no way out of a suspension."""
    routes: list[list[Comparison]] = []
    for branch in branches(negate(rule.when)):
        sides: list[list[Comparison]] = [[]]
        for cmp in branch:
            sides = [[*side, part] for side in sides for part in _split(cmp, policy.fact(cmp.fact))]
        routes.extend(side for side in sides if not leads_to_stronger(policy, rule, side))
    return routes


def route_condition(routes: Sequence[Sequence[Comparison]]) -> Condition | None:
    """The routes as one condition (None when there is no way out)."""
    parts: list[Condition] = [
        route[0] if len(route) == 1 else AllOf(tuple(route)) for route in routes if route
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))
