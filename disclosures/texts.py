"""Customer-facing texts of rules: the policy's own, or generated from the condition."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from clearline.engine.conditions import escape_routes, route_condition
from clearline.engine.model import Policy, Rule
from clearline.engine.policy.source import Path

from .locale import CatalogueError, Locale, languages
from .render import missing_templates
from .sentences import Mood, describe, sentence
from .signals import signal_text


def reason_text(rule: Rule, locale: Locale) -> str:
    """Why a rule fires: the rule's own reason text, or one generated from its condition."""
    own = rule.reason.get(locale.lang)
    if own is not None:
        return own
    return sentence(describe(rule.when, locale), locale, "generated_reason")


def reason_is_generated(rule: Rule, lang: str) -> bool:
    """Whether the reason text of a rule in `lang` is generated."""
    return rule.reason.get(lang) is None


def advice_text(rule: Rule, locale: Locale) -> str:
    """What stops a rule from applying: the rule's own advice, or the ways out of its condition
    that do not lead into a rule of an equal or stronger action."""
    own = rule.advice.get(locale.lang)
    if own is not None:
        return own
    way_out = route_condition(escape_routes(locale.policy, rule))
    if way_out is None:
        return locale.phrase("sentence", "no_way_out")
    return sentence(describe(way_out, locale), locale, "generated_advice")


def condition_text(rule: Rule, locale: Locale) -> str:
    """What a rule watches, always generated from its condition, as a sentence."""
    return sentence(describe(rule.when, locale, Mood.STATEMENT), locale, "generated_reason")


def text_problems(policy: Policy) -> Iterator[tuple[Path, str, str]]:
    """(path, code, message) for every text the disclosures need and cannot produce.

    Run by `clearline check` and `clearline disclose --check`: a policy language without a
    phrase catalogue, a rule whose text is missing and cannot be generated (a fact without a
    label in that language, a catalogue without the phrase a comparison needs), or a signal
    whose description cannot be generated (a catalogue without the `signals` phrases).
    """
    shipped = languages()
    for i, lang in enumerate(policy.metadata.languages):
        if lang not in shipped:
            yield (
                ("metadata", "languages", i),
                "D100",
                f"no phrase catalogue for `{lang}`, so its disclosures cannot be generated "
                f"(catalogues: {', '.join(shipped)})",
            )
            continue
        for template in missing_templates(lang):
            yield (
                ("metadata", "languages", i),
                "D100",
                f"no template `{template}`, so the {lang} documents cannot be generated",
            )
        locale = Locale(policy, lang)
        attempts: list[tuple[Path, str, Callable[[], str]]] = [
            (
                rule.path,
                f"rule `{rule.id}` has no {lang} {what} and it cannot be generated",
                partial(make, rule, locale),
            )
            for rule in policy.rules
            for what, make in (
                ("reason text", reason_text),
                ("advice", advice_text),
                ("condition", condition_text),
            )
        ]
        attempts += [
            (
                signal.path,
                f"signal `{signal.name}` cannot be described in {lang}",
                partial(signal_text, signal, locale),
            )
            for signal in policy.signals
        ]
        for path, what, generate in attempts:
            try:
                generate()
            except (CatalogueError, KeyError, IndexError) as exc:
                yield (path, "D101", f"{what}: {exc}")
