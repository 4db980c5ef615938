"""Synthetic accounts drawn from a policy's fact schema, for demos, backtests and benchmarks.

Accounts start from the policy's own example of a customer in good standing (its first test
expecting no action), with each number moved at random without crossing any threshold the policy
uses. Then each fact, with a small probability, is drawn afresh: half the time right at a
threshold (equal, one above, one below), half from a plain distribution over its range. So most
accounts are unremarkable, as in a real portfolio, every rule fires on some of them, and the
boundaries are well covered. The same seed always gives the same accounts.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from clearline.engine.conditions import literal_thresholds
from clearline.engine.model import (
    ActionKind,
    Condition,
    Fact,
    FactType,
    MissingMode,
    Policy,
)

MISSING_RATE = 0.005
TRUE_RATE = 0.04
REDRAW_RATE = 0.05


def _conditions(policy: Policy) -> Iterator[Condition]:
    for rule in policy.rules:
        yield rule.when
    for grace in policy.grace:
        if grace.cure is not None and grace.cure.when is not None:
            yield grace.cure.when
        for exemption in grace.exemptions:
            yield exemption.when


def thresholds(policy: Policy) -> dict[str, list[Any]]:
    """Every literal each fact is compared with, in order of first use."""
    found = literal_thresholds(_conditions(policy))
    return {fact.name: found.get(fact.name, []) for fact in policy.facts}


class AccountSampler:
    """Draws accounts for one policy from a seeded random generator."""

    def __init__(self, policy: Policy, seed: int = 0) -> None:
        self.policy = policy
        self.random = random.Random(seed)
        self.thresholds = thresholds(policy)
        self.baseline: dict[str, Any] = {}
        for test in policy.tests:
            if test.expect.action is ActionKind.NONE:
                self.baseline = dict(test.facts)
                break

    def _jitter(self, fact: Fact, value: Any) -> Any:
        """Move a number at random between the thresholds that surround it (exclusive)."""
        if fact.type not in (FactType.INTEGER, FactType.NUMBER) or isinstance(value, bool):
            return value
        cuts = [t for t in self.thresholds[fact.name] if isinstance(t, (int, float))]
        below = max([t for t in cuts if t < value], default=fact.minimum)
        above = min([t for t in cuts if t > value], default=fact.maximum)
        if below is None or above is None:
            below = value if below is None else below
            above = value * 2 + 1 if above is None else above
        low, high = float(below), float(above)  # type: ignore[arg-type]
        if fact.type is FactType.INTEGER:
            options = range(int(low) + 1, int(high)) if high - low > 1 else range(0)
            return self.random.choice(options) if options else value
        drawn = round(self.random.uniform(low, high), 4)
        return drawn if low < drawn < high else value

    def _clamp(self, fact: Fact, value: Any) -> Any:
        if fact.minimum is not None and value < fact.minimum:
            return fact.minimum
        if fact.maximum is not None and value > fact.maximum:
            return fact.maximum
        return value

    def _number(self, fact: Fact) -> Any:
        rnd = self.random
        near = [t for t in self.thresholds[fact.name] if isinstance(t, (int, float))]
        integer = fact.type is FactType.INTEGER
        if near and rnd.random() < 0.5:
            pivot = rnd.choice(near)
            if integer:
                value: Any = int(pivot) + rnd.choice((-1, 0, 0, 1, 2))
            else:
                value = round(pivot * rnd.uniform(0.9, 1.1), 4)
        elif fact.minimum is not None and fact.maximum is not None:
            low, high = fact.minimum, fact.maximum
            value = rnd.randint(int(low), int(high)) if integer else rnd.uniform(low, high)  # type: ignore[arg-type]
        else:
            scale = max([abs(t) for t in near] or [10]) or 10
            value = rnd.expovariate(1.5 / scale)
            if fact.minimum is None and rnd.random() < 0.1:
                value = -value
            value = int(value) if integer else round(value, 4)
        return self._clamp(fact, value)

    def _date(self, fact: Fact) -> Any:
        rnd = self.random
        near = [t for t in self.thresholds[fact.name] if isinstance(t, dt.date)]
        base = rnd.choice(near) if near else dt.date(2026, 1, 1)
        if fact.type is FactType.DATETIME:
            moment = (
                base
                if isinstance(base, dt.datetime)
                else dt.datetime(base.year, base.month, base.day, tzinfo=dt.UTC)
            )
            value: Any = moment + dt.timedelta(seconds=rnd.randint(-86400 * 60, 86400 * 60))
            return self._clamp(fact, value).isoformat()
        value = base + dt.timedelta(days=rnd.randint(-60, 60))
        return self._clamp(fact, value).isoformat()

    def value(self, fact: Fact) -> Any:
        """One value for one fact."""
        rnd = self.random
        if fact.type in (FactType.INTEGER, FactType.NUMBER):
            return self._number(fact)
        if fact.type is FactType.BOOLEAN:
            return rnd.random() < TRUE_RATE
        if fact.type is FactType.ENUM:
            return fact.values[0] if rnd.random() < 0.6 else rnd.choice(fact.values)
        if fact.type in (FactType.DATE, FactType.DATETIME):
            return self._date(fact)
        near = [t for t in self.thresholds[fact.name] if isinstance(t, str)]
        return rnd.choice(near) if near and rnd.random() < 0.5 else f"value-{rnd.randint(0, 999)}"

    def account(self) -> dict[str, Any]:
        """One account's facts; optional facts are sometimes missing."""
        facts: dict[str, Any] = {}
        rnd = self.random
        for fact in self.policy.facts:
            optional = self.policy.missing_mode(fact) is not MissingMode.ERROR
            if optional and rnd.random() < MISSING_RATE:
                continue
            base = self.baseline.get(fact.name)
            if base is not None and rnd.random() >= REDRAW_RATE:
                facts[fact.name] = self._jitter(fact, base)
            else:
                facts[fact.name] = self.value(fact)
        return facts


def sample_accounts(policy: Policy, n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """`n` synthetic accounts as `{"account_id": ..., "facts": {...}}`."""
    sampler = AccountSampler(policy, seed)
    for i in range(n):
        yield {"account_id": f"S{seed}-{i + 1:07d}", "facts": sampler.account()}
