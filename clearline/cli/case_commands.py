"""`clearline case open|event|show|advance`: grace-period cases over the case store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from clearline.engine import CompiledPolicy, FactError
from clearline.engine.canonical import canonical_json
from clearline.engine.cases.lifecycle import Case, CaseError, Transition, case_event
from clearline.engine.cases.store import DEFAULT_CASE_STORE, CaseStore
from clearline.engine.decisions.decide import AsOfError, PolicyNotInForce, to_instant
from clearline.engine.decisions.requests import InputProblem, read_requests
from clearline.engine.model import ADVERSE_ACTIONS
from clearline.engine.versions import NotInForce

from .common import Failed, error, load_compiled, version_options
from .decide_command import decide_request, load_chooser, open_audit, open_input

_store_option = click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False),
    default=DEFAULT_CASE_STORE,
    show_default=True,
    help="Case store (SQLite).",
)
_policy_option = click.option(
    "--policy",
    "policy_path",
    type=click.Path(),
    help="Policy file the case was opened under (default: the path recorded at opening).",
)


@click.group()
def case() -> None:
    """Grace-period cases: notice, cure, appeal and review of adverse decisions."""


_audit_option = click.option(
    "--audit",
    "audit_path",
    type=click.Path(dir_okay=False),
    help="Also append every transition to this audit log (for open: the decisions too).",
)


@contextmanager
def _store(path: str, audit_path: str | None = None) -> Iterator[CaseStore]:
    log = open_audit(audit_path) if audit_path else None
    try:
        try:
            store = CaseStore(path, audit=log)
        except CaseError as exc:
            error(str(exc), code="E300")
            raise Failed() from None
        with store:
            yield store
    finally:
        if log is not None:
            log.close()


def _compiled(policy_path: str | None) -> CompiledPolicy | None:
    return load_compiled(policy_path) if policy_path else None


def _rejected(exc: CaseError, where: str) -> Failed:
    error(str(exc), where=where, code="E301")
    return Failed()


def _describe(t: Transition) -> str:
    before = t.from_state.value if t.from_state else "opened"
    return f"{t.on}  {before} -> {t.to_state.value}  ({t.cause}: {t.ref})"


@case.command(name="open")
@version_options("each line says which")
@click.argument("input_path", default="-", type=click.Path(allow_dash=True))
@click.option("--as-of", required=True, help="Decision date or date-time; a line's own wins.")
@_store_option
@_audit_option
def open_command(
    policy_path: str | None,
    policies_dir: str | None,
    policy_id: str | None,
    input_path: str,
    as_of: str,
    store_path: str,
    audit_path: str | None,
) -> None:
    """Decide accounts and open a case for each close, suspend or reduce_limit.

    Reads JSON or JSONL as `decide` does; prints one JSON line per account."""
    if (policy_path is None) == (policies_dir is None):
        raise click.UsageError("give either --policy FILE or --policies DIR")
    chooser = load_chooser(policies_dir, policy_id) if policies_dir is not None else None
    if chooser is not None:
        latest = chooser.registry.versions(chooser.policy_id)[-1]
        compiled, timezone = latest.compiled, latest.policy.metadata.timezone
    else:
        assert policy_path is not None
        compiled = load_compiled(policy_path)
        timezone = compiled.policy.metadata.timezone
    try:
        moment = to_instant(as_of, timezone)
    except AsOfError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None
    stream, where = open_input(input_path)
    failures = 0
    with _store(store_path, audit_path) as store, stream, store.batch():
        for item in read_requests(stream):
            if isinstance(item, InputProblem):
                click.echo(
                    f"{where}:{item.line}:{item.column}: error[{item.code}]: {item}", err=True
                )
                failures += 1
                continue
            path = policy_path
            try:
                if chooser is not None:
                    # The version in force at the line's own moment, as `decide --policies`.
                    version = chooser.registry.in_force(chooser.policy_id, item.as_of or moment)
                    chooser.used[version.version] = chooser.used.get(version.version, 0) + 1
                    compiled, path = version.compiled, version.file
                decision = decide_request(compiled, item, moment, True)
            except (PolicyNotInForce, NotInForce) as exc:
                click.echo(f"{where}:{item.line}:1: error[V005]: {exc}", err=True)
                failures += 1
                continue
            except (FactError, AsOfError) as exc:
                click.echo(f"{where}:{item.line}:1: error[F006]: {exc}", err=True)
                failures += 1
                continue
            out: dict[str, Any] = {
                "account_id": decision.account_id,
                "decision_id": decision.decision_id,
                "action": decision.action.value,
            }
            if chooser is not None:
                out["policy_version"] = decision.compiled.policy.metadata.version
            if decision.action in ADVERSE_ACTIONS:
                assert path is not None
                try:
                    opened = store.open(
                        compiled, decision, str(Path(path).resolve()), audit_decision=True
                    )
                except CaseError as exc:
                    click.echo(f"{where}:{item.line}:1: error[E301]: {exc}", err=True)
                    failures += 1
                    continue
                out.update(case_id=opened.case_id, state=opened.state.value)
                out["effective"] = opened.effective.isoformat()
            else:
                out["case_id"] = None
            click.echo(canonical_json(out))
    if chooser is not None and chooser.used:
        picked = ", ".join(f"{version} ({n})" for version, n in sorted(chooser.used.items()))
        click.echo(f"clearline: versions in force of {chooser.policy_id}: {picked}", err=True)
    if failures:
        click.echo(f"clearline: {failures} input{'s' * (failures != 1)} rejected", err=True)
        raise Failed()


@case.command(name="event")
@click.argument("case_id")
@click.argument("kind")
@click.option("--at", required=True, help="When it happened: ISO date or date-time.")
@click.option("--facts", help="The facts that changed, as a JSON object, or @FILE.")
@click.option("--outcome", type=click.Choice(["upheld", "overturned"]), help="review_decided.")
@click.option("--note", default="", help="Free text kept with the event.")
@_store_option
@_policy_option
@_audit_option
def event_command(
    case_id: str,
    kind: str,
    at: str,
    facts: str | None,
    outcome: str | None,
    note: str,
    store_path: str,
    policy_path: str | None,
    audit_path: str | None,
) -> None:
    """Record one event of a case (a refused one changes nothing and exits 1).

    KIND is notice_sent, reevaluated, cured, appeal_filed, review_decided or deadline_passed."""
    compiled = _compiled(policy_path)
    with _store(store_path, audit_path) as store:
        try:
            opening = store.opening(case_id)
            policy = store.compiled_for(opening, compiled)
            event = case_event(
                kind,
                at,
                facts=_facts(facts),
                outcome=outcome,
                note=note,
                tz=policy.policy.metadata.timezone,
            )
            after, caused = store.record(case_id, event, policy)
        except CaseError as exc:
            raise _rejected(exc, case_id) from None
    for transition in caused:
        click.echo(f"{case_id}  {_describe(transition)}")
    click.echo(f"{case_id}  {after.state.value}{_in_force(after)}")


def _facts(option: str | None) -> dict[str, Any] | None:
    if option is None:
        return None
    text = option
    if option.startswith("@"):
        try:
            with open(option[1:], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CaseError(f"cannot read {option[1:]}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CaseError(f"--facts is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CaseError("--facts must be a JSON object of fact names to values")
    return data


def _in_force(case_now: Case) -> str:
    return "  (action in force)" if case_now.in_force else ""


@case.command(name="show")
@click.argument("case_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="The full case as JSON.")
@_store_option
@_policy_option
def show_command(
    case_id: str | None, as_json: bool, store_path: str, policy_path: str | None
) -> None:
    """Show one case and its history, or list every case with its state."""
    if not Path(store_path).exists():
        # Reading must not create an empty store where none was meant to be.
        error(
            f"no case store at {store_path} (cases are opened with `clearline case open`)",
            code="E300",
        )
        raise Failed()
    compiled = _compiled(policy_path)
    with _store(store_path) as store:
        try:
            if case_id is None:
                for found in store.case_ids():
                    now = store.case(found, compiled)
                    click.echo(
                        f"{found}  {now.account_id or '-'}  {now.action.value}  "
                        f"{now.state.value}  effective {now.effective}"
                    )
                return
            now = store.case(case_id, compiled)
            events = store.events(case_id)
        except CaseError as exc:
            raise _rejected(exc, case_id or store_path) from None
    if as_json:
        data = now.to_dict()
        data["event_log"] = [event.to_dict() for event in events]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
        return
    click.echo(f"case {now.case_id}  account {now.account_id or '-'}")
    click.echo(f"  {now.action.value} by rule {now.rule}, grace {now.grace or '-'}")
    click.echo(f"  state {now.state.value}{_in_force(now)}")
    for label, value in (
        ("decided", now.decided_on),
        ("notice sent", now.notice_on),
        ("effective", now.effective),
        ("cure until", now.cure_until),
        ("appeal until", now.appeal_until),
        ("review until", now.review_until),
    ):
        if value is not None:
            click.echo(f"  {label:<13} {value}")
    click.echo("  history:")
    for transition in now.transitions:
        click.echo(f"    {_describe(transition)}")


@case.command(name="advance")
@click.option("--as-of", required=True, help="Apply every deadline passed by this date.")
@_store_option
@_policy_option
@_audit_option
def advance_command(
    as_of: str, store_path: str, policy_path: str | None, audit_path: str | None
) -> None:
    """Apply every deadline passed by --as-of to every open case (the daily batch)."""
    try:
        to_instant(as_of)
    except AsOfError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None
    compiled = _compiled(policy_path)
    with _store(store_path, audit_path) as store:
        result = store.advance(as_of, compiled)
        for case_now, caused in result.changed:
            for transition in caused:
                click.echo(f"{case_now.case_id}  {_describe(transition)}")
        counts = store.states()
    changed = len(result.changed)
    summary = ", ".join(f"{state.value} {n}" for state, n in counts.items())
    click.echo(f"advanced {changed} case{'s' * (changed != 1)} to {as_of}: {summary}")
    for case_id, message in result.failed:
        error(message, where=case_id, code="E301")
    if result.failed:
        raise Failed()
