"""The peer engines, each given the policy's rules in its own language, generated from the model.

Every encoding is written from the typed policy model (`Rule.when`: `AllOf`, `AnyOf`, `Not`,
`Comparison`), never from YAML, so the peers decide exactly the rules Clearline decides. Each
peer engine is a callable `facts -> frozenset of fired rule ids` for an account with every fact
present (the peers have no three-valued logic for missing facts, so the runner only gives them
complete accounts).

- durable_rules: one ruleset, one rule per policy rule; an account is asserted as a fact, every
  rule that matches appends its id, and the account's state is deleted afterwards.
- GoRules Zen: a JSON Decision Model with one decision table, hit policy `collect`, one input
  column per fact and unary tests in the cells (a condition that does not split into tests on
  single facts goes whole into an expression column).
- Rego (Open Policy Agent's language) through rego-cpp (`regopy`): a module with a partial set
  `fired`, compiled once into a bundle and queried per account.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from clearline.engine.decisions.compile import PYTHON_OPERATORS
from clearline.engine.model import (
    NEGATED_OPERATORS,
    SET_OPERATORS,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    FactRef,
    Not,
    Operator,
    Policy,
    Scalar,
)

FiredFn = Callable[[Mapping[str, Any]], frozenset[str]]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Zen, Rego and Python spell equality and ordering alike.
_SYMBOL = {op: text for op, text in PYTHON_OPERATORS.items() if op not in SET_OPERATORS}


class UnsupportedPolicy(Exception):
    """The policy uses something a peer encoding here does not cover."""


def _identifier(name: str) -> str:
    if not _NAME.match(name):
        raise UnsupportedPolicy(f"fact `{name}` is not a plain identifier")
    return name


def _literal(value: Scalar) -> str:
    """A literal in JSON spelling, which Zen's expressions and Rego both read."""
    if isinstance(value, dt.datetime):
        raise UnsupportedPolicy("date-time literals are not encoded for the peers")
    if isinstance(value, dt.date):
        return json.dumps(value.isoformat())  # ISO dates compare correctly as strings
    return json.dumps(value)


def _members(operand: Any) -> tuple[Scalar, ...]:
    assert isinstance(operand, tuple)
    return operand


# --- GoRules Zen -------------------------------------------------------------------------------


def _zen_expression(condition: Condition, subject: Callable[[Comparison], str]) -> str:
    """A Zen expression for a condition; `subject` spells the left-hand side of a comparison."""
    if isinstance(condition, Not):
        return f"not ({_zen_expression(condition.part, subject)})"
    if isinstance(condition, (AllOf, AnyOf)):
        joiner = " and " if isinstance(condition, AllOf) else " or "
        return joiner.join(f"({_zen_expression(part, subject)})" for part in condition.parts)
    left = subject(condition)
    operand = condition.operand
    if isinstance(operand, FactRef):
        return f"{left} {_SYMBOL[condition.op]} {_identifier(operand.fact)}"
    if condition.op is Operator.BETWEEN:
        low, high = _members(operand)
        return f"{left} >= {_literal(low)} and {left} <= {_literal(high)}"
    if condition.op in (Operator.IN, Operator.NOT_IN):
        items = ", ".join(_literal(item) for item in _members(operand))
        test = f"{left} in [{items}]"
        return test if condition.op is Operator.IN else f"not ({test})"
    assert not isinstance(operand, tuple)
    return f"{left} {_SYMBOL[condition.op]} {_literal(operand)}"


def _cells(condition: Condition) -> dict[str, list[Comparison]] | None:
    """The condition as unary tests per fact column, when it is a conjunction of such tests."""
    parts = condition.parts if isinstance(condition, AllOf) else (condition,)
    cells: dict[str, list[Comparison]] = {}
    for part in parts:
        if not isinstance(part, Comparison) or isinstance(part.operand, FactRef):
            return None
        cells.setdefault(part.fact, []).append(part)
    return cells


def _zen_string(text: str) -> str:
    if '"' in text or "\\" in text:
        raise UnsupportedPolicy(f"`{text}` cannot be a Zen string literal")
    return f'"{text}"'


def zen_model(policy: Policy) -> dict[str, Any]:
    """The policy's rules as a GoRules JSON Decision Model: one table, hit policy `collect`.

    A rule that is a conjunction of tests on single facts fills the facts' columns with unary
    tests (`$ > 90`), as an author would write it; any other rule gets a column of its own whose
    field is the whole condition, with the cell `true`.
    """
    columns = [fact.name for fact in policy.facts]
    inputs = [
        {"id": f"in-{i}", "name": name, "type": "expression", "field": _identifier(name)}
        for i, name in enumerate(columns)
    ]
    rows = []
    for r, rule in enumerate(policy.rules):
        row: dict[str, str] = {"_id": f"row-{r}", "out-rule": _zen_string(rule.id)}
        cells = _cells(rule.when)
        if cells is None:
            column = f"rule-{r}"
            field = _zen_expression(rule.when, lambda c: _identifier(c.fact))
            inputs.append({"id": column, "name": rule.id, "type": "expression", "field": field})
            row[column] = "true"
        else:
            for fact, tests in cells.items():
                # No parentheses around a cell: Zen reads `(a..b)` as an interval.
                row[f"in-{columns.index(fact)}"] = " and ".join(
                    _zen_expression(test, lambda _: "$") for test in tests
                )
        rows.append(row)
    for row in rows:
        for column in inputs:
            row.setdefault(column["id"], "")
    table = {
        "hitPolicy": "collect",
        "inputs": inputs,
        "outputs": [{"id": "out-rule", "name": "rule", "type": "expression", "field": "rule"}],
        "rules": rows,
    }
    position = {"x": 0, "y": 0}
    return {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "Request", "position": position},
            {
                "id": "rules",
                "type": "decisionTableNode",
                "name": "rules",
                "position": position,
                "content": table,
            },
            {"id": "response", "type": "outputNode", "name": "Response", "position": position},
        ],
        "edges": [
            {"id": "e1", "type": "edge", "sourceId": "request", "targetId": "rules"},
            {"id": "e2", "type": "edge", "sourceId": "rules", "targetId": "response"},
        ],
    }


def zen_engine(policy: Policy) -> FiredFn:
    """Decide with GoRules Zen (`zen-engine`)."""
    import zen

    decision = zen.ZenEngine().create_decision(json.dumps(zen_model(policy)))
    evaluate = decision.evaluate

    def fired(facts: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(row["rule"] for row in evaluate(facts)["result"])

    return fired


# --- Rego (rego-cpp) ---------------------------------------------------------------------------


class _RegoWriter:
    """Writes a Rego module: helper rules for nested conditions, one `fired` entry per rule."""

    def __init__(self) -> None:
        self.lines = ["package clearline", "", "import rego.v1", ""]
        self.helpers = itertools.count()

    @staticmethod
    def fact(name: str) -> str:
        return f"input[{json.dumps(name)}]"

    def comparison(self, cmp: Comparison) -> list[str]:
        left = self.fact(cmp.fact)
        operand = cmp.operand
        if isinstance(operand, FactRef):
            return [f"{left} {_SYMBOL[cmp.op]} {self.fact(operand.fact)}"]
        if cmp.op is Operator.BETWEEN:
            low, high = _members(operand)
            return [f"{left} >= {_literal(low)}", f"{left} <= {_literal(high)}"]
        if cmp.op in (Operator.IN, Operator.NOT_IN):
            items = ", ".join(_literal(item) for item in _members(operand))
            test = f"{left} in {{{items}}}"
            return [test if cmp.op is Operator.IN else f"not {test}"]
        assert not isinstance(operand, tuple)
        return [f"{left} {_SYMBOL[cmp.op]} {_literal(operand)}"]

    def body(self, condition: Condition) -> list[str]:
        """Body literals that all hold exactly when the condition holds."""
        if isinstance(condition, Comparison):
            return self.comparison(condition)
        if isinstance(condition, AllOf):
            return [line for part in condition.parts for line in self.body(part)]
        return [self.helper(condition)]

    def helper(self, condition: Condition) -> str:
        """A helper rule for a nested condition; returns the literal that refers to it."""
        name = f"c{next(self.helpers)}"
        if isinstance(condition, Not):
            self.lines.append(f"{name} if {{ not {self.helper(condition.part)} }}")
        elif isinstance(condition, AnyOf):
            for part in condition.parts:
                self.lines.append(f"{name} if {{ {'; '.join(self.body(part))} }}")
        else:
            self.lines.append(f"{name} if {{ {'; '.join(self.body(condition))} }}")
        return name

    def rule(self, rule_id: str, condition: Condition) -> None:
        body = "; ".join(self.body(condition))
        self.lines.append(f"fired contains {json.dumps(rule_id)} if {{ {body} }}")


def rego_module(policy: Policy) -> str:
    """The policy's rules as a Rego module with the partial set `data.clearline.fired`."""
    writer = _RegoWriter()
    for rule in policy.rules:
        writer.rule(rule.id, rule.when)
    return "\n".join(writer.lines) + "\n"


def rego_engine(policy: Policy) -> FiredFn:
    """Decide with Rego through rego-cpp (`regopy`), from a compiled bundle."""
    from regopy import Interpreter

    builder = Interpreter()
    builder.add_module("clearline.rego", rego_module(policy))
    bundle = builder.build(None, ["clearline/fired"])
    interpreter = Interpreter()
    set_input = interpreter.set_input
    query = interpreter.query_bundle_entrypoint

    def fired(facts: Mapping[str, Any]) -> frozenset[str]:
        set_input(dict(facts))
        output = query(bundle, "clearline/fired")
        if not output.ok():
            raise RuntimeError(f"rego: {output}")
        return frozenset(output.results[0].expressions[0])

    return fired


# --- durable_rules -----------------------------------------------------------------------------

_RESERVED = frozenset({"sid", "id", "$s"})
_rulesets = itertools.count()


def _durable_test(cmp: Comparison, negate: bool) -> Any:
    """A durable_rules expression for one comparison, negated by swapping the operator."""
    from durable.lang import m

    op = cmp.op
    left = getattr(m, _identifier(cmp.fact))
    operand = cmp.operand
    if op is Operator.BETWEEN:
        low, high = _members(operand)
        if negate:
            return (left < low) | (left > high)
        return (left >= low) & (left <= high)
    if negate:
        op = NEGATED_OPERATORS[op]
    if op in (Operator.IN, Operator.NOT_IN):
        members = _members(operand)
        tests = [(left == item) if op is Operator.IN else (left != item) for item in members]
        combined = tests[0]
        for test in tests[1:]:
            combined = (combined | test) if op is Operator.IN else (combined & test)
        return combined
    right = getattr(m, _identifier(operand.fact)) if isinstance(operand, FactRef) else operand
    return {
        Operator.EQ: lambda: left == right,
        Operator.NE: lambda: left != right,
        Operator.LT: lambda: left < right,
        Operator.LE: lambda: left <= right,
        Operator.GT: lambda: left > right,
        Operator.GE: lambda: left >= right,
    }[op]()


def _durable_condition(condition: Condition, negate: bool = False) -> Any:
    """A durable_rules expression; `not` is pushed down to the comparisons (De Morgan)."""
    if isinstance(condition, Comparison):
        return _durable_test(condition, negate)
    if isinstance(condition, Not):
        return _durable_condition(condition.part, not negate)
    conjunction = isinstance(condition, AllOf) != negate
    parts = [_durable_condition(part, negate) for part in condition.parts]
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined & part) if conjunction else (combined | part)
    return combined


def durable_engine(policy: Policy) -> FiredFn:
    """Decide with durable_rules: assert the account as a fact, collect, delete the state."""
    from durable.engine import MessageNotHandledException
    from durable.lang import assert_fact, retract_fact, ruleset, when_all

    for fact in policy.facts:
        if fact.name in _RESERVED:
            raise UnsupportedPolicy(f"fact `{fact.name}` is a reserved durable_rules name")
    name = f"clearline_bench_{next(_rulesets)}"
    collected: set[str] = set()

    def action(index: int, rule_id: str) -> Callable[[Any], None]:
        def run(_: Any) -> None:
            collected.add(rule_id)

        run.__name__ = f"rule_{index}"  # durable_rules names a rule after its function
        return run

    with ruleset(name):
        for r, rule in enumerate(policy.rules):
            when_all(_durable_condition(rule.when))(action(r, rule.id))

    def fired(facts: Mapping[str, Any]) -> frozenset[str]:
        collected.clear()
        account = {**facts, "sid": "account"}
        try:  # noqa: SIM105 (suppress() would add a context manager to every decision)
            assert_fact(name, account)
        except MessageNotHandledException:
            pass  # durable_rules raises when no rule matches the fact
        retract_fact(name, account)
        return frozenset(collected)

    return fired
