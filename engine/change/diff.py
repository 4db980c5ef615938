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

from dataclasses import dataclass, field
from typing import Any

from clearline.engine.canonical import to_json_value
from clearline.engine.change.condition_diff import condition_changes, describe
from clearline.engine.change.grace_diff import grace_changes, grace_impact
from clearline.engine.change.impact import Impact, Scope
from clearline.engine.change.kinds import ChangeKind
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    DEFAULT_PRECEDENCE,
    ActionKind,
    Policy,
    Rule,
)


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
                ChangeKind.RULE_ADDED, rule.id, f"rules/{rule.id}", None, describe(rule.when),
                Impact.ADVERSE if adverse else Impact.NEUTRAL,
                f"a new criterion for {rule.action.kind}" + ("" if adverse else ", which takes nothing away"),
                rule.id,
            )  # fmt: skip
        for rule in removed:
            adverse = rule.action.kind in ADVERSE_ACTIONS
            self.add(
                ChangeKind.RULE_REMOVED, rule.id, f"rules/{rule.id}", describe(rule.when), None,
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
            impact, why = grace_impact(old_grace, new_grace)
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
                for kind, before, after, impact, why in grace_changes(old[name], new[name]):
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


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """The semantic diff from `old` to `new`."""
    return PolicyDiff(old, new, _Differ(old, new).run())
