"""The fast decision record (`Decision.to_json`) is byte for byte `canonical_json(to_dict())`,
and so is the audit log's form of it (inputs and a record template)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine import (
    FactError,
    compile_policy,
    decide,
    load_policy,
    load_policy_text,
    sample_accounts,
)
from clearline.engine.canonical import canonical_json, to_json_value
from clearline.engine.decisions.record import stored_parts
from clearline.engine.decisions.record_layout import RecordTemplate, orjson_agrees, plain_facts_json
from clearline.engine.facts import normalise_facts

ROOT = Path(__file__).resolve().parent.parent

# Every fact type, a fact compared with another fact, between/in/not_in, `not`, exemptions,
# a reduce_limit factor, missing facts that send to review, and static text with quotes, `%`
# and non-ASCII characters (the fast path splices static and dynamic text).
ODD_POLICY = """apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: odd-policy
  version: 2.0.0
  title: {en: "Odd \\"policy\\" 100% %s"}
  effective_from: 2026-01-01
  timezone: Europe/London
  languages: [en]
facts:
  score:
    type: number
    minimum: -5
    label: {en: score}
  count:
    type: integer
    label: {en: count}
  flag:
    type: boolean
    label: {en: flag}
  kind:
    type: enum
    values: ["a%s", "b\\"q", "中文", "plain"]
    label: {en: kind}
  name:
    type: string
    on_missing: review
    label: {en: name}
  opened:
    type: date
    label: {en: opened}
  seen_at:
    type: datetime
    label: {en: seen at}
  limit:
    type: number
    label: {en: limit}
rules:
  - id: r-one
    action: close
    when:
      any:
        - {fact: score, gt: 1.5}
        - {fact: name, eq: "x%sy\\"z"}
    reason: {code: C1}
    grace: g
  - id: two
    action: {kind: reduce_limit, limit_factor: 0.25}
    when:
      all:
        - {fact: count, between: [2, 9]}
        - not: {fact: kind, in: ["a%s", "中文"]}
        - {fact: score, le: {fact: limit}}
    reason: {code: R2}
    grace: g
  - id: three
    action: review
    when:
      any:
        - {fact: opened, lt: 2026-06-01}
        - {fact: seen_at, ge: "2026-06-01T00:00:00+01:00"}
        - {fact: flag, eq: true}
    reason: {code: R3}
  - id: four
    action: notify
    when: {fact: kind, not_in: [plain]}
    reason: {code: R4}
grace:
  g:
    notice_days: 10
    cure: {days: 5}
    appeal: {days: 20}
    exemptions:
      - id: ex
        when: {fact: flag, eq: true}
        extend_notice_days: 3
        downgrade_to: notify
"""
ODD = compile_policy(load_policy_text(ODD_POLICY))
SHIPPED = compile_policy(load_policy(ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"))

moments = st.datetimes(
    min_value=dt.datetime(2026, 1, 1),
    max_value=dt.datetime(2030, 12, 31),
    timezones=st.just(dt.UTC),
)
ODD_VALUES = {
    "score": st.one_of(
        st.integers(-5, 10), st.floats(-5, 1e6, allow_nan=False, allow_infinity=False)
    ),
    "count": st.integers(-(2**40), 2**40),
    "flag": st.booleans(),
    "kind": st.sampled_from(["a%s", 'b"q', "中文", "plain"]),
    "name": st.text(max_size=12),
    "opened": st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)),
    "seen_at": st.datetimes(  # within the dates Clearline reads (1000-01-01 to 8999-12-31)
        min_value=dt.datetime(1000, 1, 2),
        max_value=dt.datetime(8999, 12, 30),
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]),
    ),
    "limit": st.floats(-1e3, 1e3, allow_nan=False),
}
# Half the examples carry every fact (the fast path), half leave some out (missing facts).
odd_facts = st.fixed_dictionaries(ODD_VALUES) | st.fixed_dictionaries({}, optional=ODD_VALUES)


def same_bytes(decision: Any, twin: Any) -> None:
    """`decision` and `twin` are two decisions of the same facts: one goes the audit log's way
    first (inputs, then the stored parts), the other the record's way (`to_json` first)."""
    inputs = decision.inputs_json  # the direct path, before anything encoded the facts
    assert inputs == canonical_json(decision.inputs())
    decision_id, as_of, input_sha, stored_inputs, template = stored_parts(decision)
    record = twin.to_json()
    assert record == canonical_json(twin.to_dict())
    assert twin.inputs_json == inputs == stored_inputs
    assert (decision_id, as_of, input_sha) == (twin.decision_id, twin.as_of_text, twin.input_sha256)
    values = {
        "account_id": decision.account_id,
        "as_of": as_of,
        "record_id": decision_id,
        "input_sha256": input_sha,
    }
    # The stored template, read back from its text, renders the record byte for byte.
    assert RecordTemplate.parse(template.text).render(values, json.loads(inputs)) == record
    assert decision.to_json() == record


@settings(max_examples=150, deadline=None)
@given(facts=odd_facts, as_of=moments, account=st.none() | st.text(max_size=8), trace=st.booleans())
def test_odd_policy_records_match_the_reference(
    facts: dict[str, Any], as_of: dt.datetime, account: str | None, trace: bool
) -> None:
    twins = [decide(ODD, facts, as_of, account_id=account, trace=trace) for _ in range(2)]
    same_bytes(*twins)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    drop=st.sets(st.sampled_from(sorted(f.name for f in SHIPPED.policy.facts)), max_size=3),
    as_of=moments,
)
def test_shipped_policy_records_match_the_reference(
    seed: int, drop: set[str], as_of: dt.datetime
) -> None:
    for account in sample_accounts(SHIPPED.policy, 20, seed=seed):
        facts = {k: v for k, v in account["facts"].items() if k not in drop}
        # Record bytes at any moment, in force or not: a what-if decision is recorded alike.
        twins = [
            decide(SHIPPED, facts, as_of, account_id=account["account_id"], what_if=True)
            for _ in "ab"
        ]
        same_bytes(*twins)


def _orjson_writes(value: Any) -> bool:
    """Whether `plain_facts_json` leaves a value to orjson (else to the Python path)."""
    if isinstance(value, float):
        # JCS and orjson (repr) agree on fractions within [1e-4, 1e16) only
        return 1e-4 <= abs(value) < 1e16 and not value.is_integer()
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**64
    return value is None or type(value) in (bool, str, dt.date, dt.datetime)


fact_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # some beyond 64 bits
    st.floats(),  # NaN, infinities, subnormals, tiny values
    st.floats(-1e-3, 1e-3),
    st.text(),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=-3.5))])),
    st.lists(st.integers(), max_size=2),  # not a fact value orjson is trusted with
)


@settings(max_examples=300, deadline=None)
@given(facts=st.dictionaries(st.text(max_size=6), fact_values, max_size=8))
def test_orjson_writes_plain_facts_as_canonical_json(facts: dict[str, Any]) -> None:
    text = plain_facts_json(facts)
    # Whenever orjson may write the object it does, and what it writes is canonical JSON.
    assert (text is not None) == all(_orjson_writes(v) for v in facts.values())
    if text is not None:
        assert text == canonical_json({k: to_json_value(v) for k, v in facts.items()})


def test_the_installed_orjson_agrees_with_canonical_json() -> None:
    # If another orjson version spelled a probe value differently, every inputs object would
    # take the Python path: the same bytes, slower. The declared version must not.
    assert orjson_agrees()


def test_a_tiny_number_takes_the_python_path_with_the_same_bytes() -> None:
    account = next(iter(sample_accounts(SHIPPED.policy, 1, seed=3)))
    facts = {**account["facts"], "utilisation": 2.5e-07}
    assert plain_facts_json(facts) is None
    twins = [decide(SHIPPED, facts, "2027-02-01", account_id="A") for _ in "ab"]
    assert '"utilisation":2.5e-7' in twins[0].inputs_json  # RFC 8785 (JCS) form
    same_bytes(*twins)


def test_a_decision_record_is_stable_across_calls() -> None:
    account = next(iter(sample_accounts(SHIPPED.policy, 1, seed=1)))
    first = decide(SHIPPED, account["facts"], "2027-02-01", account_id="A")
    again = decide(SHIPPED, dict(account["facts"]), "2027-02-01", account_id="A")
    assert first.to_json() == first.to_json() == again.to_json()


def test_a_stored_template_that_is_not_one_is_refused() -> None:
    good = RecordTemplate.build(("{", ',"x":', "}"), ("account_id", "fact:score"))
    assert RecordTemplate.parse(good.text).sha256 == good.sha256
    odd = RecordTemplate.build(('{"a\x01中\n":', "\\", '"}'), ("as_of", "fact:é"))
    assert odd.text == canonical_json({"chunks": list(odd.chunks), "slots": list(odd.slots)})
    assert good.render({"account_id": 'A"1'}, {"score": 1.5}) == '{"A\\"1","x":1.5}'
    assert good.render({"account_id": None}, {}) == '{null,"x":null}'
    for text in (
        "[]",
        '{"chunks": ["a"], "slots": []',
        '{"chunks": ["a", "b"], "slots": []}',
        '{"chunks": ["a", "b"], "slots": ["nobody"]}',
        '{"chunks": ["a", 1], "slots": ["as_of"]}',
        '{"chunks": ["a", "b"], "slots": ["as_of"], "extra": 1}',
    ):
        with pytest.raises(ValueError):
            RecordTemplate.parse(text)


def test_a_string_fact_with_a_lone_surrogate_is_refused_on_every_path() -> None:
    # Typed values (dates as dates), so that a dict of every fact takes the fast path.
    typed, _ = normalise_facts(
        ODD.policy, next(iter(sample_accounts(ODD.policy, 1, seed=1)))["facts"]
    )
    facts = dict(typed, name="a\udcff")
    without_limit = {name: value for name, value in facts.items() if name != "limit"}
    for given_facts in (facts, without_limit):  # the fast path, then the checked path
        for trace in (True, False):
            with pytest.raises(FactError) as caught:
                decide(ODD, given_facts, dt.date(2027, 1, 1), trace=trace)
            problem = caught.value.problems[0]
            assert (problem.fact, problem.code) == ("name", "F003")
            assert "lone surrogate is not valid Unicode" in problem.message
    facts["name"] = "名字 ok"
    assert json.loads(decide(ODD, facts, dt.date(2027, 1, 1)).inputs_json)["name"] == "名字 ok"
