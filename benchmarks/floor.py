"""The CPython floor: the shipped policy's rules written by hand as one straight-line function.

This is what a team would write without an engine: read each fact once, test each rule, collect
the ids of the rules that fire. It checks no input types and builds no record, so it is the
least work CPython can do for these decisions. It is written for
`policies/credit-line-closure/1.1.0.yaml`; the runner fails if it ever disagrees with Clearline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

POLICY = "credit-line-closure"
VERSION = "1.1.0"


def floor(facts: Mapping[str, Any]) -> list[str]:
    """The ids of the rules that fire for one account with every fact present."""
    days_past_due = facts["days_past_due"]
    credit_score = facts["credit_score"]
    applications = facts["high_apr_applications_7d"]
    since_first_loan = facts["days_since_first_loan"]
    outflow = facts["outflow_to_income_30d"]
    segment = facts["segment"]
    fired = []
    if facts["confirmed_fraud"]:
        fired.append("confirmed-fraud")
    if days_past_due > 90:
        fired.append("severe-delinquency")
    if facts["delinquencies_12m"] >= 3 and days_past_due > 30:
        fired.append("repeated-delinquency")
    if credit_score < 500:
        fired.append("very-low-score")
    if applications >= 2 and since_first_loan <= 60:
        fired.append("credit-seeking-spree")
    if outflow >= 3:
        fired.append("large-abnormal-outflow")
    if facts["high_apr_after_loan"]:
        fired.append("high-apr-after-loan")
    if facts["large_transfers_out_30d"] >= 200000:
        fired.append("large-transfers-out")
    if 31 <= days_past_due <= 90:
        fired.append("serious-delinquency")
    if facts["credit_score_drop_90d"] >= 100:
        fired.append("score-drop")
    if facts["utilisation"] >= 0.9 and days_past_due > 0:
        fired.append("high-utilisation-late")
    if (segment == "gig_worker" or segment == "new_to_credit") and credit_score < 620:
        fired.append("segment-tightening")
    if segment == "new_to_credit" and credit_score < 580:
        fired.append("thin-file-low-score")
    if 2 <= outflow < 3:
        fired.append("outflow-watch")
    if 1 <= days_past_due <= 30:
        fired.append("early-late-payment")
    if facts["days_since_last_draw"] >= 365:
        fired.append("dormant-line")
    if applications == 1 and since_first_loan <= 60:
        fired.append("approaching-spree")
    return fired
