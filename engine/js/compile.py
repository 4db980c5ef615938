"""Compile a policy model into a small JavaScript module with the semantics of `decide`.

A third back end of the one model, beside the Python compiler (`decisions/compile.py`) and the
SQL one. The module is two parts:

- generated code: one function per rule and per exemption, built from the condition tree with
  Kleene (three-valued) operators of a fixed runtime (`runtime.js`). Facts are `F[i]` and
  literals `L[j]`, both by generated index; operators come from a fixed table. No character of
  policy text reaches the code, so a hostile policy (quotes, `</script>`, newlines in ids,
  facts and texts) gives the same code as a bland one of the same shape;
- a data block: the literals, fact schema, rules, grace rules and precedence as JSON
  (`json.dumps` of the model's values), escaped so that it is also safe inside an HTML
  `<script>` element.

Dates travel as ISO `YYYY-MM-DD` and date-times as UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ`: both
fixed-width, so string order is time order and no precision is lost to JavaScript's
millisecond `Date`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from clearline.engine.conditions import compared_with
from clearline.engine.model import (
    MISSING_FACTS_REASON,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    FactRef,
    FactType,
    Not,
    Operator,
    Policy,
    condition_facts,
)

# Runtime function of each operator; the generated code names only these.
_OPERATORS = {
    Operator.EQ: "EQ",
    Operator.NE: "NE",
    Operator.LT: "LT",
    Operator.LE: "LE",
    Operator.GT: "GT",
    Operator.GE: "GE",
    Operator.IN: "IN",
    Operator.NOT_IN: "NOT_IN",
    Operator.BETWEEN: "BETWEEN",
}
DATA_START = "/* clearline:data */"
DATA_END = "/* clearline:end-data */"


@cache
def runtime() -> str:
    """The fixed part of every module: value checks, Kleene logic, ranking, exemptions."""
    return resources.files("clearline.engine.js").joinpath("runtime.js").read_text("utf-8")


def js_value(value: Any) -> Any:
    """A typed model value as the JSON the module reads (dates as fixed-width ISO text)."""
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC)
        return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [js_value(item) for item in value]
    return value


def data_json(data: Any) -> str:
    """JSON text safe both as a JavaScript expression and inside an HTML <script> element."""
    text = json.dumps(data, ensure_ascii=True, sort_keys=True, allow_nan=False)
    # <, > and & occur only inside JSON strings, where the \\u escapes mean the same character.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass(frozen=True)
class JsModule:
    """A compiled module: `code` is generated from the model's shape, `data` from its values."""

    code: str
    data: dict[str, Any]

    @property
    def source(self) -> str:
        """The whole module: runtime, data block and generated code (runs in node or a page)."""
        return "\n".join(
            (
                runtime(),
                f"{DATA_START}\nvar POLICY = {data_json(self.data)};\n{DATA_END}",
                self.code,
                "var clearline = makeEngine(POLICY, RULES, EXEMPTIONS, CURES);",
                'if (typeof module !== "undefined") { module.exports = clearline; }',
                "",
            )
        )


class _Emitter:
    """Writes condition code; owns the literal pool and the fact -> index map."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.index = {fact.name: i for i, fact in enumerate(policy.facts)}
        self.literals: list[Any] = []
        self._pooled: dict[str, int] = {}

    def literal(self, value: Any) -> str:
        encoded = js_value(value)
        key = json.dumps(encoded, sort_keys=True) + type(value).__name__
        at = self._pooled.get(key)
        if at is None:
            at = self._pooled[key] = len(self.literals)
            self.literals.append(encoded)
        return f"L[{at}]"

    def condition(self, condition: Condition) -> str:
        if isinstance(condition, Comparison):
            return self.comparison(condition)
        if isinstance(condition, Not):
            return f"NOT({self.condition(condition.part)})"
        fn = "AND" if isinstance(condition, AllOf) else "OR"
        assert isinstance(condition, AllOf | AnyOf)
        return f"{fn}([{', '.join(self.condition(part) for part in condition.parts)}])"

    def comparison(self, cmp: Comparison) -> str:
        left = f"F[{self.index[cmp.fact]}]"
        operand = cmp.operand
        if isinstance(operand, FactRef):
            right = f"F[{self.index[operand.fact]}]"
        else:
            right = self.literal(operand)
        return f"{_OPERATORS[cmp.op]}({left}, {right})"


def _function(body: str) -> str:
    return f"function (F, L) {{ return {body}; }}"


def compile_js(policy: Policy) -> JsModule:
    """Compile a checked policy into a JavaScript module with the semantics of `decide`."""
    emitter = _Emitter(policy)
    rules = [_function(emitter.condition(rule.when)) for rule in policy.rules]
    exemptions = [
        "[" + ", ".join(_function(emitter.condition(e.when)) for e in grace.exemptions) + "]"
        for grace in policy.grace
    ]
    # A grace rule's cure condition, when it has one: recourse must also satisfy it.
    cures = [
        _function(emitter.condition(grace.cure.when))
        if grace.cure is not None and grace.cure.when is not None
        else "null"
        for grace in policy.grace
    ]
    code = "\n".join(
        (
            "var RULES = [",
            *(f"  {rule}," for rule in rules),
            "];",
            "var EXEMPTIONS = [",
            *(f"  {grace}," for grace in exemptions),
            "];",
            "var CURES = [",
            *(f"  {cure}," for cure in cures),
            "];",
        )
    )
    return JsModule(code=code, data=_data(policy, emitter.literals))


def _data(policy: Policy, literals: list[Any]) -> dict[str, Any]:
    grace_index = {grace.name: i for i, grace in enumerate(policy.grace)}
    missing = policy.outcome.missing_facts
    return {
        "literals": literals,
        "facts": [
            {
                "name": fact.name,
                "type": fact.type.value,
                "minimum": js_value(fact.minimum),
                "maximum": js_value(fact.maximum),
                "values": list(fact.values),
                "on_missing": policy.missing_mode(fact).value,
                "actionable": fact.actionable.value if fact.actionable else None,
                "points": _points(policy, fact),
            }
            for fact in policy.facts
        ],
        # Recourse (disclosures/recourse.py): the facts each rule reads, in order of first use.
        "rule_facts": [list(condition_facts(rule.when)) for rule in policy.rules],
        "rules": [
            {
                "id": rule.id,
                "code": rule.reason_code,
                "action": rule.action.kind.value,
                "limit_factor": rule.action.limit_factor,
                "grace": rule.grace,
                "grace_index": grace_index.get(rule.grace) if rule.grace else None,
            }
            for rule in policy.rules
        ],
        "grace": [
            {
                "name": grace.name,
                "immediate": grace.immediate,
                "notice_days": grace.notice_days,
                "notice_months": grace.notice_months,
                "cure_days": grace.cure.days if grace.cure is not None else None,
                "appeal_days": grace.appeal.days if grace.appeal is not None else None,
                "pauses_action": bool(grace.appeal and grace.appeal.pauses_action),
                "review_max_days": grace.appeal.review_max_days if grace.appeal else None,
                "exemptions": [
                    {
                        "id": exemption.id,
                        "extend_notice_days": exemption.extend_notice_days,
                        "downgrade_to": exemption.downgrade_to.value
                        if exemption.downgrade_to
                        else None,
                    }
                    for exemption in grace.exemptions
                ],
            }
            for grace in policy.grace
        ],
        "precedence": [kind.value for kind in policy.outcome.precedence],
        "missing": {
            "rule": MISSING_FACTS_REASON,
            "review_code": missing.review_code,
            "review_grace": missing.review_grace,
        },
        "date_range": ["1000-01-01", "8999-12-31"],
        "recourse": {"most_changes": 3, "per_fact": 8, "budget": 4000},
        "fact_types": [t.value for t in FactType],
    }


def _points(policy: Policy, fact: Any) -> dict[str, Any]:
    """Where a comparison on `fact` can change result (as `counterfactual._candidates` reads
    them): its bounds and literals, and the facts whose observed values it is compared with."""
    literals, facts = compared_with((rule.when for rule in policy.rules), fact.name)
    values: list[Any] = [bound for bound in (fact.minimum, fact.maximum) if bound is not None]
    values += literals
    return {"values": [js_value(v) for v in values], "facts": facts}
