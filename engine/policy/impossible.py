"""Conditions that can never hold, and rules that can never decide, found from the model.

The checker reads a condition in disjunctive normal form (`branches` of engine/conditions.py,
with `not` pushed down by `negate`): it can hold only if one branch can. A branch can hold only
if every fact it reads has a value that meets all of the branch's comparisons on that fact
within the fact's declared bounds or values, and the bounds left to two facts compared with
each other allow the comparison. Candidate values are the `points` where results can change,
judged by `literal_holds`, so the checker and the advice agree on what a threshold means.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clearline.engine.conditions import branches, literal_holds, negate, points
from clearline.engine.model import (
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
    condition_facts,
)

MAX_BRANCHES = 512  # beyond this the normal form is too large to judge; the check stays silent
_MAX_COMBINATIONS = 4096  # candidate value combinations tried for an example account
_ORDERED = frozenset({FactType.INTEGER, FactType.NUMBER, FactType.DATE, FactType.DATETIME})
_LOWER = frozenset({Operator.GT, Operator.GE, Operator.EQ, Operator.IN, Operator.BETWEEN})
_UPPER = frozenset({Operator.LT, Operator.LE, Operator.EQ, Operator.IN, Operator.BETWEEN})
_WORDS = {
    Operator.EQ: "equal to",
    Operator.NE: "other than",
    Operator.LT: "below",
    Operator.LE: "at most",
    Operator.GT: "above",
    Operator.GE: "at least",
    Operator.IN: "one of",
    Operator.NOT_IN: "none of",
    Operator.BETWEEN: "between",
}


def branch_count(condition: Condition, negated: bool = False) -> int:
    """How many branches `branches` would give, without building them."""
    if isinstance(condition, Comparison):
        return 2 if negated and condition.op is Operator.BETWEEN else 1
    if isinstance(condition, Not):
        return branch_count(condition.part, not negated)
    counts = [branch_count(part, negated) for part in condition.parts]
    conjunction = isinstance(condition, AllOf) != negated
    if conjunction:
        total = 1
        for count in counts:
            total = min(total * count, MAX_BRANCHES + 1)
        return total
    return min(sum(counts), MAX_BRANCHES + 1)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, tuple):
        return ", ".join(_show(v) for v in value)
    return str(value)


def _phrase(cmp: Comparison) -> str:
    operand = cmp.operand
    if isinstance(operand, FactRef):
        return f"{_WORDS[cmp.op]} `{operand.fact}`"
    if cmp.op is Operator.BETWEEN and isinstance(operand, tuple):
        return f"between {_show(operand[0])} and {_show(operand[1])}"
    return f"{_WORDS[cmp.op]} {_show(operand)}"


def _domain(fact: Fact) -> str:
    """The values a fact is declared to take, in words (empty when unbounded)."""
    if fact.type is FactType.ENUM:
        return f"its declared values are {', '.join(fact.values)}"
    if fact.minimum is not None and fact.maximum is not None:
        return f"it is declared from {_show(fact.minimum)} to {_show(fact.maximum)}"
    if fact.minimum is not None:
        return f"its declared minimum is {_show(fact.minimum)}"
    if fact.maximum is not None:
        return f"its declared maximum is {_show(fact.maximum)}"
    return ""


_ANY_VALUE: dict[FactType, Any] = {
    FactType.INTEGER: 0,
    FactType.NUMBER: 0.0,
    FactType.DATE: dt.date(2000, 1, 1),
    FactType.DATETIME: dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
}


def _in_bounds(fact: Fact, value: Any) -> bool:
    try:
        if fact.minimum is not None and value < fact.minimum:
            return False
        return not (fact.maximum is not None and value > fact.maximum)
    except TypeError:
        return True


def candidates(fact: Fact, cmps: Sequence[Comparison], near: Sequence[Any] = ()) -> list[Any]:
    """Values of `fact` within its declaration that meet every comparison of `cmps` (tried at
    its thresholds and, for comparisons with another fact, at and beside that fact's values)."""
    beside = [Comparison(fact.name, Operator.EQ, value) for value in near]
    pool = list(points(fact, [*cmps, *beside]))
    if not pool and fact.type in _ANY_VALUE:
        # No bound and no threshold: nothing narrows the fact, so any one value stands for all.
        pool.append(_ANY_VALUE[fact.type])
    if fact.type is FactType.STRING:
        # Any string but the named ones: `ne "a"` holds for countless strings.
        pool.append("\x00" + "".join(str(v) for v in pool))
    found: list[Any] = []
    for value in pool:
        if fact.type is FactType.INTEGER and isinstance(value, float):
            if not value.is_integer():
                continue  # `lt: 2.5` on a whole number: 2.5 itself is no value it can take
            value = int(value)
        if value in found or not _in_bounds(fact, value):
            continue
        if all(literal_holds(cmp, value) is not False for cmp in cmps):
            found.append(value)
    return found


@dataclass(frozen=True)
class _Span:
    """The least and greatest value left to a fact (None: unbounded on that side)."""

    values: tuple[Any, ...]
    low: Any
    high: Any
    finite: bool  # the values are all it may take (enum, boolean)

    @classmethod
    def of(cls, fact: Fact, cmps: Sequence[Comparison], values: list[Any]) -> _Span:
        ops = {cmp.op for cmp in cmps}
        if fact.type not in _ORDERED:
            return cls(tuple(values), None, None, fact.type is not FactType.STRING)
        low = min(values) if fact.minimum is not None or ops & _LOWER else None
        high = max(values) if fact.maximum is not None or ops & _UPPER else None
        return cls(tuple(values), low, high, False)

    def words(self) -> str:
        if self.finite or (self.low is not None and self.low == self.high):
            return f"one of {_show(self.values)}" if len(self.values) > 1 else _show(self.values[0])
        if self.low is not None and self.high is not None:
            return f"from {_show(self.low)} to {_show(self.high)}"
        if self.low is not None:
            return f"at least {_show(self.low)}"
        if self.high is not None:
            return f"at most {_show(self.high)}"
        return "unbounded"


def _pair_impossible(op: Operator, a: _Span, b: _Span) -> bool:
    """Whether the spans left to two facts decide that `a op b` never holds."""
    try:
        if a.finite and b.finite:
            pairs = itertools.product(a.values, b.values)
            return not any(literal_holds(Comparison("", op, y), x) is not False for x, y in pairs)
        if op in (Operator.LT, Operator.LE, Operator.GT, Operator.GE):
            lo, hi = (a.low, b.high) if op in (Operator.LT, Operator.LE) else (b.low, a.high)
            if lo is None or hi is None:
                return False
            return bool(lo >= hi) if op in (Operator.LT, Operator.GT) else bool(lo > hi)
        if op is Operator.EQ:
            return (a.high is not None and b.low is not None and a.high < b.low) or (
                b.high is not None and a.low is not None and b.high < a.low
            )
        if op is Operator.NE:
            single = a.low is not None and a.low == a.high and b.low == b.high
            return bool(single and a.low == b.low)
    except TypeError:
        return False
    return False


@dataclass(frozen=True)
class Judgement:
    """One branch judged: the reason it never holds, or an example of values that meet it."""

    reason: str | None
    example: dict[str, Any] | None


def judge_branch(facts: Mapping[str, Fact], branch: Sequence[Comparison]) -> Judgement:
    """Whether one conjunction of comparisons can hold, with the reason in words or an example."""
    by_fact: dict[str, list[Comparison]] = {}
    pairs: list[Comparison] = []
    for cmp in branch:
        if isinstance(cmp.operand, FactRef):
            pairs.append(cmp)
        by_fact.setdefault(cmp.fact, [])
        if not isinstance(cmp.operand, FactRef):
            by_fact[cmp.fact].append(cmp)
    for cmp in pairs:
        assert isinstance(cmp.operand, FactRef)
        by_fact.setdefault(cmp.operand.fact, [])
    options: dict[str, list[Any]] = {}
    spans: dict[str, _Span] = {}
    for name, cmps in by_fact.items():
        fact = facts.get(name)
        if fact is None:
            return Judgement(None, None)  # an unknown fact is C100's finding
        values = candidates(fact, cmps)
        if not values:
            said = " and ".join(_phrase(cmp) for cmp in cmps)
            domain = _domain(fact)
            return Judgement(f"no `{name}` is {said}" + (f" ({domain})" if domain else ""), None)
        options[name] = values
        spans[name] = _Span.of(fact, cmps, values)
    for cmp in pairs:
        assert isinstance(cmp.operand, FactRef)
        a, b = spans[cmp.fact], spans[cmp.operand.fact]
        if _pair_impossible(cmp.op, a, b):
            return Judgement(
                f"`{cmp.fact}` is never {_phrase(cmp)}: here `{cmp.fact}` is {a.words()} and "
                f"`{cmp.operand.fact}` is {b.words()}",
                None,
            )
    for cmp in pairs:  # values of the compared fact become candidates of this one
        assert isinstance(cmp.operand, FactRef)
        for mine, theirs in ((cmp.fact, cmp.operand.fact), (cmp.operand.fact, cmp.fact)):
            fact = facts[mine]
            more = candidates(fact, by_fact[mine], options[theirs])
            options[mine] += [value for value in more if value not in options[mine]]
    return Judgement(None, _example(options, pairs))


def _example(
    options: Mapping[str, list[Any]], pairs: Sequence[Comparison]
) -> dict[str, Any] | None:
    names = list(options)
    combos = itertools.islice(itertools.product(*(options[n] for n in names)), _MAX_COMBINATIONS)
    for combo in combos:
        values = dict(zip(names, combo, strict=True))
        if all(
            literal_holds(Comparison("", c.op, values[c.operand.fact]), values[c.fact]) is not False
            for c in pairs
            if isinstance(c.operand, FactRef)
        ):
            return values
    return None


def never_holds(facts: Mapping[str, Fact], condition: Condition) -> str | None:
    """Why `condition` can never hold, in words; None when it can or cannot be judged."""
    if branch_count(condition) > MAX_BRANCHES:
        return None
    reasons: list[str] = []
    for branch in branches(condition):
        try:
            judgement = judge_branch(facts, branch)
        except TypeError:  # a threshold of the wrong type: C102 reports it, nothing to judge
            return None
        if judgement.reason is None:
            return None
        if judgement.reason not in reasons:
            reasons.append(judgement.reason)
    if not reasons:
        return None
    if len(reasons) == 1:
        return reasons[0]
    shown = "; ".join(reasons[:3]) + ("; …" if len(reasons) > 3 else "")
    return f"no alternative can hold: {shown}"


def impossible_nodes(
    facts: Mapping[str, Fact], condition: Condition
) -> Iterator[tuple[Condition, str]]:
    """Each outermost node of a condition that can never hold, with the reason.

    A part under `not` is not reported: one that never holds makes the `not` always hold.
    """
    reason = never_holds(facts, condition)
    if reason is not None:
        yield condition, reason
        return
    if isinstance(condition, (AllOf, AnyOf)):
        for part in condition.parts:
            yield from impossible_nodes(facts, part)


def example(facts: Mapping[str, Fact], condition: Condition) -> dict[str, Any] | None:
    """Values of the facts a condition reads that make it hold (None if none is found)."""
    if branch_count(condition) > MAX_BRANCHES:
        return None
    for branch in branches(condition):
        try:
            found = judge_branch(facts, branch).example
        except TypeError:  # a threshold of the wrong type (C102): no example to give
            continue
        if found is not None:
            return found
    return None


def show_account(values: Mapping[str, Any]) -> str:
    """An example account as a YAML flow mapping."""
    return "{" + ", ".join(f"{name}: {_show(value)}" for name, value in values.items()) + "}"


def never_decides(policy: Policy) -> Iterator[tuple[Rule, list[Rule], dict[str, Any]]]:
    """Rules whose action never becomes the decision: whenever they fire, a rule of a stronger
    action fires too. Each comes with the stronger rules and an example account."""
    facts = {fact.name: fact for fact in policy.facts}
    for rule in policy.rules:
        rank = policy.outcome.rank(rule.action.kind)
        reads = set(condition_facts(rule.when))
        stronger = [
            other
            for other in policy.rules
            if policy.outcome.rank(other.action.kind) < rank
            # a fact the rule does not read may be missing, and then the other rule is silent
            and set(condition_facts(other.when)) <= reads
            and not _may_downgrade(policy, other)
        ]
        if not stronger:
            continue
        account = example(facts, rule.when)
        if account is None:
            continue  # never holds (C130) or too large to judge
        escape = AllOf((rule.when, *(Not(other.when) for other in stronger)))
        if never_holds(facts, escape) is None:
            continue
        firing = [
            other
            for other in stronger
            if never_holds(facts, AllOf((rule.when, negate(other.when)))) is not None
        ]
        yield rule, firing or stronger, account


def _may_downgrade(policy: Policy, rule: Rule) -> bool:
    grace = policy.grace_rule(rule.grace)
    return grace is not None and any(e.downgrade_to is not None for e in grace.exemptions)
