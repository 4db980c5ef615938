"""What a notice may promise, computed by the engine and the case lifecycle, never by wording.

A notice makes four kinds of promise: a cure ("fix it by this date and we cancel the change"),
a pause ("while we review, the change waits"), a review ("ask a person until this date") and a
reversal (a rule's advice: "we lift the pause", "we cancel the closure"). Each is stated only
when the case lifecycle accepts the matching event for this very decision: the decision is made
again from the record's values, its case is opened, the notice is sent, and the cure or appeal
is applied; a refused event means the promise is not made. Each reason also says whether fixing
it alone lifts the decision, found by deciding again with the fix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
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
from clearline.engine.conditions import branches, literal_holds, literals, negate, points
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision, decide
from clearline.engine.errors import ClearlineError
from clearline.engine.facts import FactValue
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    MISSING_FACTS_REASON,
    ActionKind,
    Comparison,
    Condition,
    Fact,
    FactType,
    Rule,
    comparisons,
)

from .counterfactual import Counterfactual, counterfactuals


@dataclass(frozen=True)
class ReasonCheck:
    """Deciding again with one reason fixed: which reasons at least as strong remain."""

    rule: str
    change: Mapping[str, Any]  # the fix shown first; empty when no single-fact fix exists
    still: tuple[str, ...]  # codes of rules that still restrict the line after that fix
    lifting: Mapping[str, Any] = field(default_factory=dict)  # a fix of this fact that lifts it

    @property
    def lifts(self) -> bool:
        """Fixing this reason alone lifts the decision."""
        return bool(self.change) and not self.still


@dataclass(frozen=True)
class Claims:
    """The promises the engine backs for one decision (False: the notice must not make it)."""

    cure: bool = False
    pause: bool = False
    review: bool = False
    person_looks: bool = False  # the decision itself sends the account to a person
    checked: bool = False  # the decision could be made again from the record
    reasons: Mapping[str, ReasonCheck] = field(default_factory=dict)


def claims_for(
    compiled: CompiledPolicy,
    record: Mapping[str, Any],
    values: Mapping[str, FactValue],
    hidden: frozenset[str] = frozenset(),
) -> Claims:
    """Decide again from the record's values and ask the case lifecycle what it would accept."""
    action = ActionKind(record["action"])
    person = action is ActionKind.REVIEW
    if hidden:  # values kept only as hashes cannot be decided again: promise nothing extra
        return Claims(person_looks=person)
    facts = {**exemption_witnesses(compiled, record, values), **values}
    decision = _redecide(compiled, facts, record)
    if decision is None or not _same(decision, record):
        return Claims(person_looks=person)
    checks = {
        reason.rule: _recheck(compiled, decision, facts, reason.rule)
        for reason in decision.reasons
        if reason.rule != MISSING_FACTS_REASON
    }
    cure = review = pause = False
    if decision.action in ADVERSE_ACTIONS:
        at = _instant(record)
        case = open_case(compiled, decision)
        if case.notice_on is None:
            case = apply_event(compiled, case, CaseEvent(EventKind.NOTICE_SENT, at))
        try:
            appealed = apply_event(compiled, case, CaseEvent(EventKind.APPEAL_FILED, at))
            review, pause = True, appealed.paused
        except CaseError:
            pass
        top = checks.get(decision.reasons[0].rule)
        if top is not None and top.change:
            try:
                cured = apply_event(compiled, case, CaseEvent(EventKind.CURED, at, top.change))
                cure = cured.state is CaseState.RESCINDED
            except CaseError:
                pass
    return Claims(cure, pause, review, person, True, checks)


def advice_backed(compiled: CompiledPolicy, claims: Claims, action: str, rule: Rule) -> bool:
    """Whether a rule's own advice is true for this decision.

    Advice promises what the rule's action and grace rule offer: for a close, suspend or
    reduction, the cure of its grace rule (when it has one) or else its review; for a review,
    that a person looks; for a reminder, that the line stays as it is. It is true only when the
    decision took the rule's own action and the lifecycle accepts that offer.
    """
    kind = rule.action.kind
    if ActionKind(action) is not kind:
        return False
    if kind is ActionKind.REVIEW:
        return claims.person_looks
    if kind not in ADVERSE_ACTIONS:
        return True
    grace = compiled.policy.grace_rule(rule.grace)
    if grace is not None and grace.cure is not None:
        check = claims.reasons.get(rule.id)
        return claims.cure and check is not None and bool(check.lifting)
    return claims.review


def exemption_witnesses(
    compiled: CompiledPolicy, record: Mapping[str, Any], values: Mapping[str, FactValue]
) -> dict[str, Any]:
    """Values for facts only exemptions read (the trace does not keep them), chosen so that each
    exemption the record applied holds again and every other one does not."""
    applied = {e for reason in record.get("reasons", ()) for e in reason.get("exemptions", ())}
    found: dict[str, Any] = {}
    for grace in compiled.policy.grace:
        for exemption in grace.exemptions:
            wanted = exemption.when if exemption.id in applied else negate(exemption.when)
            for name, value in _witness(compiled, wanted).items():
                if name not in values:
                    found.setdefault(name, value)
    return found


def _witness(compiled: CompiledPolicy, condition: Condition) -> dict[str, Any]:
    """Fact values that make `condition` hold (its first branch that a value can satisfy)."""
    for branch in branches(condition):
        chosen: dict[str, Any] = {}
        for name in dict.fromkeys(cmp.fact for cmp in branch):
            fact = compiled.policy.fact(name)
            value = (
                None if fact is None else _satisfying(fact, [c for c in branch if c.fact == name])
            )
            if value is None:
                break
            chosen[name] = value
        else:
            return chosen
    return {}


def _satisfying(fact: Fact, cmps: Sequence[Comparison]) -> Any:
    candidates: list[Any]
    if fact.type is FactType.BOOLEAN:
        candidates = [False, True]
    elif fact.type is FactType.ENUM:
        candidates = list(fact.values)
    else:
        candidates = [fact.minimum] if fact.minimum is not None else []
        for cmp in cmps:
            for point in literals(cmp):
                if isinstance(point, (int, float)) and not isinstance(point, bool):
                    candidates += [point, point + 1, point - 1]
    for value in candidates:
        if all(literal_holds(cmp, value) is True for cmp in cmps):
            return value
    return None


def _instant(record: Mapping[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(record["as_of"]).replace("Z", "+00:00"))


def _redecide(
    compiled: CompiledPolicy, facts: Mapping[str, Any], record: Mapping[str, Any]
) -> Decision | None:
    try:
        return decide(
            compiled,
            dict(facts),
            _instant(record),
            account_id=record.get("account_id"),
            what_if=True,
        )
    except (ClearlineError, ValueError):
        return None


def _same(decision: Decision, record: Mapping[str, Any]) -> bool:
    ours = [(r.rule, r.action.value) for r in decision.reasons]
    theirs = [(r.get("rule"), r.get("action")) for r in record.get("reasons", ())]
    return decision.action.value == record.get("action") and ours == theirs


def best_fix(found: Sequence[Counterfactual]) -> Counterfactual | None:
    """The fix a notice leads with: the smallest single-fact change."""
    return found[0] if found else None


def _recheck(
    compiled: CompiledPolicy, decision: Decision, facts: Mapping[str, Any], rule_id: str
) -> ReasonCheck:
    rule = compiled.policy.rule(rule_id)
    found = counterfactuals(compiled, rule, facts) if rule is not None else []
    fix = best_fix(found)
    if fix is None:
        return ReasonCheck(rule_id, {}, ())
    change = {fix.fact: fix.value}
    still = _remaining(compiled, decision, {**facts, **change})
    lifting: dict[str, Any] = change if not still else {}
    # Further along the same fact ("pay everything" rather than "be 90 days late"), a fix may
    # lift what the nearest one does not; advice that promises a reversal needs such a fix.
    for cf in found if not lifting else ():
        fact = compiled.policy.fact(cf.fact)
        if fact is None:  # pragma: no cover - counterfactuals name declared facts
            continue
        for value in _along(compiled, fact, cf):
            if not _remaining(compiled, decision, {**facts, cf.fact: value}):
                lifting = {cf.fact: value}
                break
        if lifting:
            break
    return ReasonCheck(rule_id, change, still, lifting)


def _remaining(
    compiled: CompiledPolicy, decision: Decision, facts: Mapping[str, Any]
) -> tuple[str, ...]:
    """Codes of the rules that still hold the decision after a change, decided again.

    For a close, suspend or reduction, any rule that still restricts the line counts (trading a
    closure for a suspension does not lift it); for a review or reminder, rules at least as
    strong."""
    after = decide(compiled, dict(facts), decision.as_of, trace=False, what_if=True)
    outcome = compiled.policy.outcome
    strength = outcome.rank(decision.action)
    adverse = decision.action in ADVERSE_ACTIONS
    return tuple(
        reason.code
        for reason in after.reasons
        if (
            reason.action in ADVERSE_ACTIONS if adverse else outcome.rank(reason.action) <= strength
        )
    )


def _along(compiled: CompiledPolicy, fact: Fact, cf: Counterfactual) -> list[Any]:
    """Values of the counterfactual's region, nearest to the observed value first."""
    cmps = [
        c for rule in compiled.policy.rules for c in comparisons(rule.when) if c.fact == fact.name
    ]
    region = comparisons(cf.region)
    values = {
        v
        for v in points(fact, [*cmps, *region])
        if all(literal_holds(c, v) is True for c in region) and _within(fact, v)
    }
    if cf.observed is None or fact.type not in (FactType.INTEGER, FactType.NUMBER):
        return sorted(values, key=str)
    return sorted(values, key=lambda v: abs(v - cf.observed))


def _within(fact: Fact, value: Any) -> bool:
    try:
        low = fact.minimum is None or value >= fact.minimum
        return bool(low and (fact.maximum is None or value <= fact.maximum))
    except TypeError:
        return False
