"""`clearline sample` exercises the policy: every rule fires on some sampled accounts.

Independent draws per fact leave rules that need two rare values together (a thin file and a
low score) unseen in thousands of accounts; the sampler aims a share of accounts at one branch
of one rule. These tests decide real sampled accounts with the real compiled policies.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine import CompiledPolicy, decide, sample_accounts

from .conftest import SHIPPED_V2, compiled_text, run_cli, small_policy

ACCOUNTS = 3000
SEED = 19


def fired_rules(compiled: CompiledPolicy, n: int, seed: int) -> Counter[str]:
    """How many sampled accounts each rule fired on (from the decisions' reasons)."""
    counts: Counter[str] = Counter()
    as_of = compiled.policy.metadata.effective_from
    for account in sample_accounts(compiled.policy, n, seed):
        decision = decide(compiled, account["facts"], as_of, trace=False)
        counts.update(reason.rule for reason in decision.reasons)
    return counts


@pytest.mark.parametrize("version", ["shipped_v1", "shipped"])
def test_every_shipped_rule_fires_on_some_of_3000_accounts(
    version: str, request: pytest.FixtureRequest
) -> None:
    compiled: CompiledPolicy = request.getfixturevalue(version)
    counts = fired_rules(compiled, ACCOUNTS, SEED)
    never = [rule.id for rule in compiled.policy.rules if counts[rule.id] == 0]
    assert never == [], f"rules that never fired in {ACCOUNTS} accounts: {never}"
    # Most accounts stay unremarkable, as in a real portfolio.
    acted = sum(
        1
        for account in sample_accounts(compiled.policy, 600, SEED)
        if decide(
            compiled, account["facts"], compiled.policy.metadata.effective_from, trace=False
        ).reasons
    )
    assert acted < 600 * 0.4


def test_a_rule_needing_rare_values_together_fires() -> None:
    # Each comparison alone holds on few accounts; together, and against another fact, only
    # an account aimed at this branch meets them all.
    compiled = compiled_text(
        small_policy(
            """\
            - id: rare
              action: suspend
              when:
                all:
                  - {fact: dpd, between: [41, 43]}
                  - {fact: dpd, ne: 42}
                  - {fact: score, lt: 310}
                  - {fact: tier, not_in: [gold, silver]}
                  - {fact: flagged, eq: true}
                  - {fact: ratio, gt: {fact: dpd}}
              reason: {code: X1}
              grace: standard
            - id: either
              action: notify
              when:
                any:
                  - not: {fact: score, ge: 301}
                  - {fact: ratio, between: [7.5, 7.6]}
              reason: {code: X2}
            """
        )
    )
    counts = fired_rules(compiled, 1000, 4)
    assert counts["rare"] > 0
    assert counts["either"] > 0


@pytest.mark.parametrize("version", ["shipped_v1", "shipped"])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_samples_are_deterministic_and_fit_the_fact_schema(
    version: str, seed: int, request: pytest.FixtureRequest
) -> None:
    compiled: CompiledPolicy = request.getfixturevalue(version)
    first = list(sample_accounts(compiled.policy, 60, seed))
    assert first == list(sample_accounts(compiled.policy, 60, seed))
    as_of = compiled.policy.metadata.effective_from
    for account in first:
        decide(compiled, account["facts"], as_of, trace=False)  # raises FactError if unfit


def test_sample_command_is_deterministic_per_seed() -> None:
    args = ["sample", "--policy", str(SHIPPED_V2), "-n", "50", "--seed", "7"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.splitlines()) == 50
    assert run_cli(*args).stdout == first.stdout
    assert run_cli(*args[:-1], "8").stdout != first.stdout
