"""The policy disclosure: every rule, grace rule and fact of a policy, in plain words.

Python prepares plain data (formatted numbers, dates and generated sentences); the template
`disclosure.<lang>.md.j2` lays it out. The renderer decides nothing about the policy.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from typing import Any

from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import decide
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    ActionKind,
    AllOf,
    Comparison,
    Condition,
    Fact,
    FactType,
    GraceRule,
    Operator,
    Policy,
    PolicyTest,
    Rule,
    condition_facts,
)

from .locale import Locale
from .render import render_markdown
from .sentences import describe, sentence
from .signals import event_context, signal_context, signals_read, watched_events
from .texts import advice_text, condition_text, reason_text


def action_text(locale: Locale, kind: ActionKind, limit_factor: float | None) -> str:
    """What an action does, in words ("lower your credit limit to 50% of what it is now")."""
    text = locale.phrase("actions", kind.value)
    factor = locale.percent(limit_factor) if limit_factor is not None else ""
    return text.format(factor=factor)


def grace_label(grace: GraceRule, lang: str) -> str:
    """A grace rule's name for customers; its id only when `check` was skipped."""
    return grace.label.get(lang) or grace.name


def grace_context(policy: Policy, grace: GraceRule, locale: Locale) -> dict[str, Any]:
    """A grace rule as plain data for templates."""
    cure = grace.cure
    appeal = grace.appeal
    return {
        "name": grace_label(grace, locale.lang),
        "description": grace.description.get(locale.lang),
        "immediate": grace.immediate,
        "notice_days": grace.notice_days,
        "notice": locale.days(grace.notice_days),
        "cure": locale.days(cure.days) if cure else None,
        "cure_condition": sentence(describe(cure.when, locale), locale)
        if cure and cure.when
        else None,
        "appeal": locale.days(appeal.days) if appeal else None,
        "review_max": locale.days(appeal.review_max_days)
        if appeal and appeal.review_max_days
        else None,
        "paused": bool(appeal and appeal.pauses_action),
        "on_timeout": appeal.on_timeout if appeal else None,
        "exemptions": [
            {
                "id": exemption.id,
                "description": exemption.description.get(locale.lang),
                "when": describe(exemption.when, locale),
                "extra": locale.days(exemption.extend_notice_days)
                if exemption.extend_notice_days
                else None,
                "downgrade": action_text(locale, exemption.downgrade_to, None)
                if exemption.downgrade_to
                else None,
            }
            for exemption in grace.exemptions
        ],
    }


def exemption_texts(
    policy: Policy, rule_id: str, applied: Iterable[str], locale: Locale
) -> list[str]:
    """What the exemptions applied to a fired rule mean, in words."""
    rule = policy.rule(rule_id)
    grace = policy.grace_rule(rule.grace) if rule else None
    ids = set(applied)
    return [
        exemption.description.get(locale.lang) or describe(exemption.when, locale)
        for exemption in (grace.exemptions if grace else ())
        if exemption.id in ids
    ]


def rule_context(policy: Policy, index: int, rule: Rule, locale: Locale) -> dict[str, Any]:
    """A rule as plain data for templates."""
    grace = policy.grace_rule(rule.grace)
    return {
        "number": index + 1,
        "id": rule.id,
        "code": rule.reason_code,
        "action_kind": rule.action.kind.value,
        "action_name": locale.phrase("action_names", rule.action.kind.value),
        "action": action_text(locale, rule.action.kind, rule.action.limit_factor),
        "adverse": rule.action.kind in ADVERSE_ACTIONS,
        "watch": condition_text(rule, locale),
        "reason": reason_text(rule, locale),
        "reason_generated": rule.reason.get(locale.lang) is None,
        "advice": advice_text(rule, locale),
        "grace": grace_context(policy, grace, locale) if grace else None,
    }


def summary_context(policy: Policy, locale: Locale) -> list[dict[str, Any]]:
    """The one-screen summary: per adverse action, what can cause it and the notice first."""
    summary: list[dict[str, Any]] = []
    for kind in (ActionKind.CLOSE, ActionKind.SUSPEND, ActionKind.REDUCE_LIMIT):
        rules = [rule for rule in policy.rules if rule.action.kind is kind]
        if not rules:
            continue
        labels: list[str] = []
        for rule in rules:
            for name in condition_facts(rule.when):
                fact = policy.fact(name)
                label = fact.label.get(locale.lang) if fact else None
                if label and label not in labels:
                    labels.append(label)
        notices: list[int] = []
        immediate: list[str] = []
        for rule in rules:
            grace = policy.grace_rule(rule.grace)
            if grace is None:
                continue
            if grace.immediate:
                immediate.append(rule.reason_code)
            elif not grace.notice_months:
                notices.append(grace.notice_days)
        summary.append(
            {
                "kind": kind.value,
                "because": labels,
                "notice": locale.days(min(notices)) if notices else None,
                "immediate": immediate,
            }
        )
    return summary


def used_facts(policy: Policy) -> list[Fact]:
    """Facts read by any rule, cure or exemption, in declared order."""
    used: set[str] = set()
    for rule in policy.rules:
        used.update(condition_facts(rule.when))
    for grace in policy.grace:
        if grace.cure is not None and grace.cure.when is not None:
            used.update(condition_facts(grace.cure.when))
        for exemption in grace.exemptions:
            used.update(condition_facts(exemption.when))
    return [fact for fact in policy.facts if fact.name in used]


def fact_context(fact: Fact, locale: Locale) -> dict[str, Any]:
    """A fact as plain data for the data table."""
    if fact.type is FactType.ENUM:
        values = locale.phrase("join", "values", "sep").join(
            locale.value(fact, value) for value in fact.values
        )
    elif fact.type is FactType.BOOLEAN:
        values = f"{locale.phrase('true_value')} / {locale.phrase('false_value')}"
    elif fact.minimum is not None or fact.maximum is not None:
        low = locale.value(fact, fact.minimum, bare=True) if fact.minimum is not None else ""
        high = locale.value(fact, fact.maximum, bare=True) if fact.maximum is not None else ""
        values = locale.phrase("sentence", "range").format(low=low, high=high).strip()
        if fact.maximum is None:
            values = locale.phrase("sentence", "range_from").format(low=low)
    else:
        values = ""
    return {
        "name": fact.name,
        "label": locale.label(fact),
        "description": fact.description.get(locale.lang) or "",
        "range": values,
    }


def baseline_facts(policy: Policy) -> dict[str, object]:
    """The facts of the policy's first example with no action: the customer in good standing."""
    for test in policy.tests:
        if test.expect.action is ActionKind.NONE:
            return dict(test.facts)
    return {}


def example_context(
    compiled: CompiledPolicy, test: PolicyTest, baseline: dict[str, object], locale: Locale
) -> dict[str, Any]:
    """A policy test as a worked example: what differs from good standing, and what happens.

    The outcome shown is what the engine decides for the example, not what the test expects;
    `clearline test` is what keeps the two equal.
    """
    policy = compiled.policy
    facts = dict(test.facts)
    changed: list[Condition] = []
    missing: list[str] = []
    for fact in policy.facts:
        value = facts.get(fact.name)
        if value is None and fact.name in facts:
            missing.append(locale.label(fact))
        elif value is not None and value != baseline.get(fact.name):
            changed.append(Comparison(fact.name, Operator.EQ, value))  # type: ignore[arg-type]
    as_of = test.as_of or policy.metadata.effective_from
    decision = decide(compiled, facts, as_of, what_if=True)
    if changed:
        situation = sentence(describe(AllOf(tuple(changed)), locale), locale, "example")
    elif missing:
        situation = locale.phrase("sentence", "example_missing").format(
            labels=locale.phrase("join", "values", "sep").join(missing)
        )
    else:
        situation = locale.phrase("sentence", "example_baseline")
    timeline = decision.timeline
    top = decision.reasons[0] if decision.reasons else None
    return {
        "number": 0,
        "situation": situation,
        "action_kind": decision.action.value,
        "adverse": decision.action in ADVERSE_ACTIONS,
        "action": action_text(locale, decision.action, top.limit_factor if top else None),
        "codes": [reason.code for reason in decision.reasons],
        "immediate": bool(timeline and timeline.immediate),
        "notice": locale.days(timeline.notice_days) if timeline else None,
        "notice_days": timeline.notice_days if timeline else 0,
        "exemptions": [
            text
            for reason in decision.reasons
            for text in exemption_texts(policy, reason.rule, reason.exemptions, locale)
        ],
    }


def lender_context(policy: Policy, lang: str) -> dict[str, Any]:
    """Who decides and how to reach them, for every document's header."""
    meta = policy.metadata
    owner = meta.owner
    return {
        "lang": lang,
        "title": meta.title.get(lang) or meta.id,
        "lender": owner.name.get(lang) if owner else None,
        "contact": owner.contact.get(lang) if owner else None,
        "review_channel": owner.review_channel.get(lang) if owner else None,
        "complaints": (owner.complaints.get(lang) or None) if owner else None,
        "policy_id": meta.id,
        "version": meta.version,
    }


def disclosure_context(compiled: CompiledPolicy, lang: str) -> dict[str, Any]:
    """Everything the disclosure template shows, as plain data."""
    policy = compiled.policy
    locale = Locale(policy, lang)
    meta = policy.metadata
    tz = zoneinfo.ZoneInfo(meta.timezone)

    def day(moment: dt.datetime | None) -> str | None:
        return locale.date(moment.astimezone(tz).date()) if moment else None

    baseline = baseline_facts(policy)
    examples = [example_context(compiled, test, baseline, locale) for test in policy.tests]
    for number, example in enumerate(examples, 1):
        example["number"] = number
    signals = signals_read(policy, (fact.name for fact in used_facts(policy)))
    return {
        **lender_context(policy, lang),
        "summary": summary_context(policy, locale),
        "rules": [rule_context(policy, i, rule, locale) for i, rule in enumerate(policy.rules)],
        "grace": [grace_context(policy, grace, locale) for grace in policy.grace],
        "facts": [fact_context(fact, locale) for fact in used_facts(policy)],
        "signals": [signal_context(signal, locale) for signal in signals],
        "events": [event_context(event, locale) for event in watched_events(policy, signals)],
        "examples": examples,
        "missing_reason": policy.outcome.missing_facts.review_reason.get(lang),
        "missing_code": policy.outcome.missing_facts.review_code,
        "change_notice": locale.days(meta.adverse_change_notice_days)
        if meta.adverse_change_notice_days
        else None,
        "effective_from": day(meta.effective_from),
        "effective_until": day(meta.effective_until),
        "sha256": compiled.sha256,
    }


def policy_disclosure(compiled: CompiledPolicy, lang: str) -> str:
    """The policy disclosure in Markdown."""
    return render_markdown(f"disclosure.{lang}.md.j2", disclosure_context(compiled, lang))
