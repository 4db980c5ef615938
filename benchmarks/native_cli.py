"""The native CLI against the CPython floor for the same output volume, side by side in one run.

    python -m benchmarks.native_cli [-n 1000000] [--rounds 3] [--out benchmarks/results/native_cli.json]

Samples N accounts of the shipped 1.1.0, then, in interleaved rounds, runs
`clearline decide --audit DB` (full trace and audit), `clearline decide --no-trace` and the floor
(`benchmarks/floor.py`: orjson, the hand-written rules, the same bytes out and a hash-chained
SQLite row per account). Reports the median wall and CPU seconds (user + system of the process
and its writer process), the peak RSS of each, and the ratio of Clearline to the floor (the
median of the ratios within a round). The CPU ratio is the one to read on a busy machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
AS_OF = "2027-03-01T00:00:00Z"
TARGET = 2.5  # issue 21: full trace and audit within 2.5x of the floor


def run(args: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one command and the processes it waited for."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed ({status})")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def trace_bytes(records: Path) -> int:
    """The mean length of the trace Clearline wrote, over the first 2,000 records."""
    sizes = []
    with records.open(encoding="utf-8") as lines:
        for _, line in zip(range(2000), lines, strict=False):
            sizes.append(len(line) - line.index(',"trace":') - len(',"trace":}\n'))
    return round(statistics.mean(sizes))


def _median_ratio(runs: list[Any], floor_runs: list[Any], column: int) -> float:
    return statistics.median(a[column] / b[column] for a, b in zip(runs, floor_runs, strict=True))


def main() -> None:
    """Run the comparison and write the results file."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    default_out = ROOT / "benchmarks" / "results" / "native_cli.json"
    parser.add_argument("--out", type=Path, default=default_out)
    options = parser.parse_args()
    clearline = [str(Path(sys.executable).with_name("clearline"))]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        accounts = work / "accounts.jsonl"
        sample = [*clearline, "sample", "--policy", str(POLICY), "-n", str(options.n)]
        subprocess.run([*sample, "--seed", "1", "-o", str(accounts)], check=True)
        decide = [*clearline, "decide", "--policy", str(POLICY), "--as-of", AS_OF]
        probe = work / "probe.jsonl"
        head = work / "head.jsonl"
        with accounts.open() as lines, head.open("w") as out:
            out.writelines(line for _, line in zip(range(2000), lines, strict=False))
        subprocess.run([*decide, "-o", str(probe), str(head)], check=True)
        trace = trace_bytes(probe)
        commands = {
            "clearline decide --audit (full trace)": lambda r: [
                *decide,
                "--audit",
                str(work / f"a{r}.db"),
                "-o",
                str(work / "c.jsonl"),
                str(accounts),
            ],
            "clearline decide --no-trace": lambda r: [
                *decide,
                "--no-trace",
                "-o",
                str(work / "n.jsonl"),
                str(accounts),
            ],
            "CPython floor, same output and audit rows": lambda r: [
                sys.executable,
                "-m",
                "benchmarks.floor",
                str(accounts),
                str(work / "f.jsonl"),
                str(work / f"f{r}.db"),
                str(trace),
                AS_OF,
            ],
        }
        measured: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        sizes: dict[str, int] = {}
        for r in range(options.rounds):
            for name, command in commands.items():
                measured[name].append(run(command(r)))
                print(name, measured[name][-1], file=sys.stderr)
        sizes = {
            name: (work / file).stat().st_size
            for name, file in zip(commands, ("c.jsonl", "n.jsonl", "f.jsonl"), strict=True)
        }
    floor_runs = measured[list(commands)[-1]]
    rows: list[dict[str, Any]] = []
    for name, runs in measured.items():
        wall = statistics.median(m[0] for m in runs)
        cpu = statistics.median(m[1] for m in runs)
        rows.append(
            {
                "command": name,
                "accounts": options.n,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                # the ratio within each round (the load changes between rounds), then the median
                "x_floor_wall": round(_median_ratio(runs, floor_runs, 0), 2),
                "x_floor_cpu": round(_median_ratio(runs, floor_runs, 1), 2),
                "peak_rss_mib": round(max(m[2] for m in runs), 1),
                "bytes_out_per_account": round(sizes[name] / options.n),
            }
        )
    full = rows[0]
    verdict = "met" if full["x_floor_cpu"] <= TARGET else "missed"
    result = {
        "title": f"Native CLI against the CPython floor (target {TARGET}x with trace and audit:"
        f" {verdict} at {full['x_floor_cpu']}x CPU, {full['x_floor_wall']}x wall)",
        "when": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": f"python -m benchmarks.native_cli -n {options.n} --rounds {options.rounds}",
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        },
        "rows": rows,
    }
    options.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
