"""The stream runner's parts: read an event line, apply it, record decisions in batches, and
save or resume the monitor at a checkpoint. `clearline watch` is a thin loop over these."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from clearline.engine.audit.log import BATCH_SIZE, AuditLog, Entry
from clearline.engine.errors import ClearlineError, Diagnostic, FactError
from clearline.engine.events.event import EventError, MonitorDecision
from clearline.engine.events.monitor import Monitor
from clearline.engine.input_lines import (
    MAX_LINE_BYTES,
    TOO_LONG,
    LineProblem,
    line_text,
    parse_json,
    raw_lines,
)

CHECKPOINT_KEYS = ("monitor", "lines_read", "decisions_written", "out_bytes")
CHECKPOINT_CODE = "E220"
SNAPSHOT_CODE = "E210"


class CheckpointError(ClearlineError):
    """A checkpoint file that cannot be used to resume a run."""

    code = CHECKPOINT_CODE


def event_json(text: str) -> Any:
    """A line as `json.loads` reads it (a byte order mark refused alike), with NaN, Infinity,
    duplicate keys and numbers a double cannot hold refused, through one decoder for all lines."""
    return parse_json(text)


def line_text_of(raw: bytes | None, number: int) -> str:
    """A line's text once its bytes are safe to parse (LineProblem for a line over the limit)."""
    if raw is None:
        raise LineProblem(number, 1, TOO_LONG, f"line is longer than {MAX_LINE_BYTES} bytes")
    return line_text(raw, number)


def line_decisions(monitor: Monitor, raw: bytes | None, line: int) -> list[MonitorDecision]:
    """Read, check and apply one event line: the decisions it causes, or EventError (raised)."""
    try:
        event = event_json(line_text_of(raw, line))
    except LineProblem as exc:
        raise EventError(exc.code, exc.message) from None
    except ValueError as exc:
        raise EventError("E200", f"not valid JSON: {exc}") from None
    # checked (and applied) as `check` then `apply` would, the usual event inline
    return monitor.feed(event, line)


def load_snapshot(handle: BinaryIO, shown: str, monitor: Monitor) -> list[Diagnostic]:
    """Add every account of a snapshot (JSONL of account_id and facts); the lines refused."""
    problems: list[Diagnostic] = []
    for number, raw in raw_lines(handle):
        if raw is not None and not raw.strip():
            continue
        try:
            record = event_json(line_text_of(raw, number))
        except LineProblem as exc:
            problems.append(exc.diagnostic(shown))
            continue
        except ValueError as exc:
            problems.append(Diagnostic(shown, number, 1, "E200", f"not valid JSON: {exc}"))
            continue
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("account_id"), str)
            or not isinstance(record.get("facts"), dict)
        ):
            message = 'a snapshot line is {"account_id": "...", "facts": {...}}'
            problems.append(Diagnostic(shown, number, 1, SNAPSHOT_CODE, message))
            continue
        try:
            monitor.add_account(record["account_id"], record["facts"])
        except FactError as exc:
            problems += [Diagnostic(shown, number, 1, p.code, p.message) for p in exc.problems]
    return problems


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a checkpointed run stands: its monitor, lines read, decisions written, output size."""

    monitor: Monitor
    lines_read: int
    decisions_written: int
    out_bytes: int | None


def load_checkpoint(path: Path, monitor: Monitor) -> Resume:
    """The run saved at `path`, for the same policy as `monitor`; CheckpointError if unusable."""
    try:
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data, dict) or any(key not in data for key in CHECKPOINT_KEYS):
            raise ValueError("missing keys")
        restored = Monitor.from_data(monitor.compiled, data["monitor"], trace=monitor.trace)
        out_bytes = data["out_bytes"]
        return Resume(
            restored,
            int(data["lines_read"]),
            int(data["decisions_written"]),
            int(out_bytes) if out_bytes is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"not a usable checkpoint: {exc}") from None


def write_checkpoint(
    path: Path, monitor: Monitor, lines: int, decisions: int, out: IO[str]
) -> None:
    """Write atomically: a crash leaves the previous checkpoint, never half of a new one.

    With an output file the checkpoint also records the file's length, and a resume cuts the file
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


class AuditBatcher:
    """Decisions and their causes to the audit log, in batches of one transaction each.

    A batch is written when it is full, before each checkpoint and at the end of the run, so a
    checkpoint never points past what the log holds. After a crash, decisions made after the
    last checkpoint may be recorded a second time by the resumed run (same decision id).
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self.pending: list[Entry] = []

    def add(self, decisions: list[MonitorDecision]) -> None:
        """Queue the decisions' entries; write a batch once it is full."""
        for made in decisions:
            self.pending.extend(made.audit_entries(self.log.salt))
        if len(self.pending) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        """Write what is queued, in one transaction."""
        if self.pending:
            self.log.append_entries(self.pending)
            self.pending = []

    def close(self) -> None:
        """Write what is queued and close the log."""
        try:
            self.flush()
        finally:
            self.log.close()
