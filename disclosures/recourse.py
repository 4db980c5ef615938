"""Recourse a customer can act on, and what comes next if nothing changes.

"What would change the outcome" per reason (`counterfactual.py`) may name a fact the customer
cannot change (a fraud finding, a customer group), and fixing one reason may leave another. The
recourse here is the smallest set of changes to facts the policy declares `actionable`, each in
the direction that helps the customer, that makes the whole decision non-adverse: found by
deciding again, and accepted by the case lifecycle as a cure before the cure deadline. When no
such set exists the notice says so plainly.

The next step is the stronger action that follows when nothing changes: facts that grow by one
each day (`grows_daily`, e.g. days late) are moved forward to each threshold a rule reads, and
the first day on which the decision gets stronger is named. For a reminder or a review, the
smallest harmful move of an actionable fact that leads to an adverse action is named too ("one
more application pauses the line").
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clearline.engine.cases.lifecycle import (
    CaseError,
    CaseEvent,
    CaseState,
    EventKind,
    apply_event,
    open_case,
)
from clearline.engine.conditions import literals
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision, decide
from clearline.engine.errors import ClearlineError
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    Actionable,
    ActionKind,
    AllOf,
    Comparison,
    Condition,
    Fact,
    FactType,
    Operator,
    comparisons,
    condition_facts,
)

from .claims import exemption_witnesses
from .counterfactual import _candidates, _distance, _order_key, _relative
from .disclosure import action_text
from .locale import Locale
from .sentences import describe

MOST_CHANGES = 3  # a customer can act on a short list; a longer one is not recourse
PER_FACT = 8  # nearest candidate values tried per fact
BUDGET = 4000  # decisions tried at most per notice (the shipped policy needs far fewer)
HORIZON_DAYS = 3650  # how far ahead a warning looks


@dataclass(frozen=True)
class Recourse:
    """The smallest set of actionable changes that lifts an adverse decision, or none.

    `changes` maps facts to the region the customer can move them into (every value of which
    was decided again); `blocked` names the reasons no change the customer can make removes.
    """

    changes: tuple[Comparison, ...] = ()
    by: dt.date | None = None
    blocked: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)  # one checked point of the regions


@dataclass(frozen=True)
class NextStep:
    """A stronger action that follows: on a day (time passing) or after a change (behaviour)."""

    action: ActionKind
    code: str
    limit_factor: float | None = None
    on: dt.date | None = None
    change: Comparison | None = None


def recourse_for(compiled: CompiledPolicy, decision: Decision) -> Recourse | None:
    """The recourse of an adverse decision (None for a decision that restricts nothing)."""
    if decision.action not in ADVERSE_ACTIONS:
        return None
    policy = compiled.policy
    facts = dict(decision.facts)
    blocked = tuple(
        reason.code
        for reason in decision.reasons
        if reason.action in ADVERSE_ACTIONS
        and (rule := policy.rule(reason.rule)) is not None
        and not any(_movable(policy.fact(n), facts.get(n)) for n in condition_facts(rule.when))
    )
    timeline = decision.timeline
    if blocked or timeline is None or timeline.cure_until is None:
        return Recourse(blocked=blocked)
    options = _options(compiled, facts, adverse_only=True)
    tried = 0
    for size in range(1, min(MOST_CHANGES, len(options)) + 1):
        found: list[tuple[float, dict[str, Any]]] = []
        for names in itertools.combinations(options, size):
            for point in itertools.product(*(options[n] for n in names)):
                tried += 1
                if tried > BUDGET:
                    break
                change = dict(zip(names, point, strict=True))
                if _lifted(compiled, decision, {**facts, **change}):
                    cost = sum(_relative(v, facts[n]) for n, v in change.items())
                    found.append((cost, change))
        for _, change in sorted(found, key=lambda item: item[0]):
            if _cured(compiled, decision, change):
                regions = _regions(compiled, decision, facts, change, options)
                return Recourse(regions, timeline.cure_until, (), change)
    return Recourse()


def next_steps(compiled: CompiledPolicy, decision: Decision) -> list[NextStep]:
    """What comes next if nothing changes (a dated step) and, for a reminder or review, the
    smallest harmful change that leads to an adverse action."""
    steps: list[NextStep] = []
    dated = _dated_step(compiled, decision)
    if dated is not None:
        steps.append(dated)
    if decision.action not in ADVERSE_ACTIONS:
        harmful = _harmful_step(compiled, decision)
        if harmful is not None and (dated is None or harmful.code != dated.code):
            steps.append(harmful)
    return steps


def _movable(fact: Fact | None, observed: Any) -> bool:
    return fact is not None and observed is not None and fact.actionable is not Actionable.NO


def _options(
    compiled: CompiledPolicy, facts: Mapping[str, Any], *, adverse_only: bool
) -> dict[str, list[Any]]:
    """For each actionable fact an adverse rule reads: the values the customer can move it to,
    nearest first (the thresholds of every rule and their neighbours, as in counterfactuals)."""
    policy = compiled.policy
    rules = [r for r in policy.rules if not adverse_only or r.action.kind in ADVERSE_ACTIONS]
    every: Condition = AllOf(tuple(r.when for r in policy.rules))
    found: dict[str, list[Any]] = {}
    for name in dict.fromkeys(n for r in rules for n in condition_facts(r.when)):
        fact = policy.fact(name)
        observed = facts.get(name)
        if fact is None or not _movable(fact, observed):
            continue
        values = {c for c in _candidates(every, fact, facts) if fact.can_move(observed, c)}
        if values:
            found[name] = sorted(values, key=lambda v: (_distance(v, observed), _order_key(v)))[
                :PER_FACT
            ]
    return found


def _decide(
    compiled: CompiledPolicy, decision: Decision, facts: Mapping[str, Any]
) -> Decision | None:
    try:
        return decide(
            compiled,
            dict(facts),
            decision.as_of,
            account_id=decision.account_id,
            trace=False,
            what_if=True,
        )
    except (ClearlineError, ValueError):
        return None


def _lifted(compiled: CompiledPolicy, decision: Decision, facts: Mapping[str, Any]) -> bool:
    after = _decide(compiled, decision, facts)
    return after is not None and after.action not in ADVERSE_ACTIONS


def _cured(compiled: CompiledPolicy, decision: Decision, change: Mapping[str, Any]) -> bool:
    """Whether the case lifecycle rescinds the decision when these changes are reported now."""
    case = open_case(compiled, decision)
    try:
        if case.notice_on is None:
            case = apply_event(compiled, case, CaseEvent(EventKind.NOTICE_SENT, decision.as_of))
        cured = apply_event(compiled, case, CaseEvent(EventKind.CURED, decision.as_of, change))
    except CaseError:
        return False
    return cured.state is CaseState.RESCINDED


def _regions(
    compiled: CompiledPolicy,
    decision: Decision,
    facts: Mapping[str, Any],
    change: Mapping[str, Any],
    options: Mapping[str, list[Any]],
) -> tuple[Comparison, ...]:
    """Widen each changed value to "this or further" when every such value lifts too.

    Between neighbouring candidates no comparison changes result, so deciding again at every
    combination of candidates beyond the chosen values checks the whole region.
    """
    policy = compiled.policy
    beyond: dict[str, list[Any]] = {}
    for name, value in change.items():
        fact = policy.fact(name)
        assert fact is not None  # options name declared facts only
        beyond[name] = [
            v for v in options[name] if v == value or _further(fact, facts[name], value, v)
        ]
    every = itertools.product(*beyond.values())
    wide = all(
        _lifted(compiled, decision, {**facts, **dict(zip(beyond, point, strict=True))})
        for point in itertools.islice(every, 256)
    )
    regions: list[Comparison] = []
    for name, value in change.items():
        fact = policy.fact(name)
        assert fact is not None
        regions.append(_region(fact, facts[name], value, wide))
    return tuple(regions)


def _further(fact: Fact, observed: Any, value: Any, other: Any) -> bool:
    """Whether `other` lies beyond `value`, away from `observed`."""
    if fact.type not in (FactType.INTEGER, FactType.NUMBER, FactType.DATE, FactType.DATETIME):
        return False
    return bool(other < value if value < observed else other > value)


def _region(fact: Fact, observed: Any, value: Any, wide: bool) -> Comparison:
    ordered = fact.type in (FactType.INTEGER, FactType.NUMBER, FactType.DATE, FactType.DATETIME)
    if not wide or not ordered or value in (fact.minimum, fact.maximum):
        return Comparison(fact.name, Operator.EQ, value)
    down = value < observed
    edge = _threshold(value)
    if edge is not None:  # one float from the policy's threshold: "below 90%", not 89.99...%
        return Comparison(fact.name, Operator.LT if down else Operator.GT, edge)
    return Comparison(fact.name, Operator.LE if down else Operator.GE, value)


def _threshold(value: Any) -> float | None:
    """The short threshold a float is the neighbour of (0.8999999999999999 -> 0.9), if any."""
    if isinstance(value, float):
        rounded = round(value, 6)
        if rounded != value and abs(rounded - value) < 1e-9:
            return rounded
    return None


def _dated_step(compiled: CompiledPolicy, decision: Decision) -> NextStep | None:
    """The first day a stronger action fires when facts that grow daily keep growing."""
    policy = compiled.policy
    facts = dict(decision.facts)
    growing: dict[str, int] = {
        f.name: int(facts[f.name])  # type: ignore[arg-type]
        for f in policy.facts
        # 0 stays 0: nothing is late, so nothing grows
        if f.grows_daily and isinstance(facts.get(f.name), int) and int(facts[f.name]) > 0  # type: ignore[arg-type]
    }
    if not growing:
        return None
    days: set[int] = set()
    for rule in policy.rules:
        for cmp in comparisons(rule.when):
            if cmp.fact in growing:
                for point in literals(cmp):
                    if isinstance(point, (int, float)) and not isinstance(point, bool):
                        for d in (
                            int(point) - growing[cmp.fact],
                            int(point) + 1 - growing[cmp.fact],
                        ):
                            if 0 < d <= HORIZON_DAYS:
                                days.add(d)
    outcome = policy.outcome
    now = outcome.rank(decision.action)
    for d in sorted(days):
        later = _decide(compiled, decision, {**facts, **{n: v + d for n, v in growing.items()}})
        if later is not None and outcome.rank(later.action) < now and later.reasons:
            top = later.reasons[0]
            day = _day(compiled, decision) + dt.timedelta(days=d)
            return NextStep(top.action, top.code, top.limit_factor, on=day)
    return None


def _harmful_step(compiled: CompiledPolicy, decision: Decision) -> NextStep | None:
    """The smallest move of one actionable fact the fired rules read, against the customer,
    that makes the decision adverse."""
    policy = compiled.policy
    facts = dict(decision.facts)
    read = {n for r in decision.reasons if (rule := policy.rule(r.rule)) for n in _names(rule)}
    best: tuple[float, NextStep] | None = None
    every: Condition = AllOf(tuple(r.when for r in policy.rules))
    for name in sorted(read):
        fact = policy.fact(name)
        observed = facts.get(name)
        if fact is None or observed is None or fact.actionable in (None, Actionable.NO):
            continue
        for value in _candidates(every, fact, facts):
            if value == observed or fact.can_move(observed, value):
                continue  # only moves against the customer
            later = _decide(compiled, decision, {**facts, name: value})
            if later is None or later.action not in ADVERSE_ACTIONS or not later.reasons:
                continue
            cost = _relative(value, observed)
            if best is None or cost < best[0]:
                top = later.reasons[0]
                step = NextStep(
                    top.action, top.code, top.limit_factor, change=_harm(fact, observed, value)
                )
                best = (cost, step)
    return best[1] if best else None


def _harm(fact: Fact, observed: Any, value: Any) -> Comparison:
    if fact.type in (FactType.INTEGER, FactType.NUMBER) and not isinstance(value, bool):
        return Comparison(fact.name, Operator.GE if value > observed else Operator.LE, value)
    return Comparison(fact.name, Operator.EQ, value)


def _names(rule: Any) -> tuple[str, ...]:
    return condition_facts(rule.when)


def _day(compiled: CompiledPolicy, decision: Decision) -> dt.date:
    timeline = decision.timeline
    if timeline is not None:
        return timeline.decided_on
    return decision.as_of.astimezone(zoneinfo.ZoneInfo(compiled.policy.metadata.timezone)).date()


def recourse_context(
    compiled: CompiledPolicy,
    record: Mapping[str, Any],
    values: Mapping[str, Any],
    locale: Locale,
    hidden: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The recourse and next-step sentences of a notice (empty when the record cannot be
    decided again: values kept only as hashes, or a record the engine does not reproduce)."""
    if hidden:
        return {"recourse": None, "next": []}
    facts = {**exemption_witnesses(compiled, record, values), **values}
    try:
        at = dt.datetime.fromisoformat(str(record["as_of"]).replace("Z", "+00:00"))
        decision = decide(compiled, facts, at, account_id=record.get("account_id"))
    except (ClearlineError, ValueError, KeyError):
        return {"recourse": None, "next": []}
    if decision.action.value != record.get("action"):
        return {"recourse": None, "next": []}
    found = recourse_for(compiled, decision)
    text = None
    if found is not None and found.changes and found.by is not None:
        condition = describe(AllOf(found.changes), locale)
        text = locale.phrase("recourse", "lifts").format(
            condition=condition, date=locale.date(found.by)
        )
    elif found is not None and found.blocked:
        codes = locale.phrase("join", "values", "sep").join(found.blocked)
        text = locale.phrase("recourse", "blocked").format(codes=codes)
    elif found is not None:
        text = locale.phrase("recourse", "none")
    steps = []
    for step in next_steps(compiled, decision):
        action = action_text(locale, step.action, step.limit_factor)
        if step.on is not None:
            said = locale.phrase("recourse", "next_on").format(
                date=locale.date(step.on), action=action, code=step.code
            )
        elif step.change is not None:
            said = locale.phrase("recourse", "next_if").format(
                condition=describe(step.change, locale), action=action, code=step.code
            )
        else:  # pragma: no cover - a step is dated or caused by a change
            continue
        steps.append(said[:1].upper() + said[1:])
    return {"recourse": text, "next": steps}


def recourse_numbers(
    compiled: CompiledPolicy, record: Mapping[str, Any], values: Mapping[str, Any]
) -> list[Any]:
    """The dates and values the recourse and next-step sentences may show (for verification)."""
    facts = {**exemption_witnesses(compiled, record, values), **values}
    try:
        at = dt.datetime.fromisoformat(str(record["as_of"]).replace("Z", "+00:00"))
        decision = decide(compiled, facts, at, account_id=record.get("account_id"))
    except (ClearlineError, ValueError, KeyError):
        return []
    found: list[Any] = []
    shown = recourse_for(compiled, decision)
    if shown is not None:
        found.append(shown.by)
        found.extend(cmp.operand for cmp in shown.changes)
    for step in next_steps(compiled, decision):
        found.extend([step.on, step.limit_factor])
        if step.change is not None:
            found.append(step.change.operand)
    return [value for value in found if value is not None]
