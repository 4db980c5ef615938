"""`clearline watch`: stream account events through the monitor, write decisions as they change.

The runner's parts (reading a line, checkpoints, audit batches) are in
`clearline.engine.events.runner`; this module owns the command's options, signals and output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO

import click

from clearline.engine import AuditLog
from clearline.engine.events.event import EventError, stream_gc
from clearline.engine.events.monitor import Monitor
from clearline.engine.events.runner import (
    AuditBatcher,
    CheckpointError,
    line_decisions,
    load_checkpoint,
    load_snapshot,
    write_checkpoint,
)
from clearline.engine.input_lines import raw_lines
from clearline.engine.policy.load import display_path

from .common import EXIT_INVALID, Failed, error, load_compiled


class _Stop(Exception):
    """Raised by the signal handler while the monitor waits for input: a safe place to stop."""


class _Stopper:
    """SIGINT/SIGTERM stop the run between two events, never in the middle of one."""

    def __init__(self) -> None:
        self.busy = False
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if not self.busy:
            raise _Stop()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _read_snapshot(path: str, monitor: Monitor) -> None:
    """Load every account of a snapshot file, or print all its errors and exit 1."""
    shown = display_path(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        error(f"cannot read {shown}: {exc.strerror or exc}", code="E009")
        raise Failed() from None
    with handle:
        problems = load_snapshot(handle, shown, monitor)
    for problem in problems:
        click.echo(problem.render(), err=True)
    if problems:
        raise Failed()


@click.command("watch")
@click.option("--policy", "policy_path", required=True, type=click.Path(), help="Policy file.")
@click.option(
    "--events",
    "events_path",
    required=True,
    help="Account events, one JSON object a line, in time order; `-` reads standard input.",
)
@click.option("--facts", "facts_path", type=click.Path(), help="Snapshot JSONL of account facts.")
@click.option(
    "--audit", "audit_path", type=click.Path(), help="Record decisions in this audit log."
)
@click.option(
    "--on-error",
    type=click.Choice(["skip", "stop"]),
    default="skip",
    show_default=True,
    help="What a malformed or out-of-order event does (it is reported either way).",
)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(),
    help="Resume from this file if it exists; write it when the run stops.",
)
@click.option(
    "--out", "out_path", type=click.Path(), help="Append decisions here (default: stdout)."
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    help="Also write the checkpoint every this many lines.",
)
@click.option("--no-trace", is_flag=True, help="Decision lines without the rule-by-rule trace.")
@click.option(
    "--max-events",
    type=click.IntRange(min=0),
    help="Stop after reading this many lines (resume later with --checkpoint).",
)
def watch(
    policy_path: str,
    events_path: str,
    facts_path: str | None,
    audit_path: str | None,
    on_error: str,
    checkpoint_path: str | None,
    out_path: str | None,
    checkpoint_every: int | None,
    no_trace: bool,
    max_events: int | None,
) -> None:
    """Monitor account events: signals from the policy, a decision line when an action changes."""
    compiled = load_compiled(policy_path)
    monitor = Monitor(compiled, trace=not no_trace)
    checkpoint = Path(checkpoint_path) if checkpoint_path else None
    skip_lines = written = 0
    out_bytes: int | None = None
    if checkpoint is not None and checkpoint.exists():
        try:
            resume = load_checkpoint(checkpoint, monitor)
        except CheckpointError as exc:
            error(f"{display_path(checkpoint)}: {exc}", code=exc.code)
            raise Failed() from None
        monitor, skip_lines = resume.monitor, resume.lines_read
        written, out_bytes = resume.decisions_written, resume.out_bytes
    elif facts_path:
        _read_snapshot(facts_path, monitor)
    audit = AuditBatcher(AuditLog(audit_path)) if audit_path else None
    shown = "<stdin>" if events_path == "-" else display_path(events_path)
    try:
        source: IO[bytes] = (
            sys.stdin.buffer if events_path == "-" else open(events_path, "rb")  # noqa: SIM115
        )
    except OSError as exc:
        error(f"cannot read {shown}: {exc.strerror or exc}", code="E009")
        raise Failed() from None
    if out_path and out_bytes is not None and os.path.exists(out_path):
        with open(out_path, "r+b") as cut:
            cut.truncate(out_bytes)
    out: IO[str] = open(out_path, "a", encoding="utf-8") if out_path else sys.stdout  # noqa: SIM115
    stopper = _Stopper()
    lines = errors = decisions_now = 0
    try:
        with stopper.installed(), stream_gc():
            try:
                for lines, raw in raw_lines(source):
                    stopper.busy = True
                    if lines > skip_lines and (raw is None or raw.strip()):
                        problem = _one(monitor, raw, lines, out, audit)
                        if isinstance(problem, EventError):
                            errors += 1
                            click.echo(
                                f"{shown}:{lines}:1: error[{problem.code}]: {problem.message}",
                                err=True,
                            )
                            if on_error == "stop":
                                break
                        else:
                            decisions_now += problem
                    stopper.busy = False
                    if (
                        checkpoint is not None
                        and checkpoint_every
                        and lines % checkpoint_every == 0
                    ):
                        total = written + decisions_now
                        write_checkpoint(checkpoint, monitor, max(lines, skip_lines), total, out)
                    if stopper.requested or (
                        max_events is not None and lines - skip_lines >= max_events
                    ):
                        break
            except _Stop:
                pass
        written += decisions_now
        if audit is not None:
            audit.flush()
        if checkpoint is not None:
            write_checkpoint(checkpoint, monitor, max(lines, skip_lines), written, out)
    finally:
        out.flush()
        if out is not sys.stdout:
            out.close()
        if source is not sys.stdin.buffer:
            source.close()
        if audit is not None:
            audit.close()  # writes what is pending
    click.echo(
        f"watched {max(0, lines - skip_lines)} lines: {decisions_now} decisions, "
        f"{errors} errors, {monitor.live_accounts()} accounts with live signals",
        err=True,
    )
    if errors:
        raise click.exceptions.Exit(EXIT_INVALID)


def _one(
    monitor: Monitor, raw: bytes | None, line: int, out: IO[str], audit: AuditBatcher | None
) -> int | EventError:
    """Apply one line and write its decisions; an EventError is returned, not raised."""
    try:
        decisions = line_decisions(monitor, raw, line)
    except EventError as exc:  # refused, or applied but an account could not be decided (E207)
        return exc
    for decision in decisions:
        out.write(decision.to_json() + "\n")
    if decisions and audit is not None:
        audit.add(decisions)
    return len(decisions)
