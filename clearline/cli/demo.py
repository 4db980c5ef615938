"""`clearline demo`: the main job end to end on the bundled policy and synthetic accounts."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from clearline.engine import (
    CompiledPolicy,
    Decision,
    compile_policy,
    decide,
    sample_accounts,
)
from clearline.engine.audit.log import BATCH_SIZE, AuditLog
from clearline.engine.audit.replay import SAME, replay
from clearline.engine.cases.lifecycle import CaseError, CaseEvent, case_event
from clearline.engine.cases.store import DEFAULT_CASE_STORE, KIND_CASE_TRANSITION, CaseStore
from clearline.engine.model import ADVERSE_ACTIONS, ActionKind, condition_facts
from clearline.engine.policy.load import analyse_policy
from clearline.engine.versions import PolicyRegistry

from .bundled import shipped
from .common import Failed, load_compiled, report
from .demo_watch import watch_demo

DEMO_POLICY = Path("policies/credit-line-closure/1.1.0.yaml")
DEMO_ACCOUNTS = 10_000
DEMO_AUDIT = Path("clearline-audit.db")
DEMO_OUT = Path("out")


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
    policy_path = str(shipped(policy_path))
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
    _cases(compiled, decisions, policy_path, moment, seed, Path(audit_path))
    watch_demo(compiled, accounts, seed, step=9)
    click.echo(f"10. write the policy disclosure, self-check pages and two notices to {DEMO_OUT}/")
    for path in write_documents(compiled, decisions, DEMO_OUT):
        click.echo(f"   {path}")
    closed = next((d for d in decisions if d.action is ActionKind.CLOSE), None)
    if closed is not None:
        click.echo(
            f"   the same notice from the audit log: clearline notice --audit {audit_path} "
            f"--id {closed.decision_id[:12]} --lang en"
        )
    _policy_change(policy_path, DEMO_OUT)
    click.echo(
        f"12. serve decisions over HTTP, recorded in the same log: clearline serve "
        f"--policies {Path(policy_path).parent.parent} --audit {audit_path}"
    )


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


GRACE_DAYS = 60


def _cases(
    compiled: CompiledPolicy,
    decisions: list[Decision],
    policy_path: str,
    decided_on: dt.date,
    seed: int,
    audit_path: Path,
) -> None:
    """Open a case per adverse decision, play a seeded mix of customer events, advance; every
    transition also goes to the audit log beside the case store."""
    adverse = [d for d in decisions if d.action in ADVERSE_ACTIONS]
    clean = [d.inputs() for d in decisions if d.action is ActionKind.NONE]
    until = decided_on + dt.timedelta(days=GRACE_DAYS)
    store_path = audit_path.parent / DEFAULT_CASE_STORE
    click.echo(f"7. open {len(adverse)} grace-period cases in {store_path} (fresh)")
    for suffix in ("", "-journal"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    rng = random.Random(seed)
    started = time.perf_counter()
    recorded = rejected = 0
    with AuditLog(audit_path) as log, CaseStore(store_path, audit=log) as store:
        with store.batch():
            for decision in adverse:
                case = store.open(compiled, decision, policy_path)
                for event in _customer_events(compiled, decision, clean, decided_on, rng):
                    try:
                        store.record(case.case_id, event, compiled)
                        recorded += 1
                    except CaseError:
                        rejected += 1  # e.g. an appeal after its window closed
        click.echo(
            f"   customers act: {recorded} events recorded, {rejected} refused as not allowed"
        )
        click.echo(f"8. advance every case to {until} (the daily batch job)")
        store.advance(until.isoformat(), compiled)
        states = store.states()
        elapsed = time.perf_counter() - started
        transitions = sum(1 for _ in log.records(kind=KIND_CASE_TRANSITION))
        verified = log.verify()
    click.echo(f"   in {elapsed:.2f}s; states on {until}:")
    for state, n in states.items():
        click.echo(f"     {state.value:<15} {n:>6}")
    chain = "ok" if verified.problem is None else f"FAILED at record {verified.problem.seq}"
    click.echo(f"   {transitions} transitions in the audit log; hash chain {chain}")
    if verified.problem is not None:
        raise Failed()


def _customer_events(
    compiled: CompiledPolicy,
    decision: Decision,
    clean: list[dict[str, Any]],
    decided_on: dt.date,
    rng: random.Random,
) -> list[CaseEvent]:
    """A plausible, seeded story: notice goes out; some customers cure, some appeal."""
    tz = compiled.policy.metadata.timezone

    def on(days: int, kind: str, **extra: Any) -> CaseEvent:
        return case_event(kind, decided_on + dt.timedelta(days=days), tz=tz, **extra)

    notice = 0 if rng.random() < 0.95 else 2
    events = [on(notice, "notice_sent")]
    roll = rng.random()
    if roll < 0.35 and clean:
        # The customer changes what the deciding rule looks at, as a customer in good standing
        # has it; whether that cures, and in time, is the engine's call.
        rule = compiled.policy.rule(decision.reasons[0].rule)
        model = rng.choice(clean)
        facts = {k: model[k] for k in condition_facts(rule.when) if k in model} if rule else {}
        if facts:
            events.append(on(notice + rng.randint(1, 20), "reevaluated", facts=facts))
    elif roll < 0.55:
        filed = notice + rng.randint(1, 35)
        events.append(on(filed, "appeal_filed"))
        if rng.random() < 0.6:
            outcome = "overturned" if rng.random() < 0.35 else "upheld"
            events.append(on(filed + rng.randint(2, 12), "review_decided", outcome=outcome))
    return events


def write_documents(
    compiled: CompiledPolicy, decisions: list[Decision], folder: Path
) -> list[Path]:
    """The disclosure in every language (md, html) and notices of one closed and one suspended
    account; returns the files written."""
    from clearline.disclosures import decision_notice, markdown_to_html, policy_disclosure

    folder.mkdir(parents=True, exist_ok=True)
    meta = compiled.policy.metadata
    written: list[Path] = []

    def write(name: str, markdown: str, lang: str) -> None:
        for suffix, text in (("md", markdown), ("html", markdown_to_html(markdown, lang))):
            path = folder / f"{name}.{lang}.{suffix}"
            path.write_text(text, encoding="utf-8")
            written.append(path)

    from clearline.disclosures.selfcheck import selfcheck_page

    # Facts the policy marks `known_to_customer: false` are not asked by the page.
    for lang in meta.languages:
        write(f"disclosure-{meta.id}-{meta.version}", policy_disclosure(compiled, lang), lang)
        page = folder / f"selfcheck-{meta.id}.{lang}.html"
        page.write_text(selfcheck_page(compiled.policy, lang), encoding="utf-8")
        written.append(page)
    for action in (ActionKind.CLOSE, ActionKind.SUSPEND):
        chosen = next((d for d in decisions if d.action is action), None)
        if chosen is None:
            continue
        record = folder / f"decision-{action.value}.json"
        record.write_text(chosen.to_json() + "\n", encoding="utf-8")
        written.append(record)
        for lang in meta.languages:
            write(
                f"notice-{action.value}-{chosen.account_id}",
                decision_notice(compiled, chosen, lang),
                lang,
            )
    return written


DEMO_PREVIOUS = Path("policies/credit-line-closure/1.0.0.yaml")


def _policy_change(policy_path: str, folder: Path) -> None:
    """The shipped policy's previous version against this one: the diff and its change notice."""
    from clearline.disclosures import markdown_to_html
    from clearline.disclosures.change_notice import change_notice
    from clearline.engine.change.diff import diff_policies

    if Path(policy_path) != shipped(DEMO_POLICY):
        return  # the change step is about the shipped pair only
    old = load_compiled(str(shipped(DEMO_PREVIOUS))).policy
    new = load_compiled(policy_path).policy
    change = diff_policies(old, new)
    click.echo(
        f"11. what changes from {old.metadata.version} to {new.metadata.version}: "
        f"{len(change.adverse)} adverse, {len(change.favourable)} favourable, "
        f"{len(change.changes) - len(change.adverse) - len(change.favourable)} neutral"
    )
    for item in change.adverse:
        click.echo(f"   adverse: {item.where}: {item.old} -> {item.new} ({item.why})")
    for lang in new.metadata.languages:
        markdown = change_notice(change, lang)
        for suffix, text in (("md", markdown), ("html", markdown_to_html(markdown, lang))):
            path = folder / f"change-{old.metadata.version}-{new.metadata.version}.{lang}.{suffix}"
            path.write_text(text, encoding="utf-8")
            click.echo(f"   {path}")
