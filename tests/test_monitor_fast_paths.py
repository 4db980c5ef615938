"""The monitor's fast paths agree with its general ones: inline event checks (`feed` against
`check` + `apply`), remembered minutes of event times, the action without a decision
(`action_of` against `decide`), and decisions skipped when no rule can tell a signal's change."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine import compile_policy, decide, load_policy, load_policy_text, sample_accounts
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import action_of
from clearline.engine.events.event import EventError, StampReader, signal_views
from clearline.engine.events.monitor import Monitor
from clearline.engine.events.signals import HIDDEN, SEEN
from clearline.engine.facts import ValueProblem, parse_datetime
from clearline.engine.model import Rule

from .test_monitor import POLICY, START, _iso

SHIPPED = "policies/credit-line-closure/1.1.0.yaml"


@pytest.fixture(scope="module")
def compiled() -> CompiledPolicy:
    return compile_policy(load_policy_text(POLICY, "monitor-test.yaml"))


@pytest.fixture(scope="module")
def shipped() -> CompiledPolicy:
    return compile_policy(load_policy(SHIPPED))


# -- feed (inline checks) against check + apply -------------------------------------------------

STAMPS = st.one_of(
    st.integers(0, 7200).map(lambda gap: _iso(START + gap)),  # the usual form
    st.integers(0, 7200).map(
        lambda gap: dt.datetime.fromtimestamp(START + gap, dt.UTC).isoformat()  # +00:00
    ),
    st.sampled_from(
        [
            "2027-02-01T00:00:60Z",  # not a second
            "2027-02-01T00:00:0xZ",
            "2027-02-01T00:00:01z",
            "2027-02-01T00:00:01",  # no offset
            "2027-02-01T00:00:01.5Z",
            "20270201T000001.123Z",  # 20 characters, the last two digits not the seconds
            "2027-02-01T00:00:01+08:00",
            "2027-02-01 00:30:59Z",
            "not a time",
            "",
        ]
    ),
)
VALUES = st.one_of(
    st.integers(-2, 12),
    st.sampled_from([0.0, 2.5, 11.0, 10.5, 50, 1000, math.inf, math.nan, True, "3", None]),
    st.sampled_from(["p", "q", "r"]),
)
RAW_EVENTS = st.fixed_dictionaries(
    {
        "account_id": st.sampled_from(["A1", "A2", "", 7]),
        "type": st.sampled_from(["a", "b", "facts", "c", None]),
        "ts": STAMPS,
    },
    optional={
        "fields": st.dictionaries(st.sampled_from(["x", "y", "z", "k", "w"]), VALUES, max_size=4),
        "facts": st.sampled_from([{"score": 40}, {"score": None}, {"busy": 1}]),
        "extra": st.just(1),
    },
)
USUAL = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("a"),
            "fields": st.fixed_dictionaries(
                {"x": st.integers(0, 10), "z": st.integers(0, 10), "k": st.just("p")}
            ),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("b"), "fields": st.fixed_dictionaries({"y": st.sampled_from([11, 50])})}
    ),
)
STREAMS = st.lists(st.one_of(RAW_EVENTS, USUAL), min_size=1, max_size=25)


def _timed(stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The usual events (no `ts` yet) a minute apart, in order; the others at their own time."""
    return [
        raw if "ts" in raw else {"account_id": "A1", "ts": _iso(START + 60 * i), **raw}
        for i, raw in enumerate(stream)
    ]


@settings(max_examples=150, deadline=None)
@given(stream=STREAMS)
def test_feed_checks_inline_as_check_and_apply_do(
    compiled: CompiledPolicy, stream: list[dict[str, Any]]
) -> None:
    """Every outcome alike: decisions (as lines), refusals (code and words) and the state."""
    fast, general = Monitor(compiled), Monitor(compiled)
    for line, raw in enumerate(_timed(stream), start=1):
        outcomes = []
        for run in (fast.feed, _check_and_apply(general)):
            try:
                outcomes.append([made.to_json() for made in run(raw, line)])
            except EventError as exc:
                outcomes.append([exc.code, exc.message])
        assert outcomes[0] == outcomes[1], raw
        assert fast.to_data() == general.to_data()


def _check_and_apply(monitor: Monitor) -> Any:
    return lambda raw, line: monitor.apply(monitor.check(raw, line))


# -- event times --------------------------------------------------------------------------------


def _full_parse(stamp: str) -> int | None:
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        try:
            moment = parse_datetime(stamp)
        except ValueProblem:
            return None
    return math.floor(moment.timestamp())


@settings(max_examples=150, deadline=None)
@given(stamps=st.lists(STAMPS, min_size=1, max_size=30))
def test_remembered_minutes_read_every_time_as_a_full_parse_does(stamps: list[str]) -> None:
    reader = StampReader()
    for stamp in stamps:
        expected = _full_parse(stamp)
        if expected is None:
            with pytest.raises(EventError) as caught:
                reader.read(stamp)
            assert caught.value.code == "E204"
        else:
            assert reader.read(stamp) == expected, stamp


def test_a_minute_is_remembered_only_from_a_time_in_whole_seconds() -> None:
    reader = StampReader()
    assert reader.read("20270201T000001.123Z") == START + 1  # a fraction, not seconds "23"
    assert reader.read("20270201T000001.145Z") == START + 1
    reader.read("2027-02-01T00:00:01Z")
    assert reader.minute == "2027-02-01T00:00:"
    assert reader.read("2027-02-01T00:00:59Z") == START + 59


# -- the action without a decision --------------------------------------------------------------

SIGNAL_VALUES = st.fixed_dictionaries(
    {
        "high_apr_applications_7d": st.integers(0, 5),
        "high_apr_after_loan": st.booleans(),
        "large_transfers_out_30d": st.sampled_from([0.0, 10000.0, 199999.99, 200000.0, 5e5]),
    }
)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10_000), signals=SIGNAL_VALUES, drop=st.sets(st.integers(0, 20)))
def test_action_of_is_the_action_of_decide(
    shipped: CompiledPolicy, seed: int, signals: dict[str, Any], drop: set[int]
) -> None:
    """Sampled accounts (some facts dropped, so missing facts take the checked path)."""
    facts = next(sample_accounts(shipped.policy, 1, seed))["facts"]
    facts = {name: value for i, (name, value) in enumerate(facts.items()) if i not in drop}
    facts.update(signals)
    expected = decide(shipped, facts, "2027-02-01", trace=False).action
    assert action_of(shipped, facts) is expected


def test_only_exemptions_that_lighten_an_action_are_read_for_it(shipped: CompiledPolicy) -> None:
    policy = shipped.policy

    def lightened(rule: Rule) -> bool:
        grace = policy.grace_rule(rule.grace)
        return grace is not None and any(e.downgrade_to for e in grace.exemptions)

    lighter = [i for i, rule in enumerate(policy.rules) if lightened(rule)]
    assert lighter and shipped.downgrades == frozenset(lighter)
    assert len(lighter) < len(policy.rules)  # rules without such an exemption are not read


# -- decisions skipped when no rule can tell ----------------------------------------------------


def test_a_signal_view_tells_apart_what_the_rules_ask(compiled: CompiledPolicy) -> None:
    names = [signal.name for signal in compiled.policy.signals]
    views = dict(zip(names, signal_views(compiled), strict=True))
    busy = views["busy"]  # rules ask `busy >= 3`
    assert busy is not None
    assert busy(3) == busy(4) == busy(9) and busy(2) != busy(3) and busy(0) == busy(2)
    spent = views["spent"]  # `spent >= 51`
    assert spent is not None and spent(0.0) == spent(50.5) != spent(51.0)
    seen_p = views["seen_p"]
    assert seen_p is not None and seen_p(False) != seen_p(True)


def test_a_count_past_what_the_rules_ask_is_hidden(compiled: CompiledPolicy) -> None:
    monitor = Monitor(compiled)
    busy = {"type": "a", "fields": {"x": 7, "z": 0, "k": "q"}}  # counts for `busy` alone
    changes = []
    for minute in range(5):
        raw = {"account_id": "A1", "ts": _iso(START + 60 * minute), **busy}
        event = monitor.check(raw)
        monitor.seq, monitor.clock = event.seq, event.ts
        changes.append(monitor.signals.observe("A1", "a", event.ts, event.seq, event.fields))
    assert changes == [HIDDEN, HIDDEN, SEEN, HIDDEN, HIDDEN]  # 1, 2, 3 (>= 3), 4, 5


def test_an_account_that_cannot_be_decided_is_reported_on_every_change(
    compiled: CompiledPolicy,
) -> None:
    """E207 on every change of a signal, hidden ones too, as when every change was decided."""
    monitor = Monitor(compiled)
    busy = {"type": "a", "fields": {"x": 7, "z": 0, "k": "q"}}
    monitor.feed({"account_id": "A1", "ts": _iso(START), **busy})
    data = monitor.to_data()
    data["facts"] = {"A1": {"score": "high"}}  # a checkpoint edited by hand
    resumed = Monitor.from_data(compiled, data)
    assert resumed.undecidable == {"A1"}
    codes = []
    for minute in range(1, 5):
        try:
            resumed.feed({"account_id": "A1", "ts": _iso(START + 60 * minute), **busy})
        except EventError as exc:
            codes.append(exc.code)
    assert codes == ["E207"] * 4
    resumed.feed(
        {"account_id": "A1", "ts": _iso(START + 300), "type": "facts", "facts": {"score": 9}}
    )
    assert resumed.undecidable == set()
    assert resumed.action("A1").value == "close"
