"""Numbers in customer-facing texts must match the rule they describe, so text and logic agree.

A rule may carry its own reason text and advice. Then every threshold number of the rule's
condition must appear in its reason text (a percent fact's ratio 0.9 may be written `90%`), and
no text may mention a number that is neither a threshold of the rule, nor part of a label or
description of a fact it reads, nor a day count of its grace rule. Numbers are written with
Arabic digits; `1,000` and `90%` (or `90％`) are understood.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal

from clearline.engine.conditions import literals
from clearline.engine.model import (
    GraceRule,
    Policy,
    Rule,
    Text,
    comparisons,
    condition_facts,
)
from clearline.engine.policy.source import Path

# A minus sign (ASCII hyphen after neither a letter nor a digit, U+2212, or 负) makes the number
# negative, so "below -500" can state a negative threshold; "30-day" stays a hyphen.
_NUMBER = re.compile(
    r"((?<![\dA-Za-z.])-|−|负)?(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?[%％]|万|亿)?"
)
# Chinese writes large amounts in myriads: 20万 is 200,000, 1.5亿 is 150,000,000.
_MULTIPLIERS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}


def number_readings(text: str) -> list[tuple[str, frozenset[Decimal]]]:
    """Each number written in a text with its readings: `90%` reads as 90 and as 0.9."""
    found: list[tuple[str, frozenset[Decimal]]] = []
    for match in _NUMBER.finditer(text):
        sign, whole, fraction, suffix = match.groups()
        value = Decimal(whole.replace(",", "") + (fraction or "")).normalize()
        if sign:
            value = -value
        if suffix in _MULTIPLIERS:
            readings = {(value * _MULTIPLIERS[suffix]).normalize()}
        elif suffix:
            readings = {value, (value / 100).normalize()}
        else:
            readings = {value}
        found.append((match.group(0), frozenset(readings)))
    return found


def numbers_in(text: str) -> set[Decimal]:
    """Every reading of every number written in a text."""
    return {value for _, readings in number_readings(text) for value in readings}


def number_key(value: int | float) -> Decimal:
    """A threshold as the decimal a text would spell it with."""
    return Decimal(repr(value) if isinstance(value, float) else str(value)).normalize()


def spelled(value: int | float, unit: str | None) -> str:
    """How a threshold is shown in a message: `0.9 (90%)` for a percent fact."""
    if unit == "percent":
        return f"{value} ({(number_key(value) * 100).normalize():f}%)"
    return str(value)


def rule_thresholds(policy: Policy, rule: Rule) -> list[tuple[int | float, str | None]]:
    """The literal numbers a rule's condition compares with, each once, with the fact's unit."""
    found: list[tuple[int | float, str | None]] = []
    for cmp in comparisons(rule.when):
        fact = policy.fact(cmp.fact)
        for literal in literals(cmp):
            if isinstance(literal, bool) or not isinstance(literal, (int, float)):
                continue
            entry = (literal, fact.unit if fact else None)
            if all(number_key(literal) != number_key(seen) for seen, _ in found):
                found.append(entry)
    return found


def allowed_numbers(policy: Policy, rule: Rule) -> set[Decimal]:
    """Numbers a rule's texts may mention besides its thresholds."""
    allowed: set[Decimal] = set()
    for name in condition_facts(rule.when):
        fact = policy.fact(name)
        if fact is None:
            continue
        for text in (fact.label, fact.description):
            for _, value in text.values:
                allowed |= numbers_in(value)
    grace = policy.grace_rule(rule.grace)
    if grace is not None:
        allowed |= {Decimal(days) for days in grace_days(grace)}
    return allowed


def grace_days(grace: GraceRule) -> Iterator[int]:
    """Every day count a grace rule states."""
    yield grace.notice_days
    if grace.cure is not None:
        yield grace.cure.days
    if grace.appeal is not None:
        yield grace.appeal.days
        if grace.appeal.review_max_days is not None:
            yield grace.appeal.review_max_days
    for exemption in grace.exemptions:
        yield exemption.extend_notice_days


def _literal_numbers(policy: Policy, rule: Rule) -> set[Decimal]:
    """Every number literal of a rule's condition, dates spelt as their parts."""
    found: set[Decimal] = set()
    for cmp in comparisons(rule.when):
        for literal in literals(cmp):
            if isinstance(literal, bool):
                continue
            if isinstance(literal, (int, float)):
                found.add(number_key(literal))
            elif isinstance(literal, dt.date):
                found |= numbers_in(literal.isoformat().replace("-", " "))
    return found


def text_number_problems(policy: Policy, rule: Rule) -> Iterator[tuple[Path, str, str]]:
    """(path, code, message) for each number mismatch between a rule's texts and its logic."""
    thresholds = rule_thresholds(policy, rule)
    allowed = allowed_numbers(policy, rule) | _literal_numbers(policy, rule)
    texts: tuple[tuple[Text, Path, str], ...] = (
        (rule.reason, (*rule.path, "reason", "text"), "reason text"),
        (rule.advice, (*rule.path, "advice"), "advice"),
    )
    for text, path, what in texts:
        for lang, value in text.values:
            written = numbers_in(value)
            if what == "reason text":
                for threshold, unit in thresholds:
                    # 0 is how a condition says "any" ("a payment is late" is `gt: 0`).
                    if threshold != 0 and number_key(threshold) not in written:
                        yield (
                            (*path, lang),
                            "C123",
                            f"the {lang} {what} of rule `{rule.id}` does not mention its "
                            f"threshold {spelled(threshold, unit)}",
                        )
            stray = [
                spelling for spelling, readings in number_readings(value) if not readings & allowed
            ]
            for number in stray:
                yield (
                    (*path, lang),
                    "C124",
                    f"the {lang} {what} of rule `{rule.id}` mentions {number}, which is not a "
                    "threshold of the rule, a number in its facts' labels or a day count of its "
                    "grace rule",
                )
