"""Run the generated SQL on Spark (pyspark): `local[*]` by default, any master by name."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

from clearline.engine.batch.run import (
    BatchInputError,
    input_format,
    input_problems,
    local_scan,
    sources_for,
)
from clearline.engine.batch.sql import ACCOUNT_ID, SqlPolicy, compile_sql
from clearline.engine.model import Policy

# Spark SQL types (simpleString) to what `compile_sql` calls a source.
_SOURCES = {
    "bigint": "integer",
    "int": "integer",
    "smallint": "integer",
    "tinyint": "integer",
    "double": "number",
    "float": "number",
    "boolean": "boolean",
    "string": "string",
    "date": "date",
    "timestamp": "datetime",
}


def spark_session(master: str | None = None, app: str = "clearline-batch") -> Any:
    """A Spark session; the master from the argument, else the Spark configuration, else
    `local[*]`. Session time zone UTC and ANSI mode off, as the generated SQL expects."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app)
    if master:
        builder = builder.master(master)
    elif not os.environ.get("MASTER") and "spark.master" not in os.environ.get(
        "PYSPARK_SUBMIT_ARGS", ""
    ):
        builder = builder.master("local[*]")
    session = builder.getOrCreate()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.ansi.enabled", "false")
    return session


def compile_for_spark(
    session: Any, policies: Sequence[Policy], path: str | os.PathLike[str], as_of: dt.datetime
) -> list[SqlPolicy]:
    """Register the input as the view `accounts` and compile each policy for its columns."""
    kind = input_format(path)
    reader = session.read
    try:
        if kind == "parquet":
            frame = reader.parquet(os.fspath(path))
        elif kind == "jsonl":
            # a local file's good lines (the others are error rows, `input_problems`)
            scan = local_scan(policies, path)
            frame = reader.json(os.fspath(scan.readable if scan else path))
        else:
            frame = reader.option("header", "true").csv(os.fspath(path))
    except Exception as exc:  # Spark's analysis errors for unreadable files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BatchInputError(f"{os.fspath(path)}: cannot read the input: {first}") from None
    if "facts" in frame.columns and frame.schema["facts"].dataType.typeName() == "struct":
        frame = frame.select(ACCOUNT_ID, "facts.*")  # `clearline decide` input
    frame.createOrReplaceTempView("accounts")
    columns = {f.name: _SOURCES.get(f.dataType.simpleString(), "other") for f in frame.schema}
    if ACCOUNT_ID not in columns:
        raise BatchInputError(f"{os.fspath(path)}: the input has no `{ACCOUNT_ID}` column")
    per_policy, extra = sources_for(policies, columns, text=kind == "csv")
    return [
        compile_sql(policy, as_of, sources, extra)
        for policy, sources in zip(policies, per_policy, strict=True)
    ]


def decide_spark(session: Any, compiled: Sequence[SqlPolicy]) -> tuple[Any, Any]:
    """(decisions, errors) data frames of the compiled policies over the view `accounts`."""
    decisions = errors = None
    for policy in compiled:
        d_sql, e_sql = policy.sql("spark")
        d, e = session.sql(d_sql), session.sql(e_sql)
        decisions = d if decisions is None else decisions.unionByName(d)
        errors = e if errors is None else errors.unionByName(e)
    return decisions, errors


def run_spark(
    policies: Sequence[Policy],
    input_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    errors_output: str | os.PathLike[str],
    as_of: dt.datetime,
    *,
    master: str | None = None,
) -> tuple[int, int]:
    """Decide every account with Spark; write decisions and errors as Parquet folders."""
    session = spark_session(master)
    compiled = compile_for_spark(session, policies, input_path, as_of)
    decisions, errors = decide_spark(session, compiled)
    left_out = [problem.row() for problem in input_problems(policies, input_path)]
    if left_out:
        from pyspark.sql.types import StructField, StructType

        # every column nullable: a line that could not be read has no account id
        schema = StructType([StructField(f.name, f.dataType, True) for f in errors.schema])
        errors = errors.unionByName(session.createDataFrame(left_out, schema=schema))
    decisions.write.mode("overwrite").parquet(os.fspath(output))
    errors.write.mode("overwrite").parquet(os.fspath(errors_output))
    read = session.read
    return read.parquet(os.fspath(output)).count(), read.parquet(os.fspath(errors_output)).count()
