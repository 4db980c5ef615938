"""The event monitor: feed account events one at a time, get decisions back when actions change.

An account's facts are its snapshot, plus `facts` events that update them, plus the policy's
signals (see `signals.py`). An account starts at its action on its snapshot. When one of its
facts or signals changes, it is decided again with `decide` at the moment of the change (an
event's timestamp, or the moment an event leaves a window), and a `MonitorDecision` is returned
when the action differs from the account's last one. Time comes only from the events, so a
replay gives the same decisions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import action_of, decide
from clearline.engine.errors import ClearlineError, FactError
from clearline.engine.events.event import (
    CHECKPOINT_FORMAT,
    EVENT_KEYS,
    FACTS_EVENT,
    Event,
    EventError,
    FieldSpecs,
    MonitorDecision,
    StampReader,
    field_spec,
    iso_text,
    signal_views,
    usual_fields,
    usual_value,
)
from clearline.engine.events.signals import HIDDEN, SEEN, SignalEngine
from clearline.engine.facts import ValueProblem, check_bounds, coerce
from clearline.engine.model import ActionKind, EventType


class Monitor:
    """Decisions as events arrive, for every account of one compiled policy."""

    def __init__(
        self,
        compiled: CompiledPolicy,
        snapshot: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        trace: bool = True,
    ) -> None:
        self.compiled = compiled
        self.trace = trace  # whether the decisions returned carry the full trace
        policy = compiled.policy
        self.signals = SignalEngine(policy, signal_views(compiled))
        self.signal_names = frozenset(signal.name for signal in policy.signals)
        self.event_types: dict[str, EventType] = {event.name: event for event in policy.events}
        self.input_facts = {f.name: f for f in policy.facts if f.name not in self.signal_names}
        self.field_specs: dict[str, FieldSpecs] = {
            event.name: {item.name: field_spec(item) for item in event.fields}
            for event in policy.events
        }
        self.facts: dict[str, dict[str, Any]] = {}
        # The action of an account nothing is known of (no facts, no events): usually none.
        # `actions` keeps only the accounts whose action differs from it. Under a policy with a
        # required fact such an account cannot be decided (its first decision reports E207):
        # nothing was decided of it, so none.
        try:
            self.baseline = self._action_of(dict(self.signals.defaults))
            self.bare_decidable = True
        except FactError:
            self.baseline = ActionKind.NONE
            self.bare_decidable = False  # so an account without facts is undecidable
        self.actions: dict[str, ActionKind] = {}
        # Accounts whose facts could not be decided (an E207), and under a policy with a
        # required fact every account without facts: they are decided again on any change of
        # a signal, as the others only on a change their rules can tell (see `signal_views`),
        # so that they keep reporting it (`_undecidable`).
        self.undecidable: set[str] = set()
        self.clock: int | None = None
        self.seq = 0
        self.stamps = StampReader()
        # The declared fields of the event types that `feed` checks inline (see there).
        self.usual_fields = {
            name: specs for name, specs in self.field_specs.items() if name != FACTS_EVENT
        }
        for account, facts in (snapshot or {}).items():
            self.add_account(account, facts)

    # -- input ----------------------------------------------------------------------------------

    def add_account(self, account: str, facts: Mapping[str, Any]) -> None:
        """Set an account's snapshot facts and its current action (FactError if they do not fit).

        Values given for signals are ignored: events make them. The account's action on its
        snapshot is its starting point, so only changes caused by events are reported.
        """
        kept = {name: value for name, value in facts.items() if name not in self.signal_names}
        action = self._action_of({**kept, **self.signals.defaults})
        self.facts[account] = kept
        self.undecidable.discard(account)
        if action is self.baseline:
            self.actions.pop(account, None)
        else:
            self.actions[account] = action

    def _action_of(self, facts: dict[str, Any]) -> ActionKind:
        """The action on these facts; it does not depend on the moment of the decision."""
        return action_of(self.compiled, facts)

    def check(self, raw: Any, line: int | None = None) -> Event:
        """A raw event (parsed JSON) checked against the policy, or EventError."""
        if not isinstance(raw, dict):
            raise EventError("E201", "an event must be a JSON object")
        if not raw.keys() <= EVENT_KEYS:
            unknown = [key for key in raw if key not in EVENT_KEYS]
            raise EventError(
                "E201",
                f"unknown key `{unknown[0]}` in an event "
                "(allowed: account_id, type, ts, fields, facts)",
            )
        account = raw.get("account_id")
        if not isinstance(account, str) or not account:
            raise EventError("E201", "an event needs an `account_id` string")
        kind = raw.get("type")
        if not isinstance(kind, str):
            raise EventError("E201", "an event needs a `type` string")
        stamp = raw.get("ts")
        if not isinstance(stamp, str):
            raise EventError("E204", "an event needs a `ts` date-time string with a UTC offset")
        ts = self.stamps.read(stamp)
        if self.clock is not None and ts < self.clock:
            raise EventError(
                "E205",
                f"event at {iso_text(ts)} is out of time order: the stream is already at "
                f"{iso_text(self.clock)}",
            )
        if kind == FACTS_EVENT:
            if "fields" in raw:
                raise EventError("E201", f"a `{FACTS_EVENT}` event has `facts`, not `fields`")
            return Event(account, kind, ts, self.seq + 1, self._fact_update(raw), line)
        event_type = self.event_types.get(kind)
        if event_type is None:
            names = ", ".join([FACTS_EVENT, *self.event_types]) or FACTS_EVENT
            raise EventError("E202", f"unknown event type `{kind}` (known: {names})")
        if "facts" in raw:
            raise EventError("E201", f"`facts` is only for `{FACTS_EVENT}` events")
        return Event(account, kind, ts, self.seq + 1, self._fields(event_type, raw), line)

    def _fields(self, event_type: EventType, raw: Mapping[str, Any]) -> dict[str, Any]:
        given = raw.get("fields", {})
        if not isinstance(given, dict):
            raise EventError("E203", "`fields` must be an object")
        declared = self.field_specs[event_type.name]
        if len(given) != len(declared) or not given.keys() <= declared.keys():
            for name in given:
                if name not in declared:
                    raise EventError("E203", f"unknown field `{name}` of `{event_type.name}`")
        usual = usual_fields(declared, given)
        if usual is not None:
            return usual
        values: dict[str, Any] = {}
        for name, (item, kinds, low, high) in declared.items():
            value = given.get(name)
            if usual_value(value, kinds, low, high):
                values[name] = value
                continue
            if value is None:
                raise EventError("E203", f"`{event_type.name}` event without field `{name}`")
            try:
                value = coerce(item.type, value, item.values)
                check_bounds(item, value)
            except ValueProblem as exc:
                raise EventError("E203", f"field `{name}`: {exc}") from None
            values[name] = value
        return values

    def _fact_update(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        given = raw.get("facts")
        if not isinstance(given, dict) or not given:
            raise EventError("E206", f"a `{FACTS_EVENT}` event needs a non-empty `facts` object")
        for name, value in given.items():
            if name in self.signal_names:
                raise EventError("E206", f"`{name}` is a signal: events make it, not updates")
            fact = self.input_facts.get(name)
            if fact is None:
                raise EventError("E206", f"unknown fact `{name}`")
            if value is None:
                continue  # null removes the fact: it is missing from now on
            try:
                check_bounds(fact, coerce(fact.type, value, fact.values))
            except ValueProblem as exc:
                raise EventError("E206", f"fact `{name}`: {exc}") from None
        return dict(given)

    # -- processing -----------------------------------------------------------------------------

    def feed(self, raw: Any, line: int | None = None) -> list[MonitorDecision]:
        """Check one event and apply it; the decisions whose action changed, in time order.

        The same as `apply(check(raw, line))`. The usual event is checked inline here (this
        runs once per event): an object of exactly `account_id`, `type`, `ts` and `fields`, of a
        declared event type, in time order, whose fields are all usual values (see
        `usual_fields`). Anything else goes through `check`, which finds and words the problem.
        """
        if type(raw) is dict and len(raw) == 4:
            account = raw.get("account_id")
            kind = raw.get("type")
            stamp = raw.get("ts")
            given = raw.get("fields")
            if (
                type(account) is str
                and account
                and type(kind) is str
                and type(stamp) is str
                and type(given) is dict
            ):
                declared = self.usual_fields.get(kind)
                if declared is not None:
                    # all four keys are there and typed as `check` wants: a bad time is its E204
                    ts = self.stamps.read(stamp)
                    fields = usual_fields(declared, given)
                    if fields is not None and (self.clock is None or ts >= self.clock):
                        return self._observe(account, kind, ts, self.seq + 1, fields, line, None)
        return self.apply(self.check(raw, line))

    def apply(self, event: Event) -> list[MonitorDecision]:
        """Apply a checked event (from `check`, in stream order)."""
        if event.type != FACTS_EVENT:
            return self._observe(
                event.account_id, event.type, event.ts, event.seq, event.fields, event.line, event
            )
        self.seq = event.seq
        self.clock = event.ts
        result: list[MonitorDecision] = []
        if self.signals.next_expiry <= event.ts:
            self._expire(event.ts, result)
        changed = False
        facts = self.facts.setdefault(event.account_id, {})
        for name, value in event.fields.items():
            if value is None:
                changed = facts.pop(name, None) is not None or changed
            elif facts.get(name) != value:
                facts[name] = value
                changed = True
        if changed:
            self._decide(event.account_id, event.ts, event, result)
        return result

    def _observe(
        self,
        account: str,
        kind: str,
        ts: int,
        seq: int,
        fields: Mapping[str, Any],
        line: int | None,
        event: Event | None,
    ) -> list[MonitorDecision]:
        """Apply a checked event of a declared type; `event` is built only when it causes a
        decision (most events do not)."""
        self.seq = seq
        self.clock = ts
        result: list[MonitorDecision] = []
        if self.signals.next_expiry <= ts:
            self._expire(ts, result)
        change = self.signals.observe(account, kind, ts, seq, fields)
        if change == SEEN or (change == HIDDEN and self._undecidable(account)):
            if event is None:
                event = Event(account, kind, ts, seq, fields, line)
            self._decide(account, ts, event, result)
        return result

    def advance(self, ts: int) -> list[MonitorDecision]:
        """Move the clock to `ts` without an event: windows that ended by then are closed."""
        if self.clock is not None and ts < self.clock:
            raise EventError("E205", "the clock cannot go back")
        self.clock = ts
        result: list[MonitorDecision] = []
        self._expire(ts, result)
        return result

    def _expire(self, ts: int, out: list[MonitorDecision]) -> None:
        """Close the windows that ended by `ts`, deciding the accounts whose rules can tell."""
        for at, accounts in self.signals.advance(ts):
            for account, change in accounts.items():
                if change == SEEN or self._undecidable(account):
                    self._decide(account, at, None, out)

    def _undecidable(self, account: str) -> bool:
        """Whether the account's facts cannot be decided (so far as is known without deciding)."""
        return account in self.undecidable or (
            not self.bare_decidable and account not in self.facts
        )

    def account_facts(self, account: str) -> dict[str, Any]:
        """The facts an account is decided on now: snapshot, updates and signals."""
        facts = self.facts.get(account)
        return self.signals.add_values(account, {} if facts is None else facts.copy())

    def action(self, account: str) -> ActionKind:
        """The account's current action."""
        return self.actions.get(account, self.baseline)

    def _decide(
        self, account: str, at: int, cause: Event | None, out: list[MonitorDecision]
    ) -> None:
        facts = self.account_facts(account)
        try:
            action = action_of(self.compiled, facts)
        except FactError as exc:  # e.g. facts of a checkpoint that do not fit the policy
            self.undecidable.add(account)
            raise EventError("E207", f"account `{account}` cannot be decided: {exc}") from None
        if self.undecidable:
            self.undecidable.discard(account)
        previous = self.actions.get(account, self.baseline)
        if action is previous:
            return
        if action is self.baseline:
            del self.actions[account]
        else:
            self.actions[account] = action
        # Only now the decision itself, at its moment (most decisions keep the action)
        moment = dt.datetime.fromtimestamp(at, dt.UTC)
        decision = decide(
            self.compiled, facts, moment, account_id=account, trace=self.trace, what_if=True
        )
        signals = {name: facts[name] for name in sorted(self.signal_names)}
        out.append(MonitorDecision(decision, previous, cause, signals))

    # -- state ----------------------------------------------------------------------------------

    def live_accounts(self) -> int:
        """Accounts with signal state still in memory (events in a window, pending steps)."""
        return self.signals.live_accounts()

    def to_data(self) -> dict[str, Any]:
        """Everything needed to resume, as plain JSON data (see `from_data`)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "policy_sha256": self.compiled.sha256,
            "clock": self.clock,
            "seq": self.seq,
            "facts": self.facts,
            "actions": {account: action.value for account, action in self.actions.items()},
            "signals": self.signals.to_data(),
        }

    @classmethod
    def from_data(
        cls, compiled: CompiledPolicy, data: Mapping[str, Any], *, trace: bool = True
    ) -> Monitor:
        """A monitor restored from `to_data`; the policy must be the very same version."""
        if not isinstance(data, Mapping) or data.get("format") != CHECKPOINT_FORMAT:
            raise ClearlineError("not a Clearline monitor checkpoint")
        if data.get("policy_sha256") != compiled.sha256:
            raise ClearlineError(
                "the checkpoint was written with another policy version "
                f"(sha256 {str(data.get('policy_sha256'))[:12]}, this one {compiled.sha256[:12]})"
            )
        monitor = cls(compiled, trace=trace)
        monitor.clock = data["clock"]
        monitor.seq = int(data["seq"])
        monitor.facts = {account: dict(facts) for account, facts in data["facts"].items()}
        monitor.actions = {account: ActionKind(a) for account, a in data["actions"].items()}
        monitor.signals.load_data(data["signals"])
        for account in monitor.facts:  # as `_decide` would find them (facts are not rechecked)
            try:
                monitor._action_of(monitor.account_facts(account))
            except FactError:
                monitor.undecidable.add(account)
        return monitor
