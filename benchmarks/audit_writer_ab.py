"""Two audit writer scripts side by side: batches alternate between two logs, one per script.

    python -m benchmarks.audit_writer_ab A.py B.py [--rounds N] [--batch N]

The writer process runs `engine/audit/writer.py` as a script of its own (the standard library
and orjson), so an earlier version of it runs beside this checkout's:
`git show REV:engine/audit/writer.py > before.py`, then `python -m benchmarks.audit_writer_ab
before.py engine/audit/writer.py` (with `merkle.py` beside `before.py`: the writer loads it from its own folder). The two must speak the same frames (see `writer`).

Both logs are appended to by this process, the same caller code, so what differs is the writer
process alone. Each round appends a batch of fresh decisions to each log, A then B, then B
then A the next round, so that the machine's drift (this 2-core virtual machine's speed moves
by 1.5 - 2 times within minutes) falls on both alike; whole benchmark runs one after the other
cannot tell a 5 - 10% change from that drift. Prints each side's records per second, its CPU
per record and that of its writer process, and in how many rounds, and by how much (the
geometric mean of the rounds), B was the faster. The writer's CPU is that of its main thread
(the checkpoint thread, about 0.6 µs per record, is left out), as the engine balances it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from clearline.engine import AuditLog
from clearline.engine.audit import client as writer_client
from clearline.engine.audit.log import PARALLEL_MIN, AuditError

from .audit_append import fresh_decisions

SIDES = ("A", "B")


class ComparisonError(Exception):
    """A side's writer did not run, or wrote a log that does not verify."""


def compare(scripts: dict[str, Path], rounds: int, batch: int) -> dict[str, list[float]]:
    """Wall seconds of each side's appends, round by round (after one warm-up batch each)."""
    walls: dict[str, list[float]] = {side: [] for side in SIDES}
    cpu: dict[str, float] = dict.fromkeys(SIDES, 0.0)
    writer: dict[str, float] = dict.fromkeys(SIDES, 0.0)
    started = writer_client.WRITER_SCRIPT
    with tempfile.TemporaryDirectory() as folder:
        logs: dict[str, AuditLog] = {}
        try:
            for n, side in enumerate(SIDES):
                # A log starts its writer process at its first large batch (and again if it
                # stopped) from this path: set before each of the side's appends.
                writer_client.WRITER_SCRIPT = scripts[side]
                logs[side] = AuditLog(Path(folder) / f"{side}.db")
                logs[side].append(fresh_decisions(batch, 10**9 + n))
                if logs[side]._writer is None:
                    raise ComparisonError(f"{scripts[side]}: the writer process did not start")
            for turn in range(rounds):
                for side in SIDES if turn % 2 == 0 else reversed(SIDES):
                    decisions = fresh_decisions(batch, 2 * turn + SIDES.index(side))
                    writer_client.WRITER_SCRIPT = scripts[side]
                    began, used = time.perf_counter(), time.process_time()
                    logs[side].append(decisions)
                    walls[side].append(time.perf_counter() - began)
                    cpu[side] += time.process_time() - used
                    writer[side] += logs[side]._writer.work if logs[side]._writer else 0.0
            for side, log in logs.items():
                if not log.verify().ok:
                    raise ComparisonError(f"{scripts[side]}: the log it wrote does not verify")
        finally:
            writer_client.WRITER_SCRIPT = started
            for log in logs.values():
                log.close()
    records = rounds * batch
    for side in SIDES:
        print(
            f"{side}  {scripts[side]}: {records / sum(walls[side]):,.0f} records/s "
            f"(median round {batch / statistics.median(walls[side]):,.0f}), "
            f"cpu {cpu[side] / records * 1e6:.1f} µs/rec, writer {writer[side] / records * 1e6:.1f}"
        )
    ratios = [a / b for a, b in zip(walls["A"], walls["B"], strict=True)]
    print(
        f"B faster in {sum(r > 1 for r in ratios)} of {rounds} rounds; "
        f"B/A records/s, geometric mean of the rounds: {statistics.geometric_mean(ratios):.3f}"
    )
    return walls


def main(argv: list[str] | None = None) -> int:
    """Compare two writer scripts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="writer script A (say, an earlier version)")
    parser.add_argument("b", type=Path, help="writer script B")
    parser.add_argument("--rounds", type=int, default=20, help="batches per side, even (20)")
    parser.add_argument("--batch", type=int, default=10_000, help="records per batch (10,000)")
    args = parser.parse_args(argv)
    for script in (args.a, args.b):
        if not script.is_file():
            parser.error(f"{script}: no such file")
    if args.rounds < 2 or args.rounds % 2:
        parser.error("--rounds needs an even number (each side goes first as often)")
    if args.batch < PARALLEL_MIN:
        parser.error(
            f"--batch needs at least {PARALLEL_MIN:,} records (smaller ones skip the writer process)"
        )
    try:
        compare({"A": args.a.resolve(), "B": args.b.resolve()}, args.rounds, args.batch)
    except (AuditError, ComparisonError) as exc:  # say, a script that is not a writer
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
