"""`clearline audit`: verify, replay, show and list the decisions of an audit log; reindex it."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import click

from clearline.engine.audit.log import (
    INDEX_BLOCK,
    KIND_DECISION,
    AuditError,
    AuditLog,
    AuditRecord,
)
from clearline.engine.audit.replay import REDACTED, SAME, replay
from clearline.engine.decisions.decide import AsOfError, to_instant
from clearline.engine.versions import PolicyRegistry

from . import anchor_commands
from .common import Failed, error, report
from .record_view import render_record


def open_log(path: str) -> AuditLog:
    """Open an existing audit log, or print why not and exit 1."""
    try:
        return AuditLog(path, create=False)
    except AuditError as exc:
        error(str(exc), code="A001")
        raise Failed() from None


@click.group()
def audit() -> None:
    """Verify, replay, show and list the decisions recorded in an audit log."""


@audit.command()
@click.argument("db", type=click.Path())
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(exists=True),
    help="A checkpoint file, or a folder of them, held outside the log (repeatable).",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False),
    help="The log's verifier key (.pub); by default the key the log itself names.",
)
def verify(db: str, checkpoints: tuple[str, ...], key_path: str | None) -> None:
    """Check the file and walk the hash chain; with checkpoints, check the log against them.

    Names the first record altered, deleted, inserted or reordered; against a checkpoint taken
    before, also a log cut short, rewound or re-hashed."""
    with open_log(db) as log:
        result = log.verify()
        key = anchor_commands.verifier_for(log, key_path) if checkpoints else None
    if result.problem is not None:
        where = "meta" if result.problem.seq == 0 else f"record {result.problem.seq}"
        click.echo(f"{db}: {where}: error[A100]: {result.problem.message}", err=True)
        click.echo(f"verify failed: {result.count} records hold before record {result.problem.seq}")
        raise Failed()
    if checkpoints:
        anchor_commands.check_against(db, log.log_id, result, checkpoints, key)
        return
    click.echo(
        f"ok: {result.count} records (head {result.head}); only internal consistency checked "
        "(no checkpoint held outside the log was given: --checkpoint)"
    )


@audit.command()
@click.argument("db", type=click.Path())
def reindex(db: str) -> None:
    """Rebuild a log's lookup indexes per block of records, where an earlier Clearline made
    them over the whole log (its appends slow down as it grows)."""
    with open_log(db) as log:
        try:
            rebuilt = log.reindex()
        except AuditError as exc:
            error(str(exc), code="A001")
            raise Failed() from None
        count = len(log)
        block = f"per block of {log.index_block or INDEX_BLOCK:,} records"
    if rebuilt:
        click.echo(f"reindexed: {count} records, lookup indexes {block}")
    else:
        click.echo(f"nothing to do: the lookup indexes are kept {block} already")


@audit.command(name="replay")
@click.argument("db", type=click.Path())
@click.option(
    "--policies",
    "policy_paths",
    multiple=True,
    required=True,
    type=click.Path(),
    help="Folder or file of policies (repeatable).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Report at most this many problems in detail.",
)
def replay_command(db: str, policy_paths: tuple[str, ...], limit: int) -> None:
    """Decide every recorded decision again with the policy version it names; compare bytes."""
    registry, diagnostics = PolicyRegistry.analyse(policy_paths)
    report(diagnostics)
    if registry is None:
        raise Failed()
    counts: Counter[str] = Counter()
    shown = 0
    with open_log(db) as log:
        for outcome in replay(log.records(), registry):
            counts[outcome.status] += 1
            if outcome.status != SAME and shown < limit:
                shown += 1
                level = "warning" if outcome.status == REDACTED else "error"
                click.echo(
                    f"{db}: record {outcome.record.seq} (id {outcome.record.record_id}): "
                    f"{level}[A2{_code(outcome.status)}]: {outcome.message}",
                    err=True,
                )
    total = sum(counts.values())
    failed = total - counts[SAME] - counts[REDACTED]
    parts = [f"{counts[SAME]} identical"]
    parts += [f"{n} {status}" for status, n in sorted(counts.items()) if status != SAME]
    percent = 100.0 * counts[SAME] / total if total else 100.0
    click.echo(f"replayed {total} decisions: {', '.join(parts)} ({percent:.1f}% reproduced)")
    if counts[REDACTED]:
        click.echo(
            f"note: {counts[REDACTED]} decisions hold redacted facts and could not be recomputed"
        )
    if failed:
        raise Failed()


def _code(status: str) -> str:
    return {
        "differs": "01",
        "missing-policy": "02",
        "hash-mismatch": "03",
        "invalid": "04",
        "redacted": "05",
    }.get(status, "00")


@audit.command()
@click.argument("db", type=click.Path())
@click.argument("record_id")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def show(db: str, record_id: str, fmt: str) -> None:
    """Print one decision: policy version, inputs, every rule and what it saw, reasons, dates.

    RECORD_ID is a decision id or a unique prefix of one (8 characters or more), or `#SEQ`.
    """
    with open_log(db) as log:
        found = find_record(log, record_id)
    if fmt == "json":
        click.echo(json.dumps(_as_json(found), ensure_ascii=False, indent=2, sort_keys=True))
    else:
        click.echo(render_record(found))


def find_record(log: AuditLog, record_id: str) -> AuditRecord:
    """The record of a decision id, a unique prefix (8+ characters) or `#SEQ`, or exit 1."""
    digits = record_id[1:]
    if record_id.startswith("#") and digits.isascii() and digits.isdigit():
        found = log.at(int(digits)) if len(digits) <= 19 else None  # else beyond any seq
        matches = [found] if found is not None else []
    elif len(record_id) < 8:
        error("give at least 8 characters of a decision id, or #SEQ", code="A003")
        raise Failed()
    else:
        matches = log.get(record_id)
        # A case's transitions carry its decision's id: show the decision, mention the rest.
        decisions = [r for r in matches if r.kind == KIND_DECISION]
        if decisions and len(decisions) < len(matches):
            click.echo(
                f"note: {len(matches) - len(decisions)} more records carry this id "
                f"({', '.join(sorted({r.kind for r in matches} - {KIND_DECISION}))})",
                err=True,
            )
            matches = decisions
    if not matches:
        error(f"no record `{record_id}` in {log.path}", code="A002")
        raise Failed()
    ids = {r.record_id for r in matches}
    if len(ids) > 1:
        error(
            f"`{record_id}` matches {len(ids)} decisions ({', '.join(sorted(ids)[:3])}, ...); "
            "give more characters",
            code="A003",
        )
        raise Failed()
    if len(matches) > 1:
        click.echo(
            f"note: decision {matches[0].record_id} was recorded {len(matches)} times "
            f"(records {', '.join(str(r.seq) for r in matches)}); showing the first",
            err=True,
        )
    return matches[0]


def _as_json(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "kind": record.kind,
        "recorded_at": record.recorded_at,
        "hash": record.hash,
        "prev_hash": record.prev_hash,
        "template": record.template,  # the record template it is stored by (decisions)
        "record": record.data(),
        "inputs": record.facts(),
    }


def _moment(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return to_instant(value, "UTC")
    except AsOfError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@audit.command(name="list")
@click.argument("db", type=click.Path())
@click.option("--account", help="Only this account id.")
@click.option("--action", help="Only this action (close, suspend, reduce_limit, review, ...).")
@click.option("--policy", "policy_id", help="Only this policy id.")
@click.option("--policy-version", help="Only this policy version, e.g. 1.1.0.")
@click.option("--since", help="Decisions as of this moment or later (ISO; a date is 00:00 UTC).")
@click.option("--until", help="Decisions as of before this moment (ISO; a date is 00:00 UTC).")
@click.option(
    "--kind",
    default="decision",
    show_default=True,
    help="Record kind: decision, case_transition, monitor, or `all`.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True
)
def list_command(
    db: str,
    account: str | None,
    action: str | None,
    policy_id: str | None,
    policy_version: str | None,
    since: str | None,
    until: str | None,
    kind: str,
    fmt: str,
) -> None:
    """List recorded decisions (or other records), filtered by account, action, version, time."""
    start = _moment(since, "--since")
    end = _moment(until, "--until")
    count = 0
    with open_log(db) as log:
        for record in log.records(
            kind=None if kind == "all" else kind,
            account_id=account,
            action=action,
            policy_id=policy_id,
            policy_version=policy_version,
            since=start,
            until=end,
        ):
            count += 1
            if fmt == "jsonl":
                click.echo(json.dumps(_summary(record), ensure_ascii=False, sort_keys=True))
            else:
                shown_kind = "" if kind == "decision" else f"{record.kind:<16}  "
                click.echo(
                    f"{record.seq:>7}  {shown_kind}{record.as_of or '-':<20}  {record.record_id}  "
                    f"{record.account_id or '-':<14}  {record.action or '-':<12}  "
                    f"{record.policy_id}@{record.policy_version}"
                )
    if fmt == "text":
        click.echo(f"{count} record{'s' * (count != 1)}", err=True)


def _summary(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "kind": record.kind,
        "decision_id": record.record_id,
        "account_id": record.account_id,
        "action": record.action,
        "policy_id": record.policy_id,
        "policy_version": record.policy_version,
        "as_of": record.as_of,
        "recorded_at": record.recorded_at,
    }


anchor_commands.register(audit, open_log)
