"""Helpers of the SQL-vs-native differential tests: typed input tables and row comparison."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clearline.engine import compile_policy, decide
from clearline.engine.errors import FactError
from clearline.engine.model import FactType, Policy

ARROW_TYPES = {
    FactType.INTEGER: pa.int64(),
    FactType.NUMBER: pa.float64(),
    FactType.BOOLEAN: pa.bool_(),
    FactType.ENUM: pa.string(),
    FactType.STRING: pa.string(),
    FactType.DATE: pa.date32(),
    FactType.DATETIME: pa.timestamp("us", tz="UTC"),
}


def fits(kind: FactType, value: Any) -> bool:
    """Whether a Python value can sit in the fact's typed column."""
    if value is None:
        return True
    if kind is FactType.INTEGER:
        return type(value) is int
    if kind is FactType.NUMBER:
        return type(value) in (int, float)
    if kind is FactType.BOOLEAN:
        return type(value) is bool
    if kind in (FactType.ENUM, FactType.STRING):
        return type(value) is str
    if kind is FactType.DATE:
        return type(value) is dt.date
    return type(value) is dt.datetime


def typed_accounts(policy: Policy, drawn: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The drawn accounts with values a typed column cannot hold dropped (they stay absent)."""
    kinds = {fact.name: fact.type for fact in policy.facts}
    return [{k: v for k, v in facts.items() if fits(kinds[k], v)} for facts in drawn]


def write_parquet(policy: Policy, accounts: list[dict[str, Any]], path: Any) -> None:
    """Accounts as a typed Parquet table with an `account_id` column."""
    columns: dict[str, Any] = {"account_id": pa.array([f"a{i}" for i in range(len(accounts))])}
    for fact in policy.facts:
        values = [facts.get(fact.name) for facts in accounts]
        if fact.type is FactType.NUMBER:
            values = [None if v is None else float(v) for v in values]
        if fact.type is FactType.DATETIME:
            values = [None if v is None else v.astimezone(dt.UTC) for v in values]
        columns[fact.name] = pa.array(values, type=ARROW_TYPES[fact.type])
    pq.write_table(pa.table(columns), path)


def native_rows(
    policy: Policy, accounts: list[dict[str, Any]], as_of: dt.datetime
) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str, str]]]:
    """What the native engine decides: the batch output columns by account, and the errors."""
    compiled = compile_policy(policy)
    rows: dict[str, dict[str, Any]] = {}
    errors: set[tuple[str, str, str]] = set()
    for i, facts in enumerate(accounts):
        account = f"a{i}"
        try:
            decision = decide(compiled, facts, as_of, account_id=account)
        except FactError as exc:
            errors.update((account, p.fact, p.code) for p in exc.problems)
            continue
        timeline = decision.timeline
        top = decision.reasons[0] if decision.reasons else None
        rows[account] = {
            "action": decision.action.value,
            "limit_factor": top.limit_factor if top and decision.action.value == "reduce_limit" else None,
            "reasons": [
                {"rule": r.rule, "code": r.code, "action": r.action.value, "limit_factor": r.limit_factor}
                for r in decision.reasons
            ],
            "missing_facts": list(decision.missing_facts),
            "rule_matches": list(decision._matches or ()),
            "check_matches": list(decision._checks or ()),
            "notice_date": timeline.notice_date if timeline else None,
            "effective": timeline.effective if timeline else None,
            "cure_until": timeline.cure_until if timeline else None,
            "appeal_until": timeline.appeal_until if timeline else None,
        }  # fmt: skip
    return rows, errors


COMPARED = (
    "action",
    "limit_factor",
    "reasons",
    "missing_facts",
    "rule_matches",
    "check_matches",
    "notice_date",
    "effective",
    "cure_until",
    "appeal_until",
)


def compare(
    native: dict[str, dict[str, Any]],
    native_errors: set[tuple[str, str, str]],
    sql_rows: list[dict[str, Any]],
    sql_errors: set[tuple[str, str, str]],
    context: str,
) -> None:
    """Assert the SQL output equals the native one on every compared column."""
    assert sql_errors == native_errors, context
    by_account = {row["account_id"]: row for row in sql_rows}
    assert set(by_account) == set(native), context
    for account, expected in native.items():
        got = by_account[account]
        for column in COMPARED:
            assert got[column] == expected[column], (
                f"{context}\naccount {account} column {column}: "
                f"sql {got[column]!r} native {expected[column]!r}"
            )
