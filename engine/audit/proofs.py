"""Inclusion proofs of single records against a signed checkpoint: what `clearline audit prove`
writes, the decision service serves and `clearline audit verify-proof` checks."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from clearline.engine.audit.checkpoint import SignedCheckpoint
from clearline.engine.audit.entries import AuditRecord, content_text
from clearline.engine.audit.merkle import Tree, leaf_hash
from clearline.engine.audit.schema import AuditError

PROOF_FORMAT = "clearline-inclusion-proof/1"


class AfterCheckpoint(AuditError):
    """The record was appended after the checkpoint: no tree it signs holds it."""


def latest_checkpoint(db: sqlite3.Connection) -> str | None:
    """The text of the latest signed checkpoint the log keeps, or None if it keeps none."""
    try:
        found = db.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return None  # a log of format 2 has no checkpoints table
    return None if found is None else str(found[0])


def stored_leaves(db: sqlite3.Connection, size: int) -> list[bytes]:
    """The Merkle leaves of the first `size` records, from their stored hashes (not verified:
    a proof built on an altered hash does not lead to a signed root, so it is refused)."""
    return [
        leaf_hash(bytes.fromhex(str(record_hash)))
        for (record_hash,) in db.execute(
            "SELECT hash FROM records WHERE seq <= ? ORDER BY seq", (size,)
        )
    ]


def inclusion_proof(
    record: AuditRecord, leaves: Sequence[bytes], note: SignedCheckpoint, note_text: str
) -> dict[str, Any]:
    """The inclusion proof of `record` in the tree `note` signs, as JSON-ready data;
    AuditError when the leaves do not give the signed root, AfterCheckpoint when the record
    came after it."""
    size = note.checkpoint.size
    tree = Tree(leaves)
    if size > tree.size or tree.root(size) != note.checkpoint.root:
        raise AuditError("the log does not match this checkpoint (`audit verify --checkpoint`)")
    if record.seq > size:
        raise AfterCheckpoint(f"record {record.seq} came after this checkpoint ({size} records)")
    return {
        "format": PROOF_FORMAT,
        "record_id": record.record_id,
        "seq": record.seq,
        "prev_hash": record.prev_hash,
        "content": content_text(record),
        "record_hash": record.hash,
        "leaf_index": record.seq - 1,
        "tree_size": size,
        "audit_path": [h.hex() for h in tree.inclusion_proof(record.seq - 1, size)],
        "checkpoint": note_text,
    }
