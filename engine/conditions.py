"""Condition algebra shared by the engine, the disclosures, the event monitor and the checks.

One De Morgan rewrite (`negate`) and one disjunctive normal form (`branches`) serve every
reader of the model that needs "when does this not hold" or "which alternatives make this
hold": sentences for customers, durable_rules patterns for the monitor, and the escape routes
of generated advice. Keeping them here means the three can never disagree about a negation.

Where a fact's thresholds cut its range is shared the same way: `literals` (what one comparison
compares with), `compared_with` (everything a fact meets in some conditions), `threshold_cuts`
(the sorted cuts, each with the side its own value falls on), and `neighbours` (the values of a
fact's type just beside a cut). The compiled cell search, the text-number check, the sampler,
the impossible-rule check, the counterfactuals and the self-check page all read them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
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


def literals(cmp: Comparison) -> tuple[Any, ...]:
    """The literal values a comparison compares its fact with (none when it names a fact)."""
    operand = cmp.operand
    if isinstance(operand, FactRef):
        return ()
    return operand if isinstance(operand, tuple) else (operand,)


def literal_thresholds(conditions: Iterable[Condition]) -> dict[str, list[Any]]:
    """Every literal each fact is compared with in `conditions`, in order of first use."""
    found: dict[str, list[Any]] = {}
    for condition in conditions:
        for cmp in comparisons(condition):
            if isinstance(cmp.operand, FactRef):
                continue
            values = found.setdefault(cmp.fact, [])
            for value in literals(cmp):
                if value not in values:
                    values.append(value)
    return found


def compared_with(conditions: Iterable[Condition], fact: str) -> tuple[list[Any], list[str]]:
    """The literals `fact` is compared with and the facts it is compared with, in walk order."""
    values: list[Any] = []
    others: list[str] = []
    for condition in conditions:
        for cmp in comparisons(condition):
            operand = cmp.operand
            if cmp.fact == fact:
                if isinstance(operand, FactRef):
                    others.append(operand.fact)
                else:
                    values.extend(literals(cmp))
            elif isinstance(operand, FactRef) and operand.fact == fact:
                others.append(cmp.fact)
    return values, others


class Side(Enum):
    """Which results the value at a cut shares with the values around it."""

    BELOW = "below"  # like the values just below it: `le`, `gt`, the high end of `between`
    ABOVE = "above"  # like the values just above it: `lt`, `ge`, the low end of `between`
    ALONE = "alone"  # like neither (`eq`, `ne`, `in`), or comparisons disagree about it


@dataclass(frozen=True)
class Cut:
    """A value where a comparison on an ordered fact can change result."""

    value: Any
    side: Side


_SIDES: dict[Operator, Side] = {
    Operator.LT: Side.ABOVE,
    Operator.LE: Side.BELOW,
    Operator.GT: Side.BELOW,
    Operator.GE: Side.ABOVE,
}


def _ordered_value(value: Any) -> bool:
    return isinstance(value, (int, float, dt.date)) and not isinstance(value, bool)


def _cut_sides(cmp: Comparison) -> Iterator[tuple[Any, Side]]:
    values = literals(cmp)
    if cmp.op is Operator.BETWEEN and len(values) == 2:
        low, high = values
        if low == high:  # `between 5 and 5` is `eq 5`
            yield low, Side.ALONE
        else:
            yield from ((low, Side.ABOVE), (high, Side.BELOW))
        return
    side = _SIDES.get(cmp.op, Side.ALONE)
    for value in values:
        yield value, side


def threshold_cuts(conditions: Iterable[Condition], fact: str) -> list[Cut]:
    """Where the comparisons of `fact` with ordered literals cut its range, in ascending order.

    Equal literals (`30` and `30.0`) make one cut, spelt as first used; the literals of one
    fact share a type (the checker makes sure), so they sort.
    """
    found: dict[Any, Cut] = {}
    for condition in conditions:
        for cmp in comparisons(condition):
            if cmp.fact != fact:
                continue
            for value, side in _cut_sides(cmp):
                if not _ordered_value(value):
                    continue
                seen = found.get(value)
                if seen is None:
                    found[value] = Cut(value, side)
                elif seen.side is not side:
                    found[value] = Cut(seen.value, Side.ALONE)
    return sorted(found.values(), key=lambda cut: cut.value)


def neighbours(fact_type: FactType, value: Any) -> tuple[Any, Any] | None:
    """The nearest values of a fact's type just below and just above `value` (None: unordered).

    A whole number's neighbours are one less and one more; a fraction on an integer fact lies
    between its floor and its ceiling; a number's are the adjacent floats; a date's the days
    before and after (a date fact counts in days), a date-time's one microsecond either side.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if fact_type is FactType.INTEGER:
            if isinstance(value, float) and not value.is_integer():
                return math.floor(value), math.ceil(value)
            return int(value) - 1, int(value) + 1
        if fact_type is FactType.NUMBER:
            return math.nextafter(value, -math.inf), math.nextafter(value, math.inf)
        return None
    if isinstance(value, dt.datetime) and fact_type is not FactType.DATE:
        tick = dt.timedelta(microseconds=1)
        return value - tick, value + tick
    if isinstance(value, dt.date):
        day = dt.timedelta(days=1)
        return value - day, value + day
    return None


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
        for point in literals(cmp):
            yield point
            around = neighbours(fact.type, point)
            if around is not None:
                yield from around


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
