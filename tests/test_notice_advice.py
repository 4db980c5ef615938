"""A notice's advice never points to a way out that leads to a harsher rule."""

from __future__ import annotations

import datetime as dt

from clearline.disclosures import decision_notice
from clearline.engine import CompiledPolicy, decide


def test_no_generated_advice_for_a_between_rule(shipped: CompiledPolicy) -> None:
    facts = {**dict(shipped.policy.tests[0].facts), "days_past_due": 73}
    decision = decide(shipped, facts, dt.date(2027, 2, 1), account_id="A1")
    assert [r.rule for r in decision.reasons] == ["serious-delinquency"]
    text = decision_notice(shipped, decision, "en")
    assert "If the number of days past due were 30 or fewer" in text
    assert "more than 90" not in text  # over 90 closes the line: never offered as a way out
