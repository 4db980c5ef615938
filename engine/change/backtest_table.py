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

# Fixed SQL over the views `old_decisions`, `new_decisions`, `rejected` and `accounts` (no policy
# or input text reaches it); written for DuckDB, printed for Spark by SQLGlot.
_PAIRS = (
    "SELECT o.account_id AS account_id, o.action AS old_action, n.action AS new_action, "
    "o.reasons[1].rule AS old_rule, n.reasons[1].rule AS new_rule "
    "FROM old_decisions AS o JOIN new_decisions AS n ON o.account_id = n.account_id"
)
_SUMMARY = (
    "SELECT old_action, new_action, old_rule, new_rule, COUNT(*) AS n FROM pairs "
    "GROUP BY old_action, new_action, old_rule, new_rule"
)
_EXAMPLES = (
    "SELECT old_action, new_action, account_id FROM (SELECT old_action, new_action, account_id, "
    "ROW_NUMBER() OVER (PARTITION BY old_action, new_action ORDER BY account_id) AS k "
    f"FROM pairs WHERE old_action <> new_action) AS ranked WHERE k <= {EXAMPLES}"
)
_REJECTED = (
    "SELECT account_id, MIN(code || ' ' || fact || ': ' || message) AS why FROM rejected "
    "GROUP BY account_id"
)
_COUNTS = "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM rejected_accounts)"


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
    first = sorted(run(_in(dialect, _REJECTED + " ORDER BY account_id LIMIT " + str(MAX_REJECTIONS_KEPT))))  # fmt: skip
    report.rejections = [f"{account}: {why}" for account, why in first]
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
    connection.execute(f"CREATE TEMP TABLE old_decisions AS SELECT account_id, action, reasons FROM ({old_d})")  # fmt: skip
    connection.execute(f"CREATE TEMP TABLE new_decisions AS SELECT account_id, action, reasons FROM ({new_d})")  # fmt: skip
    connection.execute(f"CREATE TEMP TABLE rejected AS ({old_e}) UNION ALL ({new_e})")
    connection.execute("CREATE TEMP VIEW rejected_accounts AS SELECT DISTINCT account_id FROM rejected")  # fmt: skip
    connection.execute(f"CREATE TEMP VIEW pairs AS {_PAIRS}")
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
    spark.sql(f"SELECT account_id, action, reasons FROM ({old_d})").cache().createOrReplaceTempView("old_decisions")  # fmt: skip
    spark.sql(f"SELECT account_id, action, reasons FROM ({new_d})").cache().createOrReplaceTempView("new_decisions")  # fmt: skip
    spark.sql(f"({old_e}) UNION ALL ({new_e})").createOrReplaceTempView("rejected")
    spark.sql("SELECT DISTINCT account_id FROM rejected").createOrReplaceTempView("rejected_accounts")  # fmt: skip
    spark.sql(_in("spark", _PAIRS)).createOrReplaceTempView("pairs")
    return _report(old, new, lambda sql: [tuple(row) for row in spark.sql(sql).collect()], "spark")


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
