"""The batch output schema as Arrow types, for engines that write rows from Python."""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

REASON = pa.struct(
    [
        ("rule", pa.string()),
        ("code", pa.string()),
        ("action", pa.string()),
        ("limit_factor", pa.float64()),
    ]
)
DECISIONS = pa.schema(
    [
        ("account_id", pa.string()),
        ("as_of", pa.string()),
        ("policy_id", pa.string()),
        ("policy_version", pa.string()),
        ("policy_sha256", pa.string()),
        ("input_sha256", pa.string()),
        ("action", pa.string()),
        ("limit_factor", pa.float64()),
        ("reasons", pa.list_(REASON)),
        ("missing_facts", pa.list_(pa.string())),
        ("rule_matches", pa.list_(pa.bool_())),
        ("check_matches", pa.list_(pa.bool_())),
        ("notice_date", pa.date32()),
        ("effective", pa.date32()),
        ("cure_until", pa.date32()),
        ("appeal_until", pa.date32()),
    ]
)
ERRORS = pa.schema(
    [
        ("account_id", pa.string()),
        ("fact", pa.string()),
        ("code", pa.string()),
        ("message", pa.string()),
    ]
)


def write_decisions(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Decision rows (batch columns) as Parquet."""
    pq.write_table(pa.Table.from_pylist(rows, schema=DECISIONS), os.fspath(path))


def write_errors(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Error rows (account_id, fact, code, message) as Parquet."""
    pq.write_table(pa.Table.from_pylist(rows, schema=ERRORS), os.fspath(path))
