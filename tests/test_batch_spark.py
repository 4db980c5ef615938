"""Spark (`local[2]`) runs the same generated SQL as DuckDB and decides as the native engine.

One Spark session serves the whole module (its start-up costs far more than the queries), and
each example decides many accounts in one Spark job.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import load_policy
from clearline.engine.batch.spark import compile_for_spark, decide_spark
from tests.batch_differential import compare, native_rows, typed_accounts, write_parquet
from tests.conftest import SHIPPED_V1, SHIPPED_V2, run_cli
from tests.policy_strategies import accounts, policies

pytestmark = pytest.mark.slow

AS_OF = dt.datetime(2025, 12, 31, 20, 30, tzinfo=dt.UTC)  # another day in Asia/Shanghai


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One small local Spark session for the module: two cores, no UI, quiet."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("clearline-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=ERROR")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def run_spark_rows(
    session: Any, policy: Any, rows: list[dict[str, Any]], as_of: dt.datetime, folder: Path
) -> tuple[list[dict[str, Any]], set[tuple[str, str, str]]]:
    """Decisions and errors of the Spark runner, as Python rows."""
    path = folder / "accounts.parquet"
    write_parquet(policy, rows, path)
    (compiled,) = compile_for_spark(session, [policy], path, as_of)
    decisions, errors = decide_spark(session, [compiled])
    decided = [row.asDict(recursive=True) for row in decisions.collect()]
    bad = {(r["account_id"], r["fact"], r["code"]) for r in errors.collect()}
    return decided, bad


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_spark_equals_native_on_random_policies(spark: Any, data: st.DataObject) -> None:
    text, policy = data.draw(policies(), label="policy")
    drawn = data.draw(st.lists(accounts(policy, invalid=True), min_size=20, max_size=60))
    rows = typed_accounts(policy, drawn)
    native, native_errors = native_rows(policy, rows, AS_OF)
    with tempfile.TemporaryDirectory() as folder:  # a new path each time: no stale listing
        decided, errors = run_spark_rows(spark, policy, rows, AS_OF, Path(folder))
    compare(native, native_errors, decided, errors, f"policy:\n{text}\naccounts: {rows}")


def test_spark_on_the_shipped_policy(spark: Any, tmp_path: Path) -> None:
    """The shipped policy's own examples, including a missing score, decide as natively."""
    policy = load_policy(SHIPPED_V2)
    rows = [dict(test.facts) for test in policy.tests]
    as_of = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    native, native_errors = native_rows(policy, rows, as_of)
    decided, errors = run_spark_rows(spark, policy, rows, as_of, tmp_path)
    compare(native, native_errors, decided, errors, "shipped 1.1.0")


def test_cli_spark_engine_writes_what_duckdb_writes(tmp_path: Path) -> None:
    """`clearline batch --engine spark` (its own local[2] session) gives DuckDB's table and
    errors, and a bad JSON line is left out and reported as DuckDB reports it."""
    accounts_path = tmp_path / "accounts.jsonl"
    sampled = run_cli("sample", "--policy", str(SHIPPED_V2), "-n", "300", "--seed", "5")
    assert sampled.returncode == 0, sampled.stderr
    bad = '{not json\n{"account_id": "dup", "facts": {"days_past_due": 1, "days_past_due": 2}}\n'
    accounts_path.write_text(sampled.stdout + bad, encoding="utf-8")
    outputs, errors, said = {}, {}, {}
    for engine, extra in (("duckdb", ()), ("spark", ("--spark-master", "local[2]"))):
        out = tmp_path / f"{engine}.parquet"
        done = run_cli(
            "batch", "--policy", str(SHIPPED_V2), "--input", str(accounts_path),
            "--output", str(out), "--as-of", "2027-03-01", "--engine", engine, *extra,
        )  # fmt: skip
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"300 decided, 2 rejected ({engine})" in done.stderr
        rows = pq.read_table(out).to_pylist()  # Spark writes a folder of parts
        outputs[engine] = sorted(rows, key=lambda row: row["account_id"])
        found = pq.read_table(tmp_path / f"{engine}.errors.parquet").to_pylist()
        errors[engine] = sorted((row["code"], row["message"]) for row in found)
        said[engine] = sorted(re.findall(r":(\d+):\d+: error\[(\w+)\]", done.stderr))
    assert outputs["spark"] == outputs["duckdb"]
    assert errors["spark"] == errors["duckdb"] and len(errors["duckdb"]) == 2
    assert said["spark"] == said["duckdb"] == [("301", "F005"), ("302", "F013")]
    assert {row["action"] for row in outputs["duckdb"]} > {"none"}


def test_backtest_on_spark_equals_duckdb(spark: Any, tmp_path: Path) -> None:
    """A backtest of 1.0.0 -> 1.1.0 through the module's Spark session gives DuckDB's report."""
    from clearline.engine.change.backtest_table import backtest_duckdb, backtest_spark

    old, new = load_policy(SHIPPED_V1), load_policy(SHIPPED_V2)
    rows = [dict(test.facts) for policy in (old, new) for test in policy.tests]
    path = tmp_path / "snapshot.parquet"
    write_parquet(old, rows, path)  # the facts 1.0.0 declares, which 1.1.0 declares too
    as_of = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    on_spark = backtest_spark(old, new, path, as_of, session=spark).to_dict()
    assert on_spark == backtest_duckdb(old, new, path, as_of).to_dict()
    assert on_spark["accounts"] == len(rows) and on_spark["changed"] > 0
