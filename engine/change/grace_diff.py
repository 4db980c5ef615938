"""What changed between two versions of a grace rule, each term with its effect on a customer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from clearline.engine.canonical import to_json_value
from clearline.engine.change.condition_diff import condition_changes
from clearline.engine.change.impact import Impact, Scope
from clearline.engine.change.kinds import ChangeKind
from clearline.engine.model import (
    GraceRule,
)

GraceMove = tuple[ChangeKind, Any, Any, Impact, str]


def grace_changes(a: GraceRule, b: GraceRule) -> Iterator[GraceMove]:
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


def grace_impact(a: GraceRule | None, b: GraceRule | None) -> tuple[Impact, str]:
    """A rule moved from one grace rule to another: adverse if any term got worse."""
    if a is None or b is None:
        return (
            (Impact.ADVERSE, "the rule lost its grace rule")
            if b is None
            else (Impact.FAVOURABLE, "the rule gained a grace rule")
        )
    moves = list(grace_changes(a, b))
    if any(m[3] is Impact.ADVERSE for m in moves):
        return Impact.ADVERSE, "; ".join(m[4] for m in moves if m[3] is Impact.ADVERSE)
    if moves:
        return Impact.FAVOURABLE, "; ".join(m[4] for m in moves)
    return Impact.NEUTRAL, "the new grace rule has the same terms"
