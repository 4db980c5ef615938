"""Completeness and consistency of generated documents, checked against the policy.

- A disclosure names every rule (its code, generated condition and reason), every grace rule
  and every fact a rule, cure or exemption reads.
- A notice gives exactly the fired rules of its decision as reasons, each with its
  counterfactuals, and at most four principal reasons.
- No number in a document differs from the policy: every number written in the prose is a
  number of the policy (a threshold, a day count, a limit factor, a number in one of its texts,
  an example's fact value, its version or dates), or a count (rule and example numbers).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from clearline.disclosures.policy_claims import untrue_claims
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.model import Policy, Text, comparisons
from clearline.engine.policy.text_numbers import grace_days, number_key, numbers_in

from .claims import advice_backed, claims_for
from .counterfactual import counterfactuals
from .disclosure import grace_label, used_facts
from .locale import Locale
from .notice import (
    PRINCIPAL_REASONS,
    check_record,
    decision_day,
    notice_context,
    record_of,
    redacted_facts,
)
from .recourse import recourse_numbers
from .render import _markdown_env
from .signals import signal_numbers, signal_text, signals_read
from .texts import condition_text, reason_text


def _texts(policy: Policy) -> Iterable[Text]:
    meta = policy.metadata
    yield meta.title
    if meta.owner is not None:
        yield from (meta.owner.name, meta.owner.contact, meta.owner.review_channel)
        yield meta.owner.complaints
        for _, regulator in meta.owner.regulators:
            yield from (regulator.name, regulator.contact)
    for _, bureau in meta.bureaus:
        yield from (bureau.name, bureau.contact)
    for fact in policy.facts:
        if fact.key_factors is not None:
            yield from (text for _, text in fact.key_factors.texts)
    for fact in policy.facts:
        yield from (fact.label, fact.description)
        yield Text((("bounds", f"{fact.minimum} {fact.maximum}"),))
        yield from (text for _, text in fact.value_labels)
    for rule in policy.rules:
        yield from (rule.reason, rule.advice, rule.description)
    for grace in policy.grace:
        yield grace.description
        yield from (exemption.description for exemption in grace.exemptions)
    yield policy.outcome.missing_facts.review_reason
    for test in policy.tests:
        yield test.description


def policy_numbers(policy: Policy, extra: Iterable[Any] = ()) -> set[Decimal]:
    """Every number a document about this policy may show."""
    found: set[Decimal] = set()

    def add(value: Any) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, (int, float)):
            found.add(number_key(value))
            found.add(number_key(value * 100) if isinstance(value, float) else Decimal(value))
        elif isinstance(value, dt.date):
            found.update(Decimal(part) for part in (value.year, value.month, value.day))
        elif isinstance(value, (tuple, list)):
            for item in value:
                add(item)

    for text in _texts(policy):
        for _, value in text.values:
            found |= numbers_in(value)
    for rule in policy.rules:
        add(rule.action.limit_factor)
        for cmp in comparisons(rule.when):
            add(cmp.operand)
    for grace in policy.grace:
        days = list(grace_days(grace))
        for n in days:
            add(n)
        for exemption in grace.exemptions:
            add(grace.notice_days + exemption.extend_notice_days)
            if grace.cure is not None:
                add(grace.cure.days + exemption.extend_notice_days)
    for test in policy.tests:
        for _name, fact_value in test.facts:
            add(fact_value)
    meta = policy.metadata
    found |= numbers_in(meta.version.replace(".", " ")) | numbers_in(meta.version)
    add(meta.adverse_change_notice_days)
    add(meta.effective_from.date())
    if meta.effective_until is not None:
        add(meta.effective_until.date())
    for n in range(1, max(len(policy.rules), len(policy.tests), 12) + 1):
        add(n)
    for value in [*signal_numbers(policy), *extra]:
        add(value)
    return found


def stray_numbers(markdown: str, allowed: set[Decimal]) -> list[str]:
    """Numbers written in a document's prose that are not among `allowed`."""
    from clearline.engine.policy.text_numbers import number_readings

    stray: list[str] = []
    for fragment in _all_text(markdown):
        for spelling, readings in number_readings(fragment):
            if not readings & allowed:
                stray.append(spelling)
    return stray


def _all_text(markdown: str) -> list[str]:
    # Every line, headings and cells included; code spans (ids, hashes) are not prose.
    return [re.sub(r"`[^`]*`", " ", line) for line in markdown.splitlines()]


def template_numbers(template: str) -> set[Decimal]:
    """Numbers a writer typed into a template ("SHA-256") are the writer's, not the policy's."""
    env = _markdown_env()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, template)
    return numbers_in(source)


def disclosure_problems(compiled: CompiledPolicy, markdown: str, lang: str) -> list[str]:
    """What a policy disclosure lacks or gets wrong, as messages (empty when complete)."""
    policy = compiled.policy
    locale = Locale(policy, lang)
    flat = " ".join(markdown.replace("\\", "").split())
    problems: list[str] = []
    for rule in policy.rules:
        for what, text in (
            ("code", rule.reason_code),
            ("condition", condition_text(rule, locale)),
            ("reason", reason_text(rule, locale)),
        ):
            if " ".join(text.split()) not in flat:
                problems.append(f"rule `{rule.id}`: its {what} is not in the {lang} disclosure")
    for grace in policy.grace:
        if grace_label(grace, lang) not in flat:
            problems.append(f"grace rule `{grace.name}` is not in the {lang} disclosure")
    for fact in used_facts(policy):
        if locale.label(fact) not in flat:
            problems.append(f"fact `{fact.name}` is not in the {lang} disclosure")
    for signal in signals_read(policy, (fact.name for fact in used_facts(policy))):
        if " ".join(signal_text(signal, locale).split()) not in flat:
            problems.append(
                f"signal `{signal.name}`: how it is worked out is not in the {lang} disclosure"
            )
    allowed = policy_numbers(policy) | template_numbers(f"disclosure.{lang}.md.j2")
    for number in stray_numbers(markdown, allowed):
        problems.append(f"the {lang} disclosure shows {number}, which is not in the policy")
    problems.extend(untrue_claims(policy, flat, lang))  # what it says must be what it does
    return problems


def notice_problems(compiled: CompiledPolicy, decision: Any, markdown: str, lang: str) -> list[str]:
    """What a decision notice lacks or gets wrong, as messages (empty when complete)."""
    record: Mapping[str, Any] = record_of(decision)
    context = notice_context(compiled, record, lang)
    flat = " ".join(markdown.replace("\\", "").split())
    problems: list[str] = []
    reasons = context["principal"] + context["other"]
    if len(context["principal"]) > PRINCIPAL_REASONS:
        problems.append(f"more than {PRINCIPAL_REASONS} principal reasons")
    fired = [r for r in record.get("reasons", ())]
    if [r["rule"] for r in reasons] != [r["rule"] for r in fired]:
        problems.append("the notice's reasons are not the decision's fired rules")
    for reason in reasons:
        how = [signal["how"] for signal in reason["signals"]]
        for text in [reason["text"], *reason["changes"], *how]:
            if " ".join(text.split()) not in flat:
                problems.append(f"reason `{reason['rule']}`: `{text}` is not in the notice")
    timeline = record.get("timeline") or {}
    extra: list[Any] = [
        dt.date.fromisoformat(day)
        for key, day in timeline.items()
        if isinstance(day, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day)
    ]
    extra.append(timeline.get("notice_days"))
    extra.append(decision_day(compiled.policy, record))
    reporting = compiled.policy.metadata.reports_to_bureau
    if reporting is not None:  # the day a warned report reaches the bureau at the earliest
        day = decision_day(compiled.policy, record) + dt.timedelta(reporting.notice_days)
        effective = timeline.get("effective")
        extra.append(max(day, dt.date.fromisoformat(effective)) if effective else day)
    values = check_record(compiled, record)
    locale = Locale(compiled.policy, lang)
    shown: set[Decimal] = set()
    for name, value in values.items():
        extra.append(value)
        fact = compiled.policy.fact(name)
        if fact is not None:  # as the notice formats it (rounded to 3 decimals)
            shown |= numbers_in(locale.value(fact, value))
    for reason in reasons:
        rule = compiled.policy.rule(reason["rule"])
        for cf in counterfactuals(compiled, rule, values) if rule else ():
            extra.extend(cmp.operand for cmp in comparisons(cf.region))
    extra.extend(recourse_numbers(compiled, record, values))
    problems.extend(claim_problems(compiled, record, flat, lang))
    allowed = policy_numbers(compiled.policy, extra) | template_numbers(f"notice.{lang}.md.j2")
    allowed |= numbers_in(str(record.get("account_id") or "")) | shown
    for number in stray_numbers(markdown, allowed):
        problems.append(f"the {lang} notice shows {number}, which is not in the policy or decision")
    return problems


def claim_problems(
    compiled: CompiledPolicy, record: Mapping[str, Any], flat: str, lang: str
) -> list[str]:
    """Promises in a notice that the engine and the case lifecycle do not back, and backed
    rights the notice leaves out. Claims are worked out again here, not read from the notice."""
    policy = compiled.policy
    locale = Locale(policy, lang)
    values = check_record(compiled, record)
    hidden = frozenset(redacted_facts(record))
    claims = claims_for(compiled, record, values, hidden)
    problems: list[str] = []
    for key, backed, what in (
        ("cure", claims.cure, "a cure"),
        ("pause", claims.pause and claims.review, "a pause during review"),
        ("review_until", claims.review, "a human review of the decision"),
    ):
        pattern = re.escape(locale.phrase("claims", key)).replace(re.escape("{date}"), ".+?")
        said = re.search(pattern, flat) is not None
        if said and not backed:
            problems.append(f"the {lang} notice promises {what}, which the case would refuse")
        elif backed and not said and key != "pause":
            problems.append(f"the {lang} notice does not say that {what} is open to the customer")
    for reason in record.get("reasons", ()):
        rule = policy.rule(str(reason.get("rule")))
        advice = rule.advice.get(lang) if rule is not None else None
        if rule is None or not advice or " ".join(advice.split()) not in flat:
            continue
        if not advice_backed(compiled, claims, str(reason.get("action")), rule):
            problems.append(
                f"reason `{rule.id}`: its advice promises what the engine would not do "
                "for this decision"
            )
    review_text = policy.outcome.missing_facts.review_reason.get(lang)
    if review_text and " ".join(review_text.split()) in flat and not claims.person_looks:
        problems.append(
            f"the {lang} notice says a person will look at the account, but the decision "
            f"is `{record.get('action')}`, not a review"
        )
    return problems
