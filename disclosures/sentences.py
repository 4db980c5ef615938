"""Conditions turned into plain sentences, from the model and a language's catalogue.

As in markdown-it's rule chains, each kind of comparison has a small rule function, and the
rules are kept in an ordered table: the first rule that accepts a comparison writes it. The
wording itself lives in the catalogue (`catalogue/<lang>.yaml`), so a rule knows *which* phrase
fits and the catalogue knows *how* it reads. `not` is never written as "it is not the case
that": the negation is pushed down to the comparisons first (`negate`), which avoids double
negatives and is exact under the engine's three-valued logic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from clearline.engine import conditions
from clearline.engine.model import (
    AllOf,
    Comparison,
    Condition,
    EventType,
    Fact,
    FactRef,
    FactType,
    Not,
    Operator,
)

from .locale import CatalogueError, Locale

# One De Morgan rewrite for every reader of the model (monitor, advice, sentences).
negate = conditions.negate


class Mood(StrEnum):
    """A statement ("is more than 90") or a counterfactual ("if ... were 30 or fewer")."""

    STATEMENT = "statement"
    COUNTERFACTUAL = "counterfactual"


@dataclass(frozen=True)
class Phrasing:
    """What a sentence rule needs: the locale (labels, formats, phrases) and the mood.

    With `event`, a comparison names a field of that event type (a signal's event condition)
    instead of a fact.
    """

    locale: Locale
    mood: Mood
    event: EventType | None = None

    def fact(self, name: str) -> Fact:
        """The declared fact (or event field), or a CatalogueError naming it."""
        fact = (
            self.event.field_named(name)
            if self.event is not None
            else self.locale.policy.fact(name)
        )
        if fact is None:
            raise CatalogueError(f"unknown {'field' if self.event else 'fact'} `{name}`")
        return fact

    def subject(self, fact: Fact) -> str:
        """How a fact is named as the subject of a sentence ("the number of days past due")."""
        locale = self.locale
        label = locale.label(fact)
        if self.event is not None:
            return locale.phrase("signals", "field").format(label=label).strip()
        unit = fact.unit or "default"
        pattern = locale.phrase("subject", unit if locale.has("subject", unit) else "default")
        mine = locale.phrase("your")
        your = locale.phrase("your_in_label") if mine and mine in label.lower() else mine
        return pattern.format(label=label, your=your).strip()

    def words(self) -> dict[str, str]:
        """The copula of the mood: is / were."""
        return {
            "be": self.locale.phrase("moods", self.mood.value, "be"),
            "be_not": self.locale.phrase("moods", self.mood.value, "be_not"),
        }

    def join(self, kind: str, items: Sequence[str]) -> str:
        """Items joined with the catalogue's 'and' / 'or' ("a, b, and c")."""
        if len(items) == 1:
            return items[0]
        pair = self.locale.phrase("join", kind, "pair")
        if len(items) == 2:
            return pair.format(a=items[0], b=items[1])
        head = self.locale.phrase("join", kind, "sep").join(items[:-1])
        return self.locale.phrase("join", kind, "many").format(a=head, b=items[-1])


SentenceRule = Callable[[Comparison, Fact, Phrasing], "str | None"]


def _fact_vs_fact(cmp: Comparison, fact: Fact, p: Phrasing) -> str | None:
    if not isinstance(cmp.operand, FactRef):
        return None
    other = p.subject(p.fact(cmp.operand.fact))
    return p.locale.phrase("compare", "fact", cmp.op.value).format(
        subject=p.subject(fact), other=other, **p.words()
    )


def _boolean(cmp: Comparison, fact: Fact, p: Phrasing) -> str | None:
    if fact.type is not FactType.BOOLEAN or not isinstance(cmp.operand, bool):
        return None
    holds = cmp.operand if cmp.op is Operator.EQ else not cmp.operand
    key = "true" if holds else "false"
    return p.locale.phrase("compare", "boolean", key).format(
        label=p.locale.label(fact), **p.words()
    )


def _choice(cmp: Comparison, fact: Fact, p: Phrasing) -> str | None:
    if fact.type not in (FactType.ENUM, FactType.STRING):
        return None
    return _listed(cmp, fact, p)


def _listed(cmp: Comparison, fact: Fact, p: Phrasing) -> str:
    """A comparison with named values (eq, ne, in, not_in) in the catalogue's choice phrases."""
    literals = cmp.operand if isinstance(cmp.operand, tuple) else (cmp.operand,)
    shown = [p.locale.value(fact, value) for value in literals]
    op = cmp.op
    if len(shown) == 1 and op in (Operator.IN, Operator.NOT_IN):
        op = Operator.EQ if op is Operator.IN else Operator.NE  # "is p", not "is neither p"
    return p.locale.phrase("compare", "choice", op.value).format(
        subject=p.subject(fact),
        value=shown[0],
        values=p.join("values", shown),
        values_nor=p.join("values_nor", shown),
        **p.words(),
    )


def _ordered(kind: str, types: frozenset[FactType]) -> SentenceRule:
    def rule(cmp: Comparison, fact: Fact, p: Phrasing) -> str | None:
        if fact.type not in types:
            return None
        if cmp.op in (Operator.IN, Operator.NOT_IN):
            # A list of numbers or dates reads as a list of choices: "is 1, 2, or 3".
            return _listed(cmp, fact, p)
        literals = cmp.operand if isinstance(cmp.operand, tuple) else (cmp.operand,)
        shown = [p.locale.value(fact, value) for value in literals]
        return p.locale.phrase("compare", kind, cmp.op.value).format(
            subject=p.subject(fact), value=shown[0], low=shown[0], high=shown[-1], **p.words()
        )

    rule.__name__ = f"_{kind}"
    return rule


_COUNTED_UNITS = frozenset({"count", "day"})


def _count(cmp: Comparison, fact: Fact, p: Phrasing) -> str | None:
    """Whole numbers of things ("3 or fewer"), as opposed to amounts ("3 or less")."""
    if fact.type is not FactType.INTEGER or fact.unit not in _COUNTED_UNITS:
        return None
    return _ordered("count", frozenset({FactType.INTEGER}))(cmp, fact, p)


RULES: tuple[tuple[str, SentenceRule], ...] = (
    ("fact", _fact_vs_fact),
    ("boolean", _boolean),
    ("choice", _choice),
    ("date", _ordered("date", frozenset({FactType.DATE, FactType.DATETIME}))),
    ("count", _count),
    ("number", _ordered("number", frozenset({FactType.INTEGER, FactType.NUMBER}))),
)
"""The sentence rules in the order they are tried; the first that accepts a comparison wins."""


def comparison_sentence(cmp: Comparison, phrasing: Phrasing) -> str:
    """One comparison as a clause, by the first sentence rule that accepts it."""
    fact = phrasing.fact(cmp.fact)
    for _, rule in RULES:
        clause = rule(cmp, fact, phrasing)
        if clause is not None:
            return " ".join(clause.split())
    raise CatalogueError(f"no sentence rule for `{cmp.fact} {cmp.op}`")  # pragma: no cover


def describe(
    condition: Condition,
    locale: Locale,
    mood: Mood = Mood.STATEMENT,
    event: EventType | None = None,
) -> str:
    """A condition as one clause (no capital, no full stop); with `event`, on its fields."""
    return _clause(condition, Phrasing(locale, mood, event), nested=False)


def _clause(condition: Condition, phrasing: Phrasing, nested: bool) -> str:
    if isinstance(condition, Not):
        return _clause(negate(condition.part), phrasing, nested)
    if isinstance(condition, Comparison):
        return comparison_sentence(condition, phrasing)
    kind = "all" if isinstance(condition, AllOf) else "any"
    parts: list[str] = []
    previous: str | None = None
    for part in condition.parts:
        if isinstance(part, Not):
            part = negate(part.part)
        clause = _clause(part, phrasing, nested=True)
        fact = (
            part.fact
            if isinstance(part, Comparison) and not isinstance(part.operand, FactRef)
            else None
        )
        if fact is not None and fact == previous:
            # "fewer than 31 or more than 90", not the subject twice
            clause = clause.removeprefix(phrasing.subject(phrasing.fact(fact))).lstrip()
        previous = fact
        parts.append(clause)
    text = phrasing.join(kind, parts)
    return f"({text})" if nested and len(parts) > 1 else text


def sentence(clause: str, locale: Locale, pattern: str = "generated_reason") -> str:
    """A clause made into a sentence: the catalogue pattern, first letter capitalised."""
    text = locale.phrase("sentence", pattern).format(condition=clause)
    return text[:1].upper() + text[1:]
