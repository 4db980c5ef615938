"""`clearline demo`: the main job end to end on the bundled policy and synthetic accounts."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import click

from clearline.engine import Decision, compile_policy, decide, sample_accounts
from clearline.engine.audit import BATCH_SIZE, AuditLog
from clearline.engine.load import analyse_policy
from clearline.engine.replay import SAME, replay
from clearline.engine.versions import PolicyRegistry

from .common import Failed, report

DEMO_POLICY = Path("policies/credit-line-closure/1.1.0.yaml")
DEMO_ACCOUNTS = 10_000
DEMO_AUDIT = Path("clearline-audit.db")


@click.command()
@click.option(
    "--policy", "policy_path", type=click.Path(), default=str(DEMO_POLICY), show_default=True
)
@click.option("-n", "count", type=click.IntRange(min=1), default=DEMO_ACCOUNTS, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--as-of", default="2027-02-01", show_default=True, help="Decision date.")
@click.option(
    "--audit",
    "audit_path",
    type=click.Path(),
    default=str(DEMO_AUDIT),
    show_default=True,
    help="Audit log to write (replaced on every run).",
)
def demo(policy_path: str, count: int, seed: int, as_of: str, audit_path: str) -> None:
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
    record_and_verify(decisions, Path(audit_path), policy_path)


def record_and_verify(decisions: list[Decision], audit_path: Path, policy_path: str) -> None:
    """Write the decisions to a fresh audit log, verify its chain and replay it."""
    click.echo(f"4. record them in {audit_path} (fresh), in batches of {BATCH_SIZE}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{audit_path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    with AuditLog(audit_path) as log:
        for start in range(0, len(decisions), BATCH_SIZE):
            log.append(decisions[start : start + BATCH_SIZE])
        elapsed = time.perf_counter() - started
        click.echo(
            f"   {len(decisions)} records in {elapsed:.3f}s "
            f"({len(decisions) / elapsed:,.0f} records/s, full trace)"
        )
        click.echo("5. verify the hash chain")
        result = log.verify()
        if result.problem is not None:
            click.echo(f"   FAILED at record {result.problem.seq}: {result.problem.message}")
            raise Failed()
        click.echo(f"   ok: {result.count} records, head {result.head[:16]}…")
        click.echo(f"6. replay every decision with the policy version it names ({policy_path})")
        registry = PolicyRegistry.load(policy_path)
        outcomes = Counter(outcome.status for outcome in replay(log.records(), registry))
    same = outcomes.get(SAME, 0)
    total = sum(outcomes.values())
    click.echo(f"   {same} of {total} reproduced byte for byte ({100.0 * same / total:.1f}%)")
    if same != total:
        raise Failed()
    click.echo(f"   see one: clearline audit show {audit_path} #1")
