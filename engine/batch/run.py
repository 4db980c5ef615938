"""Run compiled policies over a table of accounts: DuckDB (embedded) or Spark (any master).

Both runners read the input (Parquet, JSONL or CSV), find what each fact's column holds, run
the same generated SQL printed in their dialect, and write decisions and errors as Parquet.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearline.engine.batch.jsonl_input import InputLineProblem, JsonlScan, scan_jsonl
from clearline.engine.batch.sql import ACCOUNT_ID, SqlPolicy, compile_sql
from clearline.engine.errors import ClearlineError
from clearline.engine.model import Policy


class BatchInputError(ClearlineError):
    """The batch input cannot be read as a table of accounts (at a line, when one is known)."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


# DuckDB's error text: "<Kind> Error: <reason>", a line number in some, then hints for SQL users
_ERROR_KIND = re.compile(r"^[A-Za-z ]*Error: ")
_AT_LINE = re.compile(r"\bline (\d+)")


def unreadable(path: str | os.PathLike[str], exc: Exception) -> BatchInputError:
    """A DuckDB failure to read the input as a plain, located BatchInputError."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = _ERROR_KIND.sub("", first).strip().rstrip(".")
    at = _AT_LINE.search(reason)
    return BatchInputError(
        f"{os.fspath(path)}: cannot read the input as {input_format(path).upper()}: {reason}",
        int(at.group(1)) if at else 1,
    )


@dataclass(frozen=True)
class BatchResult:
    """Counts of one batch run."""

    decisions: int
    errors: int


def input_format(path: str | os.PathLike[str]) -> str:
    """`parquet`, `jsonl` or `csv`, from the file name."""
    name = os.fspath(path).lower()
    for suffix, kind in ((".parquet", "parquet"), (".jsonl", "jsonl"), (".ndjson", "jsonl")):
        if name.endswith(suffix):
            return kind
    if name.endswith(".csv"):
        return "csv"
    raise BatchInputError(f"{os.fspath(path)}: the input must be .parquet, .jsonl or .csv")


# DuckDB column types (as DESCRIBE prints them) to what `compile_sql` calls a source.
def _duckdb_source(type_name: str) -> str:
    t = type_name.upper()
    if t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"):
        return "integer"
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return "number"
    if t == "BOOLEAN":
        return "boolean"
    if t == "VARCHAR":
        return "string"
    if t == "JSON":
        return "json"
    if t == "DATE":
        return "date"
    if t == "TIMESTAMP WITH TIME ZONE":
        return "datetime"
    return "other"


def sources_for(
    policies: Sequence[Policy], columns: dict[str, str], text: bool = False
) -> tuple[list[dict[str, str]], tuple[str, ...]]:
    """Per policy, what each fact's column holds; and the columns no policy declares."""
    declared = {fact.name for policy in policies for fact in policy.facts}
    result = []
    for policy in policies:
        sources = {}
        for fact in policy.facts:
            kind = columns.get(fact.name)
            sources[fact.name] = "absent" if kind is None else ("text" if text else kind)
        result.append(sources)
    extra = tuple(name for name in columns if name != ACCOUNT_ID and name not in declared)
    return result, extra


def _quote(path: str | os.PathLike[str]) -> str:
    """A file path as a SQL string literal (DuckDB reads files by name in FROM)."""
    return "'" + os.fspath(path).replace("'", "''") + "'"


def duckdb_reader(path: str | os.PathLike[str]) -> str:
    """The DuckDB table function reading the input file."""
    kind = input_format(path)
    if kind == "parquet":
        return f"read_parquet({_quote(path)})"
    if kind == "jsonl":
        return f"read_json({_quote(path)}, format='newline_delimited')"
    return f"read_csv({_quote(path)}, all_varchar=true, header=true)"


def _jsonl_view(connection: Any, path: str | os.PathLike[str], shown: str, rejected: bool) -> None:
    """The view `accounts_input` over a JSONL file, every value read as JSON, so each row keeps
    its own JSON type.

    DuckDB's type detection types a column by a sample of rows: a column of 3 and "ten" would
    be all text (or fail on a row past the sample). Here every key found in the file is a JSON
    column, and `input_values.from_json` checks each row's JSON type as `decide` does.
    """
    objects = f"read_json_objects({_quote(path)}, format='newline_delimited')"
    top = [row[0] for row in connection.execute(
        f"SELECT DISTINCT UNNEST(JSON_KEYS(json)) FROM {objects} WHERE JSON_TYPE(json) = 'OBJECT'"
    ).fetchall()]  # fmt: skip
    nested = "facts" in top
    keys = top
    if nested:
        keys = [row[0] for row in connection.execute(
            f"SELECT DISTINCT UNNEST(JSON_KEYS(json -> '$.facts')) FROM {objects} "
            "WHERE JSON_TYPE(json -> '$.facts') = 'OBJECT'"
        ).fetchall()]  # fmt: skip
    facts = {name: "JSON" for name in sorted(keys) if nested or name != ACCOUNT_ID}
    # every line rejected by the scan: an empty table, so the rejected lines are still reported
    columns: dict[str, str] = {ACCOUNT_ID: "VARCHAR"} if ACCOUNT_ID in top or (rejected and not top) else {}  # fmt: skip
    if nested:
        # a key is an identifier inside the type text: quoted, its quotes doubled
        fields = ", ".join('"' + name.replace('"', '""') + '" JSON' for name in facts)
        if fields:  # no fact in any line: no facts column, every account decided on none
            columns["facts"] = f"STRUCT({fields})"
    else:
        columns.update(facts)
    if not columns:
        raise BatchInputError(f"{shown}: the input has no `{ACCOUNT_ID}` column")
    relation = connection.read_json(os.fspath(path), format="newline_delimited", columns=columns)
    relation.create_view("accounts_input", replace=True)


def compile_for_duckdb(
    connection: Any, policies: Sequence[Policy], path: str | os.PathLike[str], as_of: dt.datetime
) -> list[SqlPolicy]:
    """Create the `accounts` view over the input and compile each policy for its columns."""
    try:
        if input_format(path) == "jsonl":
            scan = scan_jsonl(path, _declared(policies))
            _jsonl_view(connection, scan.readable, os.fspath(path), bool(scan.problems))
        else:
            connection.execute(
                f"CREATE OR REPLACE TEMP VIEW accounts_input AS SELECT * FROM {duckdb_reader(path)}"
            )
        connection.execute("CREATE OR REPLACE TEMP VIEW accounts AS SELECT * FROM accounts_input")
        described = connection.execute("DESCRIBE accounts").fetchall()
        if any(name == "facts" and kind.startswith("STRUCT") for name, kind, *_ in described):
            # `clearline decide` input ({"account_id", "facts": {...}}): the facts as columns.
            connection.execute(
                "CREATE OR REPLACE TEMP VIEW accounts AS SELECT account_id, facts.* "
                "FROM accounts_input"
            )
            described = connection.execute("DESCRIBE accounts").fetchall()
    except BatchInputError:
        raise
    except Exception as exc:  # duckdb raises its own error classes for unreadable files
        raise unreadable(path, exc) from None
    columns = {row[0]: _duckdb_source(row[1]) for row in described}
    if ACCOUNT_ID not in columns:
        raise BatchInputError(f"{os.fspath(path)}: the input has no `{ACCOUNT_ID}` column")
    per_policy, extra = sources_for(policies, columns, text=input_format(path) == "csv")
    return [
        compile_sql(policy, as_of, sources, extra)
        for policy, sources in zip(policies, per_policy, strict=True)
    ]


def _declared(policies: Sequence[Policy]) -> set[str]:
    return {fact.name for policy in policies for fact in policy.facts}


def local_scan(policies: Sequence[Policy], path: str | os.PathLike[str]) -> JsonlScan | None:
    """The scan of a JSONL input on this machine (each line read as `clearline decide` reads
    it); None for other inputs, and for a file Spark reads from a cluster's storage."""
    if input_format(path) != "jsonl" or not os.path.isfile(path):
        return None
    return scan_jsonl(path, _declared(policies))


def input_problems(
    policies: Sequence[Policy], path: str | os.PathLike[str]
) -> tuple[InputLineProblem, ...]:
    """The JSONL lines left out of the batch (each a per-row problem), as `local_scan` finds."""
    scan = local_scan(policies, path)
    return scan.problems if scan else ()


def run_duckdb(
    policies: Sequence[Policy],
    input_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    errors_output: str | os.PathLike[str],
    as_of: dt.datetime,
    *,
    threads: int | None = None,
) -> BatchResult:
    """Decide every account of the input with DuckDB; write decisions and errors as Parquet."""
    import duckdb

    connection = duckdb.connect()
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    compiled = compile_for_duckdb(connection, policies, input_path, as_of)
    decisions = " UNION ALL ".join(f"({c.sql('duckdb')[0]})" for c in compiled)
    errors = " UNION ALL ".join(f"({c.sql('duckdb')[1]})" for c in compiled)
    problems = input_problems(policies, input_path)
    if problems:
        import pyarrow as pa

        from clearline.engine.batch.parquet import ERRORS

        rows = pa.Table.from_pylist([p.row() for p in problems], schema=ERRORS)
        connection.register("input_line_problems", rows)
        errors = f"({errors}) UNION ALL (SELECT * FROM input_line_problems)"
    try:
        connection.execute(f"COPY ({decisions}) TO {_quote(output)} (FORMAT parquet)")
        connection.execute(f"COPY ({errors}) TO {_quote(errors_output)} (FORMAT parquet)")
    except duckdb.Error as exc:  # a value DuckDB cannot read, found only as it reads it
        connection.close()
        raise unreadable(input_path, exc) from None
    count = connection.execute(f"SELECT count(*) FROM read_parquet({_quote(output)})").fetchone()
    bad = connection.execute(
        f"SELECT count(*) FROM read_parquet({_quote(errors_output)})"
    ).fetchone()
    connection.close()
    return BatchResult(int(count[0]) if count else 0, int(bad[0]) if bad else 0)


def set_input_hashes(
    connection: Any, output: str | os.PathLike[str], hashes: Sequence[tuple[str, str, str]]
) -> None:
    """Rewrite the decisions file with its input_sha256 column filled from `hashes`
    (account id, policy sha256, input hash)."""
    import pyarrow as pa

    table = pa.table(
        {
            "account_id": pa.array([h[0] for h in hashes], pa.string()),
            "policy_sha256": pa.array([h[1] for h in hashes], pa.string()),
            "input_sha256": pa.array([h[2] for h in hashes], pa.string()),
        }
    )
    connection.register("input_hashes", table)
    staged = Path(output).with_name(Path(output).name + ".tmp")
    connection.execute(
        "COPY (SELECT d.* REPLACE (h.input_sha256 AS input_sha256) "
        f"FROM read_parquet({_quote(output)}) AS d LEFT JOIN input_hashes AS h "
        "USING (account_id, policy_sha256)) "
        f"TO {_quote(staged)} (FORMAT parquet)"
    )
    connection.unregister("input_hashes")
    os.replace(staged, output)


def default_errors_path(output: str | os.PathLike[str]) -> Path:
    """`decisions.parquet` -> `decisions.errors.parquet`."""
    path = Path(output)
    return path.with_name(path.name.removesuffix(".parquet") + ".errors.parquet")
