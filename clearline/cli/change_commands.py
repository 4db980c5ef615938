"""`clearline diff` and `clearline backtest`: what changes between two policy versions, for whom."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import click

from clearline.engine.backtest import Account, backtest, render_table
from clearline.engine.decide import AsOfError, to_instant
from clearline.engine.diff import diff_policies, render_markdown, render_text

from .common import Failed, error, load_compiled, progress_wanted
from .decide_command import InputProblem, read_requests


@click.command()
@click.argument("old_path", type=click.Path())
@click.argument("new_path", type=click.Path())
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text", show_default=True
)
def diff(old_path: str, new_path: str, fmt: str) -> None:
    """Semantic diff of two policy versions, each change classified adverse/favourable/neutral."""
    old = load_compiled(old_path).policy
    new = load_compiled(new_path).policy
    result = diff_policies(old, new)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, sort_keys=True))
    elif fmt == "md":
        click.echo(render_markdown(result), nl=False)
    else:
        click.echo(render_text(result), nl=False)


@click.command(name="backtest")
@click.option("--from", "old_path", required=True, type=click.Path(), help="The version in force.")
@click.option("--to", "new_path", required=True, type=click.Path(), help="The proposed version.")
@click.option(
    "--facts",
    "facts_path",
    type=click.Path(allow_dash=True),
    help="Accounts as JSONL (as `clearline decide` reads them).",
)
@click.option(
    "--as-of", help="Decision moment for both versions (default: the new version's effective_from)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def backtest_command(
    old_path: str, new_path: str, facts_path: str | None, as_of: str | None, fmt: str
) -> None:
    """Re-decide the same accounts under both versions; count who changes action, and why."""
    if not facts_path:
        raise click.UsageError("give the accounts with --facts FILE.jsonl")
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
    where = "<stdin>" if facts_path == "-" else facts_path
    problems: list[InputProblem] = []
    try:
        stream = click.open_file(facts_path, "r", encoding="utf-8")
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
        items = accounts()
        if progress_wanted() and facts_path != "-":
            from rich.progress import Progress

            with Progress(transient=True) as progress:
                task = progress.add_task("backtest", total=None)

                def counted() -> Iterator[Account]:
                    for n, account in enumerate(items, 1):
                        if n % 10_000 == 0:
                            progress.update(task, completed=n)
                        yield account

                report = backtest(old, new, counted(), moment)
        else:
            report = backtest(old, new, items, moment)
    for problem in problems:
        click.echo(f"{where}:{problem.line}:1: error[{problem.code}]: {problem}", err=True)
    for rejection in report.rejections:
        click.echo(f"{where}: rejected {rejection}", err=True)
    if fmt == "json":
        data = report.to_dict()
        data["as_of"] = moment.isoformat() if isinstance(moment, dt.datetime) else str(moment)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(render_table(report), nl=False)
    if problems or report.rejected:
        raise Failed()
