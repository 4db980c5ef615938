"""Account events, the decisions they cause, and the fast readers of their values.

An event is one JSON object of a stream (`account_id`, `type`, `ts`, and `fields` or `facts`);
`Monitor` (monitor.py) checks it into an `Event` and returns a `MonitorDecision` whenever an
account's action changes.
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
from clearline.engine.canonical import canonical_json, jcs_number, sha256_hex
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision
from clearline.engine.errors import ClearlineError
from clearline.engine.events.signals import View
from clearline.engine.facts import ValueProblem, parse_datetime
from clearline.engine.model import ActionKind, Fact, FactRef, FactType, comparisons

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
        data: dict[str, Any] = {"seq": self.seq, "type": self.type, "ts": iso_text(self.ts)}
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
                else {"kind": "window", "at": iso_text(int(self.decision.as_of.timestamp()))}
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
            at = iso_text(int(self.decision.as_of.timestamp()))
            cause_json = f'{{"at":"{at}","kind":"window"}}'
        else:
            line = "" if cause.line is None else f',"line":{cause.line}'
            cause_json = (
                f'{{"kind":"event"{line},"seq":{cause.seq},"ts":"{iso_text(cause.ts)}",'
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


def field_spec(item: Fact) -> tuple[Fact, tuple[type, ...], Any, Any]:
    """A field with the Python types accepted as they are (others go through `coerce`)."""
    kinds: tuple[type, ...] = ()
    if item.type is FactType.NUMBER:
        kinds = (int, float)
    elif item.type is FactType.INTEGER:
        kinds = (int,)
    return item, kinds, item.minimum, item.maximum


FieldSpecs = dict[str, tuple[Fact, tuple[type, ...], Any, Any]]


def usual_value(value: Any, kinds: tuple[type, ...], low: Any, high: Any) -> bool:
    """The common case of a field value, checked inline: a number of the right type within
    bounds. Anything else goes through `coerce`, which also words the problem."""
    return (
        type(value) in kinds
        and (low is None or value >= low)
        and (high is None or value <= high)
        and (type(value) is not float or math.isfinite(value))
    )


def usual_fields(declared: FieldSpecs, given: dict[str, Any]) -> dict[str, Any] | None:
    """The checked fields when every declared field is given as a usual value (and nothing
    else: as many as declared), in declared order; None otherwise."""
    if len(given) != len(declared):
        return None
    values: dict[str, Any] = {}
    for name, (_, kinds, low, high) in declared.items():
        value = given.get(name)
        # `usual_value`, written out: this runs for every field of every event
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
    """A signal value as canonical JSON (RFC 8785) writes it: counts, and sums whose whole
    values are written without a fraction (1.0 is `1`)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value) if type(value) is int else jcs_number(value)


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


def iso_text(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")
