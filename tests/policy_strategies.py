"""Hypothesis strategies of random VALID policies and of accounts for them.

Reusable by any test that holds two back ends of the policy model together (SQL, JavaScript,
grace properties). The API is two functions:

- `policies()` -> strategy of `(yaml_text, Policy)`: a policy written as YAML and loaded by
  the real loader (`load_policy_text`), so every example passes `check`. It draws every fact
  type (integer, number, boolean, enum, date, datetime, string), nested all/any/not,
  fact-vs-fact comparisons, between, in/not_in, exemptions (longer notice, lighter action),
  every missing mode (policy default and per fact), precedence orders, reduce_limit with and
  without a limit factor, grace rules (immediate, notice, cure with and without a condition,
  appeal) and time zones. Literals include quotes, backslashes and non-ASCII text.
- `accounts(policy, *, json=False, invalid=False)` -> strategy of facts dicts for that policy:
  each fact present, absent or null; values drawn near the policy's thresholds and bounds
  (the boundary itself, one step either side) as well as anywhere in range. Values are Python
  typed (`datetime.date`, aware `datetime.datetime`); with `json=True` dates are ISO strings
  as a JSON input would carry them. With `invalid=True` some values are of the wrong type or
  out of bounds (what `decide` refuses with F003).

Both keep examples small (at most 6 facts, 5 rules, depth 3) so a differential test can run a
hundred policies in seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from hypothesis import assume
from hypothesis import strategies as st

from clearline.engine import load_policy_text
from clearline.engine.errors import PolicyError
from clearline.engine.model import FactRef, FactType, Policy, comparisons

__all__ = ["accounts", "policies"]

ACTIONS = ("close", "suspend", "reduce_limit", "review", "notify")
ADVERSE = ("close", "suspend", "reduce_limit")
MODES = ("ignore", "review", "error")
TIMEZONES = ("UTC", "Asia/Shanghai", "America/New_York")
ORDERED = ("integer", "number", "date", "datetime")
# String and enum literals that a naive SQL or JavaScript printer would break on.
TEXTS = ("x", "y", "it's", 'say "hi"', "back\\slash", "逾期", "a b", "")
ENUM_VALUES = ("gold", "silver", "o'brien", "北京", "none_of_these")

_INT_RANGE = (-20, 120)
_NUM_RANGE = (-5.0, 15.0)
_DAY0 = dt.date(2024, 1, 1)
_DAYS = 3 * 366
_UTC8 = dt.timezone(dt.timedelta(hours=8))
_OFFSETS = (dt.UTC, _UTC8, dt.timezone(dt.timedelta(hours=-5)))


# -- facts ------------------------------------------------------------------------------------


@st.composite
def _fact(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    fact: dict[str, Any] = {"type": kind, "label": {"en": f"{kind} fact"}}
    if kind == "integer":
        if draw(st.booleans()):
            fact["minimum"] = draw(st.sampled_from([0, -10]))
        if draw(st.booleans()):
            fact["maximum"] = 100
    elif kind == "number":
        if draw(st.booleans()):
            fact["minimum"] = 0
        if draw(st.booleans()):
            fact["maximum"] = draw(st.sampled_from([10, 2.5]))
    elif kind == "enum":
        fact["values"] = draw(
            st.lists(st.sampled_from(ENUM_VALUES), min_size=2, max_size=4, unique=True)
        )
    elif kind == "date":
        if draw(st.booleans()):
            fact["minimum"] = "2024-06-01"
        if draw(st.booleans()):
            fact["maximum"] = "2026-06-30"
    elif kind == "datetime" and draw(st.booleans()):
        fact["minimum"] = "2024-06-01T00:00:00Z"
    mode = draw(st.sampled_from((None, *MODES)))
    if mode is not None:
        fact["on_missing"] = mode
    return fact


def _bounds(fact: dict[str, Any]) -> tuple[Any, Any]:
    kind = fact["type"]
    if kind == "integer":
        return fact.get("minimum", _INT_RANGE[0]), fact.get("maximum", _INT_RANGE[1])
    if kind == "number":
        return fact.get("minimum", _NUM_RANGE[0]), fact.get("maximum", _NUM_RANGE[1])
    if kind == "date":
        low = dt.date.fromisoformat(fact.get("minimum", _DAY0.isoformat()))
        high = dt.date.fromisoformat(fact.get("maximum", "2026-12-31"))
        return low, high
    if kind == "datetime":
        low = dt.datetime(2024, 6, 1, tzinfo=dt.UTC) if "minimum" in fact else None
        return low or dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(
            2026, 12, 31, tzinfo=dt.UTC
        )
    return None, None


def _literal(draw: st.DrawFn, fact: dict[str, Any]) -> Any:
    """A threshold in the fact's range, as YAML data."""
    kind = fact["type"]
    low, high = _bounds(fact)
    if kind == "integer":
        return draw(st.integers(low, high))
    if kind == "number":
        return draw(
            st.one_of(
                st.integers(int(low), int(high)),
                st.sampled_from([float(low), float(high), (low + high) / 2, 0.5]).filter(
                    lambda v: low <= v <= high
                ),
            )
        )
    if kind == "date":
        return (low + dt.timedelta(days=draw(st.integers(0, (high - low).days)))).isoformat()
    if kind == "datetime":
        seconds = draw(st.integers(0, int((high - low).total_seconds())))
        moment = (low + dt.timedelta(seconds=seconds)).astimezone(draw(st.sampled_from(_OFFSETS)))
        return moment.isoformat()
    if kind == "enum":
        return draw(st.sampled_from(fact["values"]))
    if kind == "string":
        return draw(st.sampled_from(TEXTS))
    return draw(st.booleans())


def _compatible(a: dict[str, Any], b: dict[str, Any]) -> bool:
    numeric = ("integer", "number")
    if a["type"] in numeric and b["type"] in numeric:
        return True
    if a["type"] == "enum" and b["type"] == "enum":
        return bool(set(a["values"]) & set(b["values"]))
    return bool(a["type"] == b["type"])


# -- conditions -------------------------------------------------------------------------------


@st.composite
def _comparison(draw: st.DrawFn, facts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(facts)))
    fact = facts[name]
    kind = fact["type"]
    ordered = kind in ORDERED
    partners = [
        other for other in sorted(facts) if other != name and _compatible(fact, facts[other])
    ]
    if partners and draw(st.integers(0, 4)) == 0:
        ops = ("eq", "ne", "lt", "le", "gt", "ge") if ordered else ("eq", "ne")
        return {"fact": name, draw(st.sampled_from(ops)): {"fact": draw(st.sampled_from(partners))}}
    if kind == "boolean":
        return {"fact": name, draw(st.sampled_from(("eq", "ne"))): draw(st.booleans())}
    ops = ["eq", "ne", "in", "not_in"]
    if ordered:
        ops += ["lt", "le", "gt", "ge", "between"]
    op = draw(st.sampled_from(ops))
    if op in ("in", "not_in"):
        items = [_literal(draw, fact) for _ in range(draw(st.integers(1, 3)))]
        return {"fact": name, op: items}
    if op == "between":
        a, b = _literal(draw, fact), _literal(draw, fact)
        if kind == "datetime":
            a, b = sorted((a, b), key=dt.datetime.fromisoformat)
        else:
            a, b = sorted((a, b))
        return {"fact": name, op: [a, b]}
    return {"fact": name, op: _literal(draw, fact)}


def _condition(facts: dict[str, dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        _comparison(facts),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"all": parts}),
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: {"any": parts}),
            inner.map(lambda part: {"not": part}),
        ),
        max_leaves=4,
    )


# -- policies ---------------------------------------------------------------------------------


@st.composite
def _policy_data(draw: st.DrawFn) -> dict[str, Any]:
    kinds = draw(
        st.lists(
            st.sampled_from(("integer", "number", "boolean", "enum", "date", "datetime", "string")),
            min_size=1,
            max_size=6,
        )
    )
    facts = {f"f{i}_{kind}": draw(_fact(kind)) for i, kind in enumerate(kinds)}
    precedence = list(draw(st.permutations(ACTIONS))) if draw(st.booleans()) else list(ACTIONS)
    rank = precedence.index
    grace_names = [f"g{i}" for i in range(draw(st.integers(1, 3)))]
    rules = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(ACTIONS))
        action: Any = kind
        if kind == "reduce_limit" and draw(st.booleans()):
            action = {"kind": kind, "limit_factor": draw(st.sampled_from([0.5, 0.7, 0.8]))}
        rule: dict[str, Any] = {
            "id": f"r{i}",
            "action": action,
            "when": draw(_condition(facts)),
            "reason": {"code": f"C{i}"},
        }
        if kind in ADVERSE or draw(st.booleans()):
            rule["grace"] = draw(st.sampled_from(grace_names))
        rules.append(rule)
    grace: dict[str, Any] = {}
    for name in grace_names:
        users = [r for r in rules if r.get("grace") == name]
        strongest = max((rank(_kind(r["action"])) for r in users), default=-1)
        # The grace guarantee (check C116-C119, C192): an adverse action gets notice (or is
        # immediate with a category), a cure or a stated absence of one, and an appeal window
        # at least as long as the notice.
        adverse = any(_kind(r["action"]) in ADVERSE for r in users)
        body: dict[str, Any] = {}
        immediate = draw(st.integers(0, 3)) == 0
        if immediate:
            body["immediate"] = True
            body["category"] = "fraud"
        else:
            body["notice_days"] = draw(st.sampled_from([10, 30, 45] if adverse else [0, 10, 30]))
        if draw(st.booleans()):
            cure: dict[str, Any] = {"days": draw(st.sampled_from([0, 15, 60]))}
            if draw(st.booleans()):
                cure["when"] = draw(_condition(facts))
            body["cure"] = cure
        elif adverse:
            body["cure"] = {"none": {"en": "This cannot be fixed."}}
        if adverse or draw(st.booleans()):
            body["appeal"] = {
                "days": body.get("notice_days", 0) + draw(st.sampled_from([0, 14])),
                "pauses_action": draw(st.booleans()),
                "review_max_days": 10,
            }
        exemptions = []
        for j in range(draw(st.integers(0, 2))):
            exemption: dict[str, Any] = {"id": f"e{j}", "when": draw(_condition(facts))}
            lighter = [
                a for a in ACTIONS if a not in ("close", "reduce_limit") and rank(a) > strongest
            ]
            if immediate and not lighter:
                continue
            if lighter and (immediate or draw(st.booleans())):
                exemption["downgrade_to"] = draw(st.sampled_from(lighter))
            else:
                exemption["extend_notice_days"] = draw(st.sampled_from([5, 30]))
            exemptions.append(exemption)
        if exemptions:
            body["exemptions"] = exemptions
        grace[name] = body
    missing: dict[str, Any] = {"default": draw(st.sampled_from(MODES)), "review_code": "M01"}
    if draw(st.booleans()):
        missing["review_grace"] = draw(st.sampled_from(grace_names))
    return {
        "apiVersion": "clearline/v1",
        "kind": "CreditLinePolicy",
        "metadata": {
            "id": "random-policy",
            "version": "1.0.0",
            "title": {"en": "A random policy"},
            "effective_from": "2025-01-01",
            "timezone": draw(st.sampled_from(TIMEZONES)),
            "languages": ["en"],
        },
        "facts": facts,
        "rules": rules,
        "grace": grace,
        "outcome": {"precedence": precedence, "missing_facts": missing},
    }


def _kind(action: Any) -> str:
    return str(action["kind"] if isinstance(action, dict) else action)


def _load(data: dict[str, Any]) -> tuple[str, Policy]:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    try:
        policy = load_policy_text(text)
    except PolicyError:
        # A few drawn conditions contradict themselves (C130); the real checker decides.
        assume(False)
        raise
    return text, policy


def policies() -> st.SearchStrategy[tuple[str, Policy]]:
    """Random valid policies as (YAML text, loaded Policy)."""
    return _policy_data().map(_load)


# -- accounts ---------------------------------------------------------------------------------


def _thresholds(policy: Policy, name: str) -> list[Any]:
    """Literals the policy compares the fact with (rules, cures, exemptions)."""
    conditions = [rule.when for rule in policy.rules]
    for grace in policy.grace:
        if grace.cure is not None and grace.cure.when is not None:
            conditions.append(grace.cure.when)
        conditions += [exemption.when for exemption in grace.exemptions]
    found: list[Any] = []
    for condition in conditions:
        for cmp in comparisons(condition):
            if cmp.fact != name or isinstance(cmp.operand, FactRef):
                continue
            found += list(cmp.operand) if isinstance(cmp.operand, tuple) else [cmp.operand]
    return found


def _value(draw: st.DrawFn, policy: Policy, name: str, json: bool, invalid: bool) -> Any:
    fact = policy.fact(name)
    assert fact is not None
    kind = fact.type
    if invalid and draw(st.integers(0, 5)) == 0:
        wrong: list[Any] = ["not a value", 1.5, [1]]
        if fact.minimum is not None and kind in (FactType.INTEGER, FactType.NUMBER):
            wrong.append(fact.minimum - 1)
        if fact.maximum is not None and kind in (FactType.INTEGER, FactType.NUMBER):
            wrong.append(fact.maximum + 1)
        if kind in (FactType.STRING, FactType.ENUM):
            wrong = [7, True, "not one of them"] if kind is FactType.ENUM else [7, True]
        return draw(st.sampled_from(wrong))
    near = _thresholds(policy, name)
    candidates: list[Any] = []
    if kind in (FactType.INTEGER, FactType.NUMBER):
        step = 1 if kind is FactType.INTEGER else 0.5
        for value in [*near, fact.minimum, fact.maximum]:
            if value is not None:
                candidates += [value - step, value, value + step]
        low = fact.minimum if fact.minimum is not None else _INT_RANGE[0]
        high = fact.maximum if fact.maximum is not None else _INT_RANGE[1]
        if kind is FactType.INTEGER:
            candidates = [int(v) for v in candidates]
            candidates.append(draw(st.integers(int(low), int(high))))
        else:
            candidates.append(
                draw(st.floats(float(low), float(high), allow_nan=False, allow_infinity=False))
            )
        candidates = [
            v
            for v in candidates
            if (fact.minimum is None or v >= fact.minimum)
            and (fact.maximum is None or v <= fact.maximum)
        ]
    elif kind is FactType.BOOLEAN:
        candidates = [True, False]
    elif kind is FactType.ENUM:
        candidates = list(fact.values)
    elif kind is FactType.STRING:
        candidates = [*near, *TEXTS]
    elif kind is FactType.DATE:
        low = fact.minimum if isinstance(fact.minimum, dt.date) else _DAY0
        high = fact.maximum if isinstance(fact.maximum, dt.date) else _DAY0 + dt.timedelta(_DAYS)
        for value in near:
            candidates += [value + dt.timedelta(days=d) for d in (-1, 0, 1)]
        candidates.append(low + dt.timedelta(days=draw(st.integers(0, (high - low).days))))
        candidates += [low, high]
        candidates = [v for v in candidates if low <= v <= high]
    else:
        low = fact.minimum if isinstance(fact.minimum, dt.datetime) else None
        low = low or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        for value in near:
            candidates += [value + dt.timedelta(seconds=s) for s in (-1, 0, 1)]
        seconds = draw(st.integers(0, 3 * 366 * 86400))
        candidates.append(low + dt.timedelta(seconds=seconds))
        candidates.append(low)
        candidates = [v.astimezone(draw(st.sampled_from(_OFFSETS))) for v in candidates if v >= low]
    value = draw(st.sampled_from(candidates))
    if json and isinstance(value, dt.date):
        return value.isoformat()
    return value


@st.composite
def _account(draw: st.DrawFn, policy: Policy, json: bool, invalid: bool) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for fact in policy.facts:
        presence = draw(st.integers(0, 9))
        if presence == 0:
            continue  # absent
        if presence == 1:
            facts[fact.name] = None
            continue
        facts[fact.name] = _value(draw, policy, fact.name, json, invalid)
    return facts


def accounts(
    policy: Policy, *, json: bool = False, invalid: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    """Random accounts (facts dicts) for `policy`, with missing and boundary values."""
    return _account(policy, json, invalid)
