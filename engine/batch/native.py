"""The native engine in a batch: full records for adverse rows, and the `native` engine itself.

Records come from `decide`, so they are byte for byte what `clearline decide` writes for the
same facts and moment: the facts are the input's own values (a CSV column's text is read as
the SQL back end typed it, as CSV has no types of its own).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Sequence
from typing import Any

from clearline.engine.batch.sql import ACCOUNT_ID, SqlPolicy
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision, decide
from clearline.engine.errors import FactError
from clearline.engine.model import ADVERSE_ACTIONS

ADVERSE = tuple(sorted(kind.value for kind in ADVERSE_ACTIONS))


def facts_of(compiled: SqlPolicy, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(account id, facts) of one row of a `SqlPolicy.typed` query, each value as `decide`
    would read it from the input (never the SQL's typed value); nulls are left out. A value in
    a column that is no fact is kept, so `decide` refuses it as an unknown fact (F001)."""
    facts: dict[str, Any] = {}
    for name in (*(fact.name for fact in compiled.policy.facts), *compiled.extra_columns):
        value = row.get(name)
        if value is not None:
            facts[name] = value
    return str(row[ACCOUNT_ID]), facts


def typed_rows(
    connection: Any, compiled: SqlPolicy, where: str | None = None
) -> Iterator[dict[str, Any]]:
    """Rows of the typed query (DuckDB), optionally only accounts in the table `where`."""
    query = compiled.typed.sql("duckdb")
    if where is not None:
        query = f"SELECT q.* FROM ({query}) AS q JOIN {where} AS w USING (account_id)"
    cursor = connection.execute(query)
    names = [d[0] for d in cursor.description]
    while True:
        chunk = cursor.fetchmany(10_000)
        if not chunk:
            return
        for values in chunk:
            yield dict(zip(names, values, strict=True))


def adverse_records(
    connection: Any,
    compiled_sql: SqlPolicy,
    compiled: CompiledPolicy,
    decisions_path: str | os.PathLike[str],
    as_of: dt.datetime,
) -> list[Decision]:
    """Native decisions of the rows the SQL back end decided adverse for this policy."""
    path = "'" + os.fspath(decisions_path).replace("'", "''") + "'"
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE adverse AS SELECT account_id, action FROM "
        f"read_parquet({path}) WHERE policy_sha256 = ? AND action IN ?",
        [compiled_sql.sha256, list(ADVERSE)],
    )
    expected = dict(connection.execute("SELECT account_id, action FROM adverse").fetchall())
    records = []
    for row in typed_rows(connection, compiled_sql, "adverse"):
        account, facts = facts_of(compiled_sql, row)
        decision = decide(compiled, facts, as_of, account_id=account)
        if decision.action.value != expected.get(account):
            raise AssertionError(
                f"account {account}: SQL decided {expected.get(account)}, "
                f"the native engine {decision.action.value}"
            )
        records.append(decision)
    return records


def input_hashes(
    connection: Any,
    compiled_sql: SqlPolicy,
    compiled: CompiledPolicy,
    as_of: dt.datetime,
) -> Iterator[tuple[str, str, str]]:
    """(account id, policy sha256, input_sha256) of every valid row, as its record hashes it.

    The hash is of the RFC 8785 JSON of the checked facts; the number forms of JCS
    (ECMAScript's shortest round trip) and the engine's normalisation of dates and date-times
    have no faithful SQL spelling in either dialect, so the native engine makes it.
    """
    for row in typed_rows(connection, compiled_sql):
        account, facts = facts_of(compiled_sql, row)
        try:
            decision = decide(compiled, facts, as_of, account_id=account, trace=False)
        except FactError:
            continue  # an errors-file row: it has no decision
        yield account, compiled.sha256, decision.input_sha256


def native_batch(
    connection: Any,
    compiled_sql: Sequence[SqlPolicy],
    compiled: Sequence[CompiledPolicy],
    as_of: dt.datetime,
    with_input_hashes: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Decide every row with the native engine: (decision rows, error rows) as batch columns."""
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for sql, policy in zip(compiled_sql, compiled, strict=True):
        meta = policy.policy.metadata
        as_of_text = as_of.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        for row in typed_rows(connection, sql):
            account, facts = facts_of(sql, row)
            try:
                decision = decide(policy, facts, as_of, account_id=account)
            except FactError as exc:
                errors += [
                    {"account_id": account, "fact": p.fact, "code": p.code, "message": p.message}
                    for p in exc.problems
                ]
                continue
            timeline = decision.timeline
            reasons = decision.reasons
            top = reasons[0] if reasons else None
            reduce = decision.action.value == "reduce_limit"
            rows.append(
                {
                    "account_id": account,
                    "as_of": as_of_text,
                    "policy_id": meta.id,
                    "policy_version": meta.version,
                    "policy_sha256": policy.sha256,
                    "input_sha256": decision.input_sha256 if with_input_hashes else None,
                    "action": decision.action.value,
                    "limit_factor": top.limit_factor if top and reduce else None,
                    "reasons": [
                        {"rule": r.rule, "code": r.code, "action": r.action.value, "limit_factor": r.limit_factor}
                        for r in reasons
                    ],
                    "missing_facts": list(decision.missing_facts),
                    "rule_matches": list(decision._matches or ()),
                    "check_matches": list(decision._checks or ()),
                    "notice_date": timeline.notice_date if timeline else None,
                    "effective": timeline.effective if timeline else None,
                    "cure_until": timeline.cure_until if timeline else None,
                    "appeal_until": timeline.appeal_until if timeline else None,
                }
            )  # fmt: skip
    return rows, errors
