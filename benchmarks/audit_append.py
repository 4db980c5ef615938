"""Audit log append throughput: records per second for batches of 1, 100 and 10,000.

    python -m benchmarks.audit_append [--quick] [--repeat N]

Each run decides fresh accounts with the shipped policy and full trace (not timed), then times
`AuditLog.append` in batches into a new SQLite file: building each canonical record, hashing it,
chaining it and writing it in one transaction per batch. Batches of 10,000 are measured with
the default durable setting (synchronous FULL: on disk when append returns) and with
`durable=False` (synchronous NORMAL: whole batches after a crash, the last ones may be lost on
power failure). Wall-clock time is reported with the CPU time of the process beside it, since
the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from clearline.engine import AuditLog, Decision, compile_policy, decide, load_policy
from clearline.engine.sample import sample_accounts

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
AS_OF = dt.date(2027, 2, 1)


def fresh_decisions(count: int, seed: int) -> list[Decision]:
    """Decisions not yet serialised (a Decision caches its record once built)."""
    compiled = compile_policy(load_policy(POLICY))
    return [
        decide(compiled, account["facts"], AS_OF, account_id=account["account_id"])
        for account in sample_accounts(compiled.policy, count, seed)
    ]


def run_once(batch: int, count: int, durable: bool, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds to append `count` decisions in batches of `batch`."""
    decisions = fresh_decisions(count, seed)
    with (
        tempfile.TemporaryDirectory() as folder,
        AuditLog(Path(folder) / "audit.db", durable=durable) as log,
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, count, batch):
            log.append(decisions[start : start + batch])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert len(log) == count
    return wall, cpu


def breakdown(count: int, seed: int) -> dict[str, float]:
    """CPU µs per record of each step of a 10,000-batch append, and of the reference record."""
    from clearline.engine.canonical import canonical_json

    decisions = fresh_decisions(count, seed)
    reference = fresh_decisions(count, seed)
    steps: dict[str, float] = {}
    cpu = time.process_time()
    [canonical_json(d.to_dict()) for d in reference]
    steps["reference record: canonical_json(to_dict())"] = time.process_time() - cpu
    cpu = time.process_time()
    [d.to_json() for d in decisions]
    steps["record: to_json() (record layout)"] = time.process_time() - cpu
    with tempfile.TemporaryDirectory() as folder, AuditLog(Path(folder) / "audit.db") as log:
        cpu = time.process_time()
        for start in range(0, count, 10_000):
            log.append(decisions[start : start + 10_000])
        steps["rest of append: inputs, hashes, chain, SQLite"] = time.process_time() - cpu
    return {step: seconds / count * 1e6 for step, seconds in steps.items()}


def main(argv: list[str] | None = None) -> int:
    """Print records per second for each batch size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records, one repeat")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best is shown)")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    scale = 5 if args.quick else 1
    cases = [
        ("1", 1, 500 // scale, True),
        ("100", 100, 20_000 // scale, True),
        ("10,000", 10_000, 50_000 // scale, True),
        ("10,000, durable=False", 10_000, 50_000 // scale, False),
    ]
    print(f"audit append, full trace, policy {POLICY.relative_to(ROOT)}, best of {repeat}")
    print(f"{'batch':<24}{'records':>9}{'records/s':>12}{'median/s':>11}{'cpu µs/rec':>12}")
    for label, batch, count, durable in cases:
        runs = [run_once(batch, count, durable, seed) for seed in range(repeat)]
        rates = [count / wall for wall, _ in runs]
        cpu = min(c for _, c in runs) / count * 1e6
        print(
            f"{label:<24}{count:>9,}{max(rates):>12,.0f}{statistics.median(rates):>11,.0f}"
            f"{cpu:>12.1f}"
        )
        sys.stdout.flush()
    print("\nCPU µs per record, batches of 10,000 (best of the runs):")
    runs = [breakdown(20_000 // scale, seed) for seed in range(repeat)]
    for step in runs[0]:
        print(f"  {step:<48}{min(run[step] for run in runs):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
