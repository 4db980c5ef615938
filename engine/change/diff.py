"""Semantic diff of two policy versions, each change classified for the customer.

The diff reads the typed model, never YAML text: reordering keys, rules or facts is no change.
Conditions are compared as trees. A comparison's *polarity* is positive unless it sits under an
odd number of `not`s; a change that lets a positive comparison hold for more values (or a
negative one for fewer) makes its rule fire for more accounts. Whether that is adverse depends
on what the rule does: more accounts closed, suspended or reduced is adverse, fewer is
favourable; review and notify rules are neutral either way, since they take nothing away.
Where a change both adds and removes accounts (an `eq` value moved, a `between` shifted), it is
classified adverse, because some customers can be newly hit, and the reasoning says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from clearline.engine.canonical import to_json_value
from clearline.engine.change.kinds import ChangeKind
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    DEFAULT_PRECEDENCE,
    ActionKind,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    FactRef,
    GraceRule,
    Not,
    Operator,
    Policy,
    Rule,
)


class Impact(StrEnum):
    """How a change affects customers."""

    ADVERSE = "adverse"
    FAVOURABLE = "favourable"
    NEUTRAL = "neutral"


class Scope(StrEnum):
    """Which part of a rule's reach a condition change moves."""

    WIDER = "wider"  # more accounts match
    NARROWER = "narrower"  # fewer accounts match
    MIXED = "mixed"  # some newly match, some no longer do


@dataclass(frozen=True)
class Change:
    """One semantic change between two versions."""

    kind: ChangeKind
    subject: str
    where: str
    old: Any
    new: Any
    impact: Impact
    why: str
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "where": self.where,
            "old": to_json_value(self.old),
            "new": to_json_value(self.new),
            "impact": self.impact.value,
            "why": self.why,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class PolicyDiff:
    """Every change from `old` to `new`, in a stable order."""

    old: Policy
    new: Policy
    changes: tuple[Change, ...] = field(default=())

    @property
    def adverse(self) -> tuple[Change, ...]:
        """Changes that can hit customers more, harder or sooner."""
        return tuple(c for c in self.changes if c.impact is Impact.ADVERSE)

    @property
    def favourable(self) -> tuple[Change, ...]:
        """Changes that hit customers less, more lightly or later."""
        return tuple(c for c in self.changes if c.impact is Impact.FAVOURABLE)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""

        def ident(policy: Policy) -> dict[str, Any]:
            return {
                "id": policy.metadata.id,
                "version": policy.metadata.version,
                "effective_from": policy.metadata.effective_from.isoformat(),
            }

        return {
            "old": ident(self.old),
            "new": ident(self.new),
            "summary": {
                impact.value: sum(c.impact is impact for c in self.changes) for impact in Impact
            },
            "changes": [change.to_dict() for change in self.changes],
        }


# -- conditions ---------------------------------------------------------------------------------


def _describe(condition: Condition) -> str:
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
        return f"not ({_describe(condition.part)})"
    joiner = " and " if isinstance(condition, AllOf) else " or "
    return "(" + joiner.join(_describe(part) for part in condition.parts) + ")"


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
            yield ConditionChange(where, _describe(old), _describe(new), scoped(scope), what)
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
                f"{where}/{kind}", _describe(part), None, scoped(scope), ChangeKind.REMOVED
            )
        for part in remaining:
            scope = Scope.NARROWER if kind == "all" else Scope.WIDER
            yield ConditionChange(
                f"{where}/{kind}", None, _describe(part), scoped(scope), ChangeKind.ADDED
            )
        return
    yield ConditionChange(where, _describe(old), _describe(new), Scope.MIXED, ChangeKind.REWRITTEN)


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


def _severity(kind: ActionKind) -> int:
    """Harshness by the default precedence (lower is harsher), independent of any policy."""
    return DEFAULT_PRECEDENCE.index(kind) if kind in DEFAULT_PRECEDENCE else len(DEFAULT_PRECEDENCE)


def _reach_impact(action: ActionKind, scope: Scope) -> tuple[Impact, str]:
    if action not in ADVERSE_ACTIONS:
        return Impact.NEUTRAL, f"the rule only leads to {action}, which takes nothing away"
    if scope is Scope.WIDER:
        return Impact.ADVERSE, f"more accounts can be hit by {action}"
    if scope is Scope.NARROWER:
        return Impact.FAVOURABLE, f"fewer accounts can be hit by {action}"
    return Impact.ADVERSE, f"some accounts that were not hit by {action} can now be"


class _Differ:
    def __init__(self, old: Policy, new: Policy) -> None:
        self.old = old
        self.new = new
        self.changes: list[Change] = []

    def add(
        self,
        kind: ChangeKind,
        subject: str,
        where: str,
        old: Any,
        new: Any,
        impact: Impact,
        why: str,
        rule: str | None = None,
    ) -> None:
        self.changes.append(Change(kind, subject, where, old, new, impact, why, rule))

    def run(self) -> tuple[Change, ...]:
        self.facts()
        self.rules()
        self.grace()
        self.outcome()
        self.metadata()
        return tuple(self.changes)

    def facts(self) -> None:
        old = {f.name: f for f in self.old.facts}
        new = {f.name: f for f in self.new.facts}
        for name in sorted(new.keys() - old.keys()):
            self.add(
                ChangeKind.FACT_ADDED,
                name,
                f"facts/{name}",
                None,
                new[name].type.value,
                Impact.NEUTRAL,
                "a new input is used",
            )
        for name in sorted(old.keys() - new.keys()):
            self.add(
                ChangeKind.FACT_REMOVED,
                name,
                f"facts/{name}",
                old[name].type.value,
                None,
                Impact.NEUTRAL,
                "an input is no longer used",
            )
        for name in sorted(old.keys() & new.keys()):
            a, b = old[name], new[name]
            if a == b:
                continue
            for attr in ("type", "minimum", "maximum", "values", "unit", "on_missing"):
                if getattr(a, attr) != getattr(b, attr):
                    impact = Impact.NEUTRAL
                    why = f"the {attr} of this input changed"
                    if (
                        attr == "on_missing"
                        and b.on_missing is not None
                        and b.on_missing.value == "error"
                    ):
                        why = "accounts without this input can no longer be decided"
                    self.add(
                        ChangeKind(f"fact_{attr}"),
                        name,
                        f"facts/{name}/{attr}",
                        getattr(a, attr),
                        getattr(b, attr),
                        impact,
                        why,
                    )
            for attr in ("label", "description", "value_labels"):
                if getattr(a, attr) != getattr(b, attr):
                    self.add(
                        ChangeKind.TEXT,
                        name,
                        f"facts/{name}/{attr}",
                        getattr(a, attr),
                        getattr(b, attr),
                        Impact.NEUTRAL,
                        "wording only",
                    )

    def rules(self) -> None:
        old = {r.id: r for r in self.old.rules}
        new = {r.id: r for r in self.new.rules}
        added = [new[i] for i in new if i not in old]
        removed = [old[i] for i in old if i not in new]
        for rule in list(added):
            twin = next((r for r in removed if _same_logic(r, rule)), None)
            if twin is not None:
                added.remove(rule)
                removed.remove(twin)
                self.add(
                    ChangeKind.RULE_RENAMED,
                    rule.id,
                    f"rules/{rule.id}",
                    twin.id,
                    rule.id,
                    Impact.NEUTRAL,
                    "same criterion under a new id",
                    rule.id,
                )
        for rule in added:
            adverse = rule.action.kind in ADVERSE_ACTIONS
            self.add(
                ChangeKind.RULE_ADDED, rule.id, f"rules/{rule.id}", None, _describe(rule.when),
                Impact.ADVERSE if adverse else Impact.NEUTRAL,
                f"a new criterion for {rule.action.kind}" + ("" if adverse else ", which takes nothing away"),
                rule.id,
            )  # fmt: skip
        for rule in removed:
            adverse = rule.action.kind in ADVERSE_ACTIONS
            self.add(
                ChangeKind.RULE_REMOVED, rule.id, f"rules/{rule.id}", _describe(rule.when), None,
                Impact.FAVOURABLE if adverse else Impact.NEUTRAL,
                f"a criterion for {rule.action.kind} is gone",
                rule.id,
            )  # fmt: skip
        for rule_id in [i for i in old if i in new]:
            self.rule(old[rule_id], new[rule_id])
        self.reordering(old, new)

    def rule(self, a: Rule, b: Rule) -> None:
        where = f"rules/{a.id}"
        if a.action.kind is not b.action.kind:
            harsher = _severity(b.action.kind) < _severity(a.action.kind)
            self.add(
                ChangeKind.ACTION, a.id, f"{where}/action", a.action.kind.value, b.action.kind.value,
                Impact.ADVERSE if harsher else Impact.FAVOURABLE,
                "the action is harsher" if harsher else "the action is lighter", a.id,
            )  # fmt: skip
        elif (
            a.action.limit_factor != b.action.limit_factor
            and b.action.kind is ActionKind.REDUCE_LIMIT
        ):
            lower = (b.action.limit_factor or 1.0) < (a.action.limit_factor or 1.0)
            self.add(
                ChangeKind.LIMIT_FACTOR, a.id, f"{where}/action/limit_factor", a.action.limit_factor, b.action.limit_factor,
                Impact.ADVERSE if lower else Impact.FAVOURABLE,
                "the limit is cut deeper" if lower else "the limit is cut less", a.id,
            )  # fmt: skip
        action = (
            b.action.kind if _severity(b.action.kind) <= _severity(a.action.kind) else a.action.kind
        )
        for change in condition_changes(a.when, b.when, f"{where}/when"):
            impact, why = _reach_impact(action, change.scope)
            self.add(
                change.what,
                a.id,
                change.where,
                change.old,
                change.new,
                impact,
                f"{change.scope.value}: {why}",
                a.id,
            )
        if a.grace != b.grace:
            old_grace = self.old.grace_rule(a.grace)
            new_grace = self.new.grace_rule(b.grace)
            impact, why = _grace_impact(old_grace, new_grace)
            self.add(ChangeKind.GRACE, a.id, f"{where}/grace", a.grace, b.grace, impact, why, a.id)
        if a.reason_code != b.reason_code:
            self.add(
                ChangeKind.REASON_CODE,
                a.id,
                f"{where}/reason/code",
                a.reason_code,
                b.reason_code,
                Impact.NEUTRAL,
                "reporting code only",
                a.id,
            )
        for attr in ("reason", "advice", "description"):
            if getattr(a, attr) != getattr(b, attr):
                self.add(
                    ChangeKind.TEXT,
                    a.id,
                    f"{where}/{attr}",
                    getattr(a, attr),
                    getattr(b, attr),
                    Impact.NEUTRAL,
                    "wording only",
                    a.id,
                )

    def reordering(self, old: dict[str, Rule], new: dict[str, Rule]) -> None:
        # File order ranks reasons among rules of the same action; other moves mean nothing.
        for kind in ActionKind:
            a = [i for i, r in old.items() if r.action.kind is kind and i in new]
            b = [i for i, r in new.items() if r.action.kind is kind and i in old]
            if a != b and sorted(a) == sorted(b):
                self.add(
                    ChangeKind.REASON_ORDER,
                    kind.value,
                    "rules",
                    a,
                    b,
                    Impact.NEUTRAL,
                    f"reasons for {kind} are ranked in a new order",
                )

    def grace(self) -> None:
        old = {g.name: g for g in self.old.grace}
        new = {g.name: g for g in self.new.grace}
        for name in sorted(old.keys() & new.keys()):
            if old[name] != new[name]:
                users = sorted({r.id for r in self.new.rules if r.grace == name})
                for kind, before, after, impact, why in _grace_changes(old[name], new[name]):
                    self.add(
                        kind,
                        name,
                        f"grace/{name}",
                        before,
                        after,
                        impact,
                        f"{why} (rules: {', '.join(users) or 'none'})",
                    )
        for name in sorted(new.keys() - old.keys()):
            self.add(
                ChangeKind.GRACE_ADDED,
                name,
                f"grace/{name}",
                None,
                name,
                Impact.NEUTRAL,
                "a new grace rule",
            )
        for name in sorted(old.keys() - new.keys()):
            self.add(
                ChangeKind.GRACE_REMOVED,
                name,
                f"grace/{name}",
                name,
                None,
                Impact.NEUTRAL,
                "a grace rule no rule uses any more",
            )

    def outcome(self) -> None:
        a, b = self.old.outcome, self.new.outcome
        if a.precedence != b.precedence:
            # For an account hit by two rules, the winning action changes between each swapped pair.
            harsher_wins_more = any(
                _severity(x) < _severity(y) and b.rank(x) < b.rank(y) and a.rank(x) > a.rank(y)
                for x in b.precedence
                for y in b.precedence
            )
            self.add(
                ChangeKind.PRECEDENCE, "outcome", "outcome/precedence", [k.value for k in a.precedence], [k.value for k in b.precedence],
                Impact.ADVERSE if harsher_wins_more else Impact.FAVOURABLE,
                "where rules of both actions fire, the harsher action now wins" if harsher_wins_more else "where rules of both actions fire, the lighter action now wins",
            )  # fmt: skip
        if a.missing_facts != b.missing_facts:
            self.add(
                ChangeKind.MISSING_FACTS,
                "outcome",
                "outcome/missing_facts",
                to_json_value(a.missing_facts),
                to_json_value(b.missing_facts),
                Impact.NEUTRAL,
                "what a missing input means changed",
            )

    def metadata(self) -> None:
        a, b = self.old.metadata, self.new.metadata
        if a.adverse_change_notice_days != b.adverse_change_notice_days:
            shorter = b.adverse_change_notice_days < a.adverse_change_notice_days
            self.add(
                ChangeKind.CHANGE_NOTICE_DAYS, "metadata", "metadata/adverse_change_notice_days",
                a.adverse_change_notice_days, b.adverse_change_notice_days,
                Impact.ADVERSE if shorter else Impact.FAVOURABLE,
                "customers will hear of future adverse changes later" if shorter else "customers will hear of future adverse changes sooner",
            )  # fmt: skip
        for attr in ("title", "owner", "timezone", "languages", "calendar"):
            if getattr(a, attr) != getattr(b, attr):
                self.add(
                    ChangeKind.METADATA,
                    attr,
                    f"metadata/{attr}",
                    getattr(a, attr),
                    getattr(b, attr),
                    Impact.NEUTRAL,
                    f"the {attr} changed",
                )


def _same_logic(a: Rule, b: Rule) -> bool:
    return (a.action, a.when, a.grace, a.reason_code) == (b.action, b.when, b.grace, b.reason_code)


GraceMove = tuple[ChangeKind, Any, Any, Impact, str]


def _grace_changes(a: GraceRule, b: GraceRule) -> Iterator[GraceMove]:
    """Each moved term of a grace rule, with its effect on a customer."""

    def effect(worse: bool) -> Impact:
        return Impact.ADVERSE if worse else Impact.FAVOURABLE

    if a.immediate != b.immediate:
        yield (
            ChangeKind.GRACE_IMMEDIATE,
            a.immediate,
            b.immediate,
            effect(b.immediate),
            "takes effect at once" if b.immediate else "no longer takes effect at once",
        )

    def presence(kind: ChangeKind, old: Any, new: Any, term: str) -> GraceMove:
        removed = new is None
        message = f"the {term} is removed" if removed else f"a {term} is added"
        return kind, to_json_value(old), to_json_value(new), effect(removed), message

    def days(kind: ChangeKind, old: int, new: int, less: str, more: str) -> GraceMove:
        shorter = new < old
        return kind, old, new, effect(shorter), less if shorter else more

    if a.notice_days != b.notice_days:
        yield days(
            ChangeKind.GRACE_NOTICE, a.notice_days, b.notice_days, "shorter notice", "longer notice"
        )
    if (a.cure is None) != (b.cure is None):
        yield presence(ChangeKind.GRACE_CURE, a.cure, b.cure, "cure")
    elif a.cure is not None and b.cure is not None and a.cure != b.cure:
        if a.cure.days != b.cure.days:
            yield days(
                ChangeKind.GRACE_CURE,
                a.cure.days,
                b.cure.days,
                "less time to cure",
                "more time to cure",
            )
        if a.cure.when != b.cure.when:
            yield (
                ChangeKind.GRACE_CURE,
                to_json_value(a.cure.when),
                to_json_value(b.cure.when),
                Impact.ADVERSE,
                "the cure condition changed; some customers may no longer be able to cure",
            )
    if (a.appeal is None) != (b.appeal is None):
        yield presence(ChangeKind.GRACE_APPEAL, a.appeal, b.appeal, "appeal window")
    elif a.appeal is not None and b.appeal is not None and a.appeal != b.appeal:
        if a.appeal.days != b.appeal.days:
            yield days(
                ChangeKind.GRACE_APPEAL,
                a.appeal.days,
                b.appeal.days,
                "less time to ask for a review",
                "more time to ask for a review",
            )
        if a.appeal.pauses_action != b.appeal.pauses_action:
            yield (
                ChangeKind.GRACE_APPEAL,
                a.appeal.pauses_action,
                b.appeal.pauses_action,
                effect(not b.appeal.pauses_action),
                "a review no longer pauses the action"
                if not b.appeal.pauses_action
                else "a review now pauses the action",
            )
        if a.appeal.review_max_days != b.appeal.review_max_days:
            slower = (b.appeal.review_max_days or 10**6) > (a.appeal.review_max_days or 10**6)
            yield (
                ChangeKind.GRACE_APPEAL,
                a.appeal.review_max_days,
                b.appeal.review_max_days,
                effect(slower),
                "reviews may take longer" if slower else "reviews must be answered sooner",
            )
        if a.appeal.on_timeout != b.appeal.on_timeout:
            worse = b.appeal.on_timeout == "uphold"
            yield (
                ChangeKind.GRACE_APPEAL,
                a.appeal.on_timeout,
                b.appeal.on_timeout,
                effect(worse),
                "an unanswered review no longer favours the customer"
                if worse
                else "an unanswered review now favours the customer",
            )
    old_ex = {e.id: e for e in a.exemptions}
    new_ex = {e.id: e for e in b.exemptions}
    for ex_id in sorted(old_ex.keys() - new_ex.keys()):
        yield (
            ChangeKind.GRACE_EXEMPTION,
            ex_id,
            None,
            Impact.ADVERSE,
            f"the exemption `{ex_id}` is removed",
        )
    for ex_id in sorted(new_ex.keys() - old_ex.keys()):
        yield (
            ChangeKind.GRACE_EXEMPTION,
            None,
            ex_id,
            Impact.FAVOURABLE,
            f"a new exemption `{ex_id}`",
        )
    for ex_id in sorted(old_ex.keys() & new_ex.keys()):
        x, y = old_ex[ex_id], new_ex[ex_id]
        if x.extend_notice_days != y.extend_notice_days:
            less = y.extend_notice_days < x.extend_notice_days
            yield (
                ChangeKind.GRACE_EXEMPTION,
                x.extend_notice_days,
                y.extend_notice_days,
                effect(less),
                f"exemption `{ex_id}` extends notice {'less' if less else 'more'}",
            )
        if x.downgrade_to != y.downgrade_to:
            yield (
                ChangeKind.GRACE_EXEMPTION,
                to_json_value(x.downgrade_to),
                to_json_value(y.downgrade_to),
                Impact.ADVERSE if y.downgrade_to is None else Impact.NEUTRAL,
                f"exemption `{ex_id}` lightens the action differently",
            )
        if x.when != y.when:
            for change in condition_changes(x.when, y.when, f"exemptions/{ex_id}/when"):
                # An exemption reaching more accounts is good for customers.
                worse = change.scope is not Scope.WIDER
                yield (
                    ChangeKind.GRACE_EXEMPTION,
                    change.old,
                    change.new,
                    effect(worse),
                    f"exemption `{ex_id}` reaches {change.scope.value}",
                )


def _grace_impact(a: GraceRule | None, b: GraceRule | None) -> tuple[Impact, str]:
    """A rule moved from one grace rule to another: adverse if any term got worse."""
    if a is None or b is None:
        return (
            (Impact.ADVERSE, "the rule lost its grace rule")
            if b is None
            else (Impact.FAVOURABLE, "the rule gained a grace rule")
        )
    moves = list(_grace_changes(a, b))
    if any(m[3] is Impact.ADVERSE for m in moves):
        return Impact.ADVERSE, "; ".join(m[4] for m in moves if m[3] is Impact.ADVERSE)
    if moves:
        return Impact.FAVOURABLE, "; ".join(m[4] for m in moves)
    return Impact.NEUTRAL, "the new grace rule has the same terms"


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """The semantic diff from `old` to `new`."""
    return PolicyDiff(old, new, _Differ(old, new).run())


def _show(value: Any) -> str:
    if value is None:
        return "-"
    data = to_json_value(value)
    if isinstance(data, dict) and data and all(isinstance(v, str) for v in data.values()):
        return " / ".join(f"{lang}: {text}" for lang, text in sorted(data.items()))
    if isinstance(data, str):
        return data
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def render_text(diff: PolicyDiff) -> str:
    """A plain-text report for policy authors, adverse changes first."""
    old, new = diff.old.metadata, diff.new.metadata
    lines = [
        f"{old.id} {old.version} -> {new.id} {new.version} (effective {new.effective_from.date().isoformat()})",
    ]
    counts = diff.to_dict()["summary"]
    lines.append(
        f"{len(diff.changes)} changes: {counts['adverse']} adverse, {counts['favourable']} favourable, {counts['neutral']} neutral"
    )
    for impact in Impact:
        for change in (c for c in diff.changes if c.impact is impact):
            lines.append(f"{impact.value.upper():<10} {change.kind:<16} {change.where}")
            lines.append(f"           {_show(change.old)}  ->  {_show(change.new)}")
            lines.append(f"           because {change.why}")
    return "\n".join(lines) + "\n"


def render_markdown(diff: PolicyDiff) -> str:
    """A Markdown report for policy authors and reviewers."""
    from clearline.disclosures.escape import code_span, markdown_text  # the one escaper

    old, new = diff.old.metadata, diff.new.metadata
    out = [f"# {new.id}: {old.version} → {new.version}", ""]
    out.append(f"New version effective {new.effective_from.date().isoformat()}.")
    for impact in Impact:
        changes = [c for c in diff.changes if c.impact is impact]
        if not changes:
            continue
        out += ["", f"## {impact.value.capitalize()} ({len(changes)})", ""]
        out.append("| change | where | before | after | why |")
        out.append("|---|---|---|---|---|")
        for c in changes:
            # Policy texts are shown as text: no markup, link or raw HTML of their own.
            where = str(code_span(c.where)).replace("|", "\\|")
            cells = [
                markdown_text(c.kind),
                where,
                *map(markdown_text, (_show(c.old), _show(c.new), c.why)),
            ]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
