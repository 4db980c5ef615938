"""What the policy disclosure says of the whole policy, held to what the policy does.

The template states a few things about every rule at once ("most changes wait for a notice
period", "you can ask for a person to look at any decision"). `disclose --check` must not call a
disclosure complete when one of these is untrue of the policy it was written from.
"""

from __future__ import annotations

from collections.abc import Iterator

from clearline.engine.model import ADVERSE_ACTIONS, GraceRule, Policy

# The template's sentence in each language, and which promise it makes.
_SENTENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        ("Most changes wait for a notice period first.", "notice"),
        ("You can ask for a person to look at any decision.", "review"),
    ),
    "zh-CN": (
        ("多数调整会先给您通知期。", "notice"),
        ("任何决定，您都可以要求人工复核。", "review"),
    ),
}


def _adverse_grace(policy: Policy) -> list[tuple[str, GraceRule | None]]:
    return [
        (rule.id, policy.grace_rule(rule.grace))
        for rule in policy.rules
        if rule.action.kind in ADVERSE_ACTIONS
    ]


def _waits(grace: GraceRule | None) -> bool:
    return (
        grace is not None and not grace.immediate and bool(grace.notice_days or grace.notice_months)
    )


def untrue_claims(policy: Policy, flat: str, lang: str) -> Iterator[str]:
    """A message for each general sentence of a disclosure (`flat`: its text on one line) that
    the policy does not bear out."""
    adverse = _adverse_grace(policy)
    for sentence, promise in _SENTENCES.get(lang, ()):
        if sentence not in flat:
            continue
        if promise == "notice":
            waiting = [rule for rule, grace in adverse if _waits(grace)]
            if adverse and 2 * len(waiting) <= len(adverse):
                yield (
                    f"the {lang} disclosure says changes mostly wait for a notice period, but "
                    f"{len(adverse) - len(waiting)} of {len(adverse)} adverse rules take effect "
                    "at once"
                )
        else:
            without = [rule for rule, grace in adverse if grace is None or grace.appeal is None]
            if without:
                yield (
                    f"the {lang} disclosure says a person can look at any decision, but rule "
                    f"`{without[0]}` has no review (appeal) window"
                )
