"""`clearline demo`: the main job end to end on the bundled policy and synthetic accounts."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import click

from clearline.engine import compile_policy, decide, sample_accounts
from clearline.engine.load import analyse_policy

from .common import Failed, report
from .demo_watch import watch_demo

DEMO_POLICY = Path("policies/credit-line-closure/1.1.0.yaml")
DEMO_ACCOUNTS = 10_000


@click.command()
@click.option(
    "--policy", "policy_path", type=click.Path(), default=str(DEMO_POLICY), show_default=True
)
@click.option("-n", "count", type=click.IntRange(min=1), default=DEMO_ACCOUNTS, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--as-of", default="2027-02-01", show_default=True, help="Decision date.")
def demo(policy_path: str, count: int, seed: int, as_of: str) -> None:
    """Check the shipped policy, sample accounts, decide them all and summarise."""
    click.echo(f"1. check {policy_path}")
    result = analyse_policy(policy_path)
    report(result.diagnostics)
    if result.policy is None:
        raise Failed()
    policy = result.policy
    compiled = compile_policy(policy)
    click.echo(
        f"   {policy.metadata.id} {policy.metadata.version}: {len(policy.rules)} rules, "
        f"{len(policy.facts)} facts, sha256 {compiled.sha256[:12]}"
    )
    click.echo(f"2. sample {count} synthetic accounts (seed {seed})")
    accounts = list(sample_accounts(policy, count, seed))
    click.echo(f"3. decide them as of {as_of} with full trace")
    moment = dt.date.fromisoformat(as_of)
    started = time.perf_counter()
    decisions = [
        decide(compiled, account["facts"], moment, account_id=account["account_id"])
        for account in accounts
    ]
    elapsed = time.perf_counter() - started
    click.echo(
        f"   {len(decisions)} decisions in {elapsed:.3f}s "
        f"({elapsed / len(decisions) * 1e6:.1f} µs each)"
    )
    actions = Counter(decision.action.value for decision in decisions)
    click.echo("   by action:")
    for action in [*(a.value for a in policy.outcome.precedence), "none"]:
        click.echo(f"     {action:<13} {actions.get(action, 0):>6}")
    reasons = Counter(reason.rule for decision in decisions for reason in decision.reasons[:1])
    click.echo("   top deciding reasons:")
    for rule, n in reasons.most_common(8):
        click.echo(f"     {rule:<26} {n:>6}")
    watch_demo(compiled, accounts, seed, step=4)
