"""The peer engines, each given the policy's rules in its own language, generated from the model.

Every encoding is written from the typed policy model (`Rule.when`: `AllOf`, `AnyOf`, `Not`,
`Comparison`), never from YAML, so the peers decide exactly the rules Clearline decides. Each
peer engine is a callable `facts -> frozenset of fired rule ids` for an account with every fact
present (the peers have no three-valued logic for missing facts, so the runner only gives them
complete accounts).

Each peer comes in the configuration a typical user writes and in its best one:

- durable_rules: one ruleset, one rule per policy rule; an account is asserted as a fact, every
  rule that matches appends its id, and the fact is retracted afterwards. Typical: through
  `durable.lang` (a Python action per rule). Best: the same ruleset given to its C core
  (`durable_rules_engine`) as `engine/events/signals.py` drives it: the account written as JSON
  once, the matched rules read from the queued actions' names.
- GoRules Zen: a JSON Decision Model with one decision table, hit policy `collect`, one input
  column per fact and unary tests in the cells (a condition that does not split into tests on
  single facts goes whole into an expression column). Typical: the decision created from its
  JSON text. Then the same decision from precompiled content (`ZenDecisionContent`); one
  compiled expression per rule (`zen.compile_expression`), each given the facts it reads; and
  one compiled expression for the whole policy, a list with one boolean per rule.
- Rego (Open Policy Agent's language) through rego-cpp (`regopy`): a module with a partial set
  `fired`, compiled once into a bundle and queried per account.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import orjson

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
    condition_facts,
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
        for entry in inputs:
            row.setdefault(entry["id"], "")
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
        return frozenset(row["rule"] for row in evaluate(cast(dict[str, Any], facts))["result"])

    return fired


def zen_precompiled_engine(policy: Policy) -> FiredFn:
    """Decide with GoRules Zen from decision content compiled once (`ZenDecisionContent`)."""
    import zen

    content = zen.ZenDecisionContent(json.dumps(zen_model(policy)))
    evaluate = zen.ZenEngine().create_decision(content).evaluate

    def fired(facts: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(row["rule"] for row in evaluate(cast(dict[str, Any], facts))["result"])

    return fired


def zen_rule_expression(condition: Condition) -> str:
    """A rule's whole condition as one Zen expression over the facts by name."""
    return _zen_expression(condition, lambda cmp: _identifier(cmp.fact))


def zen_expressions_engine(policy: Policy) -> FiredFn:
    """Decide with one compiled Zen expression per rule, each given only the facts it reads.

    Zen converts the whole context from Python on every call (about 6 µs for an account of 16
    facts against 2 µs for two), so handing each expression its own few facts is its best use.
    """
    import zen

    compiled = [
        (
            rule.id,
            condition_facts(rule.when),
            zen.compile_expression(zen_rule_expression(rule.when)).evaluate,
        )
        for rule in policy.rules
    ]

    def fired(facts: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(
            rule_id
            for rule_id, names, evaluate in compiled
            if evaluate({name: facts[name] for name in names}) is True
        )

    return fired


def zen_expression_list(policy: Policy) -> str:
    """The whole policy as one Zen expression: a list with one boolean per rule, in order."""
    return "[" + ", ".join(zen_rule_expression(rule.when) for rule in policy.rules) + "]"


def zen_expression_list_engine(policy: Policy) -> FiredFn:
    """Decide with one compiled Zen expression for every rule: the account converted once."""
    import zen

    evaluate = zen.compile_expression(zen_expression_list(policy)).evaluate
    ids = [rule.id for rule in policy.rules]

    def fired(facts: Mapping[str, Any]) -> frozenset[str]:
        matched = evaluate(cast(dict[str, Any], facts))
        return frozenset(rule_id for rule_id, hit in zip(ids, matched, strict=True) if hit is True)

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


def durable_definition(policy: Policy) -> dict[str, Any]:
    """The ruleset `durable_engine` builds, as the JSON its C core reads: rule `r<i>` per rule."""
    from durable.lang import when_all

    definition = {}
    for r, rule in enumerate(policy.rules):
        rule_definition = when_all(_durable_condition(rule.when)).define()
        rule_definition.pop("run", None)  # no Python action: the caller reads the rule names
        definition[f"r{r}"] = rule_definition
    return definition


class DurableCore:
    """durable_rules through its C core (`durable_rules_engine`), as the event monitor uses it.

    One account at a time is asserted as a fact of one session, the queued actions name the
    rules that matched, and the fact is retracted by its `sid` and `id` alone.
    """

    SESSION = "account"

    def __init__(self, policy: Policy) -> None:
        import durable_rules_engine

        for fact in policy.facts:
            if fact.name in _RESERVED:
                raise UnsupportedPolicy(f"fact `{fact.name}` is a reserved durable_rules name")
        self.core = durable_rules_engine
        name = f"clearline_bench_core_{next(_rulesets)}"
        text = json.dumps(durable_definition(policy), ensure_ascii=False)
        self.handle: int = durable_rules_engine.create_ruleset(name, text)
        self.rule_ids = {f"r{r}": rule.id for r, rule in enumerate(policy.rules)}
        self.serial = itertools.count()

    def fired(self, facts: Mapping[str, Any]) -> frozenset[str]:
        """The rules that match one account (every fact present)."""
        core, handle, rule_ids = self.core, self.handle, self.rule_ids
        head = f'{{"sid":"{self.SESSION}","id":{next(self.serial)}'
        # orjson writes dates as ISO strings, which the rules' date literals compare against
        result = core.assert_fact(handle, head + "," + orjson.dumps(facts).decode()[1:])
        matched: set[str] = set()
        try:
            if result[0] == 0:  # 1: no rule matched
                action = core.start_action_for_state(handle, result[1])
                queued = action[1] if action else None
                while queued:  # `{"r3": {...}}`: our own rule names, no quote inside
                    matched.add(rule_ids[queued[2 : queued.index('"', 2)]])
                    queued = core.complete_and_start_action(handle, result[1])
        finally:
            core.retract_fact(handle, head + "}")
        return frozenset(matched)

    def stored_facts(self) -> list[Any]:
        """The facts the session still holds (none between two accounts)."""
        stored: list[Any] = json.loads(self.core.get_facts(self.handle, self.SESSION))
        return stored


def durable_core_engine(policy: Policy) -> FiredFn:
    """Decide with durable_rules through its C core, the same rules as `durable_engine`."""
    return DurableCore(policy).fired
