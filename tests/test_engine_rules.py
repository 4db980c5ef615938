"""What the engine does where a policy says nothing, as stated in docs/policy-language.md
("What the engine does when the policy does not say"): each stated rule, tested."""

from __future__ import annotations

import datetime as dt

from clearline.engine import decide
from clearline.engine.decisions.grace import add_months, deadline
from clearline.engine.model import BusinessCalendar
from tests.conftest import compiled_text, small_policy

AS_OF = "2026-06-01"  # a Monday


def _timeline(text: str, facts: dict[str, object]) -> dict[str, object]:
    record = decide(compiled_text(text), facts, AS_OF).to_dict()
    timeline = record["timeline"]
    assert isinstance(timeline, dict)
    return timeline


def test_an_action_waits_while_a_review_is_open_unless_the_policy_says_otherwise() -> None:
    assert _timeline(small_policy(), {"dpd": 40})["paused_during_review"] is True
    text = small_policy().replace("appeal: {days: 20}", "appeal: {days: 20, pauses_action: false}")
    assert _timeline(text, {"dpd": 40})["paused_during_review"] is False


def test_a_calendar_without_weekend_has_no_weekend() -> None:
    saturday = dt.date(2026, 6, 6)
    holiday = dt.date(2026, 6, 8)
    plain = BusinessCalendar(non_business_days=(holiday,))
    assert deadline(dt.date(2026, 6, 1), 5, plain) == saturday  # Saturday is a business day
    assert deadline(dt.date(2026, 6, 1), 7, plain) == dt.date(2026, 6, 9)  # a listed holiday
    weekend = BusinessCalendar(non_business_days=(holiday,), weekend=(6, 7))
    assert deadline(dt.date(2026, 6, 1), 5, weekend) == dt.date(2026, 6, 9)


def test_a_missing_fact_sends_to_review_with_the_code_missing_by_default() -> None:
    text = small_policy(
        "- id: low\n  action: notify\n  when: {fact: score, lt: 400}\n  reason: {code: S1}\n"
    ).replace(
        "  score:\n    type: integer\n", "  score:\n    type: integer\n    on_missing: review\n"
    )
    record = decide(compiled_text(text), {"dpd": 0}, AS_OF).to_dict()
    assert record["action"] == "review"
    assert [(r["rule"], r["code"]) for r in record["reasons"]] == [("missing-facts", "MISSING")]
    assert "score" in record["missing_facts"]


EXEMPTIONS = """\
    exemptions:
      - id: hardship
        when: {fact: flagged, eq: true}
        extend_notice_days: 10
      - id: gold
        when: {fact: tier, eq: gold}
        extend_notice_days: 30
"""


def test_several_exemptions_take_the_longest_extension_not_the_sum() -> None:
    text = small_policy().replace(
        "    appeal: {days: 20}\n", "    appeal: {days: 20}\n" + EXEMPTIONS
    )
    both = _timeline(text, {"dpd": 40, "flagged": True, "tier": "gold"})
    one = _timeline(text, {"dpd": 40, "flagged": True, "tier": "silver"})
    assert (both["notice_days"], one["notice_days"]) == (10 + 30, 10 + 10)
    assert both["appeal_until"] == "2026-07-21"  # exemption days lengthen the appeal too


def test_several_downgrades_take_the_lightest_action() -> None:
    downgrades = EXEMPTIONS.replace("extend_notice_days: 10", "downgrade_to: review").replace(
        "extend_notice_days: 30", "downgrade_to: notify"
    )
    text = small_policy().replace(
        "    appeal: {days: 20}\n", "    appeal: {days: 20}\n" + downgrades
    )
    record = decide(compiled_text(text), {"dpd": 40, "flagged": True, "tier": "gold"}, AS_OF)
    assert record.to_dict()["action"] == "notify"


def test_notice_in_months_lands_on_the_same_day_or_the_month_end() -> None:
    assert add_months(dt.date(2027, 1, 15), 2) == dt.date(2027, 3, 15)
    assert add_months(dt.date(2027, 12, 31), 2) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 12, 31), 2) == dt.date(2027, 2, 28)
