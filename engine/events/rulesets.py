"""Signals compiled to durable_rules rulesets: each pattern as a rule, each condition as its
alternatives (see `signals.py` for who computes what, and why).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clearline.engine.conditions import branches
from clearline.engine.conditions import negate as negation
from clearline.engine.model import (
    Comparison,
    Condition,
    EventType,
    FactRef,
    Operator,
    Policy,
    Signal,
    SignalKind,
)

_DURABLE_OPS = {
    Operator.NE: "$neq",
    Operator.LT: "$lt",
    Operator.LE: "$lte",
    Operator.GT: "$gt",
    Operator.GE: "$gte",
}


def default_value(signal: Signal) -> bool | int | float:
    """A signal's value when nothing is in its window."""
    if signal.kind is SignalKind.COUNT:
        return 0
    if signal.kind is SignalKind.SUM:
        return 0.0
    return False


# -- compiling the model to a durable_rules ruleset ---------------------------------------------

Branch = list[Any]  # a conjunction of plain durable_rules tests


def _atoms(cmp: Comparison, keys: Mapping[str, str]) -> list[Branch]:
    """One comparison as alternatives of plain tests."""
    op = cmp.op
    key = keys[cmp.fact]
    operand = cmp.operand
    if op is Operator.BETWEEN:
        assert isinstance(operand, tuple)
        low, high = operand
        return [[{"$gte": {key: low}}, {"$lte": {key: high}}]]
    if op is Operator.IN:
        assert isinstance(operand, tuple)
        return [[{key: value}] for value in operand]
    if op is Operator.NOT_IN:
        assert isinstance(operand, tuple)
        return [[{"$neq": {key: value}} for value in operand]]
    right: Any = {"$m": keys[operand.fact]} if isinstance(operand, FactRef) else operand
    if op is Operator.EQ:
        return [[{key: right}]]
    return [[{_DURABLE_OPS[op]: {key: right}}]]


def alternatives(
    condition: Condition, keys: Mapping[str, str], negate: bool = False
) -> list[Branch]:
    """A condition in disjunctive normal form of durable_rules tests; `not` is pushed down by
    the shared De Morgan rewrite (`clearline.engine.conditions`), as durable_rules has no
    negation of an expression. Event fields are always present and typed, so two-valued
    negation is exact here."""
    whole = negation(condition) if negate else condition
    result: list[Branch] = []
    for branch in branches(whole):
        combos: list[Branch] = [[]]
        for cmp in branch:
            combos = [done + atom for done in combos for atom in _atoms(cmp, keys)]
        result.extend(combos)
    return result


class RulesetCompiler:
    """Model conditions -> durable_rules JSON expressions over generated field keys."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.type_index = {event.name: i for i, event in enumerate(policy.events)}

    def keys(self, event: EventType) -> dict[str, str]:
        return {item.name: f"f{i}" for i, item in enumerate(event.fields)}

    def pattern(self, signal: Signal, step: int, extra: list[Any]) -> Any:
        """One step as a disjunction of flat conjunctions, the join tests in every branch.

        durable_rules 2.0.28 drops a join test (`q > e0.q`) that follows a nested `$and` or
        `$or` inside a pattern, so conditions are written in disjunctive normal form: one
        `$and` of plain tests per alternative, under one `$or` when there are several.
        """
        pattern = signal.patterns[step]
        event = self.policy.event_type(pattern.event)
        assert event is not None
        keys = self.keys(event)
        head = [{"t": self.type_index[event.name]}]
        branches = alternatives(pattern.when, keys) if pattern.when is not None else [[]]
        conjunctions = [{"$and": head + branch + extra} for branch in branches]
        return conjunctions[0] if len(conjunctions) == 1 else {"$or": conjunctions}

    def rulesets(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two rulesets. Single events: `m<k>` matches the event pattern of signal k, `s<k>_<i>`
        an event that may be step i of sequence k (kept until `within` passes), `c<k>` an event
        that may be the last step of sequence k. Sequences: `s<k>` completes sequence k. Apart,
        an event's own matches need no pending facts beside it, the pending facts do not match
        their single patterns again on every event, and only an event that fired `c<k>` is
        matched again with the pending facts of its account."""
        single: dict[str, Any] = {}
        sequences: dict[str, Any] = {}
        for k, signal in enumerate(self.policy.signals):
            if signal.kind is not SignalKind.SEQUENCE:
                single[f"m{k}"] = {"all": [{"m": self.pattern(signal, 0, [])}]}
                continue
            steps = []
            last = len(signal.patterns) - 1
            for i in range(len(signal.patterns)):
                extra: list[Any] = []
                if i:
                    extra = [
                        {"$gt": {"q": {f"e{i - 1}": "q"}}},
                        {"$lte": {"ts": {"$add": {"$l": {"e0": "ts"}, "$r": signal.within}}}},
                    ]
                if i == last:  # only the new event (marked `n`) ends a match, not pending ones
                    extra.append({"n": 1})
                steps.append({f"e{i}": self.pattern(signal, i, extra)})
                if i < len(signal.patterns) - 1:
                    single[f"s{k}_{i}"] = {"all": [{"m": self.pattern(signal, i, [])}]}
                else:  # the last step alone, without its joins: only such an event can close k
                    single[f"c{k}"] = {"all": [{"m": self.pattern(signal, i, [])}]}
            sequences[f"s{k}"] = {"all": steps}
        return single, sequences


def ruleset_definitions(policy: Policy) -> tuple[dict[str, Any], dict[str, Any]]:
    """The durable_rules rulesets (JSON definitions) of a policy's signals: single events,
    and sequences."""
    return RulesetCompiler(policy).rulesets()
