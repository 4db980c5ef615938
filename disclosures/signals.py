"""Signals in plain words: which account events are watched, on what terms, over what window.

Generated from the model (`Signal`, `EventPattern`, `EventType`) and the catalogue's `signals`
phrases; an event's condition is written by the same sentence rules as a rule's condition, on
the event's fields. Nothing here is written per policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clearline.engine.model import (
    EventPattern,
    EventType,
    Fact,
    Policy,
    Signal,
    SignalKind,
    comparisons,
)

from .locale import CatalogueError, Locale
from .sentences import Mood, Phrasing, describe

_SPANS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def span_text(seconds: int, locale: Locale) -> str:
    """A window or span in its largest whole unit ("7 days", "2 hours", "7天")."""
    for unit, size in _SPANS:
        if seconds % size == 0:
            n = seconds // size
            if unit == "day":
                return locale.days(n)
            key = unit if n == 1 else f"{unit}s"
            return locale.phrase("signals", "spans", key).format(n=locale.number(n))
    raise AssertionError("unreachable: every whole number of seconds is a count of seconds")


def span_numbers(seconds: int) -> int:
    """The number a span is written with (7 for seven days)."""
    for _, size in _SPANS:
        if seconds % size == 0:
            return seconds // size
    return seconds  # pragma: no cover


def event_of(policy: Policy, pattern: EventPattern) -> EventType:
    """The declared event type of a pattern, or a CatalogueError naming it."""
    event = policy.event_type(pattern.event)
    if event is None:
        raise CatalogueError(f"unknown event type `{pattern.event}`")
    return event


def event_label(event: EventType, locale: Locale) -> str:
    """An event type's label in this language."""
    text = event.label.get(locale.lang)
    if text is None:
        raise CatalogueError(f"event type `{event.name}` has no {locale.lang} label")
    return text


def _article(noun: str, locale: Locale) -> str:
    # "a loan" / "an application": the catalogue says which form goes before a vowel.
    vowel = noun[:1].lower() in "aeiou" and locale.has("signals", "a", "vowel")
    return locale.phrase("signals", "a", "vowel" if vowel else "default").format(noun=noun)


def pattern_text(pattern: EventPattern, locale: Locale, article: str = "a") -> str:
    """One watched event with its field condition ("an application ... where the rate is ...")."""
    event = event_of(locale.policy, pattern)
    label = event_label(event, locale)
    noun = (
        _article(label, locale)
        if article == "a"
        else locale.phrase("signals", article).format(noun=label)
    )
    if pattern.when is None:
        return noun
    condition = describe(pattern.when, locale, Mood.STATEMENT, event)
    return locale.phrase("signals", "event_when").format(event=noun, condition=condition)


def signal_text(signal: Signal, locale: Locale) -> str:
    """How a signal is worked out from account events, as one or two sentences."""
    window = span_text(signal.window, locale)
    phrasing = Phrasing(locale, Mood.STATEMENT)
    if signal.kind is SignalKind.SEQUENCE:
        steps = phrasing.join("sequence", [pattern_text(p, locale) for p in signal.patterns])
        within = span_text(signal.within, locale) if signal.within is not None else None
        key = "sequence" if within is not None else "sequence_open"
        text = locale.phrase("signals", "kinds", key).format(
            steps=steps, within=within, window=window
        )
    elif signal.kind is SignalKind.SUM:
        event = event_of(locale.policy, signal.patterns[0])
        summed: Fact | None = event.field_named(signal.summed or "")
        if summed is None:
            raise CatalogueError(f"signal `{signal.name}` adds up an unknown field")
        text = locale.phrase("signals", "kinds", "sum").format(
            field=locale.label(summed),
            pattern=pattern_text(signal.patterns[0], locale, article="each"),
            window=window,
        )
    else:
        text = locale.phrase("signals", "kinds", signal.kind.value).format(
            pattern=pattern_text(signal.patterns[0], locale), window=window
        )
    return " ".join(text.split())


def signals_read(policy: Policy, facts: Iterable[str]) -> list[Signal]:
    """The signals among `facts`, in declared order."""
    names = set(facts)
    return [signal for signal in policy.signals if signal.name in names]


def watched_events(policy: Policy, signals: Iterable[Signal]) -> list[EventType]:
    """The event types the given signals read, in declared order."""
    names = {pattern.event for signal in signals for pattern in signal.patterns}
    return [event for event in policy.events if event.name in names]


def signal_context(signal: Signal, locale: Locale) -> dict[str, Any]:
    """A signal as plain data for templates: its label, what it means, how it is worked out."""
    return {
        "name": signal.name,
        "label": locale.label(signal.fact),
        "description": signal.fact.description.get(locale.lang) or "",
        "how": signal_text(signal, locale),
    }


def event_context(event: EventType, locale: Locale) -> dict[str, Any]:
    """An event type as plain data for templates."""
    return {
        "name": event.name,
        "label": event_label(event, locale),
        "description": event.description.get(locale.lang) or "",
    }


def signal_numbers(policy: Policy) -> list[int | float]:
    """Every number a signal's description may show: windows, spans and event thresholds."""
    found: list[Any] = []
    for signal in policy.signals:
        found.append(span_numbers(signal.window))
        if signal.within is not None:
            found.append(span_numbers(signal.within))
        for pattern in signal.patterns:
            if pattern.when is not None:
                found.extend(cmp.operand for cmp in comparisons(pattern.when))
    return found
