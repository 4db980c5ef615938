"""`clearline decide` and `clearline sample`: decisions for accounts, and accounts to decide."""

from __future__ import annotations

import datetime as dt
import json
from typing import IO

import click

from clearline.engine import CompiledPolicy, FactError, decide
from clearline.engine.audit.checkpoint import CheckpointError, SignerKey, read_key_file
from clearline.engine.audit.log import BATCH_SIZE, AuditError, AuditLog
from clearline.engine.canonical import canonical_json
from clearline.engine.decisions.decide import AsOfError, Decision, PolicyNotInForce, to_instant
from clearline.engine.decisions.requests import InputProblem, Request, read_requests
from clearline.engine.synthetic.accounts import sample_accounts
from clearline.engine.versions import NotInForce, PolicyRegistry

from .common import (
    Failed,
    error,
    load_compiled,
    progress_wanted,
    report,
    signing_options,
    version_options,
    with_progress,
)


def decide_request(
    compiled: CompiledPolicy | Chooser,
    request: Request,
    default_as_of: dt.datetime,
    trace: bool,
    what_if: bool = False,
) -> Decision:
    """Decide one request with the policy given, or the version in force that `compiled` picks
    for the request's moment; FactError, AsOfError, PolicyNotInForce and NotInForce reach the
    caller."""
    if isinstance(compiled, Chooser):
        moment = request.as_of if request.as_of is not None else default_as_of
        compiled = compiled.pick(moment)
    as_of = (
        to_instant(request.as_of, compiled.policy.metadata.timezone)
        if request.as_of is not None
        else default_as_of
    )
    return decide(
        compiled, request.facts, as_of, account_id=request.account_id, trace=trace, what_if=what_if
    )


class Chooser:
    """The versions of one policy in a folder: picks the one in force at each moment."""

    def __init__(self, registry: PolicyRegistry, policy_id: str) -> None:
        self.registry, self.policy_id = registry, policy_id
        self.used: dict[str, int] = {}

    def pick(self, moment: dt.datetime | str) -> CompiledPolicy:
        """The compiled version in force at `moment` (raises NotInForce when none is)."""
        item = self.registry.in_force(self.policy_id, moment)
        self.used[item.version] = self.used.get(item.version, 0) + 1
        return item.compiled


def load_chooser(folder: str, policy_id: str | None) -> Chooser:
    """The versions of the folder's policy (or of `policy_id`), or print the errors and exit 1."""
    registry, diagnostics = PolicyRegistry.analyse([folder])
    if registry is None:
        report(diagnostics)
        raise Failed()
    ids = registry.policy_ids()
    if policy_id is None and len(ids) != 1:
        raise click.UsageError(
            f"{folder} holds {len(ids)} policies ({', '.join(ids) or 'none'}); "
            "name one with --policy-id"
        )
    chosen = policy_id or ids[0]
    if chosen not in ids:
        error(f"no policy `{chosen}` in {folder} (known: {', '.join(ids)})", code="V000")
        raise Failed()
    return Chooser(registry, chosen)


def open_input(input_path: str) -> tuple[IO[bytes], str]:
    """The input file (or stdin for `-`) as bytes and its name for messages, or exit 1."""
    where = "<stdin>" if input_path == "-" else input_path
    try:
        return click.open_file(input_path, "rb"), where
    except OSError as exc:
        error(f"cannot read {where}: {exc.strerror}", code="E009")
        raise Failed() from None


@click.command(name="decide")
@version_options("stderr says which")
@click.option(
    "--what-if",
    is_flag=True,
    help="With --policy: decide even outside the policy's effective window (what-if analysis).",
)
@click.argument("input_path", default="-", type=click.Path(allow_dash=True))
@click.option(
    "--as-of", help="Decision date or date-time (ISO); default: now. A line's own as_of wins."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "json", "jsonl"]),
    default="auto",
    help="json: one indented document per decision; jsonl: one canonical line each. "
    "auto: json for a single account, jsonl otherwise.",
)
@click.option("--no-trace", is_flag=True, help="Skip the per-comparison trace (faster).")
@click.option("-o", "--output", type=click.Path(allow_dash=True), default="-", help="Output file.")
@click.option(
    "--audit", "audit_path", type=click.Path(), help="Append every decision to this audit log."
)
@signing_options
def decide_command(
    policy_path: str | None,
    policies_dir: str | None,
    policy_id: str | None,
    what_if: bool,
    input_path: str,
    as_of: str | None,
    fmt: str,
    no_trace: bool,
    output: str,
    audit_path: str | None,
    audit_key: str | None,
    checkpoints: str | None,
) -> None:
    """Decide accounts: facts as one JSON object or JSONL (file or stdin), decisions out."""
    if (policy_path is None) == (policies_dir is None):
        raise click.UsageError("give either --policy FILE or --policies DIR")
    if what_if and policies_dir is not None:
        raise click.UsageError(
            "--what-if goes with --policy: --policies picks the version in force"
        )
    chooser = load_chooser(policies_dir, policy_id) if policies_dir is not None else None
    compiled: CompiledPolicy | Chooser
    if chooser is not None:
        compiled = chooser
        timezone = chooser.registry.versions(chooser.policy_id)[-1].policy.metadata.timezone
    else:
        assert policy_path is not None
        compiled = load_compiled(policy_path)
        timezone = compiled.policy.metadata.timezone
    try:
        default_as_of = (
            to_instant(as_of, timezone) if as_of else dt.datetime.now(dt.UTC).replace(microsecond=0)
        )
    except AsOfError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None
    stream, where = open_input(input_path)
    log = open_audit(audit_path, audit_key, checkpoints) if audit_path else None
    failures = 0
    count = 0
    pending: list[Decision] = []
    batch = BATCH_SIZE if log is not None else 1
    with stream, click.open_file(output, "w", encoding="utf-8") as out:

        def flush(final: bool) -> None:
            # A decision is printed only once its batch is in the audit log, so a crash can
            # lose unprinted decisions but never print one the log does not hold.
            if log is not None and pending:
                log.append(pending)
            line_format = "jsonl" if fmt == "auto" else fmt
            if final and fmt == "auto" and count == 1:
                line_format = "json"  # a single account gives one indented document
            for decision in pending:
                _write(out, decision, line_format)
            pending.clear()

        for item in with_progress(
            read_requests(stream), "deciding", enabled=input_path != "-" and progress_wanted()
        ):
            if isinstance(item, InputProblem):
                click.echo(
                    f"{where}:{item.line}:{item.column}: error[{item.code}]: {item}", err=True
                )
                failures += 1
                continue
            try:
                decision = decide_request(compiled, item, default_as_of, not no_trace, what_if)
            except (PolicyNotInForce, NotInForce) as exc:
                click.echo(f"{where}:{item.line}:1: error[V005]: {exc}", err=True)
                failures += 1
                continue
            except (FactError, AsOfError) as exc:
                for message in _fact_messages(exc):
                    click.echo(f"{where}:{item.line}:1: {message}", err=True)
                failures += 1
                continue
            count += 1
            pending.append(decision)
            # Without a log, stream; the first is held back until we know it is not alone.
            if len(pending) >= batch and not (fmt == "auto" and count == 1):
                flush(final=False)
        flush(final=True)
    if log is not None:
        log.close()
    if chooser is not None and chooser.used:
        picked = ", ".join(f"{version} ({n})" for version, n in sorted(chooser.used.items()))
        click.echo(f"clearline: versions in force of {chooser.policy_id}: {picked}", err=True)
    if failures:
        click.echo(f"clearline: {failures} input{'s' * (failures != 1)} rejected", err=True)
        raise Failed()


def open_audit(path: str, key: str | None = None, checkpoints: str | None = None) -> AuditLog:
    """The audit log at `path`, or exit 1 with the reason it cannot be used."""
    try:
        signer = read_key_file(key, private=True) if key else None
        assert signer is None or isinstance(signer, SignerKey)
        return AuditLog(path, signer=signer, checkpoints=checkpoints)
    except (AuditError, CheckpointError) as exc:
        error(str(exc), code="A001")
        raise Failed() from None


def _fact_messages(exc: Exception) -> list[str]:
    if isinstance(exc, FactError):
        return [f"error[{p.code}]: {p.message}" for p in exc.problems]
    return [f"error[F006]: {exc}"]


def _write(out: IO[str], decision: Decision, fmt: str) -> None:
    if fmt == "json":
        out.write(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2, sort_keys=True))
        out.write("\n")
    else:
        out.write(decision.to_json() + "\n")


@click.command()
@click.option("--policy", "policy_path", required=True, type=click.Path(), help="Policy file.")
@click.option("-n", "count", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(allow_dash=True), default="-")
def sample(policy_path: str, count: int, seed: int, output: str) -> None:
    """Synthetic accounts drawn from a policy's fact schema, as JSONL."""
    policy = load_compiled(policy_path).policy
    with click.open_file(output, "w", encoding="utf-8") as out:
        for account in sample_accounts(policy, count, seed):
            out.write(canonical_json(account))
            out.write("\n")
