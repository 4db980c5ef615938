"""`clearline audit keygen | checkpoint | prove | verify-proof | backup | upgrade`: the audit
log's commitments outside itself, and operations that keep them whole."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from clearline.engine.audit.anchors import upgrade as upgrade_log
from clearline.engine.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    SignerKey,
    VerifierKey,
    origin_of,
    parse_note,
    read_key_file,
)
from clearline.engine.audit.held import check_held
from clearline.engine.audit.log import AuditError, AuditLog, Verification
from clearline.engine.audit.merkle import Tree, leaf_hash, root_from_inclusion
from clearline.engine.audit.proofs import PROOF_FORMAT, AfterCheckpoint, inclusion_proof
from clearline.engine.audit.writer import chain_hash

from .common import Failed, error


def verifier_for(log: AuditLog, key_path: str | None) -> VerifierKey | None:
    """The key checkpoints must be signed with: the file given, else the one the log names."""
    if key_path is not None:
        return _read_key(key_path, private=False)  # type: ignore[return-value]
    found = log._db.execute("SELECT value FROM meta WHERE key = 'key'").fetchone()
    if found is None:
        return None
    try:
        return VerifierKey.parse(str(found[0]))
    except CheckpointError as exc:
        error(f"table meta, key 'key': {exc}", where=log.path, code="A103")
        raise Failed() from None


def _read_key(path: str, *, private: bool) -> SignerKey | VerifierKey:
    try:
        return read_key_file(path, private=private)
    except CheckpointError as exc:
        error(str(exc), where=path, code="A103")
        raise Failed() from None


def check_against(
    db: str,
    log_id: str,
    result: Verification,
    places: tuple[str, ...],
    key: VerifierKey | None,
) -> None:
    """Report the log against held checkpoints; exit 1 if any does not hold."""
    holding, findings = check_held(log_id, result.leaves, list(places), key)
    for finding in findings:
        where = f"record {finding.seq}" if finding.seq else "checkpoint"
        click.echo(
            f"{db}: {where}: error[A101]: against checkpoint {finding.checkpoint}: "
            f"{finding.message}",
            err=True,
        )
    if findings:
        click.echo(f"verify failed: {len(findings)} checkpoint(s) do not hold, {holding} hold")
        raise Failed()
    signed = f"signed by {key.name}" if key else "signatures not checked (no key)"
    click.echo(
        f"ok: {result.count} records (head {result.head}); consistent with {holding} held "
        f"checkpoint(s), {signed}"
    )


def register(audit: click.Group, open_log: Callable[[str], AuditLog]) -> None:
    """Add the commands to the `audit` group."""

    @audit.command()
    @click.argument("db", type=click.Path())
    @click.option("-o", "--output", required=True, type=click.Path(), help="Private key file.")
    def keygen(db: str, output: str) -> None:
        """Make the log's Ed25519 signing key: OUTPUT (private, never in the log) and
        OUTPUT.pub (the verifier key, also recorded in the log)."""
        try:
            made = AuditLog(db)  # a new log may get its key before its first record
        except AuditError as exc:
            error(str(exc), code="A001")
            raise Failed() from None
        with made as log:
            key = SignerKey.generate(origin_of(log.log_id))
            if os.path.exists(output):
                error(f"{output} exists; not overwriting a key", code="A104")
                raise Failed()
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(key.text() + "\n")
            Path(f"{output}.pub").write_text(key.verifier.text() + "\n", encoding="utf-8")
            log._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('key', ?)",
                (key.verifier.text(),),
            )
        click.echo(f"key {key.verifier.text()}\nprivate key: {output}\nverifier key: {output}.pub")

    @audit.command()
    @click.argument("db", type=click.Path())
    @click.option("--key", "key_path", required=True, type=click.Path(exists=True))
    @click.option("-o", "--output", required=True, type=click.Path(), help="Checkpoint file.")
    def checkpoint(db: str, key_path: str, output: str) -> None:
        """Verify the log, then write a checkpoint of its Merkle tree signed with the key."""
        key = _read_key(key_path, private=True)
        assert isinstance(key, SignerKey)
        with open_log(db) as log:
            result = log.verify()
            if result.problem is not None:
                error(
                    f"not signing a log that fails verify: {result.problem.message}",
                    where=db,
                    code="A100",
                )
                raise Failed()
            root = Tree(result.leaves).root()
            note = Checkpoint(origin_of(log.log_id), result.count, root).signed(key)
        Path(output).write_text(note, encoding="utf-8")
        click.echo(f"checkpoint of {result.count} records written to {output}")

    @audit.command()
    @click.argument("db", type=click.Path())
    @click.argument("record_id")
    @click.option(
        "--checkpoint", "held", required=True, type=click.Path(exists=True, dir_okay=False)
    )
    @click.option("-o", "--output", required=True, type=click.Path(), help="Proof file (JSON).")
    def prove(db: str, record_id: str, held: str, output: str) -> None:
        """Write an inclusion proof of one record in the tree a checkpoint commits to."""
        note = _read_note(held)
        with open_log(db) as log:
            found = log.get(record_id)
            exact = [record for record in found if record.record_id == record_id] or found
            if len(exact) != 1:
                error(f"{len(exact)} records match {record_id!r}", where=db, code="A105")
                raise Failed()
            record = exact[0]
            result = log.verify()
        try:
            text = note.body + "\n" + note_signatures(held)
            proof = inclusion_proof(record, result.leaves, note, text)
        except AuditError as exc:
            error(str(exc), where=held, code="A105" if isinstance(exc, AfterCheckpoint) else "A101")
            raise Failed() from None
        Path(output).write_text(
            json.dumps(proof, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        click.echo(
            f"inclusion proof of record {record.seq} in {proof['tree_size']} records written to {output}"
        )

    @audit.command(name="verify-proof")
    @click.argument("proof_path", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--checkpoint", "held", required=True, type=click.Path(exists=True, dir_okay=False)
    )
    @click.option(
        "--key", "key_path", type=click.Path(exists=True, dir_okay=False), help="Verifier key."
    )
    def verify_proof(proof_path: str, held: str, key_path: str | None) -> None:
        """Check an inclusion proof against a held checkpoint, without the log."""
        note = _read_note(held)
        if key_path is not None:
            key = _read_key(key_path, private=False)
            assert isinstance(key, VerifierKey)
            if not note.signed_by(key):
                error(
                    f"the checkpoint is not signed by {key.name}+{key.id.hex()}",
                    where=held,
                    code="A101",
                )
                raise Failed()
        problem = proof_problem(proof_path, note.checkpoint)
        if problem is not None:
            error(problem, where=proof_path, code="A106")
            raise Failed()
        click.echo(f"ok: the record is in the log's first {note.checkpoint.size} records")

    @audit.command()
    @click.argument("db", type=click.Path())
    @click.argument("dest", type=click.Path())
    def backup(db: str, dest: str) -> None:
        """Copy the log with SQLite's online backup (the write-ahead log's records included,
        appends may go on), then verify the copy."""
        if os.path.exists(dest):
            error(f"{dest} exists; not overwriting it", code="A104")
            raise Failed()
        with open_log(db) as log:
            target = sqlite3.connect(dest)
            try:
                log._db.backup(target)
            finally:
                target.close()
        with open_log(dest) as copy:
            result = copy.verify()
        if result.problem is not None:
            error(f"the copy does not verify: {result.problem.message}", where=dest, code="A100")
            raise Failed()
        click.echo(f"backed up: {result.count} records to {dest} (verified)")

    @audit.command(name="upgrade")
    @click.argument("db", type=click.Path())
    def upgrade_command(db: str) -> None:
        """Make a log of the previous format carry a Merkle tree and checkpoints (its records
        stay as written)."""
        with open_log(db) as log:
            try:
                done = upgrade_log(log._db, db)
            except AuditError as exc:
                error(str(exc), code="A001")
                raise Failed() from None
        click.echo("upgraded" if done else "nothing to do: the log has its tree already")


def note_signatures(path: str) -> str:
    """The signature lines of a note file, as written."""
    return Path(path).read_text(encoding="utf-8").rpartition("\n\n")[2]


def _read_note(path: str) -> Any:
    try:
        return parse_note(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, CheckpointError) as exc:
        error(f"not a checkpoint: {exc}", where=path, code="A101")
        raise Failed() from None


def proof_problem(path: str, held: Checkpoint) -> str | None:
    """What is wrong with an inclusion proof against a held checkpoint, or None."""
    try:
        proof = json.loads(Path(path).read_text(encoding="utf-8"))
        seq, index, size = int(proof["seq"]), int(proof["leaf_index"]), int(proof["tree_size"])
        record_hash = str(proof["record_hash"])
        path_hashes = [bytes.fromhex(h) for h in proof["audit_path"]]
        recomputed = chain_hash(seq, str(proof["prev_hash"]), str(proof["content"]))
        leaf = leaf_hash(bytes.fromhex(record_hash))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"not an inclusion proof ({type(exc).__name__}: {exc})"
    if proof.get("format") != PROOF_FORMAT:
        return f"not an inclusion proof of format {PROOF_FORMAT}"
    if recomputed != record_hash:
        return "the record's content does not match its hash"
    if index != seq - 1:
        return f"record {seq} is leaf {seq - 1}, not {index}"
    if size != held.size:
        return f"the proof is for {size} records, the checkpoint held for {held.size}"
    if root_from_inclusion(leaf, index, size, path_hashes) != held.root:
        return "the proof does not lead to the checkpoint's root: the record is not in that log"
    return None
