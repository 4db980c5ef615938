"""The case store: an append-only SQLite file of case openings, events and transitions.

A case is never stored as a mutable row: the store keeps what opened it (the account's facts,
the moment and the policy version) and every accepted event in order, and rebuilds the case by
replaying them through `cases.replay`. The transitions each event caused are appended beside
the events, so a reader of the file sees why every change happened; triggers refuse updates
and deletes. Nothing here reads the clock.

Given an audit log, the store also appends every transition to it as a `case_transition`
record, every re-evaluation's decision, and when asked the opening decision, inside the
store's own transaction: the audit append happens just before the store commits, and a failed
append rolls the store back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from clearline.engine.audit.log import AuditLog, Entry, decision_entry
from clearline.engine.canonical import canonical_json
from clearline.engine.cases.lifecycle import (
    FINAL_STATES,
    Case,
    CaseError,
    CaseEvent,
    CaseState,
    EventKind,
    Transition,
    apply_event,
    case_event,
    deadline_due,
    event_from_dict,
    next_deadline,
    open_case,
)
from clearline.engine.decisions.compile import CompiledPolicy, compile_policy
from clearline.engine.decisions.decide import Decision, decide, to_instant
from clearline.engine.errors import ClearlineError
from clearline.engine.policy.load import load_policy

DEFAULT_CASE_STORE = "clearline-cases.db"
STORE_FORMAT = 1
KIND_CASE_TRANSITION = "case_transition"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY,
    account_id TEXT,
    policy_id TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    policy_sha256 TEXT NOT NULL,
    policy_path TEXT,
    as_of TEXT NOT NULL,
    facts TEXT NOT NULL,
    decision TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    event INTEGER NOT NULL,
    on_day TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    cause TEXT NOT NULL,
    ref TEXT NOT NULL,
    next_due TEXT
);
"""
_APPEND_ONLY = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'the case store is append-only'); END;"
    for table in ("cases", "events", "transitions")
    for verb in ("update", "delete")
]


@dataclass(frozen=True)
class Opening:
    """What opened a case: enough to decide again and check the decision is the same."""

    case_id: str
    account_id: str | None
    policy_id: str
    policy_version: str
    policy_sha256: str
    policy_path: str | None
    as_of: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class Advanced:
    """What a batch advance did: the cases it moved (with the transitions), and the failures."""

    changed: list[tuple[Case, tuple[Transition, ...]]]
    failed: list[tuple[str, str]]


class CaseStore:
    """Cases in one SQLite file; the Python API behind `clearline case`."""

    def __init__(
        self, path: str | os.PathLike[str] = DEFAULT_CASE_STORE, *, audit: AuditLog | None = None
    ) -> None:
        self.path = str(path)
        self.audit = audit
        self._journal: list[Entry] = []  # audit entries of the open transaction
        self._compiled: dict[str, CompiledPolicy] = {}
        # Cases rebuilt lately, reused only while the store holds no newer event for them.
        self._recent: dict[str, Case] = {}
        self._depth = 0
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
            if version == 0 and not tables:
                self._db.executescript(
                    "BEGIN;"
                    + _SCHEMA
                    + "\n".join(_APPEND_ONLY)
                    + f"\nPRAGMA user_version = {STORE_FORMAT};COMMIT;"
                )
            elif version != STORE_FORMAT:
                raise CaseError(f"{self.path} is not a Clearline case store")
        except sqlite3.DatabaseError as exc:
            raise CaseError(f"{self.path}: cannot use as a case store: {exc}") from None

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes into one transaction (all or nothing, and much faster)."""
        if self._depth == 0:
            self._db.execute("BEGIN IMMEDIATE")
            self._journal = []
        self._depth += 1
        try:
            yield
            if self._depth == 1 and self.audit is not None and self._journal:
                self.audit.append_entries(self._journal)
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
                self._journal = []
            raise
        self._depth -= 1
        if self._depth == 0:
            self._db.execute("COMMIT")
            self._journal = []

    # -- writing ------------------------------------------------------------------------------

    def open(
        self,
        compiled: CompiledPolicy,
        decision: Decision,
        policy_path: str | None = None,
        *,
        audit_decision: bool = False,
    ) -> Case:
        """Open and store the case of an adverse decision; `policy_path` lets it reload later.

        With `audit_decision`, the decision itself goes to the audit log too, before the case's
        first transition (leave it off when the decision is already in the log)."""
        case = open_case(compiled, decision)
        policy = compiled.policy.metadata
        with self.batch():  # the write lock first, so two writers cannot both open it
            if self._exists(case.case_id):
                raise CaseError(f"case {case.case_id} is already open")
            self._db.execute(
                "INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    case.case_id,
                    decision.account_id,
                    policy.id,
                    policy.version,
                    compiled.sha256,
                    policy_path,
                    decision.as_of.isoformat(),
                    canonical_json(decision.inputs()),
                    decision.to_json(),
                ),
            )
            if self.audit is not None and audit_decision:
                self._journal.append(decision_entry(decision, self.audit.salt))
            self._append_transitions(compiled, case, case.transitions, None, decision.as_of)
        self._compiled.setdefault(compiled.sha256, compiled)
        self._remember(case)
        return case

    def record(
        self, case_id: str, event: CaseEvent, compiled: CompiledPolicy | None = None
    ) -> tuple[Case, tuple[Transition, ...]]:
        """Apply one event and store it with the transitions it caused; a rejected event
        (CaseError) stores nothing."""
        with self.batch():  # read and write under one lock: concurrent writers queue
            policy = self.compiled_for(self.opening(case_id), compiled)
            before = self.case(case_id, policy)
            after = apply_event(policy, before, event)
            caused = after.transitions[len(before.transitions) :]
            self._db.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                (
                    case_id,
                    before.events,
                    event.kind.value,
                    event.at.isoformat(),
                    canonical_json(event.to_dict()),
                ),
            )
            if self.audit is not None and event.kind in (EventKind.REEVALUATED, EventKind.CURED):
                # The re-decision the cure was judged on is a decision too: log it, with its
                # trace, like any other (the same facts and moment give the same record).
                again = decide(
                    policy, dict(after.facts), event.at, account_id=after.account_id, what_if=True
                )
                self._journal.append(decision_entry(again, self.audit.salt))
            self._append_transitions(policy, after, caused, event, event.at)
        self._remember(after)
        return after, caused

    def advance(self, as_of: str, compiled: CompiledPolicy | None = None) -> Advanced:
        """Apply every deadline passed by `as_of` to every open case (the daily batch job).

        A case that cannot be rebuilt (its policy file is gone, say) is reported in `failed`
        and the others still advance. `compiled` serves the cases opened under it; the rest
        reload the policy recorded at opening.
        """
        result = Advanced([], [])
        # Cases keep their own time zones: take every case due by the next UTC day, then let
        # `deadline_due` decide in the case's zone.
        latest = (to_instant(as_of).date() + dt.timedelta(days=1)).isoformat()
        with self.batch():
            for case_id in self._due_by(latest):
                opening = self.opening(case_id)
                try:
                    same = compiled is not None and compiled.sha256 == opening.policy_sha256
                    policy = compiled if same and compiled else self.compiled_for(opening)
                    case = self.case(case_id, policy)
                    moment = to_instant(as_of, policy.policy.metadata.timezone)
                    if deadline_due(policy, case, moment):
                        event = case_event(EventKind.DEADLINE_PASSED, moment)
                        result.changed.append(self.record(case_id, event, policy))
                except CaseError as exc:
                    result.failed.append((case_id, str(exc)))
        return result

    def _append_transitions(
        self,
        compiled: CompiledPolicy,
        case: Case,
        transitions: tuple[Transition, ...],
        event: CaseEvent | None,
        at: dt.datetime,
    ) -> None:
        # Deadlines move only with transitions, so the last transition of a case knows its next
        # deadline: the batch job finds due cases without rebuilding every open one.
        upcoming = next_deadline(compiled, case)
        next_due = upcoming[0].isoformat() if upcoming else None
        self._db.executemany(
            "INSERT INTO transitions "
            "(case_id, event, on_day, from_state, to_state, cause, ref, next_due) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    case.case_id,
                    t.event,
                    t.on.isoformat(),
                    t.from_state.value if t.from_state else None,
                    t.to_state.value,
                    t.cause,
                    t.ref,
                    next_due,
                )
                for t in transitions
            ],
        )
        if self.audit is not None:
            self._journal.extend(transition_entries(compiled, case, transitions, event, at))

    # -- reading ------------------------------------------------------------------------------

    def _exists(self, case_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM cases WHERE case_id = ?", (case_id,)).fetchone()
        return row is not None

    def opening(self, case_id: str) -> Opening:
        """What opened a case; CaseError when there is no such case."""
        row = self._db.execute(
            "SELECT case_id, account_id, policy_id, policy_version, policy_sha256, policy_path, "
            "as_of, facts FROM cases WHERE case_id = ?",
            (case_id,),
        ).fetchone()
        if row is None:
            raise CaseError(f"no case `{case_id}` in {self.path}")
        case, account, policy_id, version, sha, path, as_of, facts = row
        return Opening(case, account, policy_id, version, sha, path, as_of, json.loads(facts))

    def events(self, case_id: str, tz: str = "UTC") -> list[CaseEvent]:
        """The accepted events of a case, in order."""
        rows = self._db.execute(
            "SELECT body FROM events WHERE case_id = ? ORDER BY seq", (case_id,)
        )
        return [event_from_dict(json.loads(body), tz) for (body,) in rows]

    def transitions(self, case_id: str) -> list[dict[str, Any]]:
        """The transitions of a case as stored, in order."""
        rows = self._db.execute(
            "SELECT event, on_day, from_state, to_state, cause, ref FROM transitions "
            "WHERE case_id = ? ORDER BY id",
            (case_id,),
        )
        keys = ("event", "on", "from", "to", "cause", "ref")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _due_by(self, day: str) -> list[str]:
        rows = self._db.execute(
            "SELECT case_id FROM transitions WHERE id IN "
            "(SELECT max(id) FROM transitions GROUP BY case_id) AND next_due <= ? ORDER BY id",
            (day,),
        )
        return [case_id for (case_id,) in rows]

    def case_ids(self, *, open_only: bool = False) -> list[str]:
        """Every case id in opening order; only the ones not rescinded or overturned if asked."""
        rows = self._db.execute(
            "SELECT case_id, to_state FROM transitions WHERE id IN "
            "(SELECT max(id) FROM transitions GROUP BY case_id) ORDER BY "
            "(SELECT rowid FROM cases WHERE cases.case_id = transitions.case_id)"
        )
        final = {state.value for state in FINAL_STATES}
        return [case_id for case_id, state in rows if not (open_only and state in final)]

    def states(self) -> dict[CaseState, int]:
        """How many cases are in each state now."""
        counts = {state: 0 for state in CaseState}
        rows = self._db.execute(
            "SELECT to_state, count(*) FROM transitions WHERE id IN "
            "(SELECT max(id) FROM transitions GROUP BY case_id) GROUP BY to_state"
        )
        for state, n in rows:
            counts[CaseState(state)] = n
        return counts

    def _remember(self, case: Case) -> None:
        if len(self._recent) >= 4096:
            self._recent.clear()
        self._recent[case.case_id] = case

    def case(self, case_id: str, compiled: CompiledPolicy | None = None) -> Case:
        """Rebuild a case: decide its opening again, check the decision id, replay the events."""
        opening = self.opening(case_id)
        policy = self.compiled_for(opening, compiled)
        recent = self._recent.get(case_id)
        if recent is not None:
            (stored,) = self._db.execute(
                "SELECT count(*) FROM events WHERE case_id = ?", (case_id,)
            ).fetchone()
            if stored == recent.events:
                return recent
        decision = decide(
            policy,
            opening.facts,
            opening.as_of,
            account_id=opening.account_id,
            trace=False,
            what_if=True,
        )
        if decision.decision_id != case_id:
            raise CaseError(
                f"case {case_id} does not replay: deciding its opening again gives decision "
                f"{decision.decision_id} (engine or policy changed)"
            )
        case = open_case(policy, decision)
        for event in self.events(case_id, policy.policy.metadata.timezone):
            case = apply_event(policy, case, event)
        return case

    def compiled_for(
        self, opening: Opening, compiled: CompiledPolicy | None = None
    ) -> CompiledPolicy:
        """The compiled policy version a case was opened under: given, cached or reloaded."""
        if compiled is not None:
            if compiled.sha256 != opening.policy_sha256:
                raise CaseError(
                    f"case {opening.case_id} was opened under {opening.policy_id} "
                    f"{opening.policy_version} (sha256 {opening.policy_sha256[:12]}), "
                    f"not sha256 {compiled.sha256[:12]}"
                )
            return compiled
        cached = self._compiled.get(opening.policy_sha256)
        if cached is not None:
            return cached
        return self._reload(opening)

    def _reload(self, opening: Opening) -> CompiledPolicy:
        path = opening.policy_path
        if not path or not FsPath(path).exists():
            raise CaseError(
                f"case {opening.case_id}: policy file {path or '(not recorded)'} not found; "
                "pass the policy it was opened under"
            )
        try:
            compiled = compile_policy(load_policy(path))
        except ClearlineError as exc:
            raise CaseError(f"case {opening.case_id}: cannot load {path}: {exc}") from None
        return self.compiled_for(opening, self._compiled.setdefault(compiled.sha256, compiled))


def transition_entries(
    compiled: CompiledPolicy,
    case: Case,
    transitions: tuple[Transition, ...],
    event: CaseEvent | None,
    at: dt.datetime,
) -> list[Entry]:
    """Audit entries for the transitions one event at `at` caused (no event: the opening).

    The record id is the case id (the opening decision's id), so an audit search for it finds
    the decision and its whole case. Event facts are named, not copied: values of facts a
    policy redacts must not reach the log in clear.
    """
    metadata = compiled.policy.metadata
    happened: dict[str, Any] | None = None
    if event is not None:
        happened = {**event.to_dict(), "facts": sorted(event.facts)}
    entries = []
    for transition in transitions:
        body = {
            "case_id": case.case_id,
            "decision_id": case.decision_id,
            "rule": case.rule,
            "grace": case.grace,
            "event": happened,
            "transition": transition.to_dict(),
            "state": case.state.value,
            "in_force": case.in_force,
            "effective": case.effective.isoformat(),
        }
        entries.append(
            Entry(
                KIND_CASE_TRANSITION,
                case.case_id,
                case.account_id,
                case.action.value,
                metadata.id,
                metadata.version,
                compiled.sha256,
                at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
                canonical_json(body),
            )
        )
    return entries
