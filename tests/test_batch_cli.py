"""`clearline batch` on real files: Parquet, JSONL and CSV in, Parquet out, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.conftest import POLICIES, SHIPPED_V2, run_cli

AS_OF = "2027-03-01"
ADVERSE = {"close", "suspend", "reduce_limit"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 400 sampled accounts as `clearline decide` JSONL, flat Parquet and CSV."""
    folder = tmp_path_factory.mktemp("batch-inputs")
    sampled = run_cli("sample", "--policy", str(SHIPPED_V2), "-n", "400", "--seed", "21")
    assert sampled.returncode == 0, sampled.stderr
    jsonl = folder / "accounts.jsonl"
    jsonl.write_text(sampled.stdout, encoding="utf-8")
    flat = f"SELECT account_id, facts.* FROM read_json('{jsonl}', format='newline_delimited')"
    duckdb.execute(f"COPY ({flat}) TO '{folder / 'accounts.parquet'}' (FORMAT parquet)")
    duckdb.execute(f"COPY ({flat}) TO '{folder / 'accounts.csv'}' (FORMAT csv, HEADER)")
    return {kind: folder / f"accounts.{kind}" for kind in ("jsonl", "parquet", "csv")}


def batch(*args: str) -> Any:
    """Run `clearline batch` on the shipped 1.1.0 at AS_OF."""
    return run_cli("batch", "--policy", str(SHIPPED_V2), "--as-of", AS_OF, *args)


def rows_of(path: Path) -> list[dict[str, Any]]:
    """The rows of a decisions or errors file, by account."""
    return sorted(pq.read_table(path).to_pylist(), key=lambda row: row["account_id"])


@pytest.fixture(scope="module")
def reference(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """DuckDB on the Parquet input with input hashes: what every other run must write."""
    out = tmp_path_factory.mktemp("reference") / "decisions.parquet"
    done = batch("--input", str(inputs["parquet"]), "--output", str(out), "--input-hashes")
    assert done.returncode == 0, done.stderr
    assert "400 decided, 0 rejected (duckdb)" in done.stderr
    return rows_of(out)


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
@pytest.mark.parametrize("engine", ["duckdb", "native"])
def test_every_input_format_and_engine_writes_the_same_table(
    inputs: dict[str, Path], reference: Any, tmp_path: Path, kind: str, engine: str
) -> None:
    out = tmp_path / "decisions.parquet"
    done = batch(
        "--input", str(inputs[kind]), "--output", str(out), "--engine", engine, "--input-hashes"
    )
    assert done.returncode == 0, done.stderr
    assert rows_of(out) == reference
    assert rows_of(tmp_path / "decisions.errors.parquet") == []


def test_native_engine_on_parquet(inputs: dict[str, Path], reference: Any, tmp_path: Path) -> None:
    out = tmp_path / "decisions.parquet"
    done = batch("--input", str(inputs["parquet"]), "--output", str(out), "--engine", "native", "--input-hashes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert rows_of(out) == reference
    assert {row["action"] for row in reference} > ADVERSE


def test_input_hashes_are_the_records_hashes(inputs: dict[str, Path], reference: Any) -> None:
    """input_sha256 is the hash `clearline decide` writes in each account's record."""
    decided = run_cli("decide", "--policy", str(SHIPPED_V2), "--as-of", AS_OF, "--no-trace", str(inputs["jsonl"]))  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    records = {r["account_id"]: r["input_sha256"] for r in map(json.loads, decided.stdout.splitlines())}  # fmt: skip
    assert {row["account_id"]: row["input_sha256"] for row in reference} == records


def test_without_the_flag_input_sha256_is_null(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "decisions.parquet"
    assert batch("--input", str(inputs["parquet"]), "--output", str(out)).returncode == 0
    assert {row["input_sha256"] for row in rows_of(out)} == {None}


def test_records_and_audit_equal_clearline_decide(inputs: dict[str, Path], tmp_path: Path) -> None:
    """The adverse rows' records are `clearline decide`'s lines byte for byte; the audit log
    they are appended to verifies."""
    out, audit = tmp_path / "decisions.parquet", tmp_path / "audit.db"
    done = batch("--input", str(inputs["parquet"]), "--output", str(out), "--audit", str(audit))
    assert done.returncode == 0, done.stderr
    produced = (tmp_path / "decisions.records.jsonl").read_text(encoding="utf-8").splitlines()
    decided = run_cli("decide", "--policy", str(SHIPPED_V2), "--as-of", AS_OF, "--format", "jsonl", str(inputs["jsonl"]))  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    expected = [line for line in decided.stdout.splitlines() if json.loads(line)["action"] in ADVERSE]  # fmt: skip
    assert expected and sorted(produced) == sorted(expected)
    adverse = {row["account_id"] for row in rows_of(out) if row["action"] in ADVERSE}
    assert {json.loads(line)["account_id"] for line in produced} == adverse
    verified = run_cli("audit", "verify", str(audit))
    assert verified.returncode == 0, verified.stderr + verified.stdout


BAD = [
    {"account_id": "wrong-type", "facts": {"days_past_due": "ten"}},
    {"account_id": "out-of-bounds", "facts": {"credit_score": 5000}},
    {"account_id": "fine", "facts": {"days_past_due": 3}},
]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_bad_values_are_error_rows_with_the_clis_codes(tmp_path: Path, kind: str) -> None:
    """A wrong type and an out-of-bounds value are F003 rows (as `clearline decide` says),
    never a silent NULL; the other rows are decided; exit 1."""
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in BAD), encoding="utf-8")
    source = jsonl
    if kind == "csv":
        source = tmp_path / "bad.csv"
        source.write_text(
            "account_id,days_past_due,credit_score\nwrong-type,ten,\nout-of-bounds,,5000\nfine,3,\n",
            encoding="utf-8",
        )
    out = tmp_path / "decisions.parquet"
    done = batch("--input", str(source), "--output", str(out))
    assert done.returncode == 1, done.stderr
    errors = {(r["account_id"], r["fact"], r["code"]) for r in rows_of(tmp_path / "decisions.errors.parquet")}  # fmt: skip
    assert errors == {("wrong-type", "days_past_due", "F003"), ("out-of-bounds", "credit_score", "F003")}  # fmt: skip
    assert [row["account_id"] for row in rows_of(out)] == ["fine"]
    decided = run_cli("decide", "--policy", str(SHIPPED_V2), "--as-of", AS_OF, str(jsonl))
    assert decided.returncode == 1
    assert decided.stderr.count("error[F003]") == 2, decided.stderr


@pytest.mark.parametrize(("as_of", "version"), [("2026-06-01", "1.0.0"), ("2027-03-01", "1.1.0")])
def test_policies_dir_decides_with_the_version_in_force(
    inputs: dict[str, Path], tmp_path: Path, as_of: str, version: str
) -> None:
    out = tmp_path / "decisions.parquet"
    # The accounts without the facts only 1.1.0 declares (its key-factor codes): a column the
    # version in force does not declare is an unknown fact (F001), as in `decide`.
    common = tmp_path / "common.parquet"
    flat = f"SELECT * EXCLUDE (credit_score_factors) FROM read_parquet('{inputs['parquet']}')"
    duckdb.execute(f"COPY ({flat}) TO '{common}' (FORMAT parquet)")
    done = run_cli(
        "batch", "--policies", str(POLICIES / "credit-line-closure"), "--as-of", as_of,
        "--input", str(common), "--output", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = rows_of(out)
    assert len(rows) == 400 and {row["policy_version"] for row in rows} == {version}


def test_no_version_in_force_is_a_located_error(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "decisions.parquet"
    done = run_cli("batch", "--policy", str(SHIPPED_V2), "--as-of", "2025-03-01", "--input", str(inputs["parquet"]), "--output", str(out))  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"{SHIPPED_V2}:1:1: error[V005]: "), done.stderr
    assert not out.exists()


@pytest.mark.parametrize("name", ["missing.parquet", "accounts.txt", "broken.parquet"])
def test_a_bad_input_is_a_located_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name != "missing.parquet":
        path.write_text("not a table\n", encoding="utf-8")
    done = batch("--input", str(path), "--output", str(tmp_path / "out.parquet"))
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"{path}:1:1: error[E009]: "), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


GOOD = '{"account_id": "fine", "facts": {"days_past_due": 3}}\n'
# fmt: off
UNREADABLE = [
    # (line 2 of the input, the code and message `clearline decide` gives that line)
    (
        '{"account_id": "dup", "facts": {"days_past_due": 3, "days_past_due": 4}}',
        "2:53: error[F013]: duplicate key `days_past_due`",
    ),
    (
        '{"account_id": "lone\\ud800", "facts": {"days_past_due": 3}}',
        "2:1: error[F004]: `account_id` must be valid Unicode text",
    ),
    (
        '{"account_id": "lone", "facts": {"credit_score_factors": "\\udc00"}}',
        "2:1: error[F003]: fact `credit_score_factors`: text with a lone surrogate",
    ),
    ('{"account_id": "cut", "facts": {', "2:33: error[F005]: invalid JSON: "),
    ('{"account_id": "empty-key", "facts": {"": 3}}', "2:1: error[F001]: unknown fact ``"),
    (
        '{"account_id": "case", "facts": {"DAYS_PAST_DUE": 3}}',
        "2:1: error[F001]: unknown fact `DAYS_PAST_DUE` (it differs from `days_past_due` only in case)",
    ),
    (
        '{"account_id": "flat-case", "Days_Past_Due": 3}',
        "2:1: error[F001]: unknown fact `Days_Past_Due`",
    ),
]
# fmt: on


@pytest.mark.parametrize("engine", ["duckdb", "native"])
@pytest.mark.parametrize(("line", "expected"), UNREADABLE)
def test_a_line_duckdb_cannot_read_is_one_rejected_row(
    tmp_path: Path, engine: str, line: str, expected: str
) -> None:
    """A line DuckDB's reader would stop the whole file on (or whose keys cannot be columns)
    is rejected alone, with the code and place `clearline decide` gives it; the rest is decided."""
    source = tmp_path / "accounts.jsonl"
    source.write_text(GOOD + line + "\n" + GOOD.replace("fine", "also-fine"), encoding="utf-8")
    out = tmp_path / "decisions.parquet"
    done = batch("--input", str(source), "--output", str(out), "--engine", engine)
    assert done.returncode == 1, done.stderr
    assert f"{source}:{expected}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "2 decided, 1 rejected" in done.stderr, done.stderr
    assert [row["account_id"] for row in rows_of(out)] == ["also-fine", "fine"]
    (error,) = rows_of(tmp_path / "decisions.errors.parquet")
    assert error["code"] == expected.split("[")[1][:4]
    assert error["message"].startswith("line 2, column ")
    if "flat" not in line:  # `decide` reads a flat line as facts; its account_id is a fact there
        decided = run_cli("decide", "--policy", str(SHIPPED_V2), "--as-of", AS_OF, str(source))
        assert decided.returncode == 1
        # batch adds why a key is unknown when it differs from a column's only in case
        assert f"{source}:{expected.split(' (it differs')[0]}" in decided.stderr, decided.stderr


def test_every_line_rejected_still_writes_the_errors(tmp_path: Path) -> None:
    source = tmp_path / "accounts.jsonl"
    source.write_text(UNREADABLE[0][0] + "\n" + UNREADABLE[3][0] + "\n", encoding="utf-8")
    out = tmp_path / "decisions.parquet"
    done = batch("--input", str(source), "--output", str(out))
    assert done.returncode == 1, done.stderr
    assert "0 decided, 2 rejected" in done.stderr, done.stderr
    assert rows_of(out) == []
    errors = pq.read_table(tmp_path / "decisions.errors.parquet").to_pylist()
    assert [(row["account_id"], row["code"]) for row in errors] == [(None, "F013"), (None, "F005")]


def test_an_unreadable_parquet_is_a_plain_message(tmp_path: Path) -> None:
    """No DuckDB error class or SQL hint reaches the user."""
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    done = batch("--input", str(path), "--output", str(tmp_path / "out.parquet"))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{path}:1:1: error[E009]: cannot read the input as PARQUET: ")
    assert "Error:" not in done.stderr and "Try setting" not in done.stderr, done.stderr
