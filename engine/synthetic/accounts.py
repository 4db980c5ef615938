"""Synthetic accounts drawn from a policy's fact schema, for demos, backtests and benchmarks.

Accounts start from the policy's own example of a customer in good standing (its first test
expecting no action), with each number moved at random without crossing any threshold the policy
uses. Then each fact, with a small probability, is drawn afresh: half the time right at a
threshold (equal, one above, one below), half from a plain distribution over its range. Finally a
small share of accounts is aimed at one rule: one alternative of its condition (a branch of the
disjunctive normal form) is made true by moving just the facts it reads. Independent draws alone
leave rules that need two rare values at once (a thin file *and* a low score) unseen in
thousands of accounts. So most accounts are unremarkable, as in a real portfolio, every rule
fires on some of them, and the boundaries are well covered. The same seed always gives the same
accounts.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from clearline.engine.conditions import (
    branches,
    literal_holds,
    literal_thresholds,
    points,
    threshold_cuts,
)
from clearline.engine.model import (
    ActionKind,
    Comparison,
    Condition,
    Fact,
    FactRef,
    FactType,
    MissingMode,
    Policy,
)

MISSING_RATE = 0.005
TRUE_RATE = 0.04
REDRAW_RATE = 0.05
# Share of accounts aimed at one rule: with 17 rules, 3,000 accounts give each rule about 16
# aimed accounts, and the other 90% keep the portfolio's shape.
AIM_RATE = 0.09
_NUMERIC = (FactType.INTEGER, FactType.NUMBER)


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
        conditions = list(_conditions(policy))
        self.cuts = {fact.name: threshold_cuts(conditions, fact.name) for fact in policy.facts}
        self.baseline: dict[str, Any] = {}
        self._branch_cache: dict[int, list[list[Comparison]]] = {}
        for test in policy.tests:
            if test.expect.action is ActionKind.NONE:
                self.baseline = dict(test.facts)
                break

    def _jitter(self, fact: Fact, value: Any) -> Any:
        """Move a number at random between the thresholds that surround it (exclusive)."""
        if fact.type not in (FactType.INTEGER, FactType.NUMBER) or isinstance(value, bool):
            return value
        cuts = [cut.value for cut in self.cuts[fact.name]]  # ascending
        below = next((t for t in reversed(cuts) if t < value), fact.minimum)
        above = next((t for t in cuts if t > value), fact.maximum)
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

    def _native(self, fact: Fact, value: Any) -> Any:
        """A value as the sampler writes it (ISO text for dates) back in the model's type."""
        if isinstance(value, str) and fact.type is FactType.DATE:
            return dt.date.fromisoformat(value)
        if isinstance(value, str) and fact.type is FactType.DATETIME:
            return dt.datetime.fromisoformat(value)
        return value

    def _written(self, fact: Fact, value: Any) -> Any:
        """A model value as an account holds it (dates as ISO text, integers as int)."""
        if fact.type in (FactType.DATE, FactType.DATETIME):
            return value.isoformat()
        if fact.type is FactType.INTEGER:
            return int(value)
        if fact.type is FactType.NUMBER:
            return float(value)
        return value

    def _in_bounds(self, fact: Fact, value: Any) -> bool:
        try:
            return not (
                (fact.minimum is not None and value < fact.minimum)
                or (fact.maximum is not None and value > fact.maximum)
            )
        except TypeError:  # a datetime beside a date bound: the value is not usable
            return False

    def _satisfying(self, fact: Fact, cmps: list[Comparison]) -> Any:
        """A value of `fact` that makes every comparison true, or None when none is found."""
        candidates = list(points(fact, cmps))
        if fact.type in _NUMERIC:
            # Values past a threshold, not only beside it, so aimed accounts are not all edges.
            candidates += [
                p * k for p in candidates[:] for k in (1.5, 3) if not isinstance(p, bool)
            ]
        elif fact.type is FactType.STRING:
            candidates.append(f"value-{self.random.randint(0, 999)}")
        good = [
            v
            for v in dict.fromkeys(candidates)
            if self._in_bounds(fact, v) and all(literal_holds(c, v) is True for c in cmps)
        ]
        if not good:
            return None
        value = self.random.choice(good)
        if fact.type in _NUMERIC and len(good) > 1:
            # Between two satisfying values lies another one unless a `ne`/`not_in` cuts it.
            low, high = sorted(self.random.sample(good, 2))
            if fact.type is FactType.INTEGER:
                inner: Any = self.random.randint(int(low), int(high))
            else:
                inner = round(self.random.uniform(low, high), 4)
            if self._in_bounds(fact, inner) and all(literal_holds(c, inner) is True for c in cmps):
                value = inner
        return value

    def _aim(self, facts: dict[str, Any], branch: list[Comparison]) -> None:
        """Move the facts `branch` reads so that every comparison of it holds (best effort)."""
        by_fact: dict[str, list[Comparison]] = {}
        for cmp in branch:
            if not isinstance(cmp.operand, FactRef):
                by_fact.setdefault(cmp.fact, []).append(cmp)
        for name, cmps in by_fact.items():
            fact = self.policy.fact(name)
            value = None if fact is None else self._satisfying(fact, cmps)
            if fact is not None and value is not None:
                facts[name] = self._written(fact, value)
        # A comparison with another fact is judged against that fact's value as now set.
        for cmp in branch:
            if not isinstance(cmp.operand, FactRef):
                continue
            fact, other = self.policy.fact(cmp.fact), self.policy.fact(cmp.operand.fact)
            if fact is None or other is None or facts.get(other.name) is None:
                continue
            fixed = Comparison(cmp.fact, cmp.op, self._native(other, facts[other.name]))
            value = self._satisfying(fact, [*by_fact.get(cmp.fact, []), fixed])
            if value is not None:
                facts[cmp.fact] = self._written(fact, value)

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
        if self.policy.rules and rnd.random() < AIM_RATE:
            rule = rnd.choice(self.policy.rules)
            self._aim(facts, rnd.choice(self._branches(rule.when)))
        return facts

    def _branches(self, condition: Condition) -> list[list[Comparison]]:
        # Cached per condition: the normal form of a wide `all` of `any`s is costly to rebuild.
        key = id(condition)
        found = self._branch_cache.get(key)
        if found is None:
            found = self._branch_cache[key] = branches(condition)
        return found


def sample_accounts(policy: Policy, n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """`n` synthetic accounts as `{"account_id": ..., "facts": {...}}`."""
    sampler = AccountSampler(policy, seed)
    for i in range(n):
        yield {"account_id": f"S{seed}-{i + 1:07d}", "facts": sampler.account()}
