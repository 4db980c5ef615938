"""Per account and per million accounts: the peers beside Clearline and the batch engines.

A CPU cost of x µs per account is x CPU seconds per 1,000,000 accounts, so the peers' per-account
figures of a `benchmarks.run` pass and the batch engines' figures of `benchmarks.batch`
(`benchmarks/results/batch.json`, 1,000,000 accounts from Parquet or JSONL through the command
line) go into one table. The batch figures include reading and writing the files; the peers'
include neither, which favours the peers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BATCH = Path(__file__).resolve().parent / "results" / "batch.json"
TITLE = "Per account and per million accounts: peers, Clearline and the batch engines"
DUCKDB_OVER_BEST_PEER = 10.0  # issue 21: DuckDB at least 10x less CPU than the best peer

# The batch rows by the start of their `engine` text in batch.json.
BATCH_ENGINES = (
    ("duckdb", "DuckDB, clearline batch (Parquet to Parquet)"),
    ("spark local[2] (start-up subtracted)", "Spark local[2], clearline batch"),
    ("native", "native, clearline decide --no-trace (JSONL)"),
)


def read_batch(path: Path = BATCH) -> dict[str, Any] | None:
    """The batch benchmark's latest result, or None when it has not been run."""
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def _row(
    engine: str, configuration: str, setup: str, us: float, clearline_us: float, source: str
) -> dict[str, Any]:
    return {
        "engine": engine,
        "configuration": configuration,
        "setup": setup,
        "µs CPU per account": round(us, 2),
        "× Clearline": round(us / clearline_us, 2),
        "CPU s per 1,000,000 accounts": round(us, 1),  # x µs per account = x s per million
        "measured": source,
    }


def batch_figures(batch: Mapping[str, Any]) -> list[tuple[str, float | None, str]]:
    """(configuration, CPU seconds per million or None, source) of each batch engine."""
    figures: list[tuple[str, float | None, str]] = []
    for prefix, configuration in BATCH_ENGINES:
        found = [
            row
            for row in batch.get("rows", [])
            if str(row.get("engine", "")).startswith(prefix) and "cpu_s_per_million" in row
        ]
        if found:
            row = found[0]
            source = f"benchmarks.batch, {row['accounts']:,} accounts, {batch.get('when')}"
            start_up = [r for r in batch.get("rows", []) if "start-up (" in str(r.get("engine"))]
            if prefix.startswith("spark") and start_up:
                source += f"; start-up {start_up[0]['cpu_s']} s CPU once, not included"
            figures.append((configuration, float(row["cpu_s_per_million"]), source))
        else:
            flag = " --spark" if prefix.startswith("spark") else ""
            figures.append((configuration, None, f"not measured: python -m benchmarks.batch{flag}"))
    return figures


def comparison(
    engines: Sequence[Mapping[str, Any]], batch: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The table: Clearline in process, each peer's configurations, then the batch engines."""
    by_name = {row["engine"]: row for row in engines}
    clearline_us = float(by_name["clearline"]["us_per_decision"])
    here = "this run, in process"
    rows = []
    for name in ("clearline", "clearline-no-trace"):
        if name in by_name:
            row = by_name[name]
            rows.append(
                _row("Clearline", row["label"], "", row["us_per_decision"], clearline_us, here)
            )
    for row in engines:
        if row.get("family"):
            rows.append(
                _row(
                    row["family"],
                    row["label"],
                    row["setup"],
                    row["us_per_decision"],
                    clearline_us,
                    here,
                )
            )
    for configuration, per_million, source in batch_figures(batch or {}):
        if per_million is None:
            empty = dict.fromkeys(rows[0], "")
            rows.append({**empty, "engine": "Clearline batch", "configuration": configuration})
            rows[-1]["measured"] = source
        else:
            engine = "Clearline batch"
            rows.append(_row(engine, configuration, "", per_million, clearline_us, source))
    return {"title": TITLE, "rows": rows}


def duckdb_target(table: Mapping[str, Any]) -> dict[str, Any] | None:
    """DuckDB's CPU per million against the best-configured peer's per-account cost x 1M."""
    rows = table["rows"]
    duckdb = [
        row
        for row in rows
        if row["configuration"].startswith("DuckDB") and row["CPU s per 1,000,000 accounts"] != ""
    ]
    best = [row for row in rows if "best" in row["setup"].split(", ")]
    if not duckdb or not best:
        return None
    fastest = min(best, key=lambda row: row["µs CPU per account"])
    per_million = duckdb[0]["CPU s per 1,000,000 accounts"]
    ratio = fastest["µs CPU per account"] / per_million
    return {
        "target": f"DuckDB CPU per million >= {DUCKDB_OVER_BEST_PEER:g} x less than the "
        f"best-configured peer's per-account cost x 1,000,000 ({fastest['configuration']}: "
        f"{fastest['µs CPU per account']} s against {per_million} s)",
        "measured": round(ratio, 1),
        "limit": DUCKDB_OVER_BEST_PEER,
        "met": ratio >= DUCKDB_OVER_BEST_PEER,
    }


def render(table: Mapping[str, Any]) -> str:
    """The table as Markdown, the way the docs show it."""
    rows = table["rows"]
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
