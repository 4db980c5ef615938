"""`clearline disclose` and `clearline notice`: plain-language documents from a policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from clearline.disclosures import (
    CatalogueError,
    NoticeError,
    decision_notice,
    disclosure_problems,
    markdown_to_html,
    measure,
    notice_problems,
    policy_disclosure,
    text_problems,
)
from clearline.engine import CompiledPolicy, Diagnostic, compile_policy
from clearline.engine.audit.anchors import Receipt, receipt_of
from clearline.engine.policy.load import LoadResult, analyse_policy, display_path

from .audit_commands import find_record, open_log
from .common import Failed, error, load_compiled, policy_files, report

FORMATS = ("md", "html")


def text_diagnostics(result: LoadResult) -> list[Diagnostic]:
    """Located errors for the texts a loaded policy's disclosures need and cannot produce."""
    if result.policy is None or result.source is None:
        return []
    return [
        result.source.diagnostic(path, code, message)
        for path, code, message in text_problems(result.policy)
    ]


def _language(compiled: CompiledPolicy, lang: str | None) -> str:
    languages = compiled.policy.metadata.languages
    if lang is None:
        return languages[0]
    if lang not in languages:
        error(f"the policy is written in {', '.join(languages)}, not `{lang}`", code="D102")
        raise Failed()
    return lang


def _emit(markdown: str, lang: str, fmt: str, output: str) -> None:
    text = markdown_to_html(markdown, lang) if fmt == "html" else markdown
    with click.open_file(output, "w", encoding="utf-8") as out:
        out.write(text)


def _stats(markdown: str, lang: str) -> None:
    click.echo(measure(markdown, lang).report(), err=True)


@click.command()
@click.argument("policy_path", type=click.Path())
@click.option("--lang", help="Language of the document (default: the policy's first).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(allow_dash=True), default="-", help="Output file.")
@click.option(
    "--check", "check_only", is_flag=True, help="Check completeness and numbers; exit 1 on a gap."
)
@click.option("--stats", is_flag=True, help="Print readability figures to stderr.")
def disclose(
    policy_path: str,
    lang: str | None,
    fmt: str,
    output: str,
    check_only: bool,
    stats: bool,
) -> None:
    """The policy disclosure: every rule, grace period and data item, in plain words."""
    result = analyse_policy(policy_path)
    if result.policy is None:
        report(result.diagnostics)
        raise Failed()
    if report(text_diagnostics(result)):
        raise Failed()
    compiled = compile_policy(result.policy)
    lang = _language(compiled, lang)
    markdown = policy_disclosure(compiled, lang)
    if check_only:
        problems = disclosure_problems(compiled, markdown, lang)
        for problem in problems:
            error(problem, where=display_path(policy_path), code="D200")
        if stats:
            _stats(markdown, lang)
        if problems:
            raise Failed()
        click.echo(f"{display_path(policy_path)}: the {lang} disclosure is complete")
        return
    if stats:
        _stats(markdown, lang)
    _emit(markdown, lang, fmt, output)


def _read_records(path: str, decision_id: str | None) -> dict[str, Any]:
    """One decision record from a JSON file or a JSONL file (pick one with --id)."""
    where = "<stdin>" if path == "-" else path
    try:
        with click.open_file(path, "r", encoding="utf-8") as stream:
            text = stream.read()
    except OSError as exc:
        error(f"cannot read {where}: {exc.strerror}", code="E009")
        raise Failed() from None
    records: list[Any] = []
    try:
        records = [json.loads(text)]
    except ValueError:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                error(f"{where}:{number}: invalid JSON: {exc}", code="F005")
                raise Failed() from None
    records = [r for r in records if isinstance(r, dict)]
    if decision_id is not None:
        records = [r for r in records if r.get("decision_id") == decision_id]
    if len(records) != 1:
        found = "no decision record" if not records else f"{len(records)} decision records"
        hint = "" if decision_id or not records else "; pick one with --id"
        error(f"{where}: {found}{' with that id' if decision_id else ''}{hint}", code="N100")
        raise Failed()
    record: dict[str, Any] = records[0]
    return record


def find_policy(folder: str, record: dict[str, Any]) -> CompiledPolicy:
    """The policy version a decision was made with, found by id and version, hash checked."""
    ref = record.get("policy") or {}
    wanted_id, version, sha = ref.get("id"), ref.get("version"), ref.get("sha256")
    for path in _candidates(folder):
        result = analyse_policy(path)
        policy = result.policy
        if policy is None or (policy.metadata.id, policy.metadata.version) != (wanted_id, version):
            continue
        compiled = compile_policy(policy)
        if compiled.sha256 != sha:
            error(
                f"{display_path(path)} is {wanted_id} {version} but its hash is "
                f"{compiled.sha256[:12]}..., and the decision was made with {str(sha)[:12]}...: "
                "the policy changed since the decision",
                code="N101",
            )
            raise Failed()
        return compiled
    error(f"no policy {wanted_id} version {version} under {folder}", code="N102")
    raise Failed()


def _candidates(folder: str) -> Iterator[Path]:
    if not Path(folder).exists():
        error(f"policy folder {folder} does not exist", code="E009")
        raise Failed()
    yield from policy_files([folder])


@click.command()
@click.argument("decision_path", required=False, type=click.Path(allow_dash=True))
@click.option("--id", "decision_id", help="The decision to use, from JSONL or an audit log.")
@click.option(
    "--audit", "audit_path", type=click.Path(), help="Read the decision from an audit log."
)
@click.option(
    "--policies",
    default="policies",
    show_default=True,
    type=click.Path(),
    help="Folder with the policy versions.",
)
@click.option("--policy", "policy_path", type=click.Path(), help="The policy file itself.")
@click.option("--lang", help="Language of the notice (default: the policy's first).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(allow_dash=True), default="-", help="Output file.")
@click.option("--check", "check_only", is_flag=True, help="Check the notice; exit 1 on a gap.")
@click.option("--stats", is_flag=True, help="Print readability figures to stderr.")
def notice(
    decision_path: str | None,
    decision_id: str | None,
    audit_path: str | None,
    policies: str,
    policy_path: str | None,
    lang: str | None,
    fmt: str,
    output: str,
    check_only: bool,
    stats: bool,
) -> None:
    """A decision notice: what was decided, why, what would change it, and your rights."""
    receipt: Receipt | None = None
    inputs: dict[str, Any] | None = None
    if audit_path is not None:
        record, receipt, inputs = _audit_record(audit_path, decision_id)
    elif decision_path is not None:
        record = _read_records(decision_path, decision_id)
    else:
        raise click.UsageError("give DECISION.json, or --audit DB --id ID")
    if policy_path is not None:
        compiled = load_compiled(policy_path)
    else:
        compiled = find_policy(policies, record)
    lang = _language(compiled, lang)
    try:
        markdown = decision_notice(compiled, record, lang, receipt, inputs)
        problems = notice_problems(compiled, record, markdown, lang) if check_only else []
    except (NoticeError, CatalogueError) as exc:
        error(str(exc), code="N103")
        raise Failed() from None
    if stats:
        _stats(markdown, lang)
    if check_only:
        for problem in problems:
            error(problem, code="N200")
        if problems:
            raise Failed()
        click.echo(f"the {lang} notice is complete")
        return
    _emit(markdown, lang, fmt, output)


def _audit_record(
    path: str, decision_id: str | None
) -> tuple[dict[str, Any], Receipt | None, dict[str, Any]]:
    """The decision record stored in an audit log under a decision id (or a unique prefix),
    its receipt when a signed checkpoint of the log holds it, and the inputs the log stored."""
    if decision_id is None:
        raise click.UsageError("--audit needs --id")
    with open_log(path) as log:
        found = find_record(log, decision_id)
        receipt = receipt_of(log._db, found.seq, found.record_id)
    if found.kind != "decision":
        error(f"record `{decision_id}` of {path} is a {found.kind}, not a decision", code="N104")
        raise Failed()
    record: dict[str, Any] = found.data()
    return record, receipt, found.facts()
