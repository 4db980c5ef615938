"""Compile a policy model into fast Python callables.

The compiler writes Python source from the checked model, as fastjsonschema does, and runs it
once per policy version. No character of policy text reaches that source: facts become the
generated locals `v0, v1, ...`, every literal (fact names included) is a generated constant
`K0, L0, ...` bound in the namespace (and, for speed, as the functions' default arguments),
and rules are referred to by index. A test compiles a hostile policy (quotes, newlines,
dunder-like names) and checks the source is identical to the source of a bland policy of the
same shape.

Three functions are generated per policy:
- `fast(facts)`: two-valued, short-circuiting, returns the fired rule indices in rank order,
  or None when any fact is absent, null, mistyped or out of range (the caller then takes the
  checked path, which reports errors or applies missing-fact semantics);
- `traced(facts)`: the same prologue, then every comparison evaluated (no short-circuit) so the
  trace is complete, a numeric fact's comparisons at once by locating its value among their
  thresholds (`cells`); returns (comparison results, rule results, fired);
- `traced3(values)`: three-valued (Kleene) logic over checked values where missing facts are
  unknown: a comparison on a missing fact is None, `not None` is None, and a rule fires only
  when its condition is True.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clearline.engine.canonical import is_text, policy_sha256
from clearline.engine.decisions.cells import locate, resolvable
from clearline.engine.model import (
    ActionKind,
    AllOf,
    Comparison,
    Condition,
    Exemption,
    Fact,
    FactRef,
    FactType,
    GraceRule,
    MissingMode,
    Not,
    Operator,
    Policy,
    Rule,
    comparisons,
)


class _Missing:
    """The value of a missing fact inside generated three-valued code."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# How each comparison operator is spelled in Python (Zen and Rego spell the ordering ones alike).
PYTHON_OPERATORS = {
    Operator.EQ: "==",
    Operator.NE: "!=",
    Operator.LT: "<",
    Operator.LE: "<=",
    Operator.GT: ">",
    Operator.GE: ">=",
    Operator.IN: "in",
    Operator.NOT_IN: "not in",
}


_EQUALITY = (Operator.EQ, Operator.NE)


def _k_all(values: tuple[bool | None, ...]) -> bool | None:
    if False in values:
        return False
    return None if None in values else True


def _k_any(values: tuple[bool | None, ...]) -> bool | None:
    if True in values:
        return True
    return None if None in values else False


def _k_not(value: bool | None) -> bool | None:
    return None if value is None else not value


FastFn = Callable[[Mapping[str, Any]], "list[int] | None"]
TracedFn = Callable[
    [Mapping[str, Any]], "tuple[tuple[bool, ...], tuple[bool, ...], list[int]] | None"
]
Traced3Fn = Callable[
    [Mapping[str, Any]], "tuple[tuple[bool | None, ...], tuple[bool | None, ...], list[int]]"
]
ConditionFn = Callable[[Mapping[str, Any]], "bool | None"]


@dataclass(frozen=True)
class CheckSite:
    """One comparison of one rule, as the trace reports it."""

    index: int
    rule: int
    comparison: Comparison


class _Emitter:
    """Writes the generated module; owns the constant pool and the fact -> local name map."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.fact_index = {fact.name: i for i, fact in enumerate(policy.facts)}
        self.namespace: dict[str, Any] = {
            "M": MISSING,
            "K_ALL": _k_all,
            "K_ANY": _k_any,
            "K_NOT": _k_not,
            "INF": math.inf,
            "NINF": -math.inf,
        }
        self._constants: dict[tuple[type, Any], str] = {}
        for i, fact in enumerate(policy.facts):
            self.namespace[f"K{i}"] = fact.name
        # One C call reads every fact (a tuple for several keys, the value for one key).
        self.namespace["FACTS"] = operator.itemgetter(*(fact.name for fact in policy.facts))

    def const(self, value: Any) -> str:
        key = (type(value), value)
        name = self._constants.get(key)
        if name is None:
            name = f"L{len(self._constants)}"
            self._constants[key] = name
            self.namespace[name] = value
        return name

    def var(self, fact: str) -> str:
        return f"v{self.fact_index[fact]}"

    def prologue(self) -> list[str]:
        """Read every fact from the dict and bail out (None) unless it is present and valid."""
        facts = self.policy.facts
        n = len(facts)
        lines = [f"    if len(facts) != {n}:", "        return None"]
        if n == 0:
            return lines
        names = ", ".join(self.var(fact.name) for fact in facts)
        lines += [
            "    try:",
            f"        {names}{',' if n == 1 else ''} = {'(FACTS(facts),)' if n == 1 else 'FACTS(facts)'}",
            "    except KeyError:",
            "        return None",
            "    if (",
        ]
        guards = [f"({self.type_guard(fact, self.var(fact.name))})" for fact in facts]
        lines += [
            f"        {guard}" if i == 0 else f"        or {guard}"
            for i, guard in enumerate(guards)
        ]
        lines += ["    ):", "        return None"]
        return lines

    def type_guard(self, fact: Fact, v: str) -> str:
        """An expression that is true when `v` is not a valid, present value of `fact`."""
        t = fact.type
        if t is FactType.BOOLEAN:
            return f"{v} is not True and {v} is not False"
        if t in (FactType.STRING,):
            # ASCII text needs no further look (`is_text` refuses lone surrogates).
            return f"type({v}) is not str or not {v}.isascii() and not {self.const(is_text)}({v})"
        if t is FactType.ENUM:
            return f"type({v}) is not str or {v} not in {self.const(frozenset(fact.values))}"
        if t is FactType.DATE:
            guard = f"type({v}) is not {self.const(dt.date)}"
        elif t is FactType.DATETIME:
            guard = f"type({v}) is not {self.const(dt.datetime)} or {v}.tzinfo is None"
        elif t is FactType.INTEGER:
            guard = f"type({v}) is not int"
        else:
            # `not v >= low` (rather than `v < low`) also rejects NaN; unbounded sides reject
            # the infinities.
            low = (
                f"not {v} > NINF"
                if fact.minimum is None
                else f"not {v} >= {self.number(fact.minimum)}"
            )
            high = (
                f"not {v} < INF"
                if fact.maximum is None
                else f"not {v} <= {self.number(fact.maximum)}"
            )
            return f"(type({v}) is not float and type({v}) is not int) or {low} or {high}"
        # Two plain comparisons are cheaper than a chained one.
        if fact.minimum is not None:
            guard += f" or {v} < {self.const(fact.minimum)}"
        if fact.maximum is not None:
            guard += f" or {v} > {self.const(fact.maximum)}"
        return guard

    def number(self, value: Any) -> str:
        """A literal compared with a `number` fact: a float when exact, so that comparisons with
        float values take CPython's float-float fast path (int-float comparison is exact anyway)."""
        if type(value) is int and abs(value) <= 2**53 and float(value) == value:
            return self.const(float(value))
        return self.const(value)

    def resolve_all(self, sites: Sequence[CheckSite]) -> list[str]:
        """Lines assigning every comparison's result to `c<i>`, for a traced function.

        A numeric fact compared with two or more literals is resolved by locating its value
        among them (see `cells`); any other comparison is evaluated on its own.
        """
        by_fact: dict[str, list[tuple[str, Comparison]]] = {}
        for site in sites:
            fact = self.policy.fact(site.comparison.fact)
            if fact is not None and resolvable(fact, site.comparison):
                by_fact.setdefault(fact.name, []).append((f"c{site.index}", site.comparison))
        lines: list[str] = []
        done: set[str] = set()
        for name, group in by_fact.items():
            fact = self.policy.fact(name)
            assert fact is not None
            number = fact.type is FactType.NUMBER
            located = locate(fact, self.var(name), group, self.number if number else self.const)
            if len(group) > 1 and located:
                lines += located
                done.update(local for local, _ in group)
        for site in sites:
            if f"c{site.index}" not in done:
                # A comparison feeding a jump has CPython's specialised int and float forms;
                # one whose value is stored does not, so it is spelled as a conditional.
                test = self.comparison(site.comparison, False)
                lines.append(f"    c{site.index} = True if {test} else False")
        return lines

    def is_boolean(self, name: str) -> bool:
        fact = self.policy.fact(name)
        return fact is not None and fact.type is FactType.BOOLEAN

    def literal(self, cmp: Comparison, value: Any) -> str:
        """The constant a comparison tests against."""
        fact = self.policy.fact(cmp.fact)
        if fact is not None and fact.type is FactType.NUMBER:
            return self.number(value)
        return self.const(value)

    def comparison(self, cmp: Comparison, three_valued: bool) -> str:
        left = self.var(cmp.fact)
        operand = cmp.operand
        guards = [left]
        if isinstance(operand, FactRef):
            right = self.var(operand.fact)
            guards.append(right)
            expr = f"{left} {PYTHON_OPERATORS[cmp.op]} {right}"
        elif cmp.op is Operator.BETWEEN:
            assert isinstance(operand, tuple)
            low, high = self.literal(cmp, operand[0]), self.literal(cmp, operand[1])
            expr = f"{left} >= {low} and {left} <= {high}"
        elif cmp.op in (Operator.IN, Operator.NOT_IN):
            assert isinstance(operand, tuple)
            expr = f"{left} {PYTHON_OPERATORS[cmp.op]} {self.const(frozenset(operand))}"
        elif self.is_boolean(cmp.fact) and type(operand) is bool and cmp.op in _EQUALITY:
            # Checked booleans are the singletons True and False: identity is exact and cheap.
            expr = f"{left} {'is' if cmp.op is Operator.EQ else 'is not'} {self.const(operand)}"
        else:
            expr = f"{left} {PYTHON_OPERATORS[cmp.op]} {self.literal(cmp, operand)}"
        if not three_valued:
            return f"({expr})"
        missing = " or ".join(f"{g} is M" for g in guards)
        return f"(None if {missing} else ({expr}))"

    def condition(
        self, condition: Condition, leaf: Callable[[Comparison], str], kleene: bool
    ) -> str:
        if isinstance(condition, Comparison):
            return leaf(condition)
        if isinstance(condition, Not):
            inner = self.condition(condition.part, leaf, kleene)
            return f"K_NOT({inner})" if kleene else f"(not {inner})"
        parts = [self.condition(part, leaf, kleene) for part in condition.parts]
        if kleene:
            fn = "K_ALL" if isinstance(condition, AllOf) else "K_ANY"
            return f"{fn}(({', '.join(parts)},))"
        joiner = " and " if isinstance(condition, AllOf) else " or "
        return "(" + joiner.join(parts) + ")"


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """A policy version compiled once into callables, with what the trace needs to explain them."""

    policy: Policy
    sha256: str
    ranked: tuple[int, ...]
    sites: tuple[CheckSite, ...]
    rule_sites: tuple[tuple[int, ...], ...]
    fast: FastFn
    traced: TracedFn
    traced3: Traced3Fn
    exemptions: Mapping[int, tuple[tuple[Exemption, ConditionFn], ...]]
    cures: Mapping[str, ConditionFn]
    review_missing: frozenset[str]
    source: str
    # The rules with an exemption that may lighten their action (`downgrade_to`): only these
    # can decide an action other than their own (the other exemptions lengthen notice).
    downgrades: frozenset[int] = frozenset()

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules in file order."""
        return self.policy.rules

    def rank_key(self, rule_index: int, action: ActionKind) -> tuple[int, float, int]:
        """Where a fired rule ranks when its action is `action` (exemptions may lighten it)."""
        return rank_key(self.policy, rule_index, action)

    def grace_rule(self, rule_index: int) -> GraceRule | None:
        """The grace rule attached to a rule, if any."""
        return self.policy.grace_rule(self.policy.rules[rule_index].grace)

    def condition_fn(self, condition: Condition) -> ConditionFn:
        """Compile a free-standing condition (cure, exemption) over checked fact values."""
        return _compile_condition(self.policy, condition)


def rank_key(policy: Policy, rule_index: int, action: ActionKind) -> tuple[int, float, int]:
    """Order of reasons: stronger action first, harsher limit reduction first, then file order."""
    rule = policy.rules[rule_index]
    factor = rule.action.limit_factor if action is ActionKind.REDUCE_LIMIT else None
    return (policy.outcome.rank(action), factor if factor is not None else 1.0, rule_index)


def rank_order(policy: Policy) -> tuple[int, ...]:
    """Rule indices in the order their reasons rank when they fire."""
    return tuple(
        sorted(
            range(len(policy.rules)),
            key=lambda i: rank_key(policy, i, policy.rules[i].action.kind),
        )
    )


def _compile_condition(policy: Policy, condition: Condition) -> ConditionFn:
    emitter = _Emitter(policy)
    used = sorted({emitter.fact_index[name] for c in comparisons(condition) for name in c.facts()})
    lines = ["def condition(values):"]
    lines += [f"    v{i} = values.get(K{i}, M)" for i in used]
    lines.append(
        "    return "
        + emitter.condition(condition, lambda c: emitter.comparison(c, True), kleene=True)
    )
    namespace = dict(emitter.namespace)
    exec(compile("\n".join(lines) + "\n", "<clearline condition>", "exec"), namespace)
    fn: ConditionFn = namespace["condition"]
    return fn


def generate_source(policy: Policy) -> tuple[str, dict[str, Any], tuple[CheckSite, ...]]:
    """The generated module source, its constant namespace and the comparison sites."""
    emitter = _Emitter(policy)
    rules = policy.rules
    ranked = rank_order(policy)
    sites: list[CheckSite] = []
    site_of: dict[int, int] = {}
    for r, rule in enumerate(rules):
        for cmp in comparisons(rule.when):
            site_of[id(cmp)] = len(sites)
            sites.append(CheckSite(len(sites), r, cmp))

    def match_names(body: list[str], kleene: bool) -> list[str]:
        """Per rule, the local holding its result; a one-comparison rule reuses `c<i>`."""
        names = []
        for r, rule in enumerate(rules):
            cond = emitter.condition(rule.when, lambda c: f"c{site_of[id(c)]}", kleene)
            if _LOCAL.match(cond):
                names.append(cond)
            else:
                body.append(f"    m{r} = {cond}")
                names.append(f"m{r}")
        return names

    functions: list[str] = []
    # fast: short-circuit, two-valued
    body = emitter.prologue()
    body.append("    fired = []")
    for r in ranked:
        cond = emitter.condition(rules[r].when, lambda c: emitter.comparison(c, False), False)
        body.append(f"    if {cond}:")
        body.append(f"        fired.append({r})")
    body.append("    return fired")
    functions.append(_function("fast", "facts", body, emitter.namespace))
    # traced: every comparison evaluated and kept
    body = emitter.prologue()
    body += emitter.resolve_all(sites)
    matches = match_names(body, kleene=False)
    body.append("    fired = []")
    for r in ranked:
        body.append(f"    if {matches[r]}:")
        body.append(f"        fired.append({r})")
    body.append(
        f"    return {_tuple([f'c{site.index}' for site in sites])}, {_tuple(matches)}, fired"
    )
    functions.append(_function("traced", "facts", body, emitter.namespace))
    # traced3: Kleene logic over checked values, missing facts are M
    body = ["    get = values.get"]
    for i in range(len(policy.facts)):
        body.append(f"    v{i} = get(K{i}, M)")
    for site in sites:
        body.append(f"    c{site.index} = {emitter.comparison(site.comparison, True)}")
    matches = match_names(body, kleene=True)
    body.append("    fired = []")
    for r in ranked:
        body.append(f"    if {matches[r]} is True:")
        body.append(f"        fired.append({r})")
    body.append(
        f"    return {_tuple([f'c{site.index}' for site in sites])}, {_tuple(matches)}, fired"
    )
    functions.append(_function("traced3", "values", body, emitter.namespace))
    return "\n".join(functions), emitter.namespace, tuple(sites)


_LOCAL = re.compile(r"[cm][0-9]+\Z")
_GLOBAL = re.compile(r"\b(?:[KL][0-9]+|N?INF|M|FACTS|K_ALL|K_ANY|K_NOT|type|len|int|float|str)\b")


def _function(name: str, parameter: str, body: list[str], namespace: dict[str, Any]) -> str:
    """A generated function whose constants are bound as positional defaults.

    Defaults are read as locals (LOAD_FAST), cheaper than globals on every comparison; they
    are positional because CPython fills keyword-only defaults with a dict lookup per call.
    The functions are internal: callers pass the facts only. The names come from the
    generated text, never from policy text.
    """
    used = sorted(set(_GLOBAL.findall("\n".join(body))), key=lambda n: (n[0], len(n), n))
    defaults = "".join(f", {n}={n}" for n in used)
    header = f"def {name}({parameter}{defaults}):"
    return "\n".join([header, *body, ""]) + "\n"


def _tuple(names: list[str]) -> str:
    if not names:
        return "()"
    return "(" + ", ".join(names) + ",)"


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Compile a checked policy; call once per version and reuse the result."""
    source, namespace, sites = generate_source(policy)
    namespace = dict(namespace)
    code = compile(source, "<clearline policy>", "exec")
    exec(code, namespace)
    rules = policy.rules
    ranked = rank_order(policy)
    rule_sites = tuple(
        tuple(site.index for site in sites if site.rule == r) for r in range(len(rules))
    )
    exemptions: dict[int, tuple[tuple[Exemption, ConditionFn], ...]] = {}
    cures: dict[str, ConditionFn] = {}
    for grace in policy.grace:
        if grace.cure is not None and grace.cure.when is not None:
            cures[grace.name] = _compile_condition(policy, grace.cure.when)
    for r, rule in enumerate(rules):
        attached = policy.grace_rule(rule.grace)
        if attached is not None and attached.exemptions:
            exemptions[r] = tuple(
                (exemption, _compile_condition(policy, exemption.when))
                for exemption in attached.exemptions
            )
    review_missing = frozenset(
        fact.name for fact in policy.facts if policy.missing_mode(fact) is MissingMode.REVIEW
    )
    return CompiledPolicy(
        policy=policy,
        sha256=policy_sha256(policy),
        ranked=ranked,
        sites=sites,
        rule_sites=rule_sites,
        fast=namespace["fast"],
        traced=namespace["traced"],
        traced3=namespace["traced3"],
        exemptions=exemptions,
        cures=cures,
        review_missing=review_missing,
        source=source,
        downgrades=frozenset(
            r
            for r, options in exemptions.items()
            if any(exemption.downgrade_to is not None for exemption, _ in options)
        ),
    )
