"""The notice of a policy change: what gets worse or better for a customer, and from when.

It is generated from the semantic diff (`clearline.engine.change.diff`), which compares the two typed
models; each rule that changed is shown as it was and as it will be, in the words the policy
disclosure uses for it, with the rule's number and reason code. Every changed condition is
described, also where it takes nothing away (a reminder rule); only changes of wording (kind
`text`, which no decision reads) are summed up in one sentence, and only when there are some.
The notice is dated: issued on `metadata.announced_on` (required by `check` for an adverse
change, C151), or on the effective day when the change was not announced ahead.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from typing import Any

from clearline.engine.change.diff import Change, PolicyDiff
from clearline.engine.change.impact import Impact
from clearline.engine.change.kinds import GRACE_TERM_KINDS, RULE_KINDS, ChangeKind
from clearline.engine.model import GraceRule, Policy, Rule

from .disclosure import action_text, grace_label, lender_context
from .locale import Locale
from .render import render_markdown
from .texts import condition_text


def _day(policy: Policy, moment: dt.datetime | None, locale: Locale) -> str | None:
    if moment is None:
        return None
    return locale.date(moment.astimezone(zoneinfo.ZoneInfo(policy.metadata.timezone)).date())


def _rule_side(policy: Policy, rule: Rule | None, locale: Locale) -> dict[str, Any] | None:
    if rule is None:
        return None
    grace = policy.grace_rule(rule.grace)
    return {
        "number": policy.rules.index(rule) + 1,
        "code": rule.reason_code,
        "watch": condition_text(rule, locale),
        "action": action_text(locale, rule.action.kind, rule.action.limit_factor),
        "notice": _notice(grace, locale),
    }


def _notice(grace: GraceRule | None, locale: Locale) -> str | None:
    if grace is None or grace.immediate:
        return None
    return locale.days(grace.notice_days)


def _worst(changes: list[Change]) -> Impact:
    impacts = {change.impact for change in changes}
    for impact in (Impact.ADVERSE, Impact.FAVOURABLE):
        if impact in impacts:
            return impact
    return Impact.NEUTRAL


def _grace_item(diff: PolicyDiff, name: str, changes: list[Change], lang: str) -> dict[str, Any]:
    old_locale, new_locale = Locale(diff.old, lang), Locale(diff.new, lang)
    before = diff.old.grace_rule(name)
    after = diff.new.grace_rule(name)

    def terms(grace: GraceRule | None, locale: Locale) -> dict[str, Any]:
        if grace is None:
            return {}
        return {
            "notice": _notice(grace, locale),
            "immediate": grace.immediate,
            "cure": locale.days(grace.cure.days) if grace.cure else None,
            "appeal": locale.days(grace.appeal.days) if grace.appeal else None,
            "paused": bool(grace.appeal and grace.appeal.pauses_action),
            "exemptions": [e.id for e in grace.exemptions],
        }

    users = [r for r in diff.new.rules if r.grace == name]
    return {
        "type": "grace",
        "impact": _worst(changes).value,
        "rules": [action_text(new_locale, r.action.kind, r.action.limit_factor) for r in users],
        "watches": [condition_text(r, new_locale) for r in users],
        "before": terms(before, old_locale),
        "after": terms(after, new_locale),
        "what": sorted({change.kind for change in changes}),
    }


def change_context(diff: PolicyDiff, lang: str) -> dict[str, Any]:
    """Everything the change-notice template shows, as plain data."""
    old, new = diff.old, diff.new
    old_locale, new_locale = Locale(old, lang), Locale(new, lang)
    by_rule: dict[str, list[Change]] = defaultdict(list)
    by_grace: dict[str, list[Change]] = defaultdict(list)
    other: list[Change] = []
    for change in diff.changes:
        if change.rule is not None and change.kind in RULE_KINDS:
            by_rule[change.rule].append(change)
        elif change.kind in GRACE_TERM_KINDS:
            by_grace[change.subject].append(change)
        elif change.kind is not ChangeKind.TEXT:
            other.append(change)
    rules = []
    for rule_id, changes in by_rule.items():
        impact = _worst(changes)
        rules.append(
            {
                "type": "rule",
                "impact": impact.value,
                "before": _rule_side(old, old.rule(rule_id), old_locale),
                "after": _rule_side(new, new.rule(rule_id), new_locale),
            }
        )
    grace = [_grace_item(diff, name, changes, lang) for name, changes in by_grace.items()]
    others = [
        {
            "type": "other",
            "impact": change.impact.value,
            "kind": new_locale.phrase("change_kinds", change.kind),
            "subject": _subject(change, new_locale) or _subject(change, old_locale),
            "before": _plain(change.kind, change.subject, change.old, old_locale),
            "after": _plain(change.kind, change.subject, change.new, new_locale),
        }
        for change in other
    ]
    wording = sum(change.kind is ChangeKind.TEXT for change in diff.changes)
    effective = _day(new, new.metadata.effective_from, new_locale)
    announced = _day(new, new.metadata.announced_on, new_locale)
    return {
        **lender_context(new, lang),
        "old_version": old.metadata.version,
        "new_version": new.metadata.version,
        "effective": effective,
        "announced": announced,
        "issued": announced or effective,
        "sections": [
            {
                "impact": impact.value,
                "items": [i for i in rules + grace + others if i["impact"] == impact.value],
            }
            for impact in (Impact.ADVERSE, Impact.FAVOURABLE, Impact.NEUTRAL)
        ],
        "adverse": bool(diff.adverse),
        "favourable": bool(diff.favourable),
        # Only wording changed when every change is a text; no decision reads a text.
        "wording_only": bool(diff.changes) and wording == len(diff.changes),
        "wording_count": wording,
        "notice_days": new_locale.days(old.metadata.adverse_change_notice_days)
        if old.metadata.adverse_change_notice_days
        else None,
        "old_sha256": _sha(old),
        "new_sha256": _sha(new),
    }


def _plain(kind: ChangeKind, subject: str, value: Any, locale: Locale) -> str | None:
    """A changed value in words, or None when it has no words a customer could read.

    Ids never reach the notice: rules are named by their codes, grace rules, facts and enum
    values by their labels; a value that is only a structure (a type, a mapping) is left out.
    """
    policy = locale.policy
    if value is None:
        return None
    if kind is ChangeKind.PRECEDENCE and isinstance(value, list):
        return " > ".join(locale.phrase("action_names", action) for action in value)
    if kind is ChangeKind.CHANGE_NOTICE_DAYS and isinstance(value, int):
        return locale.days(value)
    if kind is ChangeKind.REASON_ORDER and isinstance(value, list):
        codes = [rule.reason_code for rule in map(policy.rule, value) if rule is not None]
        return locale.phrase("join", "values", "sep").join(codes)
    if kind is ChangeKind.REASON_CODE and isinstance(value, str):
        return value
    if kind in (ChangeKind.GRACE_ADDED, ChangeKind.GRACE_REMOVED) and isinstance(value, str):
        grace = policy.grace_rule(value)
        return grace_label(grace, locale.lang) if grace else None
    fact = policy.fact(subject)
    if fact is not None and kind in (ChangeKind.FACT_MINIMUM, ChangeKind.FACT_MAXIMUM):
        return locale.value(fact, value)
    if fact is not None and kind is ChangeKind.FACT_VALUES and isinstance(value, list):
        return locale.phrase("join", "values", "sep").join(locale.value(fact, v) for v in value)
    return None


def _subject(change: Change, locale: Locale) -> str | None:
    """What a change is about in words: a rule's code, a fact's or grace rule's label."""
    policy = locale.policy
    rule = policy.rule(change.rule or change.subject)
    if rule is not None:
        return rule.reason_code
    fact = policy.fact(change.subject)
    if fact is not None:
        return fact.label.get(locale.lang)
    grace = policy.grace_rule(change.subject)
    return grace_label(grace, locale.lang) if grace else None


def _sha(policy: Policy) -> str:
    from clearline.engine.canonical import policy_sha256

    return policy_sha256(policy)


def change_notice(diff: PolicyDiff, lang: str) -> str:
    """The change notice in Markdown, in one of the new version's languages."""
    return render_markdown(f"change.{lang}.md.j2", change_context(diff, lang))
