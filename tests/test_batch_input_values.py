"""Each input value of a batch is judged on its own, as `clearline decide` judges the same line.

A JSONL column whose rows hold different JSON types (3 beside "ten", true beside 3, an object
beside a string) and CSV cells of every shape: the accounts the batch decides and the errors
rows it writes (account, fact, code) must be exactly what `clearline decide` says of the same
accounts, for the DuckDB and the native engine, through the real command line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli, small_policy

AS_OF = "2027-03-01"
MORE_FACTS = """\
  opened:
    type: date
    label: {en: account opened}
  seen_at:
    type: datetime
    label: {en: last seen}
  note:
    type: string
    label: {en: note}
"""

# (fact, JSON value): one account each, so every column mixes JSON types.
JSON_CASES: list[tuple[str, Any]] = [
    ("dpd", 3), ("dpd", 45), ("dpd", 3.0), ("dpd", "3"), ("dpd", True), ("dpd", None),
    ("dpd", {"days": 3}), ("dpd", [3]), ("dpd", 3.5), ("dpd", -1), ("dpd", "ten"),
    ("ratio", 1), ("ratio", 0.5), ("ratio", "0.5"), ("ratio", False), ("ratio", -0.1),
    ("flagged", True), ("flagged", 1), ("flagged", "true"), ("flagged", None),
    ("tier", "gold"), ("tier", "platinum"), ("tier", 1), ("tier", {"tier": "gold"}),
    ("note", "hello"), ("note", 5), ("note", {"a": 1}), ("note", ["x"]), ("note", True),
    ("opened", "2027-03-01"), ("opened", "01/03/2027"), ("opened", "2027-3-1"),
    ("opened", 20270301), ("opened", "2027-02-30"), ("opened", "0999-12-31"),
    ("seen_at", "2027-03-01T10:00:00+08:00"), ("seen_at", "2027-03-01T10:00:00"),
    ("seen_at", "yesterday"), ("seen_at", 1),
    ("seen_at", "9999-12-31T23:00:00Z"), ("seen_at", "0999-12-31T23:00:00Z"),
    ("seen_at", "8999-12-31T23:00:00-05:00"), ("seen_at", "1000-01-01T01:00:00+05:00"),
    ("seen_at", "2027-03-01T24:00:00Z"), ("seen_at", "2027-03-01T10:00:60Z"),
    ("seen_at", "2027-03-01T10:00:00.123456Z"),
]  # fmt: skip

# (fact, CSV cell): "" is an empty cell (a missing fact).
CSV_CASES: list[tuple[str, str]] = [
    ("dpd", "3"), ("dpd", "45"), ("dpd", "3.0"), ("dpd", "3e0"), ("dpd", "3.5"), ("dpd", "true"),
    ("dpd", ""), ("dpd", "0x10"), ("dpd", "1_000"), ("dpd", "-1"), ("dpd", "ten"), ("dpd", "007"),
    ("ratio", "0.5"), ("ratio", "1e-1"), ("ratio", "inf"), ("ratio", "NaN"), ("ratio", "-0.1"),
    ("flagged", "true"), ("flagged", "false"), ("flagged", "yes"), ("flagged", "1"),
    ("flagged", "TRUE"), ("tier", "gold"), ("tier", "platinum"), ("note", "3"),
    ("opened", "2027-03-01"), ("opened", "01/03/2027"), ("opened", "2027-02-30"),
    ("seen_at", "2027-03-01T10:00:00Z"), ("seen_at", "2027-03-01 10:00"),
    ("seen_at", "2027-03-01T24:00:00Z"), ("seen_at", "9999-01-01T00:00:00Z"),
    ("opened", "9999-01-01"),
]  # fmt: skip


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small policy with a date, a date-time and a string fact besides its others."""
    path = tmp_path_factory.mktemp("policy") / "small.yaml"
    path.write_text(small_policy().replace("facts:\n", "facts:\n" + MORE_FACTS, 1), "utf-8")
    return path


def _json_literal(cell: str, fact: str) -> Any:
    """What a CSV cell says as a JSON value: its literal when it is one, else its text."""
    if fact in ("tier", "note", "opened", "seen_at"):
        return cell
    try:
        return json.loads(cell, parse_constant=lambda name: cell)
    except ValueError:
        return cell


def decide_says(policy: Path, lines: list[dict[str, Any]], folder: Path) -> tuple[set[str], set[tuple[str, str, str]]]:  # fmt: skip
    """(decided accounts, {(account, fact, code)} refused) by `clearline decide`."""
    path = folder / "decide.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    done = run_cli("decide", "--policy", str(policy), "--as-of", AS_OF, "--format", "jsonl", "--no-trace", str(path))  # fmt: skip
    assert "Traceback" not in done.stderr
    decided = {json.loads(line)["account_id"] for line in done.stdout.splitlines()}
    refused = set()
    for message in done.stderr.splitlines():
        found = re.match(r".*?:(\d+):\d+: error\[(\w+)\]: fact `(\w+)`", message)
        if found:
            line = lines[int(found[1]) - 1]
            refused.add((line["account_id"], found[3], found[2]))
    return decided, refused


def batch_says(policy: Path, source: Path, engine: str, folder: Path) -> tuple[set[str], set[tuple[str, str, str]]]:  # fmt: skip
    """(decided accounts, {(account, fact, code)} in the errors file) by `clearline batch`."""
    out = folder / f"{engine}.parquet"
    done = run_cli("batch", "--policy", str(policy), "--as-of", AS_OF, "--input", str(source), "--output", str(out), "--engine", engine)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    decided = {row["account_id"] for row in pq.read_table(out).to_pylist()}
    errors = pq.read_table(folder / f"{engine}.errors.parquet").to_pylist()
    return decided, {(row["account_id"], row["fact"], row["code"]) for row in errors}


@pytest.mark.parametrize("engine", ["duckdb", "native"])
def test_a_mixed_json_column_is_judged_row_by_row(policy: Path, tmp_path: Path, engine: str) -> None:  # fmt: skip
    lines = [
        {
            "account_id": f"a{i:02d}-{fact}",
            "facts": {fact: value},
        }
        for i, (fact, value) in enumerate(JSON_CASES)
    ]
    source = tmp_path / "accounts.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    expected = decide_says(policy, lines, tmp_path)
    assert len(expected[0]) > 10 and len(expected[1]) > 20  # both kinds are really exercised
    assert batch_says(policy, source, engine, tmp_path) == expected


def test_flat_json_lines_are_judged_the_same(policy: Path, tmp_path: Path) -> None:
    """Facts beside account_id (no `facts` object), the layout Parquet exports take."""
    nested = [{"account_id": f"a{i:02d}", "facts": {fact: value}} for i, (fact, value) in enumerate(JSON_CASES)]  # fmt: skip
    source = tmp_path / "flat.jsonl"
    flat = [{"account_id": line["account_id"], **line["facts"]} for line in nested]
    source.write_text("".join(json.dumps(line) + "\n" for line in flat), encoding="utf-8")
    assert batch_says(policy, source, "duckdb", tmp_path) == decide_says(policy, nested, tmp_path)


@pytest.mark.parametrize("engine", ["duckdb", "native"])
def test_a_csv_cell_is_read_as_its_json_literal(policy: Path, tmp_path: Path, engine: str) -> None:
    """A CSV cell is the JSON literal without quotes for text: `3.5` is no integer (never
    rounded), `yes`, `0x10` and `1_000` are no boolean or number though SQL casts take them."""
    names = ["dpd", "ratio", "flagged", "tier", "note", "opened", "seen_at"]
    rows, lines = [], []
    for i, (fact, cell) in enumerate(CSV_CASES):
        account = f"c{i:02d}-{fact}"
        rows.append(",".join([account, *(f'"{cell}"' if name == fact else "" for name in names)]))
        lines.append({"account_id": account, "facts": {fact: _json_literal(cell, fact)} if cell else {}})  # fmt: skip
    source = tmp_path / "accounts.csv"
    source.write_text("account_id," + ",".join(names) + "\n" + "\n".join(rows) + "\n", "utf-8")
    expected = decide_says(policy, lines, tmp_path)
    assert len(expected[1]) > 10
    assert batch_says(policy, source, engine, tmp_path) == expected


@pytest.mark.parametrize("engine", ["duckdb", "native"])
def test_a_csv_number_beyond_a_double_is_refused_not_rounded(
    policy: Path, tmp_path: Path, engine: str
) -> None:
    """`1e-400` is not 0 and `1e400` not infinity: `decide` refuses both as JSON numbers, so a
    CSV cell spelling them is an F003 row in both engines, never decided."""
    cells = [("ratio", "1e-400"), ("ratio", "1e400"), ("dpd", "1e-400"), ("ratio", "0e5")]
    names = ["dpd", "ratio"]
    rows = [
        ",".join([f"n{i}", *(cell if name == fact else "" for name in names)])
        for i, (fact, cell) in enumerate(cells)
    ]
    source = tmp_path / "numbers.csv"
    source.write_text("account_id," + ",".join(names) + "\n" + "\n".join(rows) + "\n", "utf-8")
    decided, refused = batch_says(policy, source, engine, tmp_path)
    assert decided == {"n3"}
    assert refused == {("n0", "ratio", "F003"), ("n1", "ratio", "F003"), ("n2", "dpd", "F003")}


@pytest.mark.parametrize("engine", ["duckdb", "native"])
def test_a_column_that_is_no_fact_is_refused_as_decide_refuses_it(
    policy: Path, tmp_path: Path, engine: str
) -> None:
    """A value under an unknown name is F001 in both engines, as `clearline decide` refuses an
    unknown fact. In a table every row has every column, so a null there is no value (decide,
    reading the line, also refuses the unknown name with a null)."""
    lines = [
        {"account_id": "u1", "facts": {"dpd": 45, "foo": 45}},
        {"account_id": "u2", "facts": {"dpd": 45, "foo": None}},
        {"account_id": "u3", "facts": {"dpd": 45}},
    ]
    source = tmp_path / "unknown.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    done = run_cli("decide", "--policy", str(policy), "--as-of", AS_OF, str(source))
    assert "error[F001]" in done.stderr and "`foo`" in done.stderr
    assert batch_says(policy, source, engine, tmp_path) == ({"u2", "u3"}, {("u1", "foo", "F001")})
