"""`clearline diff` and `clearline backtest`: what changes between two policy versions, for whom."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import click

from clearline.engine import CompiledPolicy
from clearline.engine.change.backtest import Account, BacktestReport, backtest, render_table
from clearline.engine.change.diff import diff_policies
from clearline.engine.decisions.decide import AsOfError, to_instant
from clearline.engine.decisions.requests import InputProblem, read_requests

from .common import Failed, error, load_compiled, progress_wanted, with_progress
from .diff_report import render_markdown, render_text


@click.command()
@click.argument("old_path", type=click.Path())
@click.argument("new_path", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "md", "html"]),
    default=None,
    help="Report: text (default), json or md. With --notice: md (default) or html.",
)
@click.option(
    "--notice", is_flag=True, help="The customer notice of the change instead of the report."
)
@click.option("--lang", help="Language of the notice (default: the new version's first).")
@click.option("-o", "--output", type=click.Path(allow_dash=True), default="-")
def diff(
    old_path: str, new_path: str, fmt: str | None, notice: bool, lang: str | None, output: str
) -> None:
    """Semantic diff of two policy versions, each change classified adverse/favourable/neutral."""
    old = load_compiled(old_path).policy
    new = load_compiled(new_path).policy
    result = diff_policies(old, new)
    if notice:
        fmt = fmt or "md"
        if fmt not in ("md", "html"):
            raise click.UsageError("a change notice is md or html")
        language = lang or new.metadata.languages[0]
        if language not in new.metadata.languages:
            raise click.BadParameter(
                f"{language} is not one of {', '.join(new.metadata.languages)}", param_hint="--lang"
            )
        from clearline.disclosures import markdown_to_html
        from clearline.disclosures.change_notice import change_notice

        text = change_notice(result, language)
        if fmt == "html":
            text = markdown_to_html(text, language)
    else:
        fmt = fmt or "text"
        if lang:
            raise click.UsageError("--lang is for --notice")
        if fmt == "html":
            raise click.UsageError("html is for --notice; the report is text, json or md")
        if fmt == "json":
            text = json.dumps(result.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        elif fmt == "md":
            text = render_markdown(result)
        else:
            text = render_text(result)
    with click.open_file(output, "w", encoding="utf-8") as out:
        out.write(text)


@click.command(name="backtest")
@click.option("--from", "old_path", required=True, type=click.Path(), help="The version in force.")
@click.option("--to", "new_path", required=True, type=click.Path(), help="The proposed version.")
@click.option(
    "--facts",
    "--input",
    "facts_path",
    type=click.Path(allow_dash=True),
    help="Accounts: .jsonl (as `clearline decide` reads them), .parquet or .csv (as `batch`).",
)
@click.option(
    "--audit",
    "audit_path",
    type=click.Path(),
    help="Or: the inputs of every decision recorded in this audit log.",
)
@click.option(
    "--as-of", help="Decision moment for both versions (default: the new version's effective_from)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark", "native"]),
    default=None,
    help="Default: native for JSONL and --audit, duckdb for Parquet and CSV.",
)
@click.option("--spark-master", default=None, help="Spark master URL (--engine spark).")
def backtest_command(
    old_path: str,
    new_path: str,
    facts_path: str | None,
    audit_path: str | None,
    as_of: str | None,
    fmt: str,
    engine: str | None,
    spark_master: str | None,
) -> None:
    """Re-decide the same accounts under both versions; count who changes action, and why."""
    if bool(facts_path) == bool(audit_path):
        raise click.UsageError("give the accounts with either --facts FILE or --audit DB")
    kind = _input_kind(facts_path)
    engine = engine or ("native" if kind in ("jsonl", "audit") else "duckdb")
    if engine != "native" and kind == "audit":
        raise click.UsageError("--audit is read by the native engine; leave out --engine")
    if engine != "native" and facts_path == "-":
        raise click.UsageError(f"--engine {engine} reads a file, not standard input")
    old = load_compiled(old_path)
    new = load_compiled(new_path)
    try:
        moment = (
            to_instant(as_of, new.policy.metadata.timezone)
            if as_of
            else new.policy.metadata.effective_from
        )
    except AsOfError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None
    problems: list[InputProblem] = []
    located: list[tuple[int, int, str, str]] = []  # (line, column, code, message) left out
    if kind in ("parquet", "csv") or engine != "native":
        assert facts_path is not None
        where = facts_path
        report = _run_table(old, new, facts_path, moment, engine, spark_master)
        from clearline.engine.batch.run import input_problems

        # JSON lines left out of the table, reported as the native engine reports them
        located += [
            (p.line, p.column, p.code, p.message)
            for p in input_problems([old.policy, new.policy], facts_path)
        ]
    elif audit_path:
        where = audit_path
        report = _run(old, new, _audit_accounts(audit_path), moment, progress=progress_wanted())
    else:
        assert facts_path is not None
        where = "<stdin>" if facts_path == "-" else facts_path
        try:
            stream = click.open_file(facts_path, "rb")
        except OSError as exc:
            error(f"cannot read {where}: {exc.strerror}", code="E009")
            raise Failed() from None

        def accounts() -> Iterator[Account]:
            for item in read_requests(stream):
                if isinstance(item, InputProblem):
                    problems.append(item)
                    continue
                yield Account(item.account_id, item.facts, item.as_of)

        with stream:
            report = _run(
                old, new, accounts(), moment, progress=progress_wanted() and facts_path != "-"
            )
    located += [(p.line, p.column, p.code, str(p)) for p in problems]
    for line, column, code, message in located:
        click.echo(f"{where}:{line}:{column}: error[{code}]: {message}", err=True)
    for rejection in report.rejections:
        click.echo(f"{where}: rejected {rejection}", err=True)
    if fmt == "json":
        data = report.to_dict()
        data["as_of"] = moment.isoformat() if isinstance(moment, dt.datetime) else str(moment)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(render_table(report), nl=False)
    if located or report.rejected:
        raise Failed()


def _input_kind(facts_path: str | None) -> str:
    """`audit`, `jsonl` (also standard input), `parquet` or `csv`."""
    from clearline.engine.batch.run import BatchInputError, input_format

    if facts_path is None:
        return "audit"
    if facts_path == "-":
        return "jsonl"
    try:
        return input_format(facts_path)
    except BatchInputError:
        return "jsonl"  # any other name is read as JSON lines, as before


def _run_table(
    old: CompiledPolicy,
    new: CompiledPolicy,
    path: str,
    moment: dt.datetime,
    engine: str,
    spark_master: str | None,
) -> BacktestReport:
    """A backtest over a table file by DuckDB, Spark or (reading it by DuckDB) the native engine."""
    from clearline.engine.batch.run import BatchInputError
    from clearline.engine.change import backtest_table

    if not Path(path).exists():
        error(f"cannot read {path}: no such file", code="E009")
        raise Failed()
    instant = to_instant(moment, new.policy.metadata.timezone)
    try:
        if engine == "duckdb":
            return backtest_table.backtest_duckdb(old.policy, new.policy, path, instant)
        if engine == "spark":
            return backtest_table.backtest_spark(
                old.policy, new.policy, path, instant, master=spark_master
            )
        accounts = backtest_table.table_accounts(old.policy, new.policy, path, instant)
        return _run(old, new, accounts, instant, progress=progress_wanted())
    except BatchInputError as exc:
        error(str(exc).removeprefix(f"{path}: "), where=f"{path}:1:1", code="E009")
        raise Failed() from None


def _run(
    old: CompiledPolicy,
    new: CompiledPolicy,
    accounts: Iterator[Account],
    moment: dt.datetime,
    *,
    progress: bool,
) -> BacktestReport:
    counted = with_progress(accounts, "backtest", enabled=progress, every=10_000)
    return backtest(old, new, counted, moment)


def _audit_accounts(path: str) -> Iterator[Account]:
    """The inputs of every decision in an audit log, one account state per record.

    Every record is decided at the backtest's moment, not at its own: the question is what the
    two versions would decide today for the states the portfolio has been seen in.
    """
    from clearline.engine.audit.log import AuditError, AuditLog

    if not Path(path).exists():
        error(f"no audit log at {path}", code="E009")
        raise Failed()
    try:
        log = AuditLog(path)
    except AuditError as exc:
        error(str(exc), code="A000")
        raise Failed() from None
    with log:
        for record in log.records(kind="decision"):
            redacted = record.redacted_facts
            if redacted:
                # Stored only as salted hashes: deciding on them would be a silent guess.
                why = f"record {record.seq} stores {', '.join(redacted)} only as salted hashes"
                yield Account(record.account_id, {}, unusable=why)
                continue
            yield Account(record.account_id, record.facts())
