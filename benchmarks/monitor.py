"""Event monitor throughput and memory: 1,000,000 events over 100,000 accounts.

    python -m benchmarks.monitor            # the full run (about a minute or two)
    python -m benchmarks.monitor --quick    # 100,000 events over 10,000 accounts

The shipped policy (1.1.0) with its three signals; a snapshot of synthetic accounts
(`sample_accounts`) and a synthetic event stream (`sample_events`, seeded) written to a
temporary JSONL file first. The timed part is what `clearline watch` does per line: parse the
JSON (its reader, NaN refused), check and apply the event (durable_rules matching, windows, re-decisions), and write each
decision whose action changed as canonical JSON (to a discarded buffer). Reported: events per
second of wall time and of CPU time (the machine may be shared), peak resident memory, and the
signal state still in memory at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from clearline.engine import compile_policy, load_policy, sample_accounts
from clearline.engine.events.event import stream_gc
from clearline.engine.events.monitor import Monitor
from clearline.engine.events.runner import event_json
from clearline.engine.synthetic.events import sample_events

POLICY = Path(__file__).resolve().parent.parent / "policies/credit-line-closure/1.1.0.yaml"


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(
    events: int = 1_000_000, accounts: int = 100_000, seed: int = 1, trace: bool = True
) -> dict[str, Any]:
    """Run the benchmark once; return its figures as plain data."""
    compiled = compile_policy(load_policy(POLICY))
    policy = compiled.policy
    snapshot = {a["account_id"]: a["facts"] for a in sample_accounts(policy, accounts, seed)}
    monitor = Monitor(compiled, snapshot, trace=trace)
    del snapshot
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for event in sample_events(
                policy, list(monitor.facts), events, seed, mean_gap_seconds=3
            ):
                handle.write(json.dumps(event) + "\n")
        rss_before = _peak_rss_mb()
        sink = io.StringIO()
        decisions = 0
        wall, cpu = time.perf_counter(), time.process_time()
        with path.open(encoding="utf-8") as handle, stream_gc():  # as `clearline watch` does
            for line, text in enumerate(handle, start=1):
                for made in monitor.feed(event_json(text), line):
                    sink.write(made.to_json())
                    decisions += 1
                if sink.tell() > 1 << 24:  # keep the buffer small: its size is not the monitor's
                    sink = io.StringIO()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "benchmark": "monitor",
        "policy": f"{policy.metadata.id} {policy.metadata.version}",
        "events": events,
        "accounts": accounts,
        "seed": seed,
        "trace": trace,
        "decisions": decisions,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "events_per_second": round(events / wall),
        "events_per_cpu_second": round(events / cpu),
        "peak_rss_mb": round(_peak_rss_mb()),
        "rss_before_stream_mb": round(rss_before),
        "accounts_with_live_signals": monitor.live_accounts(),
        "pending_expiries": monitor.signals.pending_expiries(),
        "durable_rules_facts_between_events": monitor.signals.durable_facts(),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: print a summary and the figures as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.monitor", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="100,000 events, 10,000 accounts")
    parser.add_argument("--no-trace", action="store_true", help="decision lines without trace")
    args = parser.parse_args(argv)
    events, accounts = (100_000, 10_000) if args.quick else (args.events, args.accounts)
    result = run(events, accounts, args.seed, trace=not args.no_trace)
    print(
        f"monitor: {result['events']:,} events over {result['accounts']:,} accounts in "
        f"{result['seconds']}s: {result['events_per_second']:,} events/s "
        f"({result['events_per_cpu_second']:,} per CPU second), "
        f"{result['decisions']:,} decisions, peak RSS {result['peak_rss_mb']} MB "
        f"({result['rss_before_stream_mb']} MB before the stream)",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
