"""A language's phrase catalogue plus Babel's locale-aware numbers, percentages and dates."""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import resources
from typing import Any

import yaml
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from clearline.engine.errors import ClearlineError
from clearline.engine.model import Fact, FactType, Policy

CATALOGUE_PACKAGE = "clearline.disclosures"


class CatalogueError(ClearlineError):
    """A language has no catalogue, or the catalogue lacks a phrase."""


def languages() -> tuple[str, ...]:
    """The languages a catalogue ships for, e.g. ('en', 'zh-CN')."""
    folder = resources.files(CATALOGUE_PACKAGE).joinpath("catalogue")
    return tuple(
        sorted(
            entry.name.removesuffix(".yaml")
            for entry in folder.iterdir()
            if entry.name.endswith(".yaml")
        )
    )


@cache
def _catalogue(lang: str) -> dict[str, Any]:
    if lang not in languages():
        raise CatalogueError(
            f"no phrase catalogue for language `{lang}` (available: {', '.join(languages())})"
        )
    text = (
        resources.files(CATALOGUE_PACKAGE)
        .joinpath("catalogue", f"{lang}.yaml")
        .read_text(encoding="utf-8")
    )
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise CatalogueError(f"the {lang} catalogue is not a mapping")
    return data


class Locale:
    """Phrases and formats of one language, bound to the policy whose labels it uses."""

    def __init__(self, policy: Policy, lang: str) -> None:
        self.policy = policy
        self.lang = lang
        self.catalogue = _catalogue(lang)
        self.babel = str(self.catalogue.get("locale", lang.replace("-", "_")))

    def phrase(self, *keys: str) -> str:
        """The phrase at a key path, e.g. phrase('compare', 'count', 'gt')."""
        node: Any = self.catalogue
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                raise CatalogueError(f"the {self.lang} catalogue has no phrase `{'.'.join(keys)}`")
            node = node[key]
        if not isinstance(node, str):
            raise CatalogueError(f"the {self.lang} catalogue entry `{'.'.join(keys)}` is not text")
        return node

    def has(self, *keys: str) -> bool:
        """Whether the catalogue has a phrase at this key path."""
        node: Any = self.catalogue
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return isinstance(node, str)

    def label(self, fact: Fact) -> str:
        """A fact's label in this language."""
        text = fact.label.get(self.lang)
        if text is None:
            raise CatalogueError(f"fact `{fact.name}` has no {self.lang} label")
        return text

    def number(self, value: float) -> str:
        """A plain number: grouping and decimal marks of the locale, at most 3 decimals."""
        return format_decimal(value, format="#,##0.###", locale=self.babel)

    def percent(self, ratio: float) -> str:
        """A ratio as a percentage: 0.9 -> 90%."""
        return format_percent(ratio, format="#,##0.###%", locale=self.babel)

    def date(self, value: dt.date) -> str:
        """A calendar date in the locale's long form (March 1, 2027 / 2027年3月1日)."""
        if isinstance(value, dt.datetime):
            return format_datetime(value, format="long", locale=self.babel)
        return format_date(value, format="long", locale=self.babel)

    def days(self, n: int) -> str:
        """A count of days ('15 days', '15天')."""
        return (
            self.phrase("sentence", "day")
            if n == 1
            else self.phrase("sentence", "days").format(n=self.number(n))
        )

    def value(self, fact: Fact, value: Any, *, bare: bool = False) -> str:
        """A fact value for a reader: unit, percent, enum label, yes/no, date."""
        if value is None:
            return self.phrase("missing_value")
        if fact.type is FactType.BOOLEAN:
            return self.phrase("true_value" if value else "false_value")
        if fact.type is FactType.ENUM:
            label = fact.value_label(str(value))
            return (label.get(self.lang) if label else None) or str(value)
        if fact.type in (FactType.DATE, FactType.DATETIME) and isinstance(value, dt.date):
            return self.date(value)
        if fact.type in (FactType.INTEGER, FactType.NUMBER) and isinstance(value, (int, float)):
            if fact.unit == "percent":
                return self.percent(value)
            text = self.number(value)
            unit = fact.unit or "default"
            if bare or unit in self.catalogue.get("bare_units", ()):
                return text
            key = unit if self.has("units", unit) else "default"
            return self.phrase("units", key).format(value=text)
        return str(value)
