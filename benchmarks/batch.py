"""Batch engines per million accounts: `clearline batch` on DuckDB (Parquet to Parquet) against
the native engine's `clearline decide --no-trace` on the same sampled accounts; Spark optional.

    python -m benchmarks.batch [-n 1000000] [--rounds 3] [--spark] [--out benchmarks/results/batch.json]

DuckDB and the native engine run side by side in interleaved rounds; each is reported by its
median round, and the ratio is the median of the rounds' ratios (the load moves between rounds).

CPU is user + sys of the command and everything it started (DuckDB threads, the JVM), so a
busy machine changes wall times far more than the figures compared here.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
AS_OF = "2027-03-01"
PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Become the subreaper of this process tree (Linux), so a process the command leaves
    behind (Spark's JVM outlives its Python driver) is reaped here and its CPU counted."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit("cannot count the CPU of the processes a command leaves behind")


def timed(*args: str) -> tuple[float, float]:
    """(CPU seconds user+sys of the command and every process it started, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "clearline", *args], capture_output=True, text=True
    )
    while True:  # reap what the command left behind: its CPU joins RUSAGE_CHILDREN
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def sample(folder: Path, n: int) -> tuple[Path, Path]:
    """n sampled accounts as `clearline decide` JSONL and as flat Parquet."""
    jsonl, parquet = folder / "accounts.jsonl", folder / "accounts.parquet"
    subprocess.run(
        [sys.executable, "-m", "clearline", "sample", "--policy", str(POLICY), "-n", str(n),
         "--seed", "21", "-o", str(jsonl)],
        check=True,
    )  # fmt: skip
    flat = f"SELECT account_id, facts.* FROM read_json('{jsonl}', format='newline_delimited')"
    duckdb.execute(f"COPY ({flat}) TO '{parquet}' (FORMAT parquet)")
    return jsonl, parquet


def median_run(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The run of median CPU (its CPU and wall seconds)."""
    return sorted(runs)[len(runs) // 2]


def row(engine: str, n: int, cpu: float, wall: float, note: str = "") -> dict[str, Any]:
    """One results row, per million accounts."""
    scale = 1_000_000 / n
    return {
        "engine": engine,
        "accounts": n,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "cpu_s_per_million": round(cpu * scale, 2),
        "note": note,
    }


def main() -> None:
    """Run the comparison and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--spark", action="store_true", help="also Spark local[2]")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "batch.json")
    options = parser.parse_args()
    adopt_orphans()
    n = options.n
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        jsonl, parquet = sample(folder, n)
        common = ("--policy", str(POLICY), "--as-of", AS_OF)
        out = str(folder / "out.parquet")
        duck, native = [], []
        for _ in range(options.rounds):
            duck.append(timed("batch", *common, "--input", str(parquet), "--output", out))
            native.append(timed("decide", *common, "--no-trace", "-o", os.devnull, str(jsonl)))
        ratios = [b[0] / a[0] for a, b in zip(duck, native, strict=True)]
        rounds = f"median of {options.rounds} rounds"
        rows = [
            row("duckdb (batch, Parquet to Parquet)", n, *median_run(duck)),
            row("native (decide --no-trace, JSONL)", n, *median_run(native), rounds),
        ]
        ratio = statistics.median(ratios)
        rows[0]["note"] = (
            f"{ratio:.1f}x less CPU than native (target 15x; rounds: "
            + ", ".join(f"{r:.1f}x" for r in ratios)
            + ")"
        )
        if options.spark:
            small = folder / "small.parquet"
            duckdb.execute(f"COPY (SELECT * FROM '{parquet}' LIMIT 1000) TO '{small}' (FORMAT parquet)")  # fmt: skip
            spark = ("--engine", "spark", "--spark-master", "local[2]")
            start_cpu, start_wall = timed("batch", *common, *spark, "--input", str(small), "--output", str(folder / "s1.parquet"))  # fmt: skip
            cpu, wall = timed("batch", *common, *spark, "--input", str(parquet), "--output", str(folder / "s2.parquet"))  # fmt: skip
            start_up = row("spark local[2] start-up (1,000 accounts)", 1_000, start_cpu, start_wall)  # fmt: skip
            start_up["cpu_s_per_million"] = None  # paid once per run, whatever the size
            start_up["note"] = "once per run; subtracted below"
            rows.append(start_up)
            work = row(
                "spark local[2] (start-up subtracted)", n, cpu - start_cpu, wall - start_wall
            )
            rows.append(work)
    load = os.getloadavg()[0]
    result = {
        "title": "Batch engines: CPU per million accounts (shipped 1.1.0)",
        "when": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": f"python -m benchmarks.batch -n {n} --rounds {options.rounds}"
        + (" --spark" if options.spark else ""),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m_at_end": round(load, 1),
            "duckdb": duckdb.__version__,
        },
        "rows": rows,
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
