"""The event monitor: signals through durable_rules against a reference over the full history."""

from __future__ import annotations

import datetime as dt
import functools
import gc
import json
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine import compile_policy, decide, load_policy, load_policy_text
from clearline.engine.canonical import canonical_json
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.events.event import Event, EventError, stream_gc
from clearline.engine.events.monitor import Monitor
from clearline.engine.events.rulesets import default_value, ruleset_definitions
from clearline.engine.model import EventPattern, Policy, Signal, SignalKind

POLICY = """
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: monitor-test
  version: 1.0.0
  title: {en: Monitor test}
  effective_from: 2027-01-01
  languages: [en]
facts:
  score: {type: integer, minimum: 0, maximum: 100, label: {en: score}}
events:
  a:
    label: {en: event a}
    fields:
      x: {type: integer, minimum: 0, maximum: 10, label: {en: x}}
      z: {type: integer, minimum: 0, maximum: 10, label: {en: z}}
      k: {type: enum, values: [p, q], label: {en: k}}
  b:
    label: {en: event b}
    fields:
      y: {type: number, minimum: 0, label: {en: y}}
signals:
  seen_p:
    label: {en: a p event in the last 3 hours}
    match: {event: a, when: {field: k, eq: p}}
    window: 3h
  busy:
    label: {en: a events in the last 2 hours}
    count: {event: a, when: {any: [{field: x, ge: 5}, {not: {field: k, in: [q]}}]}}
    window: 2h
  spent:
    label: {en: b amounts in the last 90 minutes}
    sum: {event: b, field: y, when: {not: {field: y, not_in: [1, 10.5, 50]}}}
    window: 90m
  pattern:
    label: {en: "a small a, a large b, then an a with x below z"}
    sequence:
      - {event: a, when: {field: x, le: 3}}
      - {event: b, when: {field: y, gt: 10}}
      - {event: a, when: {all: [{field: x, lt: {field: z}}, {not: {field: x, between: [4, 6]}}]}}
    within: 2h
    window: 1h
  twice_b:
    label: {en: two b events within 30 minutes}
    sequence:
      - {event: b}
      - {event: b}
    within: 30m
    window: 30m
rules:
  - {id: busy-close, action: close, when: {fact: busy, ge: 3}, reason: {code: C1}, grace: now}
  - id: pattern-suspend
    action: suspend
    when: {all: [{fact: pattern, eq: true}, {fact: score, lt: 50}]}
    reason: {code: S1}
    grace: now
  - {id: spent-review, action: review, when: {fact: spent, ge: 51}, reason: {code: R1}}
  - id: twice-notify
    action: notify
    when: {any: [{fact: twice_b, eq: true}, {fact: seen_p, eq: true}]}
    reason: {code: N1}
grace:
  now:
    immediate: true
    category: fraud
    cure: {none: {en: "Confirmed fraud cannot be fixed by the customer."}}
    appeal: {days: 30}
"""

START = int(dt.datetime(2027, 2, 1, tzinfo=dt.UTC).timestamp())


@pytest.fixture(scope="module")
def compiled() -> CompiledPolicy:
    return compile_policy(load_policy_text(POLICY, "monitor-test.yaml"))


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


# -- the reference: every signal recomputed from the whole history ----------------------------


@functools.cache
def _pattern_test(policy: Policy) -> Callable[[EventPattern, Event], bool]:
    """Evaluate an event pattern with the engine's own compiled conditions (not durable_rules)."""
    compiled_fields = {
        event.name: compile_policy(
            replace(policy, facts=event.fields, rules=(), grace=(), tests=(), signals=())
        )
        for event in policy.events
    }

    def test(pattern: EventPattern, event: Event) -> bool:
        if event.type != pattern.event:
            return False
        if pattern.when is None:
            return True
        return compiled_fields[event.type].condition_fn(pattern.when)(event.fields) is True

    return test


def reference_signals(
    policy: Policy, history: list[Event], account: str, now: int
) -> dict[str, Any]:
    """Signal values of one account at `now`, straight from the definitions."""
    matches = _pattern_test(policy)
    mine = [e for e in history if e.account_id == account and e.ts <= now]
    result: dict[str, Any] = {}
    for signal in policy.signals:
        in_window = [e for e in mine if e.ts + signal.window > now]
        if signal.kind is SignalKind.SEQUENCE:
            result[signal.name] = any(_chain(signal, mine, last, matches) for last in in_window)
            continue
        hits = [e for e in in_window if matches(signal.patterns[0], e)]
        if signal.kind is SignalKind.MATCH:
            result[signal.name] = bool(hits)
        elif signal.kind is SignalKind.COUNT:
            result[signal.name] = len(hits)
        else:
            assert signal.summed is not None
            result[signal.name] = math.fsum(e.fields[signal.summed] for e in hits)
    return result


def _chain(signal: Signal, events: list[Event], last: Event, matches: Callable[..., bool]) -> bool:
    """Is there e1 < ... < ek = last, matching the steps, with last.ts - e1.ts <= within?"""
    steps = signal.patterns
    assert signal.within is not None
    if not matches(steps[-1], last):
        return False

    def back(step: int, after: Event) -> bool:  # can steps[0..step] end before `after`?
        for event in events:
            if event.seq >= after.seq or last.ts - event.ts > signal.within:
                continue
            if matches(steps[step], event) and (step == 0 or back(step - 1, event)):
                return True
        return False

    return back(len(steps) - 2, last)


# -- streams -----------------------------------------------------------------------------------

GAPS = st.sampled_from([0, 0, 1, 60, 600, 1800, 3600, 5400, 7200, 10800])
A_EVENT = st.fixed_dictionaries(
    {
        "type": st.just("a"),
        "fields": st.fixed_dictionaries(
            {
                "x": st.integers(0, 10),
                "z": st.integers(0, 10),
                "k": st.sampled_from(["p", "q"]),
            }
        ),
    }
)
B_EVENT = st.fixed_dictionaries(
    {
        "type": st.just("b"),
        "fields": st.fixed_dictionaries(
            {"y": st.sampled_from([0, 1, 10, 10.5, 11, 50, 50.5, 1000])}
        ),
    }
)
FACTS_EVENT = st.fixed_dictionaries(
    {
        "type": st.just("facts"),
        "facts": st.fixed_dictionaries({"score": st.one_of(st.none(), st.integers(0, 100))}),
    }
)
STREAMS = st.lists(
    st.tuples(GAPS, st.sampled_from(["A1", "A2", "A3"]), st.one_of(A_EVENT, B_EVENT, FACTS_EVENT)),
    min_size=1,
    max_size=30,
)


def _raw_stream(items: list[tuple[int, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    ts = START
    stream = []
    for gap, account, body in items:
        ts += gap
        stream.append({"account_id": account, "ts": _iso(ts), **body})
    return stream


@settings(max_examples=60, deadline=None)
@given(items=STREAMS)
def test_signals_and_decisions_match_the_reference(
    compiled: CompiledPolicy, items: list[tuple[int, str, dict[str, Any]]]
) -> None:
    policy = compiled.policy
    monitor = Monitor(compiled)
    history: list[Event] = []
    facts: dict[str, dict[str, Any]] = {}
    actions: dict[str, str] = {}
    for raw in _raw_stream(items):
        event = monitor.check(raw)
        history.append(event)
        for made in monitor.apply(event):
            account = made.decision.account_id
            assert account is not None
            assert made.previous_action.value == actions.get(account, "none")
            assert made.decision.action.value != made.previous_action.value
            assert made.to_json() == canonical_json(made.to_dict())  # fast line, same bytes
            actions[account] = made.decision.action.value
        if event.type == "facts":
            facts.setdefault(event.account_id, {}).update(event.fields)
        for account in ("A1", "A2", "A3"):
            expected = reference_signals(policy, history, account, event.ts)
            assert monitor.signals.values(account) == expected, (account, event.ts)
            reference_facts = {**facts.get(account, {}), **expected}
            moment = dt.datetime.fromtimestamp(event.ts, dt.UTC)
            assert monitor.action(account) is decide(compiled, reference_facts, moment).action
            assert monitor.action(account).value == actions.get(account, "none")
    assert monitor.signals.durable_facts() == 0


def test_ruleset_is_json_data_with_generated_keys(compiled: CompiledPolicy) -> None:
    single, definition = ruleset_definitions(compiled.policy)
    assert sorted(single) == ["c3", "c4", "m0", "m1", "m2", "s3_0", "s3_1", "s4_0"]
    assert sorted(definition) == ["s3", "s4"]
    text = repr((single, definition))
    for name in ("seen_p", "busy", "x", "y", "'k'", "pattern"):
        assert name not in text
    sequence = definition["s3"]["all"]
    assert [next(iter(step)) for step in sequence] == ["e0", "e1", "e2"]
    # every alternative of the last step joins on the order and the events' own timestamps
    branches = sequence[2]["e2"]["$or"]
    assert len(branches) == 2  # x < z and (x < 4 or x > 6)
    for branch in branches:
        assert {"$gt": {"q": {"e1": "q"}}} in branch["$and"]
        assert {"$lte": {"ts": {"$add": {"$l": {"e0": "ts"}, "$r": 7200}}}} in branch["$and"]


def test_out_of_order_and_malformed_events_are_refused_without_changing_state(
    compiled: CompiledPolicy,
) -> None:
    monitor = Monitor(compiled)
    monitor.feed(
        {"account_id": "A1", "type": "a", "ts": _iso(START), "fields": {"x": 1, "z": 2, "k": "p"}}
    )
    before = monitor.to_data()
    bad = [
        (
            {
                "account_id": "A1",
                "type": "a",
                "ts": _iso(START - 1),
                "fields": {"x": 1, "z": 2, "k": "p"},
            },
            "E205",
        ),
        ({"account_id": "A1", "type": "c", "ts": _iso(START)}, "E202"),
        (
            {
                "account_id": "A1",
                "type": "a",
                "ts": _iso(START),
                "fields": {"x": 11, "z": 2, "k": "p"},
            },
            "E203",
        ),
        (
            {"account_id": "A1", "type": "a", "ts": _iso(START), "fields": {"x": 1, "k": "p"}},
            "E203",
        ),
        ({"account_id": "A1", "type": "a", "ts": "2027-02-01T00:00:00", "fields": {}}, "E204"),
        ({"account_id": "A1", "type": "facts", "ts": _iso(START), "facts": {"busy": 3}}, "E206"),
        ({"account_id": "A1", "type": "facts", "ts": _iso(START), "facts": {"scor": 3}}, "E206"),
        ({"account": "A1", "type": "a", "ts": _iso(START)}, "E201"),
        (["not", "an", "object"], "E201"),
    ]
    for raw, code in bad:
        with pytest.raises(EventError) as caught:
            monitor.feed(raw)
        assert caught.value.code == code, raw
    assert monitor.to_data() == before


def test_a_policy_with_a_required_fact_is_monitored() -> None:
    """An account nothing is known of cannot be decided under such a policy: the monitor still
    starts, decides the accounts whose facts it has, and refuses to guess for the others."""
    text = POLICY.replace(
        "score: {type: integer, minimum: 0, maximum: 100, label: {en: score}}",
        "score: {type: integer, minimum: 0, maximum: 100, on_missing: error, label: {en: score}}",
    )
    assert "on_missing: error" in text
    monitor = Monitor(
        compile_policy(load_policy_text(text, "required.yaml")), {"A1": {"score": 40}}
    )
    a = {"type": "a", "fields": {"x": 7, "z": 0, "k": "q"}}
    made = []
    for minute in (0, 10, 20):
        made += monitor.feed({"account_id": "A1", "ts": _iso(START + minute * 60), **a})
    assert [m.decision.action.value for m in made] == ["close"]
    # A2 has no facts: its first signal change is decided (and refused), though no rule can
    # tell a count of 1 from 0; the same again after a resume from a checkpoint.
    for resumed in (monitor, Monitor.from_data(monitor.compiled, monitor.to_data())):
        with pytest.raises(EventError, match="account `A2` cannot be decided") as refused:
            resumed.feed({"account_id": "A2", "ts": _iso(START + 30 * 60), **a})
        assert refused.value.code == "E207"


def test_a_window_that_ends_changes_the_decision_at_its_own_moment(
    compiled: CompiledPolicy,
) -> None:
    monitor = Monitor(compiled)
    a = {"type": "a", "fields": {"x": 7, "z": 0, "k": "q"}}
    made = []
    for minute in (0, 10, 20):
        made += monitor.feed({"account_id": "A1", "ts": _iso(START + minute * 60), **a})
    assert [m.decision.action.value for m in made] == ["close"]
    later = monitor.feed({"account_id": "A2", "ts": _iso(START + 5 * 3600), **a})
    first_gone = START + 2 * 3600  # the first event leaves the 2 hour window then
    assert [(m.decision.account_id, m.decision.action.value) for m in later] == [("A1", "none")]
    assert later[0].cause is None
    assert later[0].decision.as_of == dt.datetime.fromtimestamp(first_gone, dt.UTC)
    assert later[0].to_dict()["monitor"]["cause"] == {"kind": "window", "at": _iso(first_gone)}


def test_checkpoint_data_resumes_to_the_same_decisions(compiled: CompiledPolicy) -> None:
    stream = _raw_stream(
        [
            (gap, f"A{i % 4}", body)
            for i, (gap, body) in enumerate(
                [
                    (600, {"type": "a", "fields": {"x": 2, "z": 5, "k": "p"}}),
                    (600, {"type": "b", "fields": {"y": 11}}),
                    (600, {"type": "b", "fields": {"y": 50}}),
                ]
                * 20
            )
        ]
    )
    whole = Monitor(compiled)
    expected = [m.to_dict() for raw in stream for m in whole.feed(raw)]
    first = Monitor(compiled)
    got = [m.to_dict() for raw in stream[:23] for m in first.feed(raw)]
    resumed = Monitor.from_data(compiled, first.to_data())
    got += [m.to_dict() for raw in stream[23:] for m in resumed.feed(raw)]
    assert got == expected and expected


def test_state_of_100000_accounts_is_deleted_once_nothing_can_match(
    compiled: CompiledPolicy,
) -> None:
    monitor = Monitor(compiled, trace=False)  # the records are not looked at here
    n = 100_000
    for i in range(n):
        kind = i % 3
        if kind == 0:
            body: dict[str, Any] = {"type": "a", "fields": {"x": 1, "z": 5, "k": "p"}}
        elif kind == 1:
            body = {"type": "b", "fields": {"y": 20}}
        else:
            body = {"type": "a", "fields": {"x": 3, "z": 9, "k": "q"}}
        monitor.feed({"account_id": f"C{i:06d}", "ts": _iso(START + i // 50), **body})
    assert monitor.live_accounts() > n // 2
    assert monitor.signals.durable_facts() == 0  # one scratch session, empty between events
    made = monitor.advance(START + 3 * 86400)
    assert monitor.live_accounts() == 0
    assert monitor.signals.pending_expiries() == 0
    assert monitor.actions == {}  # every account is back to no action, and forgotten
    assert {m.decision.action.value for m in made} == {"none"}


def test_shipped_policy_story(tmp_path: Any) -> None:
    compiled = compile_policy(load_policy("policies/credit-line-closure/1.1.0.yaml"))
    good = dict(compiled.policy.tests[0].facts)
    monitor = Monitor(compiled, {"C1": {**good, "prior_adverse_actions_12m": 1}})
    day = 86400
    events = [
        (0, "loan_disbursed", {"amount": 5000}),
        (2 * day, "credit_application", {"apr": 0.36}),
        (40 * day, "transfer_out", {"amount": 150000}),
        (41 * day, "transfer_out", {"amount": 60000}),
    ]
    made = []
    for offset, kind, fields in events:
        made += monitor.feed(
            {"account_id": "C1", "type": kind, "ts": _iso(START + offset), "fields": fields}
        )
    summary = [(m.decision.action.value, [r.rule for r in m.decision.reasons]) for m in made]
    assert summary == [
        ("suspend", ["high-apr-after-loan"]),
        ("none", []),  # 30 days after the application, the pause is lifted
        ("review", ["large-transfers-out"]),
    ]


def test_defaults_are_typed_like_their_facts(compiled: CompiledPolicy) -> None:
    for signal in compiled.policy.signals:
        value = default_value(signal)
        assert decide(compiled, {signal.name: value}, "2027-02-01").facts[signal.name] == value


@settings(max_examples=40, deadline=None)
@given(items=STREAMS, cut=st.integers(0, 30))
def test_a_checkpoint_at_any_point_resumes_to_the_same_lines(
    compiled: CompiledPolicy, items: list[tuple[int, str, dict[str, Any]]], cut: int
) -> None:
    """Windows and pending steps go through checkpoint data (as JSON) and come back in the same
    expiry order; decision lines are canonical JSON of their records, lines and windows alike."""
    stream = _raw_stream(items)
    whole = Monitor(compiled)
    expected = []
    for line, raw in enumerate(stream, start=1):
        for made in whole.feed(raw, line):
            text = made.to_json()
            assert text == canonical_json(made.to_dict())
            expected.append(text)
    expected += [made.to_json() for made in whole.advance(START + 40 * 86400)]
    first = Monitor(compiled)
    cut = min(cut, len(stream))
    got = [m.to_json() for line, raw in enumerate(stream[:cut], 1) for m in first.feed(raw, line)]
    data = json.loads(json.dumps(first.to_data()))
    resumed = Monitor.from_data(compiled, data)
    assert resumed.to_data() == data
    for line, raw in enumerate(stream[cut:], start=cut + 1):
        got += [made.to_json() for made in resumed.feed(raw, line)]
    got += [made.to_json() for made in resumed.advance(START + 40 * 86400)]
    assert got == expected
    assert resumed.signals.pending_expiries() == 0 and resumed.live_accounts() == 0


def test_stream_gc_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    with stream_gc():
        assert gc.get_threshold()[0] > before[0]
    assert gc.get_threshold() == before
