"""`decide`: facts and a moment in, one explained Decision out. Pure: no clock, no I/O."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from clearline.engine.canonical import canonical_json, is_text, sha256_hex, to_json_value
from clearline.engine.decisions import record
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.exemptions import NO_ADJUST, adjustments
from clearline.engine.decisions.grace import Timeline, timeline_for
from clearline.engine.decisions.moments import AsOfError as AsOfError
from clearline.engine.decisions.moments import PolicyNotInForce as PolicyNotInForce
from clearline.engine.decisions.moments import to_instant as to_instant
from clearline.engine.decisions.record_layout import layout_for, lazy, plain_facts_json
from clearline.engine.errors import FactError, FactProblem
from clearline.engine.facts import (
    EARLIEST_DATE,
    LATEST_DATE,
    FactValue,
    normalise_facts,
)
from clearline.engine.ids import decision_id as _decision_id
from clearline.engine.model import (
    MISSING_FACTS_REASON,
    ActionKind,
    FactType,
    MissingMode,
    Policy,
)


@dataclass(frozen=True)
class Reason:
    """One fired rule, ranked: the first reason decides the action."""

    rank: int
    rule: str
    code: str
    action: ActionKind
    rule_action: ActionKind
    limit_factor: float | None
    grace: str | None
    exemptions: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for the decision record."""
        data: dict[str, Any] = {
            "rank": self.rank,
            "rule": self.rule,
            "code": self.code,
            "action": self.action.value,
            "grace": self.grace,
        }
        if self.limit_factor is not None:
            data["limit_factor"] = self.limit_factor
        if self.rule_action is not self.action or self.exemptions:
            data["rule_action"] = self.rule_action.value
            data["exemptions"] = list(self.exemptions)
        if self.facts:
            data["facts"] = list(self.facts)
        return data


class Decision:
    """The outcome of one decision with everything needed to explain and replay it.

    `decide` stores only what it computed (fired rules, raw comparison results); the record is
    rendered on demand by `decisions.record` (`to_dict` and `to_json` are its shorthands), so the
    hot path stays cheap and the record is still fully determined by the policy hash, the facts
    and `as_of`.
    """

    __slots__ = (
        "__dict__",
        "_adjust",
        "_checks",
        "_matches",
        "account_id",
        "action",
        "as_of",
        "compiled",
        "facts",
        "fired",
        "missing_facts",
        "review_missing",
    )

    def __init__(
        self,
        compiled: CompiledPolicy,
        account_id: str | None,
        as_of: dt.datetime,
        facts: dict[str, FactValue],
        fired: tuple[int, ...],
        missing_facts: tuple[str, ...],
        review_missing: tuple[str, ...],
        adjust: Mapping[int, tuple[ActionKind, int, tuple[str, ...]]],
        checks: tuple[bool | None, ...] | None,
        matches: tuple[bool | None, ...] | None,
    ) -> None:
        self.compiled = compiled
        self.account_id = account_id
        self.as_of = as_of
        self.facts = facts
        self.fired = fired
        self.missing_facts = missing_facts
        self.review_missing = review_missing
        self._adjust = adjust
        self._checks = checks
        self._matches = matches
        if fired:
            first = fired[0]
            adjusted = adjust.get(first)
            self.action = adjusted[0] if adjusted else compiled.policy.rules[first].action.kind
            if review_missing and compiled.policy.outcome.rank(ActionKind.REVIEW) < (
                compiled.policy.outcome.rank(self.action)
            ):
                self.action = ActionKind.REVIEW
        else:
            self.action = ActionKind.REVIEW if review_missing else ActionKind.NONE

    @property
    def traced(self) -> bool:
        """Whether this decision carries a full trace."""
        return self._checks is not None

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Fired rules ranked, plus the missing-facts review when the policy asks for it."""
        return self._reasons_entry[0]

    @lazy
    def _reasons_entry(self) -> tuple[tuple[Reason, ...], str]:
        # The same fired rules, exemptions and missing facts always give the same reasons, so
        # the ranked reasons and their JSON are shared through the policy's record layout.
        layout = layout_for(self.compiled)
        key = ("reasons", self.fired, tuple(self._adjust.items()), self.review_missing)
        entry = layout.memo.get(key)
        if entry is None:
            reasons = self._rank_reasons()
            entry = layout.remember(
                key, (reasons, canonical_json([reason.to_dict() for reason in reasons]))
            )
        return entry  # type: ignore[no-any-return]

    def _rank_reasons(self) -> tuple[Reason, ...]:
        policy = self.compiled.policy
        entries: list[tuple[tuple[int, float, int], Reason]] = []
        for r in self.fired:
            rule = policy.rules[r]
            adjusted = self._adjust.get(r)
            action = adjusted[0] if adjusted else rule.action.kind
            reason = Reason(
                rank=0,
                rule=rule.id,
                code=rule.reason_code,
                action=action,
                rule_action=rule.action.kind,
                limit_factor=rule.action.limit_factor
                if action is ActionKind.REDUCE_LIMIT
                else None,
                grace=rule.grace,
                exemptions=adjusted[2] if adjusted else (),
            )
            entries.append((self.compiled.rank_key(r, action), reason))
        if self.review_missing:
            missing = policy.outcome.missing_facts
            key = (policy.outcome.rank(ActionKind.REVIEW), 1.0, len(policy.rules))
            entries.append(
                (
                    key,
                    Reason(
                        rank=0,
                        rule=MISSING_FACTS_REASON,
                        code=missing.review_code,
                        action=ActionKind.REVIEW,
                        rule_action=ActionKind.REVIEW,
                        limit_factor=None,
                        grace=missing.review_grace,
                        facts=self.review_missing,
                    ),
                )
            )
        entries.sort(key=lambda pair: pair[0])
        return tuple(replace(reason, rank=i + 1) for i, (_, reason) in enumerate(entries))

    @property
    def timeline(self) -> Timeline | None:
        """Notice, effective, cure and appeal dates of the deciding reason (None for no action)."""
        return self._timeline_entry[0]

    @lazy
    def _timeline_entry(self) -> tuple[Timeline | None, str]:
        if self.action is ActionKind.NONE:
            return None, "null"
        top = self.reasons[0]
        policy = self.compiled.policy
        extra = 0
        for r in self.fired:
            if policy.rules[r].id == top.rule and r in self._adjust:
                extra = self._adjust[r][1]
        layout = layout_for(self.compiled)
        # The timeline depends on the decision's day in the policy's time zone, not its instant:
        # keyed by the day, decisions at many moments (a stream of events) share it.
        tz = layout.memo.get("timezone")
        if tz is None:
            tz = layout.remember("timezone", zoneinfo.ZoneInfo(policy.metadata.timezone))
        day = self.as_of.astimezone(tz).date()
        key = ("timeline", top.grace, day, extra)
        entry = layout.memo.get(key)
        if entry is None:
            timeline = timeline_for(
                policy.grace_rule(top.grace), day, extra, policy.metadata.calendar
            )
            entry = layout.remember(key, (timeline, canonical_json(timeline.to_dict())))
        return entry  # type: ignore[no-any-return]

    @lazy
    def input_sha256(self) -> str:
        """Hash of the canonical JSON of the checked inputs."""
        return sha256_hex(self.inputs_json)

    def inputs(self) -> dict[str, Any]:
        """The checked facts as plain JSON data."""
        return {name: to_json_value(value) for name, value in self.facts.items()}

    @lazy
    def inputs_json(self) -> str:
        """Canonical JSON of the checked inputs (what `input_sha256` hashes)."""
        return self._inputs_text()

    def _inputs_text(self) -> str:
        """The inputs JSON, made again on every call (`inputs_json` keeps it)."""
        return plain_facts_json(self.facts) or layout_for(self.compiled).inputs_json(self.facts)

    @lazy
    def decision_id(self) -> str:
        """A deterministic id: the same policy, account, moment and inputs give the same id."""
        return _decision_id(
            self.compiled.sha256, self.account_id, self.as_of_text, self.input_sha256
        )

    @lazy
    def as_of_text(self) -> str:
        """The decision moment in UTC, ISO 8601 with `Z`, as the record writes it."""
        layout = layout_for(self.compiled)
        key = ("as_of", self.as_of)
        text = layout.memo.get(key)
        if text is None:
            utc = self.as_of.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            text = layout.remember(key, utc)
        layout.last_as_of = (self.as_of, text)
        return text  # type: ignore[no-any-return]

    def trace(self) -> list[dict[str, Any]] | None:
        """Every rule with whether it matched, and every comparison with what it saw."""
        return record.trace_entries(self)

    def to_dict(self) -> dict[str, Any]:
        """The decision record as plain JSON data (rendered by `decisions.record`)."""
        return record.record_dict(self)

    def to_json(self) -> str:
        """Canonical JSON of the record: same inputs, same bytes (`decisions.record`)."""
        return self.__dict__.get("_json") or record.record_json(self)


_new_decision = object.__new__
_DATETIME = dt.datetime
_DICT = dict
_FIRST_YEAR, _LAST_YEAR = EARLIEST_DATE.year, LATEST_DATE.year
_NONE = ActionKind.NONE
_NO_ADJUST = NO_ADJUST


def _check_account_id(account_id: object) -> None:
    """Raise FactError for an account id no record could hold: not a string, or text with a
    lone surrogate (`decide` checks the common case, an ASCII string, before calling this)."""
    if isinstance(account_id, str) and is_text(account_id):
        return
    what = (
        "valid Unicode text (it holds a lone surrogate)"
        if isinstance(account_id, str)
        else f"a string, not {type(account_id).__name__}"
    )
    raise FactError([FactProblem("account_id", "F004", f"`account_id` must be {what}")])


def decide(
    compiled: CompiledPolicy,
    facts: Mapping[str, Any],
    as_of: dt.datetime | dt.date | str,
    *,
    account_id: str | None = None,
    trace: bool = True,
    what_if: bool = False,
) -> Decision:
    """Decide one account. Raises FactError for facts that do not fit the policy's schema
    (and for an account id that is not a string of valid text, which no record could hold),
    and PolicyNotInForce for a moment outside the policy's window unless `what_if` is set."""
    if account_id is not None and not (type(account_id) is str and account_id.isascii()):
        _check_account_id(account_id)
    # The common case (an aware date-time and a dict holding every fact, valid) is written out
    # flat: profiles showed the Decision constructor, enum attribute lookups and extra call
    # layers costing as much as evaluating the rules.
    # A moment outside the years Clearline reads goes to to_instant, which refuses it by name
    # (past them the timeline would overflow); the dates span whole years.
    if (
        type(as_of) is _DATETIME
        and as_of.tzinfo is not None
        and _FIRST_YEAR <= as_of.year <= _LAST_YEAR
    ):
        instant = as_of
    else:
        instant = to_instant(as_of, compiled.policy.metadata.timezone)
    if not what_if:
        meta = compiled.policy.metadata
        if instant < meta.effective_from or (
            meta.effective_until is not None and instant >= meta.effective_until
        ):
            raise PolicyNotInForce(compiled.policy, instant)
    checks: tuple[bool | None, ...] | None = None
    matches: tuple[bool | None, ...] | None = None
    fired: list[int] | None = None
    if type(facts) is _DICT:
        if trace:
            result = compiled.traced(facts)
            if result is not None:
                checks, matches, fired = result
        else:
            fired = compiled.fast(facts)
        if fired is not None:
            decision: Decision = _new_decision(Decision)
            decision.compiled = compiled
            decision.account_id = account_id
            decision.as_of = instant
            decision.facts = facts.copy()  # type: ignore[attr-defined]
            decision.missing_facts = ()
            decision.review_missing = ()
            decision._checks = checks
            decision._matches = matches
            if not fired:
                decision.fired = ()
                decision._adjust = _NO_ADJUST
                decision.action = _NONE
                return decision
            adjust = _NO_ADJUST
            exemptions = compiled.exemptions
            for r in fired:
                if r in exemptions:
                    adjust = adjustments(compiled, fired, facts)
                    break
            first = fired[0]
            decision.fired = tuple(fired)
            decision._adjust = adjust
            decision.action = (
                adjust[first][0] if first in adjust else compiled.policy.rules[first].action.kind
            )
            return decision
        # Facts missing, the others valid (a few per cent of accounts): checked without
        # `normalise_facts`, which costs several times the rules.
        present = _present_values(compiled, facts)
        if present is not None:
            values, missing = present
            return _checked(compiled, account_id, instant, values, missing, trace)
    # The checked path: facts missing, to convert (e.g. ISO date strings) or invalid.
    values, missing = normalise_facts(compiled.policy, facts)
    return _checked(compiled, account_id, instant, values, missing, trace)


def _checked(
    compiled: CompiledPolicy,
    account_id: str | None,
    instant: dt.datetime,
    values: dict[str, FactValue],
    missing: tuple[str, ...],
    trace: bool,
) -> Decision:
    """The decision on checked values where some facts may be missing (three-valued logic)."""
    checks: tuple[bool | None, ...] | None
    matches: tuple[bool | None, ...] | None
    checks, matches, fired = compiled.traced3(values)
    if not trace:
        checks = matches = None
    review_missing: tuple[str, ...] = ()
    if missing and compiled.review_missing:
        review_missing = tuple(name for name in missing if name in compiled.review_missing)
    adjust = adjustments(compiled, fired, values) if fired and compiled.exemptions else {}
    return Decision(
        compiled,
        account_id,
        instant,
        values,
        tuple(fired),
        missing,
        review_missing,
        adjust,
        checks,
        matches,
    )


def _present_values(
    compiled: CompiledPolicy, facts: dict[str, Any]
) -> tuple[dict[str, FactValue], tuple[str, ...]] | None:
    """What `normalise_facts` gives for a dict whose facts are missing (absent or null) or valid
    as they are; None for any other dict (an unknown fact, a value to convert or refuse, a
    required fact missing), which `normalise_facts` then reads and reports.

    The present values are checked by the compiled `fast`, with each missing fact stood in for
    by a valid value: `fast` returns None for any fact absent, mistyped or out of range, and
    what it accepts is what `decide` keeps unconverted for an account with every fact.
    """
    probe = compiled.__dict__.get("_stand_ins", _UNSET)
    if probe is _UNSET:  # first use only; kept with the compiled policy as its record layout is
        probe = compiled.__dict__["_stand_ins"] = _stand_ins(compiled.policy)
    if probe is None:
        return None
    names, stand_ins, required = probe
    get = facts.get
    missing = tuple([name for name in names if get(name) is None])
    if not missing or not required.isdisjoint(missing):
        return None
    filled = facts.copy()
    for name in missing:
        filled[name] = stand_ins[name]
    if compiled.fast(filled) is None:
        return None
    return {name: facts[name] for name in names if name not in missing}, missing


_UNSET: Any = object()


def _stand_ins(
    policy: Policy,
) -> tuple[tuple[str, ...], dict[str, Any], frozenset[str]] | None:
    """(fact names in order, a valid value per fact, the facts that must not be missing), or
    None for a policy with date or date-time facts (whose values `normalise_facts` converts and
    checks against the calendar)."""
    stand_ins: dict[str, Any] = {}
    for fact in policy.facts:
        if fact.type is FactType.BOOLEAN:
            stand_ins[fact.name] = False
        elif fact.type in (FactType.INTEGER, FactType.NUMBER):
            bound = fact.minimum if fact.minimum is not None else fact.maximum
            stand_ins[fact.name] = 0 if bound is None else bound
        elif fact.type is FactType.ENUM:
            stand_ins[fact.name] = fact.values[0] if fact.values else ""
        elif fact.type is FactType.STRING:
            stand_ins[fact.name] = ""
        else:
            return None
    required = frozenset(
        fact.name for fact in policy.facts if policy.missing_mode(fact) is MissingMode.ERROR
    )
    return tuple(stand_ins), stand_ins, required


def action_of(compiled: CompiledPolicy, facts: dict[str, Any]) -> ActionKind:
    """`decide(compiled, facts, ...).action` without building the decision (FactError alike).

    The action does not depend on the moment. For a dict holding every fact, valid (the fast
    path of `decide`), only the rules run, and the exemptions only when one may lighten the
    action of a fired rule (`compiled.downgrades`); anything else goes through `decide` itself.
    """
    fired = compiled.fast(facts) if type(facts) is _DICT else None
    if fired is None:
        return decide(compiled, facts, compiled.policy.metadata.effective_from, trace=False).action
    if not fired:
        return _NONE
    downgrades = compiled.downgrades
    for r in fired:
        if r in downgrades:
            adjust = adjustments(compiled, fired, facts)  # may re-rank `fired`
            if fired[0] in adjust:
                return adjust[fired[0]][0]
            break
    return compiled.policy.rules[fired[0]].action.kind
