"""The grace guarantee, checked: no adverse action without notice, a cure and a person to ask.

For every rule that closes, suspends or reduces a line, its grace rule must give at least the
minimum notice (the policy's `minimum_notice_days`, raised by its jurisdiction packs) unless it
says `immediate: true` with a category; it must name an appeal window at least as long as the
notice (exemption days lengthen both alike); it must give a cure, or say on purpose that there
is none and why; and the cure window must be long enough for the cure to become true.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from clearline.engine.conditions import negate
from clearline.engine.decisions.grace import longest_months, month_spans
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    IMMEDIATE_CATEGORIES,
    ActionKind,
    AllOf,
    AnyOf,
    Condition,
    GraceRule,
    Not,
    Operator,
    Policy,
    Rule,
)
from clearline.engine.policy.source import Path

Finding = tuple[Path, str, str]


@dataclass(frozen=True)
class Minimum:
    """The fewest days (or calendar months) of notice before an action, and who asks for it."""

    days: int
    months: int = 0
    book: str | None = None  # the rule book of a jurisdiction pack; None: the policy itself

    def span(self) -> int:
        """The minimum as calendar days, months at their longest (2 months: 62 days)."""
        return max(self.days, longest_months(self.months) if self.months else 0)

    def words(self) -> str:
        """The minimum in words, e.g. `2 calendar months (EU CCD ...)`."""
        amount = f"{self.months} calendar months" if self.months else f"{self.days} days"
        return f"{amount} ({self.book})" if self.book else f"{amount} (the policy's minimum)"


def policy_minimums(policy: Policy) -> dict[ActionKind, list[Minimum]]:
    """The policy's own minimum notice per adverse action."""
    meta = policy.metadata
    return {kind: [Minimum(meta.minimum_notice(kind))] for kind in ADVERSE_ACTIONS}


def notice_words(grace: GraceRule) -> str:
    """The notice a grace rule gives, in words."""
    if grace.notice_months:
        return f"{grace.notice_months} calendar months"
    return f"{grace.notice_days} days"


def _gives_at_least(grace: GraceRule, minimum: Minimum) -> bool:
    if grace.notice_months:
        # Months against months compare as months; months against days at their shortest.
        if minimum.months:
            return grace.notice_months >= minimum.months and _shortest(grace) >= minimum.days
        return _shortest(grace) >= minimum.days
    return grace.notice_days >= minimum.span()


def _shortest(grace: GraceRule) -> int:
    """The fewest calendar days the notice of a grace rule can be (2 months: 59 days)."""
    if not grace.notice_months:
        return grace.notice_days
    return month_spans(grace.notice_months)[0]


def grace_findings(policy: Policy, minimums: dict[ActionKind, list[Minimum]]) -> Iterator[Finding]:
    """Every way a grace rule of an adverse rule falls short of the guarantee."""
    for grace in policy.grace:
        yield from _shape(grace)
        users = [
            rule
            for rule in policy.rules
            if rule.grace == grace.name and rule.action.kind in ADVERSE_ACTIONS
        ]
        if users:
            yield from _adverse(policy, grace, users, minimums)


def _shape(grace: GraceRule) -> Iterator[Finding]:
    """What is wrong with a grace rule whatever action uses it."""
    if grace.immediate and grace.category is None:
        yield (
            (*grace.path, "immediate"),
            "C117",
            f"grace rule `{grace.name}` is immediate but names no category; add `category:` "
            f"({', '.join(IMMEDIATE_CATEGORIES)}) so the notice and the record say why",
        )
    if grace.category is not None and not grace.immediate:
        yield (
            (*grace.path, "category"),
            "C117",
            f"`category` is only for an immediate grace rule; remove it from `{grace.name}` "
            "or add `immediate: true`",
        )
    if grace.immediate and grace.notice_months:
        yield ((*grace.path, "notice"), "C114", "an immediate grace rule cannot also give notice")
    seen: set[str] = set()
    for exemption in grace.exemptions:
        if exemption.id in seen:
            yield (
                (*exemption.path, "id"),
                "C194",
                f"duplicate exemption id `{exemption.id}` in grace rule `{grace.name}`; rename one",
            )
        seen.add(exemption.id)
        if grace.immediate and exemption.extend_notice_days:
            yield (
                (*exemption.path, "extend_notice_days"),
                "C193",
                f"exemption `{exemption.id}` extends the notice of immediate grace rule "
                f"`{grace.name}`, which gives none; use `downgrade_to`, or a grace rule with notice",
            )
        if not exemption.extend_notice_days and exemption.downgrade_to is None:
            yield (
                exemption.path,
                "C195",
                f"exemption `{exemption.id}` changes nothing; give it `extend_notice_days` or "
                "`downgrade_to`, or remove it",
            )
        if exemption.downgrade_to is ActionKind.REDUCE_LIMIT:
            yield (
                (*exemption.path, "downgrade_to"),
                "C191",
                f"exemption `{exemption.id}` would reduce the limit without saying by how much; "
                "downgrade to review or notify instead",
            )


def _adverse(
    policy: Policy,
    grace: GraceRule,
    users: list[Rule],
    minimums: dict[ActionKind, list[Minimum]],
) -> Iterator[Finding]:
    """What an adverse action needs of its grace rule."""
    if not grace.immediate:
        notice_path = (*grace.path, "notice" if grace.notice_months else "notice_days")
        reported: set[tuple[int, int, str | None]] = set()
        for rule in users:
            for minimum in minimums.get(rule.action.kind, ()):
                key = (minimum.days, minimum.months, minimum.book)
                if _gives_at_least(grace, minimum) or key in reported:
                    continue
                reported.add(key)
                code = "C116" if minimum.book is None else "C172"
                yield (
                    notice_path,
                    code,
                    f"grace rule `{grace.name}` gives {notice_words(grace)} of notice before rule "
                    f"`{rule.id}` ({rule.action.kind}) takes effect, less than "
                    f"{minimum.words()}; give at least that, or `immediate: true` with a "
                    "`category` when the law allows no notice",
                )
    if grace.appeal is None:
        yield (
            grace.path,
            "C118",
            f"grace rule `{grace.name}` of adverse rule `{users[0].id}` names no human review; "
            "add `appeal: {days: N}` so the customer can ask a person",
        )
    elif not grace.immediate:
        notice = (
            grace.notice_days if not grace.notice_months else longest_months(grace.notice_months)
        )
        if grace.appeal.days < notice:
            yield (
                (*grace.path, "appeal", "days"),
                "C192",
                f"the appeal window of grace rule `{grace.name}` ({grace.appeal.days} days) "
                f"closes before the action takes effect ({notice} days); make `appeal.days` at "
                f"least {notice}",
            )
    if grace.cure is None and not grace.no_cure:
        yield (
            grace.path,
            "C119",
            f"grace rule `{grace.name}` of adverse rule `{users[0].id}` gives no cure; add "
            "`cure: {days: N}`, or `cure: {none: TEXT}` telling the customer why there is none",
        )
    if grace.cure is not None:
        for rule in users:
            target = grace.cure.when if grace.cure.when is not None else negate(rule.when)
            need, why = _days_needed(policy, target)
            if need > grace.cure.days:
                yield (
                    (*grace.path, "cure", "days"),
                    "C190",
                    f"the cure of rule `{rule.id}` cannot hold within {grace.cure.days} days: "
                    f"{why}; make the cure window at least {need} days, or give the rule a "
                    "grace rule of its own",
                )


def _days_needed(policy: Policy, condition: Condition) -> tuple[int, str]:
    """The most days a customer may have to wait for `condition` to become true, and why.

    A comparison on a behaviour signal waits for the events to leave the signal's window; a
    `days_since_*` fact that must grow waits until it reaches the threshold; anything else the
    customer can change at once. `all` waits for its slowest part, `any` for its fastest.
    """
    if isinstance(condition, Not):
        return _days_needed(policy, negate(condition.part))
    if isinstance(condition, AllOf):
        parts = [_days_needed(policy, part) for part in condition.parts]
        return max(parts, default=(0, ""))
    if isinstance(condition, AnyOf):
        parts = [_days_needed(policy, part) for part in condition.parts]
        return min(parts, default=(0, ""))
    for signal in policy.signals:
        if signal.name == condition.fact:
            days = math.ceil(signal.window / 86400)
            return days, f"signal `{signal.name}` looks back {days} days"
    threshold = condition.operand
    if (
        condition.fact.startswith("days_since_")
        and condition.op in (Operator.GT, Operator.GE)
        and isinstance(threshold, int)
        and not isinstance(threshold, bool)
    ):
        days = threshold + (1 if condition.op is Operator.GT else 0)
        return days, f"`{condition.fact}` must grow to {days}"
    return 0, ""
