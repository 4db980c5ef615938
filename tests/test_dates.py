"""Date and date-time facts: typed literals, ISO inputs, clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

from clearline.engine import FactError, decide
from clearline.engine.policy.load import analyse_policy_text

from .conftest import compiled_text

POLICY = """\
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: dates
  version: 1.0.0
  title: {en: Dates}
  effective_from: 2026-01-01T08:00:00+08:00
  languages: [en]
facts:
  opened:
    type: date
    minimum: 2000-01-01
    label: {en: date the line was opened}
  last_login:
    type: datetime
    label: {en: last login}
  first_due:
    type: date
    label: {en: first due date}
rules:
  - {id: new-line, action: review, reason: {code: N}, when: {fact: opened, ge: 2026-06-01}}
  - {id: stale, action: notify, reason: {code: S}, when: {fact: last_login, lt: "2026-01-01T00:00:00Z"}}
  - {id: odd, action: notify, reason: {code: O}, when: {fact: first_due, lt: {fact: opened}}}
"""


def test_date_literals_and_iso_inputs() -> None:
    compiled = compiled_text(POLICY)
    assert compiled.policy.metadata.effective_from == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    facts = {
        "opened": "2026-06-01",
        "last_login": "2025-12-31T23:59:59Z",
        "first_due": "2026-05-01",
    }
    decision = decide(compiled, facts, "2026-07-01")
    assert [r.rule for r in decision.reasons] == ["new-line", "stale", "odd"]
    record = decision.to_dict()
    assert record["trace"][0]["checks"][0]["value"] == "2026-06-01"
    assert record["trace"][0]["checks"][0]["threshold"] == "2026-06-01"
    # a date-time in another zone that is the same instant compares equal
    later = decide(compiled, {**facts, "last_login": "2026-01-01T08:00:00+08:00"}, "2026-07-01")
    assert "stale" not in [r.rule for r in later.reasons]
    native = decide(
        compiled,
        {
            "opened": dt.date(2026, 6, 1),
            "last_login": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            "first_due": dt.date(2026, 5, 1),
        },
        "2026-07-01",
    )
    assert native.fired == decision.fired


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"opened": "2026-02-30"}, "is not a date"),
        ({"opened": "1999-12-31"}, "below the minimum"),
        ({"last_login": "2026-01-01T10:00:00"}, "has no UTC offset"),
        ({"opened": 20260101}, "expected a date"),
    ],
)
def test_bad_dates_are_clear_errors(change: dict[str, object], fragment: str) -> None:
    compiled = compiled_text(POLICY)
    facts = {
        "opened": "2026-06-01",
        "last_login": "2025-12-31T23:59:59Z",
        "first_due": "2026-05-01",
        **change,
    }
    with pytest.raises(FactError) as caught:
        decide(compiled, facts, "2026-07-01")
    assert fragment in str(caught.value)


def test_bad_date_literals_are_located() -> None:
    text = POLICY.replace("ge: 2026-06-01", "ge: 2026-13-01")
    errors = analyse_policy_text(text, "d.yaml").errors
    assert [e.code for e in errors] == ["C102"]
    assert (errors[0].line, errors[0].column) == (21, 80)
