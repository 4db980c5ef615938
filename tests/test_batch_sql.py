"""The SQL back end (DuckDB) against the native engine on random policies and accounts."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import load_policy
from clearline.engine.batch.run import compile_for_duckdb
from clearline.engine.batch.sql import compile_sql
from tests.batch_differential import compare, native_rows, typed_accounts, write_parquet
from tests.conftest import SHIPPED_V2
from tests.policy_strategies import accounts, policies

MOMENTS = (
    dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
    dt.datetime(2025, 12, 31, 20, 30, tzinfo=dt.UTC),  # another day in Asia/Shanghai
)


def run_sql(policy: Any, rows: list[dict[str, Any]], as_of: dt.datetime, folder: Path) -> Any:
    """Decisions and errors of the DuckDB back end, as Python rows."""
    path = folder / "accounts.parquet"
    write_parquet(policy, rows, path)
    connection = duckdb.connect()
    (compiled,) = compile_for_duckdb(connection, [policy], path, as_of)
    decisions_sql, errors_sql = compiled.sql("duckdb")
    cursor = connection.execute(decisions_sql)
    names = [d[0] for d in cursor.description]
    decided = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    errors = {(a, f, c) for a, f, c, _ in connection.execute(errors_sql).fetchall()}
    connection.close()
    return decided, errors


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_duckdb_equals_native_on_random_policies(data: st.DataObject) -> None:
    text, policy = data.draw(policies(), label="policy")
    drawn = data.draw(st.lists(accounts(policy, invalid=True), min_size=1, max_size=12))
    rows = typed_accounts(policy, drawn)
    as_of = data.draw(st.sampled_from(MOMENTS))
    native, native_errors = native_rows(policy, rows, as_of)
    with tempfile.TemporaryDirectory() as folder:
        decided, errors = run_sql(policy, rows, as_of, Path(folder))
    compare(native, native_errors, decided, errors, f"policy:\n{text}\naccounts: {rows}")


def test_shipped_policy_on_its_own_tests(tmp_path: Path) -> None:
    """The shipped policy's examples decide the same in SQL, including a missing score."""
    policy = load_policy(SHIPPED_V2)
    rows = [dict(test.facts) for test in policy.tests]
    as_of = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    native, native_errors = native_rows(policy, rows, as_of)
    decided, errors = run_sql(policy, rows, as_of, tmp_path)
    compare(native, native_errors, decided, errors, "shipped 1.1.0")
    assert {row["action"] for row in decided} >= {"close", "suspend", "reduce_limit", "review"}


def test_policy_text_never_reaches_sql_unescaped() -> None:
    """Quotes and backslashes in literals are escaped by the printer, in both dialects."""
    _, policy = _hostile_policy()
    compiled = compile_sql(policy, MOMENTS[0])
    for dialect in ("duckdb", "spark"):
        decisions, _ = compiled.sql(dialect)
        assert "it''s" in decisions or "it\\'s" in decisions
        duckdb.sql("SELECT 1")  # the module is usable
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE accounts AS SELECT 'a' AS account_id, 'it''s; DROP TABLE x; --' AS note"
    )
    (compiled,) = compile_for_duckdb(connection, [policy], _table_file(connection), MOMENTS[0])
    cursor = connection.execute(compiled.sql("duckdb")[0])
    names = [d[0] for d in cursor.description]
    assert dict(zip(names, cursor.fetchall()[0], strict=True))["action"] == "none"


def _table_file(connection: Any) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / "accounts.parquet"
    connection.execute(f"COPY accounts TO '{path}' (FORMAT parquet)")
    return path


def _hostile_policy() -> Any:
    from clearline.engine import load_policy_text

    text = """\
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata: {id: hostile, version: 1.0.0, title: {en: "it's"}, effective_from: 2025-01-01, languages: [en]}
facts:
  note: {type: string, label: {en: "a note with \\"quotes\\""}}
rules:
  - id: quote
    action: review
    when: {fact: note, in: ["it's", "back\\\\slash", "x' OR '1'='1"]}
    reason: {code: Q1}
"""
    return text, load_policy_text(text)
