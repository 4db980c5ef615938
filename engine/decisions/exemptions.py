"""Exemptions applied to fired rules: how several combine, and the re-ranking they cause.

When several exemptions of a grace rule hold, the longest notice extension counts (they do not
add up) and the lightest downgrade wins; every exemption that held is named in the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.model import ActionKind

NO_ADJUST: Mapping[int, tuple[ActionKind, int, tuple[str, ...]]] = MappingProxyType({})


def adjustments(
    compiled: CompiledPolicy, fired: list[int], values: Mapping[str, Any]
) -> Mapping[int, tuple[ActionKind, int, tuple[str, ...]]]:
    """The exemptions that apply to the fired rules; re-ranks `fired` when one lightens an
    action."""
    adjust: dict[int, tuple[ActionKind, int, tuple[str, ...]]] = {}
    exemptions = compiled.exemptions
    for r in fired:
        options = exemptions.get(r)
        if options is not None:
            for _, condition in options:
                if condition(values) is True:  # most accounts stop here: none applies
                    applied = exemptions_applied(compiled, r, options, values)
                    if applied is not None:
                        adjust[r] = applied
                    break
    if not adjust:
        return NO_ADJUST
    fired.sort(
        key=lambda r: compiled.rank_key(
            r, adjust[r][0] if r in adjust else compiled.policy.rules[r].action.kind
        )
    )
    return adjust


def exemptions_applied(
    compiled: CompiledPolicy,
    rule_index: int,
    options: tuple[tuple[Any, Any], ...],
    values: Mapping[str, Any],
) -> tuple[ActionKind, int, tuple[str, ...]] | None:
    """Apply every exemption of a fired rule's grace rule whose condition holds."""
    applied = [exemption for exemption, condition in options if condition(values) is True]
    if not applied:
        return None  # the usual case, kept to the conditions alone
    rank = compiled.policy.outcome.rank
    action = compiled.policy.rules[rule_index].action.kind
    extra = 0
    for exemption in applied:
        extra = max(extra, exemption.extend_notice_days)
        if exemption.downgrade_to is not None and rank(exemption.downgrade_to) > rank(action):
            action = exemption.downgrade_to
    return action, extra, tuple(exemption.id for exemption in applied)
