"""Behaviour signals: event patterns compiled to a durable_rules ruleset, windows in plain code.

Who does what, and why:

- durable_rules (a Rete engine) matches patterns: every single-event pattern (the events a
  `match`, `count` or `sum` signal looks at) and every ordered `sequence` with its time
  constraint. A sequence compiles to one rule whose later steps join on the earlier ones:
  `q > e0.q` (stream order) and `ts <= e0.ts + within` (the events' own timestamps, never the
  wall clock), so a replay gives the same matches.
- Plain code keeps the sliding windows: durable_rules has no aggregate over a time window and
  no expiry of facts by event time (its timers run on the wall clock), so counts, sums and the
  life of a completed sequence are lists of (ts, value) per account, expired in event time
  through one FIFO queue per duration (see `SignalEngine.__init__`).
- Memory: durable_rules 2.0.28 keeps about 120 KB of tables per session and raises MemoryError
  at about a thousand live sessions per ruleset, so one session per account cannot hold
  100,000 accounts. The per-account state that can still match (the earlier steps of a
  sequence, until `within` has passed) therefore lives here as compact JSON text, and each
  event is matched in a scratch session: the event alone against the single-event rules
  (which include, as `c<k>`, the last step of each sequence without its joins), and only when
  such a rule fired and its account has pending steps, those steps plus the event (marked
  `n`, which the last step requires) against the sequence rules. The fired rules are read and
  the facts retracted: the sessions are empty between events, whatever the number of
  accounts. State of an account is deleted as soon as nothing of it can match or count.

Events reach durable_rules under generated keys (`t` type index, `f0, f1, ...` fields, `q`
stream position), so no name from a policy becomes a durable_rules key or meets its reserved
`sid`, `id` and `$` keys; literals travel as JSON values.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import math
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine as _dre  # type: ignore[import-not-found]  # C core of durable_rules

from clearline.engine.canonical import canonical_json, sha256_hex
from clearline.engine.events.rulesets import (
    RulesetCompiler,
    default_value,
)
from clearline.engine.model import (
    Policy,
    SignalKind,
)

SCRATCH_SID = "scratch"

_RULESETS: dict[str, int] = {}
_NAMES = itertools.count()


def _ruleset_handle(definition: dict[str, Any]) -> int:
    """One durable_rules ruleset per distinct definition in this process.

    Rulesets are global and named in durable_rules; the scratch session is empty between two
    events, so monitors of the same policy share one ruleset safely (in one thread).
    """
    text = canonical_json(definition)
    handle = _RULESETS.get(text)
    if handle is None:
        name = f"clearline-signals-{sha256_hex(text)[:16]}-{next(_NAMES)}"
        handle = _dre.create_ruleset(name, text)
        _RULESETS[text] = handle
    return handle


# -- running it --------------------------------------------------------------------------------


@dataclass(slots=True)
class AccountSignals:
    """What one account still needs for its signals: window contents and pending steps."""

    # short lists (a deque's first block alone takes 600 bytes; there is one per account
    # and signal with anything in its window, and most hold one to three events)
    windows: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # durable facts as JSON, in time order
    pending_until: list[int] = field(default_factory=list)  # last second each can still match

    def empty(self) -> bool:
        return not self.windows and not self.pending


Expiry = tuple[int, int, str, int]  # (time, order, account, signal index or -1: pending steps)

# What the rules can tell of a signal's value: values with equal views decide alike (the monitor
# builds them from the policy's comparisons, see `monitor.signal_views`). None: every value.
View = Callable[[Any], Hashable]

MAX_STEPS = 1000  # counts whose step is remembered (`SignalEngine.steps`)

# How a signal value changed with an event or an expiry: not at all, in a way no view tells
# (a count from 3 to 4 where the rules only ask `>= 2`), or so that a view tells (`SEEN`).
UNCHANGED, HIDDEN, SEEN = 0, 1, 2

# What a single-event rule found (the first letter of its generated name says it too).
_WINDOW, _PENDING, _CLOSING = 0, 1, 2


class SignalEngine:
    """Signal values per account from a stream of events in time order."""

    def __init__(self, policy: Policy, views: Sequence[View | None] | None = None) -> None:
        self.policy = policy
        self.signals = policy.signals
        self.views: Sequence[View | None] = views or [None] * len(policy.signals)
        self.type_index = {event.name: i for i, event in enumerate(policy.events)}
        compiler = RulesetCompiler(policy)
        self.keys = {event.name: compiler.keys(event) for event in policy.events}
        self.single, self.sequences = compiler.rulesets()
        self.handle = _ruleset_handle(self.single) if self.single else None
        self.sequence_handle = _ruleset_handle(self.sequences) if self.sequences else None
        # Which event types any rule looks at: the others never reach durable_rules.
        self.watched = frozenset(p.event for s in self.signals for p in s.patterns)
        # How a watched event becomes a fact: its type index and (field, generated key) pairs.
        self.layouts = {
            name: (self.type_index[name], tuple(self.keys[name].items()))
            for name in self.watched
            if self.handle is not None
        }
        self.accounts: dict[str, AccountSignals] = {}
        # Every expiry is an event's time plus a fixed duration (a window, or `within` + 1 for
        # pending steps) and events come in time order, so the expiries of one duration arrive
        # sorted: a FIFO queue per duration instead of one heap (an append and a popleft, no
        # sifting through hundreds of thousands of entries). Merging the few queues by (time,
        # order) takes them out in exactly the order one heap would.
        self.restored: deque[Expiry] = deque()  # pending-step expiries from a checkpoint
        self.queues: dict[int, deque[Expiry]] = {}
        # What each rule name means: (what, signal index, its expiry's duration and queue, the
        # summed field of a `sum` signal).
        self.meaning: dict[str, tuple[int, int, int, deque[Expiry], str | None]] = {}
        for k, signal in enumerate(self.signals):
            window = self.queues.setdefault(signal.window, deque())
            summed = signal.summed if signal.kind is SignalKind.SUM else None
            self.meaning[f"m{k}"] = (_WINDOW, k, signal.window, window, summed)
            self.meaning[f"s{k}"] = self.meaning[f"m{k}"]
            self.meaning[f"c{k}"] = (_CLOSING, k, 0, window, None)
            if signal.kind is SignalKind.SEQUENCE:
                # a pending step can match until `within` has passed: it is dropped after that
                wait = (signal.within or 0) + 1
                queue = self.queues.setdefault(wait, deque())
                for i in range(len(signal.patterns) - 1):
                    self.meaning[f"s{k}_{i}"] = (_PENDING, k, wait, queue, None)
        self.counts = frozenset(
            k for k, signal in enumerate(self.signals) if signal.kind is SignalKind.COUNT
        )
        self.sums = frozenset(
            k for k, signal in enumerate(self.signals) if signal.kind is SignalKind.SUM
        )
        self.closing = frozenset(name for name, m in self.meaning.items() if m[0] == _CLOSING)
        self._sources: list[deque[Expiry]] = [self.restored, *self.queues.values()]
        self.next_expiry: float = math.inf  # the earliest time in any queue
        self._order = itertools.count()
        self.defaults = {s.name: default_value(s) for s in self.signals}
        self.names = [s.name for s in self.signals]
        # How a value change shows (`_change`), looked up on the way: per count, from n to
        # n + 1 (`_step`); per match or sequence, from none to some (and back).
        self.steps: list[dict[int, int]] = [{} for _ in self.signals]
        self.flips = [
            self._change(k, False, True) if k not in self.counts and k not in self.sums else SEEN
            for k in range(len(self.signals))
        ]

    # -- values ---------------------------------------------------------------------------------

    def values(self, account: str) -> dict[str, bool | int | float]:
        """Every signal's current value for an account."""
        return self.add_values(account, {})

    def add_values(self, account: str, facts: dict[str, Any]) -> dict[str, Any]:
        """`facts` with every signal's current value for an account set in it."""
        facts.update(self.defaults)
        state = self.accounts.get(account)
        if state is not None:
            names = self.names
            for k, window in state.windows.items():
                # a count, a sum or a flag (this runs for every decision)
                if k in self.counts:
                    facts[names[k]] = len(window)
                elif k in self.sums:
                    facts[names[k]] = math.fsum(value for _, value in window)
                else:
                    facts[names[k]] = bool(window)
        return facts

    def _change(self, k: int, before: Any, after: Any) -> int:
        """`SEEN` when the view of signal k tells `before` and `after` apart, else `HIDDEN`."""
        view = self.views[k]
        return SEEN if view is None or view(before) != view(after) else HIDDEN

    def _step(self, k: int, n: int) -> int:
        """`_change` of count k between n and n + 1, remembered in `steps` (up to a bound)."""
        change = self._change(k, n, n + 1)
        if n < MAX_STEPS:
            self.steps[k][n] = change
        return change

    # -- time -----------------------------------------------------------------------------------

    def pending_expiries(self) -> int:
        """Expiries still waiting (windows to close, pending steps to drop)."""
        return sum(len(queue) for queue in self._sources)

    def advance(self, now: int) -> Iterator[tuple[int, dict[str, int]]]:
        """Expire what stops counting at or before `now`, one moment at a time, in time order.

        Yields (moment, {account: `HIDDEN` or `SEEN`} for the accounts whose values changed
        then, in the order of their first change); it is lazy on purpose: the caller decides
        those accounts before later moments are expired, so each decision sees the values of
        its own moment.
        """
        while self.next_expiry <= now:
            at = int(self.next_expiry)
            changed: dict[str, int] = {}
            for _, _, account, k in self._due(at):
                state = self.accounts.get(account)
                if state is None:
                    continue
                if k < 0:
                    self._expire_pending(state, at)
                    if state.empty():
                        del self.accounts[account]
                    continue
                window = state.windows.get(k)  # never empty: deleted when it is
                limit = at - self.signals[k].window
                if window is None or window[0][0] > limit:
                    continue  # already expired with an earlier event of the same second
                gone = 1
                while gone < len(window) and window[gone][0] <= limit:
                    gone += 1
                change = UNCHANGED
                if k in self.sums:
                    before = math.fsum(value for _, value in window)
                    del window[:gone]
                    after = math.fsum(value for _, value in window)
                    if after != before:
                        change = self._change(k, before, after)
                elif k in self.counts:  # a count drops
                    if gone == 1:
                        n = len(window) - 1
                        change = self.steps[k].get(n) or self._step(k, n)
                    else:
                        change = self._change(k, len(window), len(window) - gone)
                    del window[:gone]
                else:  # a match (or sequence) ends when its window empties
                    del window[:gone]
                    if not window:
                        change = self.flips[k]
                if change > changed.get(account, UNCHANGED):
                    changed[account] = change
                if not window:
                    del state.windows[k]
                if state.empty():
                    del self.accounts[account]
            if changed:
                yield at, changed

    def _due(self, at: int) -> list[Expiry]:
        """Take out every expiry at `at` (the earliest time waiting), in the order one heap of
        them all would give (by time, then order), and set `next_expiry` to the next time.

        Nothing is queued while they are handled, so they are gathered at once: one look at
        each queue per moment instead of one per expiry."""
        due: list[Expiry] = []
        sources = 0
        following: float = math.inf
        for queue in self._sources:
            if queue and queue[0][0] == at:
                sources += 1
                while queue and queue[0][0] == at:
                    due.append(queue.popleft())
            if queue and queue[0][0] < following:
                following = queue[0][0]
        if sources > 1:
            due.sort()
        self.next_expiry = following
        return due

    def _expire_pending(self, state: AccountSignals, at: int) -> None:
        if len(state.pending_until) == 1 and state.pending_until[0] < at:  # the usual case
            state.pending, state.pending_until = [], []
            return
        keep = [i for i, until in enumerate(state.pending_until) if until >= at]
        state.pending = [state.pending[i] for i in keep]
        state.pending_until = [state.pending_until[i] for i in keep]

    # -- events ---------------------------------------------------------------------------------

    def observe(
        self, account: str, event_type: str, ts: int, seq: int, fields: Mapping[str, Any]
    ) -> int:
        """Match one event (already checked against its type): how its signal values changed
        (`UNCHANGED`, `HIDDEN` or `SEEN`)."""
        layout = self.layouts.get(event_type)
        if layout is None:  # no rule looks at this type
            return UNCHANGED
        # The fact's JSON is written directly (it is asserted and retracted once per event and
        # kept as text while pending): keys are generated, values are checked field values.
        index, columns = layout
        head = f'{{"sid":"{SCRATCH_SID}","id":{seq}'  # all a retraction reads (see `_retraction`)
        values = ""
        for name, key in columns:
            value = fields[name]
            kind = type(value)  # a number as `_json_scalar` writes it, without the call
            text = repr(value) if kind is float or kind is int else _json_scalar(value)
            values += f',"{key}":{text}'
        # One fact alone in the scratch session (inline: this runs once per event). The
        # single-event rules read its type and fields alone; its position `q` and time `ts`,
        # which the sequence rules join on, are written only into the fact a sequence reads.
        handle = self.handle
        assert handle is not None  # no layouts without single-event rules
        result = _dre.assert_fact(handle, f'{head},"t":{index}{values}}}')
        try:
            if result[0] != 0:  # 1: nothing matched
                return UNCHANGED
            # `_fired`, written out
            fired: set[str] = set()
            action = _dre.start_action_for_state(handle, result[1])
            queued = action[1] if action else None
            while queued:
                fired.add(queued[2 : queued.index('"', 2)])
                queued = _dre.complete_and_start_action(handle, result[1])
        finally:
            _dre.retract_fact(handle, head + "}")
        if not fired:
            return UNCHANGED
        fact = f'{head},"q":{seq},"t":{index},"ts":{ts}{values}}}'
        state = self.accounts.get(account)
        if state is not None and state.pending and not self.closing.isdisjoint(fired):
            fired |= self._match(state.pending, fact, head)
        if state is None:
            state = self.accounts[account] = AccountSignals()
        meaning = self.meaning
        windows = state.windows
        order = self._order
        changed = UNCHANGED
        drop: tuple[int, deque[Expiry]] | None = None  # when a pending step goes, and its queue
        for name in fired:
            what, k, duration, queue, summed = meaning[name]
            at = ts + duration
            if what == _WINDOW:
                window = windows.get(k)
                if window is None:
                    window = windows[k] = []
                if summed is not None:
                    before = math.fsum(value for _, value in window)
                    window.append((ts, fields[summed]))
                    after = math.fsum(value for _, value in window)
                    if after != before:
                        change = self._change(k, before, after)
                        changed = change if change > changed else changed
                elif k in self.counts:  # a count grows
                    change = self.steps[k].get(len(window)) or self._step(k, len(window))
                    changed = change if change > changed else changed
                    window.append((ts, 1.0))
                else:  # a match (or sequence) changes only from none
                    if not window:
                        change = self.flips[k]
                        changed = change if change > changed else changed
                    window.append((ts, 1.0))
            elif what == _PENDING:
                if drop is None or at > drop[0]:
                    drop = (at, queue)
                continue
            else:  # _CLOSING: nothing to keep
                continue
            queue.append((at, next(order), account, k))
            if at < self.next_expiry:
                self.next_expiry = at
        if drop is not None:
            at, queue = drop
            state.pending.append(fact)
            state.pending_until.append(at - 1)  # the last second the step can still match
            queue.append((at, next(order), account, -1))
            if at < self.next_expiry:
                self.next_expiry = at
        if state.empty():
            del self.accounts[account]
        return changed

    def _match(self, pending: list[str], fact: str, head: str) -> set[str]:
        """Sequence rules that complete with the new event (`fact`, marked `n`) as last step
        after the account's pending steps."""
        handle = self.sequence_handle
        assert handle is not None  # only events that can close a sequence come here
        result = _dre.assert_facts(handle, f'[{",".join(pending)},{fact[:-1]},"n":1}}]')
        try:
            # the code of several facts tells of the last one only: read the actions anyway
            return _fired(handle, result[1])
        finally:
            gone = ",".join([_retraction(text) for text in pending])
            _dre.retract_facts(handle, f"[{gone},{head}}}]")

    # -- inspection and checkpoints -------------------------------------------------------------

    def live_accounts(self) -> int:
        """Accounts with anything still in a window or pending (memory is bounded by this)."""
        return len(self.accounts)

    def durable_facts(self) -> int:
        """Facts left in the durable_rules scratch sessions (0 between events)."""
        count = 0
        for handle in (self.handle, self.sequence_handle):
            if handle is None:
                continue
            with contextlib.suppress(Exception):  # no session yet: durable_rules raises
                count += len(json.loads(_dre.get_facts(handle, SCRATCH_SID)))
        return count

    def to_data(self) -> dict[str, Any]:
        """Plain JSON data of the state, for a checkpoint."""
        return {
            "accounts": {
                account: {
                    "windows": {str(k): [list(item) for item in w] for k, w in s.windows.items()},
                    "pending": s.pending,
                    "pending_until": s.pending_until,
                }
                for account, s in self.accounts.items()
            },
            "expiries": [list(item) for item in heapq.merge(*self._sources)],
        }

    def load_data(self, data: Mapping[str, Any]) -> None:
        """Restore the state written by `to_data`."""
        self.accounts = {
            account: AccountSignals(
                windows={
                    int(k): [(int(ts), value) for ts, value in items]
                    for k, items in raw["windows"].items()
                },
                pending=list(raw["pending"]),
                pending_until=[int(until) for until in raw["pending_until"]],
            )
            for account, raw in data["accounts"].items()
        }
        entries = sorted((int(a), int(b), str(c), int(d)) for a, b, c, d in data["expiries"])
        for source in self._sources:
            source.clear()
        for entry in entries:
            k = entry[3]
            # a window's expiry goes back to its queue (all of it is older than what comes);
            # pending steps may wait for different lengths: they keep a sorted queue of their own
            queue = self.restored if k < 0 else self.queues[self.signals[k].window]
            queue.append(entry)
        self.next_expiry = entries[0][0] if entries else math.inf
        start = max((entry[1] for entry in entries), default=-1) + 1
        self._order = itertools.count(start)


def _fired(handle: int, state: int) -> set[str]:
    """The rules whose actions an assertion queued, each action completed before the next.

    Only the rule name is read: the first key of each result `{"<rule>": {...}}` (our own
    generated names, so no quote inside). Both rulesets tell all they need by it: a single
    event is alone in its session, and a sequence can only end on the new event.
    """
    fired: set[str] = set()
    action = _dre.start_action_for_state(handle, state)
    text = action[1] if action else None
    while text:
        fired.add(text[2 : text.index('"', 2)])
        text = _dre.complete_and_start_action(handle, state)
    return fired


def _retraction(fact: str) -> str:
    """A pending fact's JSON cut to its `sid` and `id`: durable_rules retracts a fact by those
    two alone (it finds the stored fact by its id and undoes its matches), so a retraction
    need not carry, and have parsed again, the fields."""
    return fact[: fact.index(",", fact.index('"id":'))] + "}"


def _json_scalar(value: Any) -> str:
    """JSON for a checked field value (finite number, bool or string)."""
    kind = type(value)
    if kind is float or kind is int:
        return repr(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def signal_names(policy: Policy) -> Iterator[str]:
    """The fact names the monitor computes."""
    for signal in policy.signals:
        yield signal.name
