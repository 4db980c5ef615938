"""Grace periods as a case lifecycle: an adverse decision opens a case, dated events move it.

Event-sourced and deterministic: a case is a pure function of the compiled policy version, the
opening decision and the ordered events. Time comes only from the events, never from a clock.
Deadlines are facts of time: before an event at day D is applied, every deadline due by D is
applied first (the action takes effect on its effective date, an unanswered review times out
the day after its last review day), so the state never depends on when a batch job ran.
An event that is not allowed is rejected with a CaseError and changes nothing (cases are
immutable values; `apply_event` returns a new one).

States: pending_notice -> in_grace (notice sent) -> effective (effective date reached), with
under_review while a human review is open, and the final states rescinded (cured in time) and
overturned (review decided for the customer, or timed out when the policy says so).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any

from clearline.engine.decisions.compile import CompiledPolicy, ConditionFn
from clearline.engine.decisions.decide import AsOfError, Decision, decide, to_instant
from clearline.engine.decisions.grace import deadline, timeline_for
from clearline.engine.errors import ClearlineError, FactError
from clearline.engine.model import ADVERSE_ACTIONS, ActionKind, GraceRule


class CaseState(StrEnum):
    """Where a case stands."""

    PENDING_NOTICE = "pending_notice"
    IN_GRACE = "in_grace"
    UNDER_REVIEW = "under_review"
    EFFECTIVE = "effective"
    RESCINDED = "rescinded"
    OVERTURNED = "overturned"


FINAL_STATES = frozenset({CaseState.RESCINDED, CaseState.OVERTURNED})


class EventKind(StrEnum):
    """What can happen to a case."""

    NOTICE_SENT = "notice_sent"
    REEVALUATED = "reevaluated"  # new facts: decide again and check the cure
    CURED = "cured"  # as reevaluated, but rejected unless the cure holds in time
    APPEAL_FILED = "appeal_filed"
    REVIEW_DECIDED = "review_decided"
    DEADLINE_PASSED = "deadline_passed"  # the daily batch: apply every deadline due by `at`


class ReviewOutcome(StrEnum):
    """What a human review decided."""

    UPHELD = "upheld"
    OVERTURNED = "overturned"


class CaseError(ClearlineError):
    """An event that is malformed or not allowed in the case's current state."""


@dataclass(frozen=True)
class CaseEvent:
    """One dated event; `facts` (reevaluated, cured) are the facts that changed."""

    kind: EventKind
    at: dt.datetime
    facts: Mapping[str, Any] = field(default_factory=dict)
    outcome: ReviewOutcome | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, as the case store keeps it."""
        data: dict[str, Any] = {"kind": self.kind.value, "at": self.at.isoformat()}
        if self.facts:
            data["facts"] = dict(self.facts)
        if self.outcome is not None:
            data["outcome"] = self.outcome.value
        if self.note:
            data["note"] = self.note
        return data


def case_event(
    kind: EventKind | str,
    at: dt.datetime | dt.date | str,
    *,
    facts: Mapping[str, Any] | None = None,
    outcome: ReviewOutcome | str | None = None,
    note: str = "",
    tz: str = "UTC",
) -> CaseEvent:
    """Build and check an event; a bare date `at` is the start of that day in `tz`."""
    try:
        kind = EventKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in EventKind)
        raise CaseError(f"unknown event `{kind}` (one of {names})") from None
    try:
        instant = to_instant(at, tz)
    except AsOfError as exc:
        raise CaseError(f"{kind}: {exc}") from None
    if facts is not None and not isinstance(facts, Mapping):
        raise CaseError(f"{kind}: facts must be a JSON object")
    if kind in (EventKind.REEVALUATED, EventKind.CURED):
        if not facts:
            raise CaseError(f"{kind} needs the facts that changed")
    elif facts:
        raise CaseError(f"{kind} takes no facts")
    review: ReviewOutcome | None = None
    if kind is EventKind.REVIEW_DECIDED:
        try:
            review = ReviewOutcome(outcome) if outcome is not None else None
        except ValueError:
            review = None
        if review is None:
            raise CaseError("review_decided needs an outcome: upheld or overturned")
    elif outcome is not None:
        raise CaseError(f"{kind} takes no outcome")
    if not isinstance(note, str):
        raise CaseError(f"{kind}: note must be a string")
    return CaseEvent(kind, instant, dict(facts or {}), review, note)


def event_from_dict(data: Any, tz: str = "UTC") -> CaseEvent:
    """An event from its JSON form (`to_dict`), checked."""
    if not isinstance(data, dict):
        raise CaseError("an event must be a JSON object")
    unknown = sorted(set(data) - {"kind", "at", "facts", "outcome", "note"})
    if unknown:
        raise CaseError(f"unknown key `{unknown[0]}` in an event")
    if "kind" not in data or "at" not in data:
        raise CaseError("an event needs `kind` and `at`")
    return case_event(
        str(data["kind"]),
        str(data["at"]),
        facts=data.get("facts"),
        outcome=data.get("outcome"),
        note=data.get("note", ""),
        tz=tz,
    )


@dataclass(frozen=True)
class Transition:
    """One change of state and what caused it: a rule, a deadline, a cure, an appeal, a review.

    `event` is the index of the event that applied it (-1: opening); `on` is the day it took
    effect, which for a deadline is the deadline's own day even when a later event applied it.
    """

    event: int
    on: dt.date
    from_state: CaseState | None
    to_state: CaseState
    cause: str
    ref: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "event": self.event,
            "on": self.on.isoformat(),
            "from": self.from_state.value if self.from_state else None,
            "to": self.to_state.value,
            "cause": self.cause,
            "ref": self.ref,
        }


@dataclass(frozen=True)
class Case:
    """A case at one point of its history. Dates are days in the policy's time zone."""

    case_id: str
    account_id: str | None
    policy_sha256: str
    decision_id: str
    action: ActionKind
    rule: str
    grace: str | None
    decided_on: dt.date
    extra_notice_days: int
    facts: Mapping[str, Any]
    state: CaseState
    in_force: bool
    effective: dt.date
    notice_on: dt.date | None = None
    cure_until: dt.date | None = None
    appeal_until: dt.date | None = None
    appeal_filed_on: dt.date | None = None
    review_until: dt.date | None = None
    paused: bool = False  # an open review holds the action back (not in force meanwhile)
    last_at: dt.datetime | None = None
    events: int = 0
    transitions: tuple[Transition, ...] = ()

    @property
    def final(self) -> bool:
        """Rescinded or overturned: the case takes no more events."""
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for `case show` and the audit trail."""

        def day(value: dt.date | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "case_id": self.case_id,
            "account_id": self.account_id,
            "policy_sha256": self.policy_sha256,
            "decision_id": self.decision_id,
            "action": self.action.value,
            "rule": self.rule,
            "grace": self.grace,
            "state": self.state.value,
            "in_force": self.in_force,
            "decided_on": day(self.decided_on),
            "notice_on": day(self.notice_on),
            "effective": day(self.effective),
            "cure_until": day(self.cure_until),
            "appeal_until": day(self.appeal_until),
            "appeal_filed_on": day(self.appeal_filed_on),
            "review_until": day(self.review_until),
            "events": self.events,
            "transitions": [t.to_dict() for t in self.transitions],
        }


def open_case(compiled: CompiledPolicy, decision: Decision) -> Case:
    """Open the case of a decision that closes, suspends or reduces a line."""
    if decision.compiled.sha256 != compiled.sha256:
        raise CaseError("the decision was made under another policy version")
    if decision.action not in ADVERSE_ACTIONS:
        raise CaseError(
            f"a `{decision.action}` decision opens no case: only close, suspend and "
            "reduce_limit restrict the line"
        )
    top = decision.reasons[0]
    grace = compiled.policy.grace_rule(top.grace)
    timeline = decision.timeline
    assert timeline is not None  # an adverse decision always has one
    immediate = grace is None or grace.immediate
    extra = 0 if immediate else timeline.notice_days - grace.notice_days  # type: ignore[union-attr]
    state = CaseState.EFFECTIVE if immediate else CaseState.PENDING_NOTICE
    ref = top.rule if not immediate else f"{top.rule}; grace {top.grace or '-'}: at once"
    return Case(
        case_id=decision.decision_id,
        account_id=decision.account_id,
        policy_sha256=compiled.sha256,
        decision_id=decision.decision_id,
        action=decision.action,
        rule=top.rule,
        grace=top.grace,
        decided_on=timeline.decided_on,
        extra_notice_days=extra,
        facts=decision.inputs(),
        state=state,
        in_force=immediate,
        effective=timeline.effective,
        cure_until=timeline.cure_until,
        appeal_until=timeline.appeal_until,
        transitions=(Transition(-1, timeline.decided_on, None, state, "rule", ref),),
    )


def replay(compiled: CompiledPolicy, decision: Decision, events: Iterable[CaseEvent]) -> Case:
    """The case of a decision after its events, in order; raises CaseError on the first bad one."""
    case = open_case(compiled, decision)
    for event in events:
        case = apply_event(compiled, case, event)
    return case


def next_deadline(compiled: CompiledPolicy, case: Case) -> tuple[dt.date, str] | None:
    """The day the next deadline applies and its name, or None when none is pending."""
    due = _pending(case)
    return min(due) if due else None


def deadline_due(compiled: CompiledPolicy, case: Case, as_of: dt.datetime) -> bool:
    """Whether a deadline of the case has passed by `as_of` (what `advance` looks for)."""
    upcoming = next_deadline(compiled, case)
    return upcoming is not None and upcoming[0] <= _day(compiled, as_of)


def apply_event(compiled: CompiledPolicy, case: Case, event: CaseEvent) -> Case:
    """The case after one more event; raises CaseError (and changes nothing) if not allowed."""
    if compiled.sha256 != case.policy_sha256:
        raise CaseError(
            f"case {case.case_id} was opened under policy sha256 {case.policy_sha256[:12]}, "
            f"not {compiled.sha256[:12]}"
        )
    kind = event.kind
    if case.final:
        raise CaseError(f"{kind} is not allowed: case {case.case_id} is {_why(case)}")
    if case.last_at is not None and event.at < case.last_at:
        raise CaseError(
            f"{kind} at {event.at.isoformat()} is before the case's last event at "
            f"{case.last_at.isoformat()}; events must come in time order"
        )
    day = _day(compiled, event.at)
    if day < case.decided_on:
        raise CaseError(f"{kind} on {day} is before the decision on {case.decided_on}")
    index = case.events
    passed = _pass_deadlines(compiled, case, day, index)
    if kind is EventKind.DEADLINE_PASSED:
        if len(passed.transitions) == len(case.transitions):
            upcoming = next_deadline(compiled, case)
            when = f"the next is {upcoming[1]} on {upcoming[0]}" if upcoming else "none is pending"
            raise CaseError(f"no deadline of case {case.case_id} has passed by {day}; {when}")
        after = passed
    else:
        if passed.final:
            raise CaseError(f"{kind} is not allowed: case {case.case_id} is {_why(passed)}")
        handler = _HANDLERS[kind]
        after = _pass_deadlines(compiled, handler(compiled, passed, event, day, index), day, index)
    return replace(after, last_at=event.at, events=index + 1)


# -- handlers: each returns the new case or raises CaseError -------------------------------------


def _notice_sent(
    compiled: CompiledPolicy, case: Case, event: CaseEvent, day: dt.date, n: int
) -> Case:
    if case.notice_on is not None:
        raise CaseError(f"notice_sent is not allowed: notice was already sent on {case.notice_on}")
    # Every window counts from the day the customer is told, so a late notice never shortens
    # the grace the policy promises; sent on the decision day, the dates equal the decision's.
    grace = _grace(compiled, case)
    timeline = timeline_for(grace, day, case.extra_notice_days, compiled.policy.metadata.calendar)
    case = replace(
        case,
        notice_on=day,
        effective=case.effective if timeline.immediate or grace is None else timeline.effective,
        cure_until=timeline.cure_until,
        appeal_until=timeline.appeal_until,
    )
    if case.state is CaseState.PENDING_NOTICE:
        return _move(case, n, day, CaseState.IN_GRACE, "notice", f"effective {case.effective}")
    return case


def _reevaluated(
    compiled: CompiledPolicy, case: Case, event: CaseEvent, day: dt.date, n: int
) -> Case:
    facts = {**case.facts, **event.facts}
    try:
        decision = decide(
            compiled, facts, event.at, account_id=case.account_id, trace=False, what_if=True
        )
    except FactError as exc:
        raise CaseError(f"{event.kind}: facts rejected: {exc}") from None
    case = replace(case, facts=decision.inputs())
    if case.cure_until is None:
        if event.kind is EventKind.CURED:
            raise CaseError(f"cured is not allowed: grace rule `{case.grace}` has no cure")
        return _extended(compiled, case, decision, day, n)
    holds, cure = _cure_holds(compiled, case, decision)
    late = day > case.cure_until
    if holds and not late:
        return _move(replace(case, in_force=False), n, day, CaseState.RESCINDED, "cure", cure)
    if event.kind is EventKind.CURED:
        if late:
            raise CaseError(f"cured is not allowed: the cure window closed on {case.cure_until}")
        raise CaseError(f"cured is not allowed: {cure}")
    return _extended(compiled, case, decision, day, n)


def _extended(
    compiled: CompiledPolicy, case: Case, decision: Decision, day: dt.date, n: int
) -> Case:
    """An exemption that now applies (hardship declared after the decision) extends the notice
    of an action not yet in force; it never shortens it."""
    grace = _grace(compiled, case)
    reason = next((r for r in decision.reasons if r.rule == case.rule), None)
    if case.in_force or grace is None or grace.immediate or reason is None:
        return case
    applied = [e for e in grace.exemptions if e.id in reason.exemptions]
    extra = max((e.extend_notice_days for e in applied), default=0)
    if extra <= case.extra_notice_days:
        return case
    start = case.notice_on or case.decided_on
    timeline = timeline_for(grace, start, extra, compiled.policy.metadata.calendar)
    case = replace(
        case,
        extra_notice_days=extra,
        effective=timeline.effective,
        cure_until=timeline.cure_until,
    )
    ids = ", ".join(e.id for e in applied if e.extend_notice_days)
    return _move(case, n, day, case.state, "exemption", f"{ids}: effective {case.effective}")


def _appeal_filed(
    compiled: CompiledPolicy, case: Case, event: CaseEvent, day: dt.date, n: int
) -> Case:
    appeal = grace.appeal if (grace := _grace(compiled, case)) is not None else None
    if case.state is CaseState.PENDING_NOTICE:
        raise CaseError("appeal_filed is not allowed: notice has not been sent yet")
    if case.appeal_filed_on is not None:
        raise CaseError(
            f"appeal_filed is not allowed: an appeal was filed on {case.appeal_filed_on}"
        )
    if appeal is None or case.appeal_until is None:
        raise CaseError(f"appeal_filed is not allowed: grace rule `{case.grace}` has no appeal")
    if day > case.appeal_until:
        raise CaseError(
            f"appeal_filed is not allowed: the appeal window closed on {case.appeal_until}"
        )
    review_until = None
    if appeal.review_max_days is not None:
        review_until = deadline(day, appeal.review_max_days, compiled.policy.metadata.calendar)
    # A pausing review holds the action back, and lifts it if it already took effect: the
    # customer's last day to appeal may be the effective date itself.
    paused = appeal.pauses_action
    in_force = case.in_force and not paused
    case = replace(
        case, appeal_filed_on=day, review_until=review_until, paused=paused, in_force=in_force
    )
    hold = "action paused" if paused else "action stays in force"
    ref = f"appeal until {case.appeal_until}; {hold}"
    return _move(case, n, day, CaseState.UNDER_REVIEW, "appeal", ref)


def _review_decided(
    compiled: CompiledPolicy, case: Case, event: CaseEvent, day: dt.date, n: int
) -> Case:
    if case.state is not CaseState.UNDER_REVIEW:
        raise CaseError(
            f"review_decided is not allowed: case {case.case_id} is {case.state}, no review is open"
        )
    if event.outcome is ReviewOutcome.OVERTURNED:
        return _overturn(case, n, day, "review", "overturned")
    return _resume(case, n, day, "review", "upheld")


_HANDLERS = {
    EventKind.NOTICE_SENT: _notice_sent,
    EventKind.REEVALUATED: _reevaluated,
    EventKind.CURED: _reevaluated,
    EventKind.APPEAL_FILED: _appeal_filed,
    EventKind.REVIEW_DECIDED: _review_decided,
}


# -- deadlines ------------------------------------------------------------------------------------


def _pending(case: Case) -> list[tuple[dt.date, str]]:
    """Deadlines still ahead of the case, each with the day it applies."""
    if case.final:
        return []
    due = []
    if not case.in_force and case.notice_on is not None and not case.paused:
        due.append((case.effective, "effective"))
    if case.state is CaseState.UNDER_REVIEW and case.review_until is not None:
        due.append((case.review_until + dt.timedelta(days=1), "review_until"))
    return due


def _pass_deadlines(compiled: CompiledPolicy, case: Case, day: dt.date, n: int) -> Case:
    """Apply, in date order, every deadline due by `day`."""
    while True:
        due = [(on, name) for on, name in _pending(case) if on <= day]
        if not due:
            return case
        on, name = min(due)
        if name == "effective":
            target = (
                CaseState.UNDER_REVIEW
                if case.state is CaseState.UNDER_REVIEW
                else CaseState.EFFECTIVE
            )
            # Under a review that does not pause it, the action takes effect all the same.
            case = _move(replace(case, in_force=True), n, on, target, "deadline", f"effective {on}")
        else:
            grace = _grace(compiled, case)
            timeout = grace.appeal.on_timeout if grace and grace.appeal else "overturn"
            ref = f"review until {case.review_until} unanswered; {timeout}"
            if timeout == "uphold":
                case = _resume(case, n, on, "deadline", ref)
            else:
                case = _overturn(case, n, on, "deadline", ref)


def _overturn(case: Case, n: int, on: dt.date, cause: str, ref: str) -> Case:
    """A review ended for the customer: the action is lifted for good."""
    return _move(
        replace(case, in_force=False, paused=False), n, on, CaseState.OVERTURNED, cause, ref
    )


def _resume(case: Case, n: int, on: dt.date, cause: str, ref: str) -> Case:
    """A review ended for the lender: the action takes effect now if its date has come."""
    case = replace(case, paused=False)
    if case.in_force:
        return _move(case, n, on, CaseState.EFFECTIVE, cause, f"{ref}; stays in force")
    if on >= case.effective:
        return _move(
            replace(case, in_force=True),
            n,
            on,
            CaseState.EFFECTIVE,
            cause,
            f"{ref}; effective {on}",
        )
    return _move(case, n, on, CaseState.IN_GRACE, cause, f"{ref}; effective {case.effective}")


# -- small pieces ---------------------------------------------------------------------------------


def _move(case: Case, n: int, on: dt.date, to: CaseState, cause: str, ref: str) -> Case:
    transition = Transition(n, on, case.state, to, cause, ref)
    return replace(case, state=to, transitions=(*case.transitions, transition))


def _why(case: Case) -> str:
    last = case.transitions[-1]
    return f"{case.state} since {last.on} ({last.cause}: {last.ref})"


def _day(compiled: CompiledPolicy, at: dt.datetime) -> dt.date:
    return at.astimezone(zoneinfo.ZoneInfo(compiled.policy.metadata.timezone)).date()


def _grace(compiled: CompiledPolicy, case: Case) -> GraceRule | None:
    return compiled.policy.grace_rule(case.grace)


def _cure_holds(compiled: CompiledPolicy, case: Case, decision: Decision) -> tuple[bool, str]:
    """Whether the cure holds on a re-evaluation, and why, in words."""
    grace = _grace(compiled, case)
    if grace is not None and grace.cure is not None and grace.cure.when is not None:
        holds = compiled.cures[grace.name](decision.facts) is True
        return (
            holds,
            f"cure condition of grace {grace.name} {'holds' if holds else 'does not hold'}",
        )
    # Without a cure condition the cure is "the rule no longer fires", and only a definite
    # false counts: a fact left unknown is not a cure.
    holds = _rule_condition(compiled, case.rule)(decision.facts) is False
    return holds, f"rule {case.rule} {'no longer fires' if holds else 'still fires or is unknown'}"


@lru_cache(maxsize=256)
def _rule_condition(compiled: CompiledPolicy, rule_id: str) -> ConditionFn:
    rule = compiled.policy.rule(rule_id)
    if rule is None:
        raise CaseError(f"rule `{rule_id}` is not in the policy")
    return compiled.condition_fn(rule.when)
