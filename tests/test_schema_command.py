"""`clearline schema` prints the schemas services and editors use, and they agree with the engine."""

from __future__ import annotations

import json

import jsonschema
import pytest

from clearline.engine import FactError, compile_policy, decide, load_policy, sample_accounts
from clearline.engine.decisions.record_schema import decision_schema, embeddable_decision_schema
from clearline.engine.policy.facts_schema import facts_schema
from clearline.engine.policy.schema import policy_schema

from .conftest import SHIPPED_V2, run_cli

COMPILED = compile_policy(load_policy(SHIPPED_V2))


def test_the_command_prints_each_schema() -> None:
    assert json.loads(run_cli("schema", "decision").stdout) == decision_schema()
    assert json.loads(run_cli("schema", "policy").stdout) == policy_schema()
    facts = json.loads(run_cli("schema", "facts", str(SHIPPED_V2)).stdout)
    assert facts == facts_schema(COMPILED.policy)
    assert "days_past_due" in facts["properties"]


def test_a_policy_that_does_not_load_is_a_located_error() -> None:
    done = run_cli("schema", "facts", "no-such-policy.yaml")
    assert done.returncode == 1
    assert "no-such-policy.yaml:1:1: error[E009]" in done.stderr


def test_sampled_facts_meet_the_facts_schema_and_a_mistyped_fact_fails_both() -> None:
    validator = jsonschema.Draft202012Validator(facts_schema(COMPILED.policy))
    for account in sample_accounts(COMPILED.policy, 200, seed=5):
        assert not list(validator.iter_errors(account["facts"]))
    facts = next(sample_accounts(COMPILED.policy, 1, seed=5))["facts"]
    for broken in ({**facts, "days_past_due": "ten"}, {**facts, "no_such_fact": 1}):
        assert list(validator.iter_errors(broken))
        with pytest.raises(FactError):
            decide(COMPILED, broken, "2027-03-01")


def test_the_embeddable_record_schema_has_no_references_left() -> None:
    embedded = embeddable_decision_schema()
    assert "$defs" not in json.dumps(embedded) and "$ref" not in json.dumps(embedded)
    record = json.loads(decide(COMPILED, {"days_past_due": 95}, "2027-03-01").to_json())
    jsonschema.Draft202012Validator(embedded).validate(record)
    record["decision_id"] = "not-hex"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(embedded).validate(record)
