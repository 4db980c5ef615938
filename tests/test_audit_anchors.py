"""The audit log against checkpoints held outside it, on real SQLite files and the real CLI:
truncation, a rewound head and a re-hashed chain are caught; proofs verify independently."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
import rfc8785

from clearline.engine import decide, sample_accounts
from clearline.engine.audit.checkpoint import SignerKey, origin_of, parse_note
from clearline.engine.audit.log import AuditLog
from clearline.engine.audit.merkle import Tree
from clearline.engine.decisions.decide import Decision
from clearline.engine.versions import PolicyRegistry

from .conftest import run_cli
from .test_audit_merkle import ref_mth

SHIPPED = Path(__file__).resolve().parent.parent / "policies" / "credit-line-closure"
BATCHES = 20
PER_BATCH = 60


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A log of 20 batches, each followed by a signed checkpoint in a folder, and its key."""
    where = tmp_path_factory.mktemp("anchored")
    registry = PolicyRegistry.load(SHIPPED)
    item = registry.get("credit-line-closure", "1.1.0")
    assert item is not None
    decisions: list[Decision] = [
        decide(item.compiled, a["facts"], "2027-02-01", account_id=a["account_id"], trace=n % 3 > 0)
        for n, a in enumerate(sample_accounts(item.policy, BATCHES * PER_BATCH, seed=7))
    ]
    db = where / "audit.db"
    assert run_cli("audit", "keygen", str(db), "-o", str(where / "key")).returncode == 0
    key = SignerKey.parse((where / "key").read_text())
    with AuditLog(db, signer=key, checkpoints=where / "cps") as log:
        for n in range(BATCHES):
            log.append(decisions[n * PER_BATCH : (n + 1) * PER_BATCH])
    return {"db": db, "cps": where / "cps", "key": where / "key", "pub": where / "key.pub"}


def copy_log(source: Path, target: Path, *statements: str) -> Path:
    shutil.copy(source, target)
    db = sqlite3.connect(target, isolation_level=None)
    for statement in statements:
        db.execute(statement)
    db.close()
    return target


def verify(db: Path, *args: str) -> tuple[int, str, str]:
    run = run_cli("audit", "verify", str(db), *args)
    return run.returncode, run.stdout, run.stderr


def test_a_whole_log_verifies_against_every_checkpoint(made: dict[str, Path]) -> None:
    assert len(list(made["cps"].glob("*.checkpoint"))) == BATCHES
    code, out, err = verify(made["db"], "--checkpoint", str(made["cps"]), "--key", str(made["pub"]))
    assert code == 0, err
    assert f"consistent with {BATCHES} held checkpoint(s)" in out
    code, out, _ = verify(made["db"])
    assert code == 0 and "only internal consistency checked" in out


def test_the_last_batch_deleted_and_the_head_rewound(made: dict[str, Path], tmp_path: Path) -> None:
    cut = BATCHES * PER_BATCH - PER_BATCH
    db = copy_log(
        made["db"],
        tmp_path / "cut.db",
        f"DELETE FROM records WHERE seq > {cut}",
        f"UPDATE meta SET value = (SELECT seq || ' ' || hash FROM records WHERE seq = {cut}) "
        "WHERE key = 'head'",
        "DELETE FROM meta WHERE key = 'tree'",
    )
    assert verify(db)[0] == 0  # the chain alone holds: today's verdict
    code, _, err = verify(db, "--checkpoint", str(made["cps"]))
    assert code == 1
    assert f"{db}: record {cut + 1}: error[A101]: against checkpoint" in err
    assert f"{BATCHES * PER_BATCH:020d}.checkpoint" in err and "missing" in err


def rehash(db: Path, seq: int) -> None:
    """Change a decision's action and re-hash the chain from it on, as an attacker would."""
    from clearline.engine.audit.writer import chain_hash, contents

    con = sqlite3.connect(db, isolation_level=None)
    con.execute(
        "UPDATE records SET action = CASE action WHEN 'close' THEN 'none' ELSE 'close' END "
        "WHERE seq = ?",
        (seq,),
    )
    prev = con.execute("SELECT hash FROM records WHERE seq = ?", (seq - 1,)).fetchone()[0]
    columns = "kind, record_id, account_id, action, policy_id, policy_version, policy_sha256, "
    columns += "as_of, recorded_at, template, input_sha256, body, inputs"
    rows = con.execute(f"SELECT seq, {columns} FROM records WHERE seq >= ? ORDER BY seq", (seq,))
    for row in rows.fetchall():
        record_hash = chain_hash(row[0], prev, contents([row[1:]])[0])
        con.execute(
            "UPDATE records SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, record_hash, row[0])
        )
        prev = record_hash
    last = con.execute("SELECT max(seq) FROM records").fetchone()[0]
    con.execute("UPDATE meta SET value = ? WHERE key = 'head'", (f"{last} {prev}",))
    con.execute("DELETE FROM meta WHERE key = 'tree'")
    con.close()


def test_a_decision_changed_and_the_chain_rehashed(made: dict[str, Path], tmp_path: Path) -> None:
    db = copy_log(made["db"], tmp_path / "rehashed.db")
    seq = 5 * PER_BATCH + 17
    rehash(db, seq)
    assert verify(db)[0] == 0  # internally consistent
    code, _, err = verify(db, "--checkpoint", str(made["cps"]))
    assert code == 1
    first = err.splitlines()[0]
    # the first checkpoint that fails names the batch the altered record is in
    assert f"record {5 * PER_BATCH + 1}: error[A101]" in first and "altered" in first
    assert f"{6 * PER_BATCH:020d}.checkpoint" in first


def test_a_truncated_write_ahead_log_is_caught(made: dict[str, Path], tmp_path: Path) -> None:
    """A copy of the file taken with its WAL, the WAL cut at several offsets (a failing disk, a
    backup that copied the file alone): SQLite recovers an earlier commit; a checkpoint tells."""
    registry = PolicyRegistry.load(SHIPPED)
    item = registry.get("credit-line-closure", "1.1.0")
    assert item is not None
    key = SignerKey.parse(made["key"].read_text())
    live = copy_log(made["db"], tmp_path / "live.db")
    extra = [
        decide(item.compiled, a["facts"], "2027-03-01", account_id=f"w{n}")
        for n, a in enumerate(sample_accounts(item.policy, 3 * PER_BATCH, seed=9))
    ]
    cps = tmp_path / "cps"
    shutil.copytree(made["cps"], cps)
    log = AuditLog(live, signer=key, checkpoints=cps, parallel=False)
    try:
        for n in range(3):
            log.append(extra[n * PER_BATCH : (n + 1) * PER_BATCH])
        wal = Path(f"{live}-wal").read_bytes()
        snapshot = live.read_bytes()
    finally:
        log.close()
    assert len(wal) > 10_000
    lost = 0
    for n, cut in enumerate((0, 32, len(wal) // 3, len(wal) // 2, len(wal) - 100)):
        db = tmp_path / f"cut{n}.db"
        db.write_bytes(snapshot)
        Path(f"{db}-wal").write_bytes(wal[:cut])
        code, out, err = verify(db, "--checkpoint", str(cps))
        if code == 0:  # the cut took only what followed the last batch (its checkpoint's row)
            assert f"ok: {BATCHES * PER_BATCH + 3 * PER_BATCH} records" in out, cut
        else:
            assert "error[A101]" in err and "missing" in err, (cut, err)
            lost += 1
    assert lost >= 3


def test_another_key_and_another_log_are_refused(made: dict[str, Path], tmp_path: Path) -> None:
    other = SignerKey.generate(
        parse_note(next(made["cps"].glob("*")).read_text()).checkpoint.origin
    )
    note = parse_note(sorted(made["cps"].glob("*"))[-1].read_text())
    forged = tmp_path / "forged.checkpoint"
    forged.write_text(note.checkpoint.signed(other))
    code, _, err = verify(made["db"], "--checkpoint", str(forged), "--key", str(made["pub"]))
    assert code == 1 and "not signed by the log's key" in err
    foreign = tmp_path / "foreign.checkpoint"
    alien = SignerKey.generate(origin_of("0" * 32))
    from clearline.engine.audit.checkpoint import Checkpoint

    foreign.write_text(Checkpoint(origin_of("0" * 32), 5, b"\x00" * 32).signed(alien))
    code, _, err = verify(made["db"], "--checkpoint", str(foreign))
    assert code == 1 and "a checkpoint of another log" in err
    not_a_key = tmp_path / "not-a.key"
    not_a_key.write_text("this is no verifier key\n")
    code, _, err = verify(made["db"], "--checkpoint", str(made["cps"]), "--key", str(not_a_key))
    assert code == 1 and err.startswith(f"{not_a_key}: error[A103]: "), err


def test_a_flipped_bit_in_a_checkpoint_is_refused(made: dict[str, Path], tmp_path: Path) -> None:
    text = sorted(made["cps"].glob("*"))[-1].read_bytes()
    rng = random.Random(3)
    for _ in range(12):
        data = bytearray(text)
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
        bad = tmp_path / "bad.checkpoint"
        bad.write_bytes(bytes(data))
        code, _, err = verify(made["db"], "--checkpoint", str(bad), "--key", str(made["pub"]))
        assert code == 1, at
        assert "Traceback" not in err and "internal error" not in err


def independent_root(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """The root an RFC 9162 audit path leads to, written again from §2.1.3.2 for the test."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn != 0
        if fn % 2 == 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn // 2, sn // 2
    assert sn == 0
    return r


def test_inclusion_and_consistency_proofs_verify_independently(made: dict[str, Path]) -> None:
    with AuditLog(made["db"], create=False) as log:
        result = log.verify()
        records = list(log.records())
    tree = Tree(result.leaves)
    notes = [parse_note(p.read_text()) for p in sorted(made["cps"].glob("*"))]
    sizes = [n.checkpoint.size for n in notes]
    rng = random.Random(1)
    for _ in range(1000):
        record = rng.choice(records)
        note = rng.choice([n for n in notes if n.checkpoint.size >= record.seq])
        size = note.checkpoint.size
        leaf = hashlib.sha256(b"\x00" + bytes.fromhex(record.hash)).digest()
        path = tree.inclusion_proof(record.seq - 1, size)
        assert independent_root(leaf, record.seq - 1, size, path) == note.checkpoint.root
    leaves = result.leaves
    for old in sizes:
        for new in sizes:
            if old <= new:
                proof = tree.consistency_proof(old, new)
                # independently: the proof's hashes are MTHs of ranges of the log, and the old and
                # new roots are recomputed from the leaves by the test's own recursion
                assert ref_mth(leaves[:old]) == notes[sizes.index(old)].checkpoint.root
                assert ref_mth(leaves[:new]) == notes[sizes.index(new)].checkpoint.root
                from clearline.engine.audit.merkle import verify_consistency

                assert verify_consistency(
                    old, new, ref_mth(leaves[:old]), ref_mth(leaves[:new]), proof
                )


def test_prove_and_verify_proof_on_the_cli(made: dict[str, Path], tmp_path: Path) -> None:
    with AuditLog(made["db"], create=False) as log:
        record = log.at(123)
    assert record is not None
    held = sorted(made["cps"].glob("*"))[-1]
    proof = tmp_path / "proof.json"
    run = run_cli(
        "audit",
        "prove",
        str(made["db"]),
        record.record_id,
        "--checkpoint",
        str(held),
        "-o",
        str(proof),
    )
    assert run.returncode == 0, run.stderr
    # the first checkpoint commits to the first batch only: record 123 came after it
    first = sorted(made["cps"].glob("*"))[0]
    late = run_cli(
        "audit",
        "prove",
        str(made["db"]),
        record.record_id,
        "--checkpoint",
        str(first),
        "-o",
        str(tmp_path / "late.json"),
    )
    assert late.returncode == 1 and late.stderr.startswith(f"{first}: error[A105]: "), late.stderr
    none = run_cli(
        "audit",
        "prove",
        str(made["db"]),
        "ffffffffffff",
        "--checkpoint",
        str(held),
        "-o",
        str(tmp_path / "none.json"),
    )
    assert none.returncode == 1, none.stderr
    assert none.stderr.startswith(f"{made['db']}: error[A105]: 0 records match"), none.stderr
    run = run_cli(
        "audit", "verify-proof", str(proof), "--checkpoint", str(held), "--key", str(made["pub"])
    )
    assert run.returncode == 0, run.stderr
    # the proof in node's crypto, as the docs show it
    node = shutil.which("node")
    if node is not None:
        import subprocess

        script = Path(__file__).parent / "data" / "verify_proof.js"
        done = subprocess.run([node, str(script), str(proof)], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
    data = json.loads(proof.read_text())
    for n in range(len(data["audit_path"])):
        bad = json.loads(proof.read_text())
        path = bytearray(bytes.fromhex(bad["audit_path"][n]))
        path[n % 32] ^= 4
        bad["audit_path"][n] = path.hex()
        broken = tmp_path / f"bad{n}.json"
        broken.write_text(json.dumps(bad))
        run = run_cli("audit", "verify-proof", str(broken), "--checkpoint", str(held))
        assert run.returncode == 1 and "error[A106]" in run.stderr


@pytest.mark.parametrize("key", ["format", "log_id", "salt", "head"])
@pytest.mark.parametrize(
    "how",
    ["DELETE FROM meta WHERE key = '{k}'", "UPDATE meta SET value = x'00ff' WHERE key = '{k}'"],
)
def test_each_meta_field_deleted_or_retyped_is_a_located_verdict(
    made: dict[str, Path], tmp_path: Path, key: str, how: str
) -> None:
    db = copy_log(made["db"], tmp_path / "meta.db", how.format(k=key))
    code, _, err = verify(db)
    assert code == 1, err
    assert f"key '{key}'" in err and "internal error" not in err


def test_a_planted_trigger_makes_decide_refuse_to_append(
    made: dict[str, Path], tmp_path: Path
) -> None:
    db = copy_log(
        made["db"],
        tmp_path / "trigger.db",
        "CREATE TRIGGER soften AFTER INSERT ON records BEGIN "
        "UPDATE records SET action = 'none' WHERE seq = new.seq; END",
    )
    accounts = tmp_path / "a.jsonl"
    accounts.write_text(json.dumps({"account_id": "x", "facts": {}}) + "\n")
    run = run_cli(
        "decide",
        "--policy",
        str(SHIPPED / "1.1.0.yaml"),
        str(accounts),
        "--audit",
        str(db),
        "--as-of",
        "2027-02-01",
    )
    assert run.returncode == 1 and "trigger 'soften'" in run.stderr
    code, _, err = verify(db)
    assert code == 1 and "trigger 'soften'" in err


def test_a_corrupted_index_page_is_reported(made: dict[str, Path], tmp_path: Path) -> None:
    db = copy_log(made["db"], tmp_path / "index.db")
    con = sqlite3.connect(db)
    (page,) = con.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'records_record_id'"
    ).fetchone()
    (size,) = con.execute("PRAGMA page_size").fetchone()
    con.close()
    data = bytearray(db.read_bytes())
    start = (page - 1) * size
    for at in range(start + 200, start + size - 200, 997):  # scramble cells, keep the header
        data[at] ^= 0x5A
    db.write_bytes(bytes(data))
    code, out, err = verify(db)
    assert code == 1 and "error[A100]" in err, out


def test_backup_copies_the_wal_and_verifies(made: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "backup.db"
    run = run_cli("audit", "backup", str(made["db"]), str(target))
    assert run.returncode == 0 and "verified" in run.stdout, run.stderr
    code, _, _ = verify(target, "--checkpoint", str(made["cps"]))
    assert code == 0
    again = run_cli("audit", "backup", str(made["db"]), str(target))
    assert again.returncode == 1 and f"error[A104]: {target} exists" in again.stderr


def test_every_hash_recomputes_with_an_independent_jcs(made: dict[str, Path]) -> None:
    """Each record's inputs, header and document are RFC 8785 text (the `rfc8785` package
    writes the same bytes), and its hash is SHA-256 over seq, previous hash and that text."""
    registry = PolicyRegistry.load(SHIPPED)
    with AuditLog(made["db"], create=False) as log:
        for record in log.records():
            inputs = json.loads(record.inputs)
            assert rfc8785.dumps(inputs).decode() == record.inputs
            document = record.document
            assert rfc8785.dumps(json.loads(document)).decode() == document
            assert hashlib.sha256(record.inputs.encode()).hexdigest() == record.input_sha256
            header = [record.kind, record.record_id, record.account_id, record.action,
                      record.policy_id, record.policy_version, record.policy_sha256,
                      record.as_of, record.recorded_at, record.template, record.input_sha256,
                      len(record.body), len(record.inputs)]  # fmt: skip
            content = rfc8785.dumps(header).decode() + "\n" + record.body + "\n" + record.inputs
            chained = f"{record.seq}\n{record.prev_hash}\n{content}".encode()
            assert hashlib.sha256(chained).hexdigest() == record.hash
    item = registry.get("credit-line-closure", "1.1.0")
    assert item is not None
    from clearline.engine.canonical import policy_data

    assert (
        hashlib.sha256(rfc8785.dumps(policy_data(item.policy))).hexdigest() == item.compiled.sha256
    )
    signature = base64.b64decode(sorted(made["cps"].glob("*"))[0].read_text().split()[-1])
    assert len(signature) == 68  # key id and Ed25519 signature


def test_a_format_2_log_reads_as_written_and_upgrades(
    made: dict[str, Path], tmp_path: Path
) -> None:
    """A log of the previous format: its genesis bound to format 2, no tree; it verifies, and
    `audit upgrade` gives it its tree, after which checkpoints hold."""
    from clearline.engine.audit.schema import FORMAT_2, genesis_hash

    db = copy_log(made["db"], tmp_path / "old.db", "DELETE FROM meta WHERE key IN ('tree', 'key')")
    con = sqlite3.connect(db, isolation_level=None)
    log_id, salt = (
        con.execute(f"SELECT value FROM meta WHERE key = '{k}'").fetchone()[0]
        for k in ("log_id", "salt")
    )
    con.execute("UPDATE meta SET value = ? WHERE key = 'format'", (FORMAT_2,))
    con.close()
    rehash_from_genesis(db, genesis_hash(log_id, salt, FORMAT_2))
    code, _, err = verify(db)
    assert code == 0, err
    run = run_cli("audit", "upgrade", str(db))
    assert run.returncode == 0 and "upgraded" in run.stdout
    with AuditLog(db, create=False) as log:
        assert log.format == "clearline-audit/3" and log.verify().ok
        assert len(log) == BATCHES * PER_BATCH


def rehash_from_genesis(db: Path, genesis: str) -> None:
    from clearline.engine.audit.writer import chain_hash, contents

    con = sqlite3.connect(db, isolation_level=None)
    prev = genesis
    columns = "kind, record_id, account_id, action, policy_id, policy_version, policy_sha256, "
    columns += "as_of, recorded_at, template, input_sha256, body, inputs"
    for row in con.execute(f"SELECT seq, {columns} FROM records ORDER BY seq").fetchall():
        record_hash = chain_hash(row[0], prev, contents([row[1:]])[0])
        con.execute(
            "UPDATE records SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, record_hash, row[0])
        )
        prev = record_hash
    last = con.execute("SELECT max(seq) FROM records").fetchone()[0]
    con.execute("UPDATE meta SET value = ? WHERE key = 'head'", (f"{last} {prev}",))
    con.close()


def test_keys_and_notes_are_in_the_signed_note_text_form(made: dict[str, Path]) -> None:
    key = SignerKey.parse(made["key"].read_text())
    assert made["pub"].read_text().strip() == key.verifier.text()
    note = parse_note(sorted(made["cps"].glob("*"))[0].read_text())
    assert note.signed_by(key.verifier)
    # a witness co-signs: the note keeps the log's signature and gains the witness's
    witness = SignerKey.generate("witness.example/w1")
    cosigned = parse_note(note.cosign(witness))
    assert cosigned.signed_by(key.verifier) and cosigned.signed_by(witness.verifier)
    dt.datetime.now  # noqa: B018 - keeps the import used where the clock matters elsewhere


def test_a_receipt_names_the_decision_and_the_checkpoint_that_holds_it(
    made: dict[str, Path],
) -> None:
    from clearline.engine.audit.anchors import receipt

    with AuditLog(made["db"], create=False) as log:
        record = log.at(PER_BATCH + 1)
        assert record is not None
        text = receipt(log._db, record.seq, record.record_id)
        last = parse_note(sorted(made["cps"].glob("*"))[-1].read_text()).checkpoint
        assert text is not None and record.record_id in text and f"of {last.size}" in text
        assert receipt(log._db, BATCHES * PER_BATCH + 1, "x") is None
