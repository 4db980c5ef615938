"""The event-monitor step of `clearline demo`: a synthetic event file streamed through the monitor."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from clearline.engine import CompiledPolicy
from clearline.engine.events.monitor import Monitor
from clearline.engine.synthetic.events import sample_events

DEMO_EVENTS = 50_000
DEMO_WATCHED_ACCOUNTS = 5_000


def watch_demo(
    compiled: CompiledPolicy,
    accounts: Sequence[Mapping[str, Any]],
    seed: int,
    step: int,
    out: Path = Path("out"),
) -> None:
    """Write a snapshot and an event file, stream the events through the monitor, summarise."""
    policy = compiled.policy
    if not policy.signals:
        return
    watched = accounts[:DEMO_WATCHED_ACCOUNTS]
    out.mkdir(exist_ok=True)
    facts_file, events_file = out / "demo-facts.jsonl", out / "demo-events.jsonl"
    click.echo(
        f"{step}. stream {DEMO_EVENTS} synthetic events over {len(watched)} accounts "
        f"through the monitor ({', '.join(s.name for s in policy.signals)})"
    )
    with facts_file.open("w", encoding="utf-8") as handle:
        for account in watched:
            handle.write(json.dumps(account, ensure_ascii=False) + "\n")
    ids = [str(account["account_id"]) for account in watched]
    with events_file.open("w", encoding="utf-8") as handle:
        for event in sample_events(policy, ids, DEMO_EVENTS, seed, mean_gap_seconds=60):
            handle.write(json.dumps(event) + "\n")
    monitor = Monitor(compiled, {str(a["account_id"]): a["facts"] for a in watched})
    actions: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    started = time.perf_counter()
    with events_file.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            for made in monitor.feed(json.loads(text), line):
                actions[made.decision.action.value] += 1
                causes["an event" if made.cause is not None else "a window ending"] += 1
    elapsed = time.perf_counter() - started
    click.echo(
        f"   {DEMO_EVENTS} events in {elapsed:.2f}s ({DEMO_EVENTS / elapsed:,.0f} events/s), "
        f"{sum(actions.values())} action changes; accounts with live signals at the end: "
        f"{monitor.live_accounts()}"
    )
    click.echo("   action changes by new action:")
    for action in [*(a.value for a in policy.outcome.precedence), "none"]:
        click.echo(f"     {action:<13} {actions.get(action, 0):>6}")
    click.echo(f"   caused by: {', '.join(f'{k} {v}' for k, v in causes.most_common())}")
    click.echo(
        f"   try: clearline watch --policy {policy.source} --events {events_file} "
        f"--facts {facts_file}"
    )
