"""`clearline watch`: stream account events through the monitor, write decisions as they change."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

from clearline.engine import AuditLog, ClearlineError, FactError
from clearline.engine.audit.log import BATCH_SIZE, Entry
from clearline.engine.events.event import EventError, MonitorDecision, stream_gc
from clearline.engine.events.monitor import Monitor
from clearline.engine.input_lines import (
    MAX_LINE_BYTES,
    TOO_LONG,
    LineProblem,
    line_text,
    parse_json,
    raw_lines,
)
from clearline.engine.policy.load import display_path

from .common import EXIT_INVALID, Failed, error, load_compiled

CHECKPOINT_KEYS = ("monitor", "lines_read", "decisions_written", "out_bytes")


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


def event_json(text: str) -> Any:
    """A line as `json.loads` reads it (a byte order mark refused alike), with NaN, Infinity,
    duplicate keys and numbers a double cannot hold refused, through one decoder for all lines."""
    return parse_json(text)


def _read_snapshot(path: str, monitor: Monitor) -> None:
    """Load every account of a snapshot file, or print all its errors and exit 1."""
    shown = display_path(path)
    problems = 0
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        error(f"cannot read {shown}: {exc.strerror or exc}", code="E009")
        raise Failed() from None
    with handle:
        for number, raw in raw_lines(handle):
            if raw is not None and not raw.strip():
                continue
            try:
                record = event_json(_text(raw, number))
            except LineProblem as exc:
                click.echo(exc.diagnostic(shown).render(), err=True)
                problems += 1
                continue
            except ValueError as exc:
                click.echo(f"{shown}:{number}:1: error[E200]: not valid JSON: {exc}", err=True)
                problems += 1
                continue
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("account_id"), str)
                or not isinstance(record.get("facts"), dict)
            ):
                click.echo(
                    f"{shown}:{number}:1: error[E210]: a snapshot line is "
                    '{"account_id": "...", "facts": {...}}',
                    err=True,
                )
                problems += 1
                continue
            try:
                monitor.add_account(record["account_id"], record["facts"])
            except FactError as exc:
                for problem in exc.problems:
                    click.echo(
                        f"{shown}:{number}:1: error[{problem.code}]: {problem.message}", err=True
                    )
                problems += 1
    if problems:
        raise Failed()


def _load_checkpoint(path: Path, monitor: Monitor) -> tuple[Monitor, int, int, int | None]:
    try:
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data, dict) or any(key not in data for key in CHECKPOINT_KEYS):
            raise ValueError("missing keys")
        restored = Monitor.from_data(monitor.compiled, data["monitor"], trace=monitor.trace)
        out_bytes = data["out_bytes"]
        return (
            restored,
            int(data["lines_read"]),
            int(data["decisions_written"]),
            int(out_bytes) if out_bytes is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        error(f"{display_path(path)}: not a usable checkpoint: {exc}", code="E220")
        raise Failed() from None
    except ClearlineError as exc:
        error(f"{display_path(path)}: {exc}", code="E220")
        raise Failed() from None


class _AuditWriter:
    """Decisions and their causes to the audit log, in batches of one transaction each.

    A batch is written when it is full, before each checkpoint and at the end of the run, so a
    checkpoint never points past what the log holds. After a crash, decisions made after the
    last checkpoint may be recorded a second time by the resumed run (same decision id).
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self.pending: list[Entry] = []

    def add(self, decisions: list[MonitorDecision]) -> None:
        for made in decisions:
            self.pending.extend(made.audit_entries(self.log.salt))
        if len(self.pending) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.log.append_entries(self.pending)
            self.pending = []

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.log.close()


def _write_checkpoint(
    path: Path, monitor: Monitor, lines: int, decisions: int, out: IO[str]
) -> None:
    """Write atomically: a crash leaves the previous checkpoint, never half of a new one.

    With `--out FILE` the checkpoint also records the file's length, and a resume cuts the file
    back to it: decisions written after the last checkpoint by a run that crashed are written
    again, exactly once.
    """
    out.flush()
    out_bytes = out.tell() if out is not sys.stdout and out.seekable() else None
    data = {
        "monitor": monitor.to_data(),
        "lines_read": lines,
        "decisions_written": decisions,
        "out_bytes": out_bytes,
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, separators=(",", ":")), "utf-8")
    os.replace(temporary, path)


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
        monitor, skip_lines, written, out_bytes = _load_checkpoint(checkpoint, monitor)
    elif facts_path:
        _read_snapshot(facts_path, monitor)
    audit = _AuditWriter(AuditLog(audit_path)) if audit_path else None
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
                        _write_checkpoint(checkpoint, monitor, max(lines, skip_lines), total, out)
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
            _write_checkpoint(checkpoint, monitor, max(lines, skip_lines), written, out)
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


def _text(raw: bytes | None, number: int) -> str:
    """A line's text once its bytes are safe to parse (LineProblem for a line over the limit)."""
    if raw is None:
        raise LineProblem(number, 1, TOO_LONG, f"line is longer than {MAX_LINE_BYTES} bytes")
    return line_text(raw, number)


def _one(
    monitor: Monitor, line_bytes: bytes | None, line: int, out: IO[str], audit: _AuditWriter | None
) -> int | EventError:
    """Read, check and apply one line; write its decisions. An EventError is returned, not raised."""
    try:
        raw = event_json(_text(line_bytes, line))
    except LineProblem as exc:
        return EventError(exc.code, exc.message)
    except ValueError as exc:
        return EventError("E200", f"not valid JSON: {exc}")
    try:  # checked (and applied) as `check` then `apply` would, the usual event inline
        decisions: list[MonitorDecision] = monitor.feed(raw, line)
    except EventError as exc:  # refused, or applied but an account could not be decided (E207)
        return exc
    for decision in decisions:
        out.write(decision.to_json() + "\n")
    if decisions and audit is not None:
        audit.add(decisions)
    return len(decisions)
