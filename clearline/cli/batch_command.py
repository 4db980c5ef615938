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
    input_problems,
    run_duckdb,
)
from clearline.engine.decisions.compile import compile_policy
from clearline.engine.decisions.decide import AsOfError, to_instant
from clearline.engine.model import Policy
from clearline.engine.versions import PolicyRegistry

from .common import Failed, error, load_compiled, report


def _policies(policy: str | None, folder: str | None) -> list[Policy]:
    if (policy is None) == (folder is None):
        raise click.UsageError("give exactly one of --policy FILE and --policies DIR")
    if policy:
        return [load_compiled(policy).policy]
    registry, diagnostics = PolicyRegistry.analyse([folder or "."])
    if registry is None:
        report(diagnostics)
        raise Failed()
    if not registry.policy_ids():
        raise click.UsageError(f"no policy files in {folder}")
    return [item.policy for item in registry]


def _in_force(policies: list[Policy], moment: dt.datetime, where: str) -> list[Policy]:
    """Per policy id, the version in force at the batch moment; a located V005 otherwise."""
    chosen: dict[str, Policy] = {}
    for policy in policies:
        meta = policy.metadata
        if meta.effective_from <= moment and (
            meta.effective_until is None or moment < meta.effective_until
        ):
            chosen.setdefault(meta.id, policy)
    missing = sorted({p.metadata.id for p in policies} - set(chosen))
    for policy_id in missing:
        spans = "; ".join(
            f"{p.metadata.version}: from {p.metadata.effective_from.isoformat()}"
            + (f" until {p.metadata.effective_until.isoformat()}" if p.metadata.effective_until else "")
            for p in policies
            if p.metadata.id == policy_id
        )  # fmt: skip
        error(f"no version of `{policy_id}` is in force at {moment.isoformat()} ({spans})", where=where, code="V005")  # fmt: skip
    if missing:
        raise Failed()
    return list(chosen.values())


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
@click.option("--input-hashes", is_flag=True, help="Fill input_sha256 (the record's input hash) for every row, by a native pass (duckdb, native).")  # fmt: skip
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
    input_hashes: bool,
    spark_master: str | None,
) -> None:
    """Decide every account of a table; decisions and errors out as Parquet."""
    policies = _policies(policy_path, policies_dir)
    if input_hashes and engine == "spark":
        raise click.UsageError("--input-hashes works with --engine duckdb or native")
    try:
        moment = (
            to_instant(as_of, policies[0].metadata.timezone)
            if as_of
            else dt.datetime.now(dt.UTC).replace(microsecond=0)
        )
    except AsOfError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None
    policies = _in_force(policies, moment, f"{policy_path}:1:1" if policy_path else str(policies_dir))  # fmt: skip
    if not output.endswith(".parquet"):
        raise click.BadParameter("the output must be a .parquet file", param_hint="--output")
    errors_out = Path(errors_path) if errors_path else default_errors_path(output)
    try:
        input_format(input_path)  # refuse an unknown kind of file before any engine starts
        if engine == "duckdb":
            result = run_duckdb(policies, input_path, output, errors_out, moment)
            decided, rejected = result.decisions, result.errors
            if input_hashes:
                _fill_input_hashes(policies, input_path, output, moment)
        elif engine == "spark":
            from clearline.engine.batch.spark import run_spark

            decided, rejected = run_spark(
                policies, input_path, output, errors_out, moment, master=spark_master
            )
        else:
            decided, rejected = _run_native(policies, input_path, output, errors_out, moment, input_hashes)  # fmt: skip
        if records or audit_path:
            _write_records(policies, input_path, output, moment, audit_path)
    except BatchInputError as exc:
        # the input file is the place of the problem (its line when known), located
        message = str(exc).removeprefix(f"{input_path}: ")
        error(message, where=f"{input_path}:{exc.line}:{exc.column}", code="E009")
        raise Failed() from None
    for problem in input_problems(policies, input_path):  # left out, as `decide` reports them
        error(problem.message, where=f"{input_path}:{problem.line}:{problem.column}", code=problem.code)  # fmt: skip
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
    input_hashes: bool,
) -> tuple[int, int]:
    import duckdb

    from clearline.engine.batch.native import native_batch
    from clearline.engine.batch.parquet import write_decisions, write_errors

    connection = duckdb.connect()
    sql = compile_for_duckdb(connection, policies, input_path, moment)
    rows, errors = native_batch(
        connection, sql, [compile_policy(p) for p in policies], moment, input_hashes
    )
    write_decisions(rows, output)
    errors = errors + [problem.row() for problem in input_problems(policies, input_path)]
    write_errors(errors, errors_out)
    return len(rows), len(errors)


def _write_records(
    policies: list[Policy],
    input_path: str,
    output: str,
    moment: dt.datetime,
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
                connection, compiled_sql, compile_policy(policy), output, moment
            )
            if log is not None and decisions:
                log.append(decisions)
            for decision in decisions:
                out.write(decision.to_json() + "\n")
            count += len(decisions)
    if log is not None:
        log.close()
    click.echo(f"clearline: {count} adverse records in {records_path}", err=True)


def _fill_input_hashes(
    policies: list[Policy], input_path: str, output: str, moment: dt.datetime
) -> None:
    """Fill the output's input_sha256 column by a native pass over every decided row."""
    import duckdb

    from clearline.engine.batch.native import input_hashes
    from clearline.engine.batch.run import set_input_hashes

    connection = duckdb.connect()
    sql = compile_for_duckdb(connection, policies, input_path, moment)
    hashes = [
        row
        for compiled_sql, policy in zip(sql, policies, strict=True)
        for row in input_hashes(connection, compiled_sql, compile_policy(policy), moment)
    ]
    set_input_hashes(connection, output, hashes)
    connection.close()
