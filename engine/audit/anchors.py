"""What anchors the audit log outside itself: its Merkle tree's checkpoints, signed and
published after each batch, and the upgrade of a log of the previous format to carry them."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import NamedTuple

from clearline.engine.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    SignerKey,
    file_name,
    origin_of,
    parse_note,
)
from clearline.engine.audit.schema import FORMAT, FORMAT_2, AuditError
from clearline.engine.audit.writer import read_tree


def upgrade(db: sqlite3.Connection, path: str) -> bool:
    """Make a log of format 2 a log of format 3 from its next record on; False if it is one.

    Its records stay as they were written (their hashes cover their bytes); the genesis keeps
    the format the log was made with (`genesis_format`), `jcs_from` names the first record
    written in RFC 8785 canonical JSON, and the Merkle tree over the records so far is built.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if found is None or found[0] != FORMAT_2:
                db.execute("COMMIT")
                return False
            (last,) = db.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()
            tree = read_tree(db, int(last))
            db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [
                    ("format", FORMAT),
                    ("genesis_format", FORMAT_2),
                    ("jcs_from", str(int(last) + 1)),
                    ("tree", tree.to_text()),
                ],
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise AuditError(f"{path}: the log was not upgraded ({exc})") from None
    return True


def publish(
    db: sqlite3.Connection,
    log_id: str,
    size: int,
    root_hex: str,
    signer: SignerKey,
    folder: str | os.PathLike[str] | None,
) -> str:
    """Sign the checkpoint of a committed batch, keep it in the log's `checkpoints` table and,
    with `folder`, in a file of its own there (outside the database); the note's text."""
    note = Checkpoint(origin_of(log_id), size, bytes.fromhex(root_hex)).signed(signer)
    db.execute("INSERT OR REPLACE INTO checkpoints (size, note) VALUES (?, ?)", (size, note))
    if folder is not None:
        where = Path(folder)
        where.mkdir(parents=True, exist_ok=True)
        target = where / file_name(size)
        temporary = target.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(note)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)  # a reader never sees half a checkpoint
    return note


class Receipt(NamedTuple):
    """What a per-decision notice says of the signed tree that holds its decision."""

    decision_id: str
    seq: int
    tree_size: int
    root_prefix: str  # the first 16 hex digits of the signed root hash


def receipt_of(db: sqlite3.Connection, seq: int, record_id: str) -> Receipt | None:
    """The latest signed checkpoint holding record `seq`, as a Receipt; None if none does yet."""
    try:
        found = db.execute(
            "SELECT size, note FROM checkpoints WHERE size >= ? ORDER BY size DESC LIMIT 1",
            (seq,),
        ).fetchone()
    except sqlite3.Error:
        return None  # a log of format 2 has no checkpoints table yet
    if found is None:
        return None
    try:
        held = parse_note(str(found[1])).checkpoint
    except CheckpointError:
        return None  # a damaged note receipts nothing; `audit verify` names the damage
    return Receipt(record_id, seq, held.size, held.root.hex()[:16])


def receipt(db: sqlite3.Connection, seq: int, record_id: str) -> str | None:
    """A short receipt for a per-decision notice: the decision id, the latest signed tree that
    holds it (size, root prefix), and where to check it; None if no checkpoint covers it yet.

    The notice (`disclosures/notice.py`) words the same Receipt in the notice's language.
    """
    found = receipt_of(db, seq, record_id)
    if found is None:
        return None
    return (
        f"Receipt: decision {record_id}, record {seq} of {found.tree_size} in audit log "
        f"checkpoint {found.root_prefix}…; check its inclusion proof with "
        "`clearline audit verify-proof`."
    )
