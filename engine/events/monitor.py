"""The event monitor: feed account events one at a time, get decisions back when actions change.

An account's facts are its snapshot, plus `facts` events that update them, plus the policy's
signals (see `signals.py`). An account starts at its action on its snapshot. When one of its
facts or signals changes, it is decided again with `decide` at the moment of the change (an
event's timestamp, or the moment an event leaves a window), and a `MonitorDecision` is returned
when the action differs from the account's last one. Time comes only from the events, so a
replay gives the same decisions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import math
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from clearline.engine.audit.log import Entry, decision_entry
from clearline.engine.canonical import canonical_json, sha256_hex
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision, action_of, decide
from clearline.engine.errors import ClearlineError, FactError
from clearline.engine.events.signals import HIDDEN, SEEN, SignalEngine, View
from clearline.engine.facts import ValueProblem, check_bounds, coerce, parse_datetime
from clearline.engine.model import ActionKind, EventType, Fact, FactRef, FactType, comparisons

CHECKPOINT_FORMAT = "clearline.monitor/v1"
MONITOR_RECORD = "monitor"  # the audit record kind of a decision's cause
FACTS_EVENT = "facts"
EVENT_KEYS = frozenset({"account_id", "type", "ts", "fields", "facts"})


class EventError(ClearlineError):
    """One event that cannot be used: malformed, unknown, mistyped or out of time order."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to build, one per event
class Event:
    """A checked account event: `ts` in whole seconds since the epoch, `seq` its stream position."""

    account_id: str
    type: str
    ts: int
    seq: int
    fields: Mapping[str, Any]
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data naming the event, for decision records and the audit log."""
        data: dict[str, Any] = {"seq": self.seq, "type": self.type, "ts": _iso(self.ts)}
        if self.line is not None:
            data["line"] = self.line
        return data


@dataclass(frozen=True)
class MonitorDecision:
    """A decision the monitor made because an account's action changed, and what caused it."""

    decision: Decision
    previous_action: ActionKind
    cause: Event | None  # None: an event left a signal's window
    signals: Mapping[str, bool | int | float]

    def context(self) -> dict[str, Any]:
        """Why the monitor decided: the previous action, the cause, the signal values."""
        return {
            "previous_action": self.previous_action.value,
            "cause": (
                {"kind": "event", **self.cause.to_dict()}
                if self.cause is not None
                else {"kind": "window", "at": _iso(int(self.decision.as_of.timestamp()))}
            ),
            "signals": dict(self.signals),
        }

    def to_dict(self) -> dict[str, Any]:
        """The decision record plus the monitor's context under `monitor`."""
        data = self.decision.to_dict()
        data["monitor"] = self.context()
        return data

    def to_json(self) -> str:
        """Canonical JSON of `to_dict()`, built from the decision's fast record.

        Keys are sorted, so `monitor` goes right before the top-level `policy` key; a JSON string
        cannot hold a bare `"policy":` (its quotes would be escaped), so the first one found is
        that key.
        """
        record = self.decision.to_json()
        at = record.index(',"policy":')
        return f'{record[:at]},"monitor":{self._context_json()}{record[at:]}'

    def _context_json(self) -> str:
        """`canonical_json(self.context())` written out: sorted keys, no spaces (tested)."""
        cause = self.cause
        if cause is None:
            at = _iso(int(self.decision.as_of.timestamp()))
            cause_json = f'{{"at":"{at}","kind":"window"}}'
        else:
            line = "" if cause.line is None else f',"line":{cause.line}'
            cause_json = (
                f'{{"kind":"event"{line},"seq":{cause.seq},"ts":"{_iso(cause.ts)}",'
                f'"type":{encode_basestring(cause.type)}}}'
            )
        signals = ",".join(
            f"{encode_basestring(name)}:{_scalar_json(value)}"
            for name, value in sorted(self.signals.items())
        )
        previous = encode_basestring(self.previous_action.value)
        return f'{{"cause":{cause_json},"previous_action":{previous},"signals":{{{signals}}}}}'

    def audit_entries(self, salt: str) -> list[Entry]:
        """Two audit records: the decision (replayable as any other) and, chained right after
        it, a `monitor` record naming the decision and the event or window that caused it."""
        decision = self.decision
        entry = decision_entry(decision, salt)
        body = canonical_json({"decision_id": decision.decision_id, **self.context()})
        cause = entry._replace(
            kind=MONITOR_RECORD,
            record_id=sha256_hex(f"{MONITOR_RECORD}\n{decision.decision_id}")[:32],
            body=body,
            inputs="{}",
            template=None,
            input_sha256=None,
        )
        return [entry, cause]


@contextlib.contextmanager
def stream_gc() -> Iterator[None]:
    """Python's cyclic garbage collector, tuned for a long stream of events while inside.

    The monitor keeps hundreds of thousands of long-lived containers (each account's windows
    and facts) and the stream itself makes next to no reference cycles. With the default
    thresholds the collector walks that whole state again and again: about a tenth of the run
    time at 100,000 accounts. Here the youngest generation is collected every 100,000
    allocations instead of 700 (still catching the few young cycles, e.g. of a refused event's
    exception), and the older ones far less often. The thresholds are restored on exit.
    """
    previous = gc.get_threshold()
    gc.set_threshold(100_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def signal_views(compiled: CompiledPolicy) -> list[View | None]:
    """Per signal, what the conditions deciding an action (the rules', and those of the
    exemptions that may lighten one) can tell of its value: the results of the comparisons
    that read it.

    Two values of a signal with the same view give every such comparison the same result, so
    the account's action cannot differ between them: a change the view does not tell is not
    decided again. None (every value counts) when a comparison reads the signal next to
    another fact, whose value would matter too.
    """
    conditions = [rule.when for rule in compiled.policy.rules]
    conditions += [
        exemption.when
        for options in compiled.exemptions.values()
        for exemption, _ in options
        if exemption.downgrade_to is not None
    ]
    views: list[View | None] = []
    for signal in compiled.policy.signals:
        reads = [c for when in conditions for c in comparisons(when) if signal.name in c.facts()]
        if any(isinstance(c.operand, FactRef) for c in reads):
            views.append(None)
            continue
        views.append(_comparison_view(signal.name, [compiled.condition_fn(c) for c in reads]))
    return views


def _comparison_view(name: str, tests: list[Any]) -> View:
    """The results of `tests` (condition functions over facts) on a value of fact `name`."""

    def view(value: Any) -> Hashable:
        facts = {name: value}
        return tuple([test(facts) for test in tests])

    return view


def _field_spec(item: Fact) -> tuple[Fact, tuple[type, ...], Any, Any]:
    """A field with the Python types accepted as they are (others go through `coerce`)."""
    kinds: tuple[type, ...] = ()
    if item.type is FactType.NUMBER:
        kinds = (int, float)
    elif item.type is FactType.INTEGER:
        kinds = (int,)
    return item, kinds, item.minimum, item.maximum


FieldSpecs = dict[str, tuple[Fact, tuple[type, ...], Any, Any]]


def _usual_value(value: Any, kinds: tuple[type, ...], low: Any, high: Any) -> bool:
    """The common case of a field value, checked inline: a number of the right type within
    bounds. Anything else goes through `coerce`, which also words the problem."""
    return (
        type(value) in kinds
        and (low is None or value >= low)
        and (high is None or value <= high)
        and (type(value) is not float or math.isfinite(value))
    )


def _usual_fields(declared: FieldSpecs, given: dict[str, Any]) -> dict[str, Any] | None:
    """The checked fields when every declared field is given as a usual value (and nothing
    else: as many as declared), in declared order; None otherwise."""
    if len(given) != len(declared):
        return None
    values: dict[str, Any] = {}
    for name, (_, kinds, low, high) in declared.items():
        value = given.get(name)
        # `_usual_value`, written out: this runs for every field of every event
        if (
            type(value) in kinds
            and (low is None or value >= low)
            and (high is None or value <= high)
            and (type(value) is not float or math.isfinite(value))
        ):
            values[name] = value
        else:
            return None
    return values


def _scalar_json(value: bool | int | float) -> str:
    """A signal value as canonical JSON writes it (finite: counts and exact sums)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value)


_SECONDS = {f"{second:02d}": second for second in range(60)}


class StampReader:
    """Event times (`ts` strings) to whole seconds since the epoch, the last minute remembered.

    A stream's times are mostly `YYYY-MM-DDTHH:MM:SSZ` and many in a row share their minute, so
    once a time of that form has been parsed, a later one differing only in its seconds (two
    digits, 00 to 59, then `Z`) is its minute's start plus those seconds: a string compare and
    a lookup instead of building a date-time (about a fifth of checking an event). Any other
    text is parsed in full.
    """

    __slots__ = ("minute", "start")

    def __init__(self) -> None:
        self.minute = "-" * 21  # longer than any time of that form: nothing starts with it
        self.start = 0

    def read(self, stamp: str) -> int:
        """The whole second of a `ts` string, or EventError E204."""
        if len(stamp) == 20 and stamp[19] == "Z" and stamp.startswith(self.minute):
            second = _SECONDS.get(stamp[17:19])
            if second is not None:
                return self.start + second
        try:
            moment = dt.datetime.fromisoformat(stamp)  # 3.11 reads `Z` and offsets
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            try:  # the shared parser words the problem for a user
                moment = parse_datetime(stamp)
            except ValueProblem as exc:
                raise EventError("E204", f"`ts`: {exc}") from None
        ts = math.floor(moment.timestamp())
        # remembered when the last two digits are the seconds: `DATE?HH:MM:SSZ` (a date of
        # ten characters, a separator, a whole second, UTC)
        if (
            len(stamp) == 20
            and stamp[19] == "Z"
            and stamp[13] == ":"
            and stamp[16] == ":"
            and _SECONDS.get(stamp[17:19]) == moment.second
            and moment.microsecond == 0
        ):
            self.minute = stamp[:17]
            self.start = ts - moment.second
        return ts


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


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
            event.name: {item.name: _field_spec(item) for item in event.fields}
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
                f"event at {_iso(ts)} is out of time order: the stream is already at "
                f"{_iso(self.clock)}",
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
        usual = _usual_fields(declared, given)
        if usual is not None:
            return usual
        values: dict[str, Any] = {}
        for name, (item, kinds, low, high) in declared.items():
            value = given.get(name)
            if _usual_value(value, kinds, low, high):
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
        `_usual_fields`). Anything else goes through `check`, which finds and words the problem.
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
                    fields = _usual_fields(declared, given)
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
        decision = decide(self.compiled, facts, moment, account_id=account, trace=self.trace)
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
