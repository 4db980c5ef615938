"""Audit log append throughput: records per second for batches of 1, 100 and 10,000.

    python -m benchmarks.audit_append [--quick] [--repeat N]
    python -m benchmarks.audit_append --grow N

Each run decides fresh accounts with the shipped policy and full trace (not timed), opens a new
SQLite file and appends one untimed warm-up batch (as a running service has: the policy's
common record templates seen, the writer process started), then times `AuditLog.append` in
batches: each decision's stored parts (inputs, input hash, record template), its id, hashing,
chaining and writing in one transaction per batch. The policy is compiled once per benchmark
process, as in a service; the decisions are new objects every run, so nothing of their records
is cached.
Batches of 10,000 are measured with the default durable setting (synchronous FULL: on disk when
append returns), with `durable=False` (synchronous NORMAL: whole batches after a crash, the
last ones may be lost on power failure), in one process (`parallel=False`: no writer process),
and cold (a newly compiled policy and no warm-up: the first batches of a new process, as in a
one-off `clearline decide --audit`). Wall-clock time is reported with the CPU time of this
process and of the writer process beside it, since the machine may be shared, and each line
with the time of a fixed piece of pure-Python work measured just before it (`ref µs`): a
virtual machine's speed moves from minute to minute, and this shows where it stood.

`--grow N` appends N fresh decisions in batches of 10,000 into one log (after the warm-up
batch) and prints the rate for every 100,000: whether an append slows down as the log grows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

from clearline.engine import (
    AuditLog,
    CompiledPolicy,
    Decision,
    compile_policy,
    decide,
    load_policy,
)
from clearline.engine.audit.log import PARALLEL_MIN
from clearline.engine.synthetic.accounts import sample_accounts

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
AS_OF = dt.date(2027, 2, 1)


_COMPILED: list[CompiledPolicy] = []


def fresh_decisions(count: int, seed: int, cold: bool = False) -> list[Decision]:
    """Decisions not yet serialised (a Decision caches its record once built); `cold`: under a
    newly compiled policy, which has built none of its record templates yet."""
    if cold or not _COMPILED:
        _COMPILED[:] = [compile_policy(load_policy(POLICY))]
    compiled = _COMPILED[0]
    return [
        decide(compiled, account["facts"], AS_OF, account_id=account["account_id"])
        for account in sample_accounts(compiled.policy, count, seed)
    ]


def reference_loop() -> float:
    """µs for `sum(range(1000))`, the best of 5: the machine's speed at the moment."""
    return min(timeit.repeat("sum(range(1000))", number=2_000, repeat=5)) / 2_000 * 1e6


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(
    batch: int, count: int, durable: bool, seed: int, parallel: bool = True, cold: bool = False
) -> tuple[float, float, float]:
    """Wall, CPU and writer-process CPU seconds to append `count` decisions in batches."""
    decisions = fresh_decisions(count, seed, cold)
    warm_up = [] if cold else fresh_decisions(batch, seed + 1_000)
    with tempfile.TemporaryDirectory() as folder:
        log = AuditLog(Path(folder) / "audit.db", durable=durable, parallel=parallel)
        log.append(warm_up)
        writer = _children_cpu()
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, count, batch):
            log.append(decisions[start : start + batch])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert len(log) == len(warm_up) + count
        log.close()  # the writer process ends here: its CPU time is counted once it has
        # The process also wrote the warm-up batch: its CPU time is shared out per record.
        writer = (_children_cpu() - writer) * count / (len(warm_up) + count)
    return wall, cpu, writer


def breakdown(count: int, seed: int) -> dict[str, float]:
    """CPU µs per record of the steps of a 10,000-batch append, and of the reference record."""
    from clearline.engine.audit.log import decision_rows
    from clearline.engine.canonical import canonical_json

    reference = fresh_decisions(count, seed)
    steps: dict[str, float] = {}
    cpu = time.process_time()
    [canonical_json(d.to_dict()) for d in reference]
    steps["reference: canonical_json(to_dict()) alone"] = time.process_time() - cpu
    decisions = fresh_decisions(count, seed)
    cpu = time.process_time()
    decision_rows(decisions, "salt", "", {})
    steps["rows: inputs, record template"] = time.process_time() - cpu
    with (
        tempfile.TemporaryDirectory() as folder,
        AuditLog(Path(folder) / "audit.db", parallel=False) as log,
    ):
        cpu = time.process_time()
        for start in range(0, count, 10_000):
            log.append(decisions[start : start + 10_000])
        steps["the rest, in one process: hashes, ids, SQLite"] = time.process_time() - cpu
    return {step: seconds / count * 1e6 for step, seconds in steps.items()}


def grow(total: int, batch: int = 10_000, every: int = 100_000) -> None:
    """Append `total` fresh decisions in batches into one log (after a warm-up batch); print
    the rate, the CPU per record of both processes and the file's size for each `every`."""
    print(f"audit append into one growing log, batches of {batch:,}, full trace")
    print(
        f"{'appended':>10}{'records/s':>12}{'cpu µs/rec':>12}{'writer µs/rec':>15}"
        f"{'ref µs':>14}{'file MB':>9}"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.db"
        log = AuditLog(path)
        log.append(fresh_decisions(batch, 10**9))  # warm-up, not counted (a seed of its own)
        wall = cpu = writer = 0.0
        references: list[float] = []
        for start in range(0, total, batch):
            decisions = fresh_decisions(min(batch, total - start), start // batch)
            references.append(reference_loop())
            began, used = time.perf_counter(), time.process_time()
            log.append(decisions)
            wall += time.perf_counter() - began
            cpu += time.process_time() - used
            if log._writer and len(decisions) >= PARALLEL_MIN:  # else it is written here
                writer += log._writer.work
            done = start + len(decisions)
            if done % every == 0 or done >= total:
                span = (done - 1) % every + 1
                size = sum(Path(f"{path}{end}").stat().st_size for end in ("", "-wal"))
                print(
                    f"{done:>10,}{span / wall:>12,.0f}{cpu / span * 1e6:>12.1f}"
                    f"{writer / span * 1e6:>15.1f}"
                    f"{f'{min(references):.1f} - {max(references):.1f}':>14}{size / 1e6:>9,.0f}"
                )
                sys.stdout.flush()
                wall = cpu = writer = 0.0
                references = []
        log.close()


def main(argv: list[str] | None = None) -> int:
    """Print records per second for each batch size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records, one repeat")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best is shown)")
    parser.add_argument(
        "--grow", type=int, metavar="N", help="append into one log up to N records instead"
    )
    args = parser.parse_args(argv)
    if args.grow is not None:
        if args.grow < 1:
            parser.error("--grow needs a positive number of records")
        grow(args.grow)
        return 0
    repeat = 1 if args.quick else args.repeat
    scale = 5 if args.quick else 1
    cases = [
        ("1", 1, 500 // scale, True, True, False),
        ("100", 100, 20_000 // scale, True, True, False),
        ("10,000", 10_000, 50_000 // scale, True, True, False),
        ("10,000, durable=False", 10_000, 50_000 // scale, False, True, False),
        ("10,000, parallel=False", 10_000, 50_000 // scale, True, False, False),
        ("10,000, cold", 10_000, 50_000 // scale, True, True, True),
    ]
    print(f"audit append, full trace, policy {POLICY.relative_to(ROOT)}, best of {repeat}")
    print(
        f"{'batch':<24}{'records':>9}{'records/s':>12}{'median/s':>11}{'cpu µs/rec':>12}"
        f"{'writer µs/rec':>15}{'ref µs':>8}"
    )
    for label, batch, count, durable, parallel, cold in cases:
        reference = reference_loop()
        runs = [run_once(batch, count, durable, seed, parallel, cold) for seed in range(repeat)]
        rates = [count / wall for wall, _, _ in runs]
        cpu = min(c for _, c, _ in runs) / count * 1e6
        writer = min(w for _, _, w in runs) / count * 1e6
        print(
            f"{label:<24}{count:>9,}{max(rates):>12,.0f}{statistics.median(rates):>11,.0f}"
            f"{cpu:>12.1f}{writer:>15.1f}{reference:>8.1f}"
        )
        sys.stdout.flush()
    print("\nCPU µs per record, batches of 10,000 (best of the runs):")
    runs = [breakdown(20_000 // scale, seed) for seed in range(repeat)]
    for step in runs[0]:
        print(f"  {step:<48}{min(run[step] for run in runs):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
