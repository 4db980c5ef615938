"""Backtest over a table of accounts (Parquet, JSONL, CSV) with the batch engines.

Both versions are compiled to SQL over the same `accounts` view (`batch.run`); the engine decides
every account under each, joins the two decisions per account and counts the transitions in
SQL, so only a few small tables (counts by transition and deciding rule, the first example ids)
come back to Python, however many accounts there are. The report is the one `backtest` makes
with the native engine: each version decides on the facts it declares (the batch SQL leaves out
a column only the other version declares; one neither declares is an F001 error, rejecting the
account), at one moment, as a what-if (no effective-date check).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import sqlglot

from clearline.engine.batch.sql import ACCOUNT_ID
from clearline.engine.change.backtest import (
    EXAMPLES,
    MAX_REJECTIONS_KEPT,
    Account,
    BacktestReport,
)
from clearline.engine.model import ActionKind, Policy

# Fixed SQL over the views `old_decisions`, `new_decisions`, `rejected`, `account_rows` and
# `accounts` (no policy or input text reaches it); written for DuckDB, printed for Spark by SQLGlot.
# The decisions carry each input row's own number in `account_row`, not the account id: ids
# repeat or are missing in real snapshots, and the report counts rows as the native backtest does.
_PAIRS = (
    "SELECT o.account_row AS account_row, o.action AS old_action, n.action AS new_action, "
    "o.reasons[1].rule AS old_rule, n.reasons[1].rule AS new_rule "
    "FROM old_decisions AS o JOIN new_decisions AS n ON o.account_row = n.account_row"
)
_SUMMARY = (
    "SELECT old_action, new_action, old_rule, new_rule, COUNT(*) AS n FROM pairs "
    "GROUP BY old_action, new_action, old_rule, new_rule"
)
# Examples name accounts, so a row without an id is no example (as in the native backtest).
_EXAMPLES = (
    "SELECT old_action, new_action, account_id FROM (SELECT p.old_action AS old_action, "
    "p.new_action AS new_action, r.account_id AS account_id, ROW_NUMBER() OVER "
    "(PARTITION BY p.old_action, p.new_action ORDER BY r.account_id) AS k FROM pairs AS p "
    "JOIN account_rows AS r ON p.account_row = r.account_row "
    "WHERE p.old_action <> p.new_action AND r.account_id IS NOT NULL) AS ranked "
    f"WHERE k <= {EXAMPLES}"
)
# The first rejected rows in input order, each named by its id or, without one, by its position
# in the input counted from 1 (the native backtest's name for it); row numbers only increase
# along the input, so the position is the count of rows numbered up to it.
_FIRST_REJECTED = (
    "SELECT account_row, MIN(code || ' ' || fact || ': ' || message) AS why FROM rejected "
    f"GROUP BY account_row ORDER BY account_row LIMIT {MAX_REJECTIONS_KEPT}"
)
_REJECTED = (
    "SELECT f.account_row, COALESCE(NULLIF(MIN(i.account_id), ''), CAST(COUNT(*) AS VARCHAR)), "
    "MIN(f.why) FROM first_rejected AS f JOIN account_rows AS i ON i.account_row = f.account_row "
    "JOIN account_rows AS a ON a.account_row <= f.account_row GROUP BY f.account_row"
)
_COUNTS = "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM rejected_accounts)"
_REJECTED_ACCOUNTS = "SELECT DISTINCT account_row FROM rejected"


def _in(dialect: str, sql: str) -> str:
    return sql if dialect == "duckdb" else sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def _report(old: Policy, new: Policy, run: Any, dialect: str) -> BacktestReport:
    """Fill a report from the views, running each fixed query by `run(sql) -> rows`."""
    report = BacktestReport(
        old=f"{old.metadata.id} {old.metadata.version}",
        new=f"{new.metadata.id} {new.metadata.version}",
    )
    none = ActionKind.NONE.value
    accounts, rejected = run(_in(dialect, _COUNTS))[0]
    report.accounts, report.rejected = int(accounts), int(rejected)
    for a, b, old_rule, new_rule, n in run(_in(dialect, _SUMMARY)):
        report.transitions[(a, b)] += int(n)
        if a != b:
            report.changed += int(n)
            if b != none:
                report.newly_deciding[new_rule] += int(n)
            if a != none:
                report.no_longer_deciding[old_rule] += int(n)
    for a, b, account in sorted(run(_in(dialect, _EXAMPLES))):
        report.examples.setdefault((a, b), []).append(account)
    first = sorted(run(_in(dialect, _REJECTED)))
    report.rejections = [f"{name}: {why}" for _, name, why in first]
    return report


def backtest_duckdb(
    old: Policy, new: Policy, path: str | os.PathLike[str], as_of: dt.datetime
) -> BacktestReport:
    """Backtest every account of the table with DuckDB."""
    import duckdb

    from clearline.engine.batch.run import compile_for_duckdb

    connection = duckdb.connect()
    old_sql, new_sql = compile_for_duckdb(connection, [old, new], path, as_of)
    (old_d, old_e), (new_d, new_e) = old_sql.sql("duckdb"), new_sql.sql("duckdb")
    # The decisions are materialised once each: the pairs, the summary and the examples read them.
    # The input is read once into a table, so both versions see one numbering of its rows:
    # the row's place (rowid, in insertion order) stands in for the account id in `accounts`.
    connection.execute("CREATE TEMP TABLE numbered AS SELECT * FROM accounts")
    connection.execute(f"CREATE TEMP TABLE account_rows AS SELECT rowid + 1 AS account_row, CAST({ACCOUNT_ID} AS VARCHAR) AS account_id FROM numbered")  # fmt: skip
    connection.execute(f"CREATE OR REPLACE TEMP VIEW accounts AS SELECT * REPLACE (rowid + 1 AS {ACCOUNT_ID}) FROM numbered")  # fmt: skip
    # The decisions are materialised once each: the pairs, the summary and the examples read them.
    connection.execute(f"CREATE TEMP TABLE old_decisions AS SELECT account_id AS account_row, action, reasons FROM ({old_d})")  # fmt: skip
    connection.execute(f"CREATE TEMP TABLE new_decisions AS SELECT account_id AS account_row, action, reasons FROM ({new_d})")  # fmt: skip
    # (an error query with no problem to report types its id column VARCHAR)
    connection.execute(f"CREATE TEMP TABLE rejected AS SELECT CAST(account_id AS BIGINT) AS account_row, code, fact, message FROM (({old_e}) UNION ALL ({new_e}))")  # fmt: skip
    connection.execute(f"CREATE TEMP VIEW rejected_accounts AS {_REJECTED_ACCOUNTS}")
    connection.execute(f"CREATE TEMP VIEW pairs AS {_PAIRS}")
    connection.execute(f"CREATE TEMP VIEW first_rejected AS {_FIRST_REJECTED}")
    try:
        return _report(old, new, lambda sql: connection.execute(sql).fetchall(), "duckdb")
    finally:
        connection.close()


def backtest_spark(
    old: Policy,
    new: Policy,
    path: str | os.PathLike[str],
    as_of: dt.datetime,
    *,
    master: str | None = None,
    session: Any = None,
) -> BacktestReport:
    """Backtest every account of the table with Spark (a given session, or one by `master`)."""
    from clearline.engine.batch.spark import compile_for_spark, spark_session

    spark = session or spark_session(master, app="clearline-backtest")
    old_sql, new_sql = compile_for_spark(spark, [old, new], path, as_of)
    (old_d, old_e), (new_d, new_e) = old_sql.sql("spark"), new_sql.sql("spark")
    _number_rows_spark(spark)
    spark.sql(f"SELECT account_id AS account_row, action, reasons FROM ({old_d})").cache().createOrReplaceTempView("old_decisions")  # fmt: skip
    spark.sql(f"SELECT account_id AS account_row, action, reasons FROM ({new_d})").cache().createOrReplaceTempView("new_decisions")  # fmt: skip
    spark.sql(f"SELECT CAST(account_id AS BIGINT) AS account_row, code, fact, message FROM (({old_e}) UNION ALL ({new_e}))").createOrReplaceTempView("rejected")  # fmt: skip
    spark.sql(_in("spark", _REJECTED_ACCOUNTS)).createOrReplaceTempView("rejected_accounts")
    spark.sql(_in("spark", _PAIRS)).createOrReplaceTempView("pairs")
    spark.sql(_in("spark", _FIRST_REJECTED)).createOrReplaceTempView("first_rejected")
    return _report(old, new, lambda sql: [tuple(row) for row in spark.sql(sql).collect()], "spark")


def _number_rows_spark(spark: Any) -> None:
    """Give each row of the view `accounts` its own increasing number in place of its id."""
    from pyspark.sql import functions

    # Increasing along the input (partition by partition), unique, and pinned by the checkpoint
    # so that the two versions' scans see the same numbers.
    numbered = (
        spark.table("accounts")
        .withColumn("_account_row", functions.monotonically_increasing_id())
        .localCheckpoint()
    )
    numbered.createOrReplaceTempView("numbered")
    numbered.select(
        functions.col("_account_row").alias("account_row"),
        functions.col(ACCOUNT_ID).cast("string").alias("account_id"),
    ).createOrReplaceTempView("account_rows")
    numbered.withColumn(ACCOUNT_ID, functions.col("_account_row")).drop(
        "_account_row"
    ).createOrReplaceTempView("accounts")


def table_accounts(
    old: Policy, new: Policy, path: str | os.PathLike[str], as_of: dt.datetime
) -> Iterator[Account]:
    """The accounts of a table for the native backtest: each value as `decide` would read it
    (the batch's decoded columns), the facts of both versions and any column neither declares."""
    import duckdb

    from clearline.engine.batch.run import compile_for_duckdb

    # Two scans of the input, each in its order (DuckDB keeps insertion order for a projection),
    # on two connections (a connection holds one open result): the old version's facts and the
    # columns neither declares, and the new version's facts.
    connections = [duckdb.connect(), duckdb.connect()]
    cursors = [
        c.execute(compile_for_duckdb(c, [old, new], path, as_of)[i].typed.sql("duckdb"))
        for i, c in enumerate(connections)
    ]
    columns = [[d[0] for d in cursor.description] for cursor in cursors]
    try:
        while chunks := [cursor.fetchmany(10_000) for cursor in cursors]:
            if not chunks[0]:
                return
            for old_values, new_values in zip(*chunks, strict=True):
                facts: dict[str, Any] = {}
                for names, values in zip(columns, (old_values, new_values), strict=True):
                    row = dict(zip(names, values, strict=True))
                    facts.update(
                        (k, v) for k, v in row.items() if v is not None and not _internal(k)
                    )
                account = old_values[columns[0].index(ACCOUNT_ID)]
                if account != new_values[columns[1].index(ACCOUNT_ID)]:
                    raise AssertionError("the two scans of the input disagree on the row order")
                yield Account(None if account is None else str(account), facts)
    finally:
        for connection in connections:
            connection.close()


def _internal(column: str) -> bool:
    """The typed select's own columns: the account id and the typed values `_v<i>`."""
    return column == ACCOUNT_ID or (column.startswith("_v") and column[2:].isdigit())
