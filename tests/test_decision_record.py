"""The typed read side of a decision record reads every record the engine writes, and refuses
what is not one with every problem named."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from clearline.engine import ActionKind, compile_policy, decide, load_policy, sample_accounts
from clearline.engine.decisions.decision_record import DecisionRecord, RecordError

from .conftest import SHIPPED_V2

COMPILED = compile_policy(load_policy(SHIPPED_V2))


def _records(trace: bool = True) -> list[dict[str, object]]:
    accounts = sample_accounts(COMPILED.policy, 300, seed=11)
    return [
        json.loads(
            decide(COMPILED, a["facts"], "2027-03-01", account_id="A", trace=trace).to_json()
        )
        for a in accounts
    ]


def test_every_record_reads_back_as_it_was_written() -> None:
    for data in _records():
        record = DecisionRecord.from_data(data)
        assert record.action is ActionKind(data["action"])
        assert [r.rule for r in record.reasons] == [r["rule"] for r in data["reasons"]]  # type: ignore[index, union-attr]
        assert record.as_of == dt.datetime(2027, 2, 28, 16, tzinfo=dt.UTC)
        assert record.policy.sha256 == COMPILED.sha256
        assert record.trace is not None and len(record.trace) == len(COMPILED.policy.rules)
        if record.timeline is not None:
            assert record.timeline.effective >= record.timeline.decided_on
        assert record.data is data


def test_a_record_without_trace_reads_with_no_trace() -> None:
    assert all(DecisionRecord.from_data(data).trace is None for data in _records(trace=False))


def test_what_is_not_a_record_is_refused_with_every_problem() -> None:
    data = _records()[0]
    del data["action"]
    data["as_of"] = 5
    with pytest.raises(RecordError) as caught:
        DecisionRecord.from_data(data)
    assert any("action" in p for p in caught.value.problems)
    assert any(p.startswith("as_of") for p in caught.value.problems)
    with pytest.raises(RecordError):
        DecisionRecord.from_data(["not", "a", "record"])
