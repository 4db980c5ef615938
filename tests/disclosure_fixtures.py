"""Shared inputs of the disclosure tests: the shipped policy, the shapes policy, fixed accounts."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from clearline.disclosures.disclosure import baseline_facts
from clearline.engine import CompiledPolicy, compile_policy, load_policy

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
SHAPES = ROOT / "tests" / "data" / "shapes.yaml"
GOLDEN = ROOT / "tests" / "golden"
AS_OF = "2027-03-01"
LANGS = ("en", "zh-CN")

# Facts of the shipped policy's customer in good standing: its first example with no action.
GOOD = baseline_facts(load_policy(SHIPPED))
# One closed and one suspended account, used by the golden notices and `clearline demo`.
CLOSED = {**GOOD, "days_past_due": 95, "delinquencies_12m": 3, "utilisation": 0.97}
SUSPENDED = {
    **GOOD,
    "high_apr_applications_7d": 3,
    "days_since_first_loan": 21,
    "prior_adverse_actions_12m": 1,
}


@cache
def shipped() -> CompiledPolicy:
    """The shipped policy 1.1.0, compiled."""
    return compile_policy(load_policy(SHIPPED))


@cache
def shapes() -> CompiledPolicy:
    """A small policy with every shape of condition, compiled."""
    return compile_policy(load_policy(SHAPES))
