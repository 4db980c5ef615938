"""Every decision record the engine writes meets the published decision record schema."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine import compile_policy, decide, load_policy, sample_accounts
from clearline.engine.decisions.record_schema import decision_schema, record_problems

from .conftest import SHIPPED_V2

COMPILED = compile_policy(load_policy(SHIPPED_V2))
ACCOUNTS = [a["facts"] for a in sample_accounts(COMPILED.policy, 400, seed=7)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(decision_schema())


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(ACCOUNTS),
    st.booleans(),
    st.sampled_from(["2027-02-01", "2027-06-30T23:59:59+08:00"]),
)
def test_sampled_decisions_meet_the_schema(
    account: dict[str, object], trace: bool, as_of: str
) -> None:
    record = json.loads(decide(COMPILED, account, as_of, account_id="A-1", trace=trace).to_json())
    assert record_problems(record) == []


def test_every_action_of_the_sample_meets_the_schema() -> None:
    seen = set()
    for account in ACCOUNTS:
        record = json.loads(decide(COMPILED, account, "2027-02-01", account_id="A").to_json())
        assert record_problems(record) == [], record["action"]
        seen.add(record["action"])
    assert {"none", "close", "suspend"} <= seen


def test_a_broken_record_is_named_where_it_breaks() -> None:
    record = json.loads(decide(COMPILED, ACCOUNTS[0], "2027-02-01", account_id="A").to_json())
    record["action"] = "freeze"
    record["extra"] = 1
    problems = record_problems(record)
    assert any(p.startswith("action:") for p in problems)
    assert any("extra" in p for p in problems)
