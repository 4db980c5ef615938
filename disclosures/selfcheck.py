"""The customer self-check page: a form from the fact schema and the policy's decision logic
compiled to JavaScript, in one self-contained HTML file that sends nothing anywhere.

The decision runs in the page from the JavaScript back end of the one model
(`clearline.engine.js`), held equal to `decide()` by a differential test. Every text the page
shows comes from the policy (labels, descriptions, reasons, advice, grace and owner texts), the
disclosure catalogue (action words, values) or the page's phrase file; all of it reaches the
page as JSON data or through the autoescaping template, never as code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from jinja2 import PackageLoader
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from clearline.engine.js import compile_js, js_value
from clearline.engine.js.compile import data_json
from clearline.engine.model import (
    ActionKind,
    Fact,
    FactType,
    Policy,
    SignalKind,
    condition_facts,
)

from .locale import CatalogueError, Locale
from .texts import advice_text, reason_text

_PACKAGE = "clearline.disclosures"
_QUESTIONS = {
    SignalKind.COUNT: "question_count",
    SignalKind.SUM: "question_sum",
    SignalKind.MATCH: "question_match",
    SignalKind.SEQUENCE: "question_match",
}


@cache
def phrases() -> dict[str, dict[str, str]]:
    """The page's phrases per language (templates/selfcheck.phrases.yaml)."""
    text = (
        resources.files(_PACKAGE)
        .joinpath("templates", "selfcheck.phrases.yaml")
        .read_text(encoding="utf-8")
    )
    data: dict[str, dict[str, str]] = yaml.safe_load(text)
    return data


@cache
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=PackageLoader(_PACKAGE, "templates"), autoescape=True, trim_blocks=True
    )


def _asset(name: str) -> str:
    return resources.files(_PACKAGE).joinpath("templates", name).read_text(encoding="utf-8")


def lender_only_facts(policy: Policy, named: Iterable[str] = ()) -> tuple[str, ...]:
    """Facts the page does not ask: those the policy marks `known_to_customer: false` (a fraud
    finding, an internal customer group), and those named (an override for other policies)."""
    chosen = set(named)
    chosen.update(fact.name for fact in policy.facts if not fact.known_to_customer)
    return tuple(fact.name for fact in policy.facts if fact.name in chosen)


@dataclass(frozen=True)
class Question:
    """One form field: a fact asked in one language."""

    fact: str
    kind: str  # number, select, date, datetime, text
    label: str
    description: str
    hint: str
    minimum: Any
    maximum: Any
    step: str
    percent: bool
    options: tuple[tuple[str, str], ...]


def _bounds_hint(fact: Fact, locale: Locale, words: dict[str, str]) -> str:
    if fact.type not in (FactType.INTEGER, FactType.NUMBER, FactType.DATE):
        return ""
    low = None if fact.minimum is None else locale.value(fact, fact.minimum)
    high = None if fact.maximum is None else locale.value(fact, fact.maximum)
    if low is not None and high is not None:
        return words["range"].format(low=low, high=high)
    if low is not None:
        return words["range_low"].format(low=low)
    if high is not None:
        return words["range_high"].format(high=high)
    return ""


def _question(policy: Policy, fact: Fact, locale: Locale, words: dict[str, str]) -> Question:
    label = locale.label(fact)
    signal = next((s for s in policy.signals if s.name == fact.name), None)
    if signal is not None:
        label = words[_QUESTIONS[signal.kind]].format(label=label)
    percent = fact.unit == "percent" and fact.type is FactType.NUMBER
    hint = " ".join(
        part
        for part in (_bounds_hint(fact, locale, words), words["percent_hint"] * percent)
        if part
    )
    options: tuple[tuple[str, str], ...] = ()
    kind = "number"
    if fact.type is FactType.BOOLEAN:
        kind, options = "select", (("true", words["answer_yes"]), ("false", words["answer_no"]))
    elif fact.type is FactType.ENUM:
        kind = "select"
        options = tuple((value, locale.value(fact, value)) for value in fact.values)
    elif fact.type in (FactType.DATE, FactType.DATETIME, FactType.STRING):
        kind = {FactType.DATE: "date", FactType.DATETIME: "datetime", FactType.STRING: "text"}[
            fact.type
        ]

    def bound(value: Any) -> Any:
        if value is None or kind != "number":
            return js_value(value) if kind == "date" else None
        return value * 100 if percent else value

    return Question(
        fact=fact.name,
        kind=kind,
        label=label,
        description=fact.description.get(locale.lang) or "",
        hint=hint,
        minimum=bound(fact.minimum),
        maximum=bound(fact.maximum),
        step="1" if fact.type is FactType.INTEGER else "any",
        percent=percent,
        options=options,
    )


def _value_labels(fact: Fact, locale: Locale, words: dict[str, str]) -> dict[str, str]:
    """The words for a boolean's or an enum's values (numbers are formatted in the page)."""
    if fact.type is FactType.BOOLEAN:
        return {"true": words["answer_yes"], "false": words["answer_no"]}
    if fact.type is FactType.ENUM:
        return {value: locale.value(fact, value) for value in fact.values}
    return {}


def _texts(policy: Policy, lang: str, asked: list[Fact]) -> dict[str, Any]:
    """What the result panel says in one language, as plain data for the page script."""
    locale = Locale(policy, lang)
    words = phrases()[lang]
    missing = policy.outcome.missing_facts

    def text(value: Any) -> str:
        return str(value.get(lang) or "") if value else ""

    return {
        "words": words,
        "actions": {kind.value: locale.phrase("actions", kind.value) for kind in ActionKind},
        "reasons": {rule.id: reason_text(rule, locale) for rule in policy.rules}
        | {"missing-facts": text(missing.review_reason)},
        "advice": {rule.id: advice_text(rule, locale) for rule in policy.rules},
        "exemptions": {
            exemption.id: text(exemption.description)
            for grace in policy.grace
            for exemption in grace.exemptions
        },
        "labels": {fact.name: locale.label(fact) for fact in policy.facts},
        "values": {fact.name: _value_labels(fact, locale, words) for fact in asked},
        "review": text(policy.metadata.owner.review_channel) if policy.metadata.owner else "",
    }


def _section(
    policy: Policy, lang: str, asked: list[Fact], lender_only: tuple[str, ...]
) -> dict[str, Any]:
    """The server-rendered part of one language: framing, lender-only rules and the form."""
    locale = Locale(policy, lang)
    words = phrases()[lang]
    meta = policy.metadata
    owner = meta.owner
    until = ""
    if meta.effective_until is not None:
        until = words["until"].format(date=locale.date(meta.effective_until.date()))
    return {
        "lang": lang,
        "words": words,
        "title": meta.title.get(lang) or meta.id,
        "page_title": words["page_title"].format(title=meta.title.get(lang) or meta.id),
        "framing": [
            words["framing_published"].format(
                version=meta.version,
                effective_from=locale.date(meta.effective_from.date()),
                until=until,
            ),
            words["framing_records"],
            words["framing_person"].format(
                contact=owner.contact.get(lang) if owner else "",
                review=owner.review_channel.get(lang) if owner else "",
            )
            if owner
            else "",
        ],
        "lender_rules": [
            reason_text(rule, locale)
            for rule in policy.rules
            if set(condition_facts(rule.when)) & set(lender_only)
        ],
        "questions": [_question(policy, fact, locale, words) for fact in asked],
    }


def selfcheck_page(policy: Policy, lang: str, lender_only: Iterable[str] = ()) -> str:
    """The self-check page of a policy as one self-contained HTML document, opened in `lang`."""
    languages = [lang, *(other for other in policy.metadata.languages if other != lang)]
    languages = [language for language in languages if language in phrases()]
    if lang not in phrases():
        raise CatalogueError(f"the self-check page has no phrases in `{lang}`")
    not_asked = lender_only_facts(policy, lender_only)
    asked = [fact for fact in policy.facts if fact.name not in not_asked]
    module = compile_js(policy)
    page_data = {
        "not_asked": list(not_asked),
        "asked": [fact.name for fact in asked],
        "texts": {language: _texts(policy, language, asked) for language in languages},
        "percent": [fact.name for fact in asked if fact.unit == "percent"],
        "lender_rules": [
            r
            for r, rule in enumerate(policy.rules)
            if set(condition_facts(rule.when)) & set(not_asked)
        ],
        "titles": {
            language: phrases()[language]["page_title"].format(
                title=policy.metadata.title.get(language) or policy.metadata.id
            )
            for language in languages
        },
    }
    engine = module.source
    # The module's data block escapes `<`; the code is generated from the model's shape.
    if re.search(r"</script|<!--", engine, re.IGNORECASE):  # pragma: no cover
        raise AssertionError("the compiled module would end its <script> element early")
    return (
        _env()
        .get_template("selfcheck.html.j2")
        .render(
            lang=lang,
            sections=[_section(policy, language, asked, not_asked) for language in languages],
            style=Markup(_asset("selfcheck.css")),
            engine=Markup(engine),
            ui=Markup(_asset("selfcheck.js")),
            page_data=Markup(data_json(page_data)),
        )
    )
