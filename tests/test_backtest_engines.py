"""`clearline backtest` with the batch engines: the same report from DuckDB and the native engine,
whatever the input format, through the real command line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import SHIPPED_V1, SHIPPED_V2, run_cli

# An account out of bounds for both versions: rejected, counted and named, in every format.
OUT_OF_BOUNDS = {"account_id": "zz-out-of-bounds", "facts": {"credit_score": 5000}}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """800 sampled accounts of 1.1.0 (and one out of bounds) as JSONL, Parquet and CSV."""
    folder = tmp_path_factory.mktemp("backtest-snapshot")
    sampled = run_cli("sample", "--policy", str(SHIPPED_V2), "-n", "800", "--seed", "31")
    assert sampled.returncode == 0, sampled.stderr
    jsonl = folder / "accounts.jsonl"
    jsonl.write_text(sampled.stdout + json.dumps(OUT_OF_BOUNDS) + "\n", encoding="utf-8")
    flat = f"SELECT account_id, facts.* FROM read_json('{jsonl}', format='newline_delimited')"
    duckdb.execute(f"COPY ({flat}) TO '{folder / 'accounts.parquet'}' (FORMAT parquet)")
    duckdb.execute(f"COPY ({flat}) TO '{folder / 'accounts.csv'}' (FORMAT csv, HEADER)")
    return {kind: folder / f"accounts.{kind}" for kind in ("jsonl", "parquet", "csv")}


def backtest(source: Path, *args: str) -> Any:
    """`clearline backtest` 1.0.0 -> 1.1.0 over `source` at one moment."""
    return run_cli(
        "backtest", "--from", str(SHIPPED_V1), "--to", str(SHIPPED_V2),
        "--facts", str(source), "--as-of", "2027-03-01", *args,
    )  # fmt: skip


@pytest.fixture(scope="module")
def reference(snapshot: dict[str, Path]) -> dict[str, Any]:
    """The native engine on JSONL, the backtest as it has always run."""
    done = backtest(snapshot["jsonl"], "--format", "json")
    assert done.returncode == 1, done.stderr  # the out-of-bounds account
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["accounts"] == 801 and report["rejected"] == 1
    assert report["changed"] > 0 and report["examples"], report  # changes to compare
    return report


@pytest.mark.parametrize(
    ("kind", "engine"),
    [("parquet", "duckdb"), ("parquet", "native"), ("csv", "duckdb"), ("csv", "native"),
     ("jsonl", "duckdb"), ("parquet", None)],
)  # fmt: skip
def test_every_engine_and_format_gives_the_same_report(
    snapshot: dict[str, Path], reference: dict[str, Any], kind: str, engine: str | None
) -> None:
    engines = ("--engine", engine) if engine else ()
    done = backtest(snapshot[kind], "--format", "json", *engines)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == reference
    assert "rejected zz-out-of-bounds: " in done.stderr and "Traceback" not in done.stderr


def test_the_table_is_the_same_for_duckdb_and_native(snapshot: dict[str, Path]) -> None:
    """The text report too (ties in the counts print in one order whichever engine counted)."""
    duck = backtest(snapshot["parquet"], "--engine", "duckdb")
    native = backtest(snapshot["jsonl"])
    assert duck.stdout == native.stdout
    assert "examples (first accounts by id):" in duck.stdout


def test_examples_are_the_first_changed_accounts_by_id(
    snapshot: dict[str, Path], reference: dict[str, Any], tmp_path: Path
) -> None:
    """Each example list holds the smallest ids of accounts whose action moved that way, as
    `clearline decide` decides them under each version."""
    # 1.0.0 decides without the key-factor codes only 1.1.0 declares, as the backtest does
    lines = [json.loads(line) for line in snapshot["jsonl"].read_text("utf-8").splitlines()]
    for line in lines:
        line["facts"].pop("credit_score_factors", None)
    older = tmp_path / "for-1.0.0.jsonl"
    older.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    actions = []
    for policy, source in ((SHIPPED_V1, older), (SHIPPED_V2, snapshot["jsonl"])):
        decided = run_cli("decide", "--policy", str(policy), "--as-of", "2027-03-01", "--what-if", "--no-trace", "--format", "jsonl", str(source))  # fmt: skip
        actions.append({r["account_id"]: r["action"] for r in map(json.loads, decided.stdout.splitlines())})  # fmt: skip
    old, new = actions
    for example in reference["examples"]:
        moved = sorted(a for a in old if a in new and (old[a], new[a]) == (example["from"], example["to"]))  # fmt: skip
        assert moved and example["accounts"] == moved[:3]


def test_usage_errors_and_a_bad_table(snapshot: dict[str, Path], tmp_path: Path) -> None:
    audit = run_cli("backtest", "--from", str(SHIPPED_V1), "--to", str(SHIPPED_V2), "--audit", str(tmp_path / "a.db"), "--engine", "duckdb")  # fmt: skip
    assert audit.returncode == 2 and "--audit is read by the native engine" in audit.stderr
    broken = tmp_path / "broken.parquet"
    broken.write_text("not a table\n", encoding="utf-8")
    done = backtest(broken)
    assert done.returncode == 1 and done.stderr.startswith(f"{broken}:1:1: error[E009]: ")
    assert "Traceback" not in done.stderr


# Ids as real snapshots have them: repeated, absent from the line, null, empty. Each row is an
# account of its own for every engine; a row without an id is named by its place in the input.
_IDS = ("a", "b", "a", None, "null", "a", "c", "")


@pytest.fixture(scope="module")
def awkward_ids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """400 sampled accounts with repeated, absent, null and empty ids, and three rejected rows
    (a repeated id, none, null), as JSONL, Parquet and CSV."""
    folder = tmp_path_factory.mktemp("backtest-ids")
    sampled = run_cli("sample", "--policy", str(SHIPPED_V2), "-n", "400", "--seed", "31")
    assert sampled.returncode == 0, sampled.stderr
    lines = [json.loads(line) for line in sampled.stdout.splitlines()]
    for i, line in enumerate(lines):
        line["account_id"] = _IDS[i % len(_IDS)]
    out_of_bounds = {"credit_score": 5000}
    lines += [{"account_id": "a", "facts": out_of_bounds}, {"facts": out_of_bounds}]
    lines += [{"account_id": "null", "facts": {"credit_score": -1}}]
    for line in lines:
        if line.get("account_id", "null") is None:
            del line["account_id"]  # absent from the line
        elif line.get("account_id") == "null":
            line["account_id"] = None
    jsonl = folder / "accounts.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    flat = f"SELECT account_id, facts.* FROM read_json('{jsonl}', format='newline_delimited')"
    duckdb.execute(f"COPY ({flat}) TO '{folder / 'accounts.parquet'}' (FORMAT parquet)")
    duckdb.execute(f"COPY ({flat}) TO '{folder / 'accounts.csv'}' (FORMAT csv, HEADER)")
    return {kind: folder / f"accounts.{kind}" for kind in ("jsonl", "parquet", "csv")}


def _rejected_names(stderr: str) -> list[str]:
    """The names of the rejected accounts, in the order they are reported."""
    return [line.split(": rejected ")[1].split(":")[0] for line in stderr.splitlines()]


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "csv"])
@pytest.mark.parametrize("form", ["json", "table"])
def test_repeated_and_missing_ids_count_rows_as_native_does(
    awkward_ids: dict[str, Path], kind: str, form: str
) -> None:
    """Every row is an account: DuckDB's report is the native one byte for byte."""
    native = backtest(awkward_ids[kind], "--format", form, "--engine", "native")
    duck = backtest(awkward_ids[kind], "--format", form, "--engine", "duckdb")
    assert native.returncode == duck.returncode == 1, duck.stderr
    assert duck.stdout == native.stdout
    # the rejected rows named alike: the repeated id, then the places of the two without one
    assert _rejected_names(duck.stderr) == _rejected_names(native.stderr) == ["a", "402", "403"]
    assert "Traceback" not in duck.stderr and "internal error" not in duck.stderr
    if form == "json":
        report = json.loads(duck.stdout)
        assert report["accounts"] == 403 and report["rejected"] == 3
        assert sum(t["accounts"] for t in report["transitions"]) == 400
        named = [i for e in report["examples"] for i in e["accounts"]]
        assert named and set(named) <= {"a", "b", "c", ""} and "a" in named


def test_a_bad_json_line_is_reported_by_every_engine(
    snapshot: dict[str, Path], tmp_path: Path
) -> None:
    """A line that is not JSON and one with a duplicate key are left out of the backtest and
    reported, located, by the DuckDB engine as by the native one; exit 1, same report."""
    lines = snapshot["jsonl"].read_text(encoding="utf-8").splitlines()[:50]
    lines[10] = "{not json"
    lines[20] = '{"account_id": "dup", "facts": {"days_past_due": 1, "days_past_due": 2}}'
    source = tmp_path / "bad.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    said = {}
    for engine in ("native", "duckdb"):
        done = backtest(source, "--format", "json", "--engine", engine)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        located = sorted(re.findall(r":(\d+):\d+: error\[(\w+)\]", done.stderr))
        said[engine] = (json.loads(done.stdout), located)
    assert said["duckdb"] == said["native"]
    assert said["native"][1] == [("11", "F005"), ("21", "F013")]
