"""Replay: decide every recorded decision again and compare the bytes.

Each record names the exact policy version it was made under by content hash; replay finds that
version in a registry (a missing version is an error, never a skip), decides the stored inputs
at the stored moment, and compares the new record with the stored one byte for byte. Records
whose inputs hold redacted facts cannot be recomputed (only salted hashes were kept) and are
reported as such, never counted as reproduced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from clearline.engine.audit.log import KIND_DECISION, AuditError, AuditRecord
from clearline.engine.decisions.decide import AsOfError, decide
from clearline.engine.errors import FactError
from clearline.engine.versions import PolicyRegistry

SAME = "same"
DIFFERS = "differs"
REDACTED = "redacted"
MISSING_POLICY = "missing-policy"
HASH_MISMATCH = "hash-mismatch"
INVALID = "invalid"


@dataclass(frozen=True)
class ReplayOutcome:
    """What replaying one record showed."""

    record: AuditRecord
    status: str
    message: str = ""

    @property
    def reproduced(self) -> bool:
        """Whether the recomputed record is byte for byte the stored one."""
        return self.status == SAME


def replay(records: Iterable[AuditRecord], registry: PolicyRegistry) -> Iterator[ReplayOutcome]:
    """Replay decision records (other kinds are passed over) against a registry."""
    for record in records:
        if record.kind == KIND_DECISION:
            yield replay_record(record, registry)


def replay_record(record: AuditRecord, registry: PolicyRegistry) -> ReplayOutcome:
    """Decide one stored decision again with the policy version it names."""
    sha = record.policy_sha256 or ""
    version = registry.by_hash(sha)
    name = f"`{record.policy_id}` {record.policy_version}"
    if version is None:
        same_version = registry.get(record.policy_id or "", record.policy_version or "")
        if same_version is not None:
            return ReplayOutcome(
                record,
                HASH_MISMATCH,
                f"policy hash mismatch: the decision was made under {name} with sha256 "
                f"{sha}, but {same_version.file} has {name} with sha256 "
                f"{same_version.sha256}: that file was changed after the decision",
            )
        return ReplayOutcome(
            record,
            MISSING_POLICY,
            f"policy {name} (sha256 {sha}) is not among the policies given",
        )
    try:
        redacted = record.redacted_facts
        stored = record.document
    except AuditError as exc:
        return ReplayOutcome(record, INVALID, f"the stored record cannot be read: {exc}")
    if redacted:
        return ReplayOutcome(
            record,
            REDACTED,
            "not recomputable: redacted facts are stored only as salted hashes: "
            + ", ".join(redacted),
        )
    traced = not stored.endswith(',"trace":null}')
    try:
        decision = decide(
            version.compiled,
            record.facts(),
            record.as_of or "",
            account_id=record.account_id,
            trace=traced,
            what_if=True,  # a replay reproduces the record as it was decided
        )
    except (FactError, AsOfError) as exc:
        return ReplayOutcome(record, INVALID, f"the stored inputs no longer decide: {exc}")
    recomputed = decision.to_json()
    if recomputed == stored:
        return ReplayOutcome(record, SAME)
    return ReplayOutcome(record, DIFFERS, _difference(stored, recomputed))


def _difference(stored: str, recomputed: str) -> str:
    """Which fields of the record differ, for a reader."""
    try:
        old: dict[str, Any] = json.loads(stored)
        new: dict[str, Any] = json.loads(recomputed)
    except ValueError:
        return "the stored record is not valid JSON"
    fields = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
    details = []
    for key in fields[:4]:
        if key == "trace":
            details.append("trace")
        else:
            details.append(f"{key}: stored {_short(old.get(key))}, now {_short(new.get(key))}")
    return "recomputed decision differs: " + "; ".join(details)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
