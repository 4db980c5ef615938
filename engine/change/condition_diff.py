"""How a rule's condition changed between two versions: each moved comparison, and whether
it lets the rule reach more accounts, fewer, or some of each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from clearline.engine.canonical import to_json_value
from clearline.engine.change.impact import Scope
from clearline.engine.change.kinds import ChangeKind
from clearline.engine.model import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    FactRef,
    Not,
    Operator,
)


def describe(condition: Condition) -> str:
    if isinstance(condition, Comparison):
        operand = condition.operand
        if isinstance(operand, FactRef):
            value = f"fact {operand.fact}"
        elif isinstance(operand, tuple):
            value = "[" + ", ".join(str(to_json_value(v)) for v in operand) + "]"
        else:
            value = str(to_json_value(operand))
        return f"{condition.fact} {condition.op.value} {value}"
    if isinstance(condition, Not):
        return f"not ({describe(condition.part)})"
    joiner = " and " if isinstance(condition, AllOf) else " or "
    return "(" + joiner.join(describe(part) for part in condition.parts) + ")"


_LOWER_BOUND = {Operator.GT, Operator.GE}
_UPPER_BOUND = {Operator.LT, Operator.LE}


def comparison_scope(old: Comparison, new: Comparison) -> Scope | None:
    """How the set of values satisfying a comparison moved; None when it did not move."""
    if old == new:
        return None
    a: Any = old.operand  # literals of one fact share a type; the checker made sure
    b: Any = new.operand
    if old.fact != new.fact or isinstance(a, FactRef) or isinstance(b, FactRef):
        return Scope.MIXED
    try:
        if old.op in _LOWER_BOUND and new.op in _LOWER_BOUND:
            # x > t: a lower threshold, or ge instead of gt at the same threshold, admits more.
            if a == b:
                return Scope.WIDER if new.op is Operator.GE else Scope.NARROWER
            return Scope.WIDER if b < a else Scope.NARROWER
        if old.op in _UPPER_BOUND and new.op in _UPPER_BOUND:
            if a == b:
                return Scope.WIDER if new.op is Operator.LE else Scope.NARROWER
            return Scope.WIDER if b > a else Scope.NARROWER
        if old.op is Operator.BETWEEN and new.op is Operator.BETWEEN:
            assert isinstance(a, tuple) and isinstance(b, tuple)
            wider = b[0] <= a[0] and b[1] >= a[1]
            narrower = b[0] >= a[0] and b[1] <= a[1]
            return Scope.WIDER if wider else Scope.NARROWER if narrower else Scope.MIXED
        if old.op is new.op and old.op in (Operator.IN, Operator.NOT_IN):
            assert isinstance(a, tuple) and isinstance(b, tuple)
            grown, shrunk = set(b) >= set(a), set(b) <= set(a)
            if old.op is Operator.NOT_IN:
                grown, shrunk = shrunk, grown  # excluding fewer values admits more
            return Scope.WIDER if grown else Scope.NARROWER if shrunk else Scope.MIXED
    except TypeError:
        return Scope.MIXED
    return Scope.MIXED


def _flip(scope: Scope) -> Scope:
    return {Scope.WIDER: Scope.NARROWER, Scope.NARROWER: Scope.WIDER, Scope.MIXED: Scope.MIXED}[
        scope
    ]


@dataclass(frozen=True)
class ConditionChange:
    """One moved part of a condition, and how it moves the rule's reach."""

    where: str
    old: str | None
    new: str | None
    scope: Scope
    what: ChangeKind


def condition_changes(
    old: Condition, new: Condition, where: str = "when", negated: bool = False
) -> Iterator[ConditionChange]:
    """The changes between two condition trees, with their effect on the rule's reach."""
    if old == new:
        return

    def scoped(scope: Scope) -> Scope:
        return _flip(scope) if negated else scope

    if isinstance(old, Comparison) and isinstance(new, Comparison) and old.fact == new.fact:
        scope = comparison_scope(old, new)
        if scope is not None:
            what = ChangeKind.THRESHOLD if old.op is new.op else ChangeKind.OPERATOR
            yield ConditionChange(where, describe(old), describe(new), scoped(scope), what)
        return
    if isinstance(old, Not) and isinstance(new, Not):
        yield from condition_changes(old.part, new.part, f"{where}/not", not negated)
        return
    if isinstance(old, (AllOf, AnyOf)) and type(old) is type(new):
        assert isinstance(new, (AllOf, AnyOf))
        kind = "all" if isinstance(old, AllOf) else "any"
        remaining = list(new.parts)
        unmatched_old = []
        for part in old.parts:
            if part in remaining:
                remaining.remove(part)
            else:
                unmatched_old.append(part)
        for part in unmatched_old:
            partner = _partner(part, remaining)
            if partner is not None:
                remaining.remove(partner)
                yield from condition_changes(part, partner, f"{where}/{kind}", negated)
                continue
            # Dropping a conjunct widens an `all`; dropping a branch narrows an `any`.
            scope = Scope.WIDER if kind == "all" else Scope.NARROWER
            yield ConditionChange(
                f"{where}/{kind}", describe(part), None, scoped(scope), ChangeKind.REMOVED
            )
        for part in remaining:
            scope = Scope.NARROWER if kind == "all" else Scope.WIDER
            yield ConditionChange(
                f"{where}/{kind}", None, describe(part), scoped(scope), ChangeKind.ADDED
            )
        return
    yield ConditionChange(where, describe(old), describe(new), Scope.MIXED, ChangeKind.REWRITTEN)


def _partner(part: Condition, candidates: list[Condition]) -> Condition | None:
    """A changed counterpart: a comparison on the same fact, or a combinator of the same kind."""
    for candidate in candidates:
        if isinstance(part, Comparison) and isinstance(candidate, Comparison):
            if part.fact == candidate.fact and _same_family(part.op, candidate.op):
                return candidate
        elif type(part) is type(candidate) and not isinstance(part, Comparison):
            return candidate
    return None


def _same_family(a: Operator, b: Operator) -> bool:
    families = (_LOWER_BOUND, _UPPER_BOUND)
    return a is b or any(a in family and b in family for family in families)


# -- classification -----------------------------------------------------------------------------
