"""`clearline batch`: a whole portfolio decided by the policy compiled to SQL (DuckDB, Spark),
or by the native engine; full records through the native engine for the adverse rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from clearline.engine.batch.run import (
    BatchInputError,
    compile_for_duckdb,
    default_errors_path,
    input_format,
    run_duckdb,
)
from clearline.engine.decisions.compile import compile_policy
from clearline.engine.decisions.decide import AsOfError, to_instant
from clearline.engine.model import Policy

from .common import Failed, error, load_compiled, policy_files


def _policies(policy: str | None, folder: str | None) -> list[Policy]:
    if (policy is None) == (folder is None):
        raise click.UsageError("give exactly one of --policy FILE and --policies DIR")
    paths = [Path(policy)] if policy else list(policy_files([folder or "."]))
    if not paths:
        raise click.UsageError(f"no policy files in {folder}")
    return [load_compiled(path).policy for path in paths]


@click.command("batch")
@click.option("--policy", "policy_path", type=click.Path(), help="Policy file.")
@click.option("--policies", "policies_dir", type=click.Path(), help="Folder of policy files.")
@click.option("--input", "input_path", required=True, type=click.Path(), help="Accounts: .parquet, .jsonl or .csv.")  # fmt: skip
@click.option("--output", required=True, type=click.Path(), help="Decisions (.parquet).")
@click.option("--errors", "errors_path", type=click.Path(), help="Rejected inputs (.parquet); default beside --output.")  # fmt: skip
@click.option("--engine", type=click.Choice(["duckdb", "spark", "native"]), default="duckdb", show_default=True)  # fmt: skip
@click.option("--as-of", help="Decision date or date-time (ISO); default: now.")
@click.option("--records", is_flag=True, help="Full decision records of the adverse rows (native engine), as JSONL beside --output.")  # fmt: skip
@click.option("--audit", "audit_path", type=click.Path(), help="Append the adverse rows' records to this audit log (implies --records).")  # fmt: skip
@click.option("--spark-master", default=None, help="Spark master URL (default: local[*] or the Spark configuration).")  # fmt: skip
def batch_command(
    policy_path: str | None,
    policies_dir: str | None,
    input_path: str,
    output: str,
    errors_path: str | None,
    engine: str,
    as_of: str | None,
    records: bool,
    audit_path: str | None,
    spark_master: str | None,
) -> None:
    """Decide every account of a table; decisions and errors out as Parquet."""
    policies = _policies(policy_path, policies_dir)
    try:
        moment = (
            to_instant(as_of, policies[0].metadata.timezone)
            if as_of
            else dt.datetime.now(dt.UTC).replace(microsecond=0)
        )
    except AsOfError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None
    if not output.endswith(".parquet"):
        raise click.BadParameter("the output must be a .parquet file", param_hint="--output")
    try:
        csv_input = input_format(input_path) == "csv"
    except BatchInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from None
    errors_out = Path(errors_path) if errors_path else default_errors_path(output)
    try:
        if engine == "duckdb":
            result = run_duckdb(policies, input_path, output, errors_out, moment)
            decided, rejected = result.decisions, result.errors
        elif engine == "spark":
            from clearline.engine.batch.spark import run_spark

            decided, rejected = run_spark(
                policies, input_path, output, errors_out, moment, master=spark_master
            )
        else:
            decided, rejected = _run_native(policies, input_path, output, errors_out, moment, csv_input)  # fmt: skip
        if records or audit_path:
            _write_records(policies, input_path, output, moment, csv_input, audit_path)
    except BatchInputError as exc:
        error(str(exc), code="E009")
        raise Failed() from None
    click.echo(f"clearline: {decided} decided, {rejected} rejected ({engine})", err=True)
    if rejected:
        click.echo(f"clearline: rejected inputs are in {errors_out}", err=True)
        raise Failed()


def _run_native(
    policies: list[Policy],
    input_path: str,
    output: str,
    errors_out: Path,
    moment: dt.datetime,
    csv_input: bool,
) -> tuple[int, int]:
    import duckdb

    from clearline.engine.batch.native import native_batch
    from clearline.engine.batch.parquet import write_decisions, write_errors

    connection = duckdb.connect()
    sql = compile_for_duckdb(connection, policies, input_path, moment)
    rows, errors = native_batch(
        connection, sql, [compile_policy(p) for p in policies], moment, csv_input
    )
    write_decisions(rows, output)
    write_errors(errors, errors_out)
    return len(rows), len(errors)


def _write_records(
    policies: list[Policy],
    input_path: str,
    output: str,
    moment: dt.datetime,
    csv_input: bool,
    audit_path: str | None,
) -> None:
    import duckdb

    from clearline.engine.batch.native import adverse_records

    from .decide_command import open_audit

    connection = duckdb.connect()
    sql = compile_for_duckdb(connection, policies, input_path, moment)
    records_path = Path(output).with_name(Path(output).name.removesuffix(".parquet") + ".records.jsonl")  # fmt: skip
    log = open_audit(audit_path) if audit_path else None
    count = 0
    with records_path.open("w", encoding="utf-8") as out:
        for compiled_sql, policy in zip(sql, policies, strict=True):
            decisions = adverse_records(
                connection, compiled_sql, compile_policy(policy), output, moment, csv_input
            )
            if log is not None and decisions:
                log.append(decisions)
            for decision in decisions:
                out.write(decision.to_json() + "\n")
            count += len(decisions)
    if log is not None:
        log.close()
    click.echo(f"clearline: {count} adverse records in {records_path}", err=True)
