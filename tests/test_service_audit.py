"""The decision service's audit anchors, against one real server process signing its log
(`serve --audit-key --checkpoints`): its latest signed checkpoint and a proof per decision,
each checked by `clearline audit verify-proof` as an auditor or a customer would."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearline.cli.anchor_commands import proof_problem
from clearline.engine import CompiledPolicy, sample_accounts
from clearline.engine.audit.checkpoint import VerifierKey, parse_note
from tests.conftest import POLICIES, run_cli
from tests.service_process import ServiceProcess

BATCH = "/v1/policies/credit-line-closure/decide-batch"
DECIDE = "/v1/policies/credit-line-closure/decide"
AS_OF = "2027-03-01"


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, Path]]:
    """A server that signs a checkpoint after each batch, and the folder with its key."""
    folder = tmp_path_factory.mktemp("signing")
    shutil.copytree(POLICIES, folder / "policies")
    db, key = folder / "audit.db", folder / "audit.key"
    assert run_cli("audit", "keygen", str(db), "-o", str(key)).returncode == 0
    service = ServiceProcess(
        folder / "policies", db, "--audit-key", str(key), "--checkpoints", str(folder / "cps")
    )
    yield service, folder
    code, err = service.stop()
    assert code == 0, err


def _decide_some(server: ServiceProcess, shipped: CompiledPolicy, seed: int) -> list[str]:
    accounts = [
        {"account_id": a["account_id"], "facts": a["facts"], "as_of": AS_OF}
        for a in sample_accounts(shipped.policy, 12, seed)
    ]
    batch = server.post(BATCH, {"accounts": accounts[:8]})
    assert batch.status_code == 200, batch.text
    ids = [decision["decision_id"] for decision in batch.json()["decisions"]]
    for account in accounts[8:]:
        one = server.post(DECIDE, account)
        assert one.status_code == 200, one.text
        ids.append(one.json()["decision_id"])
    return ids


def test_served_proofs_verify_against_the_served_checkpoint(
    signing: tuple[ServiceProcess, Path], shipped: CompiledPolicy, tmp_path: Path
) -> None:
    server, folder = signing
    ids = _decide_some(server, shipped, 11)
    served = server.client.get("/v1/audit/checkpoint")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/plain")
    held = tmp_path / "served.checkpoint"
    held.write_text(served.text)
    note = parse_note(served.text)
    # the note is signed by the service's key, and the same note is in the checkpoints folder
    verifier = VerifierKey.parse((folder / "audit.key.pub").read_text().strip())
    assert note.signed_by(verifier)
    newest = max(folder.glob("cps/*"), key=lambda p: parse_note(p.read_text()).checkpoint.size)
    assert newest.read_text() == served.text and note.checkpoint.size >= len(ids)
    proofs = []
    for decision_id in ids:
        answer = server.client.get(f"/v1/decisions/{decision_id}/proof")
        assert answer.status_code == 200, answer.text
        proof = tmp_path / f"{decision_id}.json"
        proof.write_text(answer.text)
        assert answer.json()["record_id"] == decision_id
        assert answer.json()["tree_size"] == note.checkpoint.size
        # the check `verify-proof` runs, in this process for each decision...
        assert proof_problem(str(proof), note.checkpoint) is None
        proofs.append(proof)
    # ...and the real command line for the first and the last, with the service's public key
    for proof in (proofs[0], proofs[-1]):
        run = run_cli(
            "audit", "verify-proof", str(proof), "--checkpoint", str(held),
            "--key", str(folder / "audit.key.pub"),
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert f"first {note.checkpoint.size} records" in run.stdout
    # a proof with one hash of its path changed is refused
    bad = json.loads(proofs[0].read_text())
    bad["audit_path"][0] = ("0" if bad["audit_path"][0][0] != "0" else "1") + bad["audit_path"][0][
        1:
    ]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bad))
    run = run_cli("audit", "verify-proof", str(tampered), "--checkpoint", str(held))
    assert run.returncode == 1 and "error[A106]" in run.stderr


def test_the_served_proof_is_the_one_audit_prove_writes(
    signing: tuple[ServiceProcess, Path], shipped: CompiledPolicy, tmp_path: Path
) -> None:
    server, folder = signing
    decision_id = _decide_some(server, shipped, 12)[3]
    held = tmp_path / "served.checkpoint"
    held.write_text(server.client.get("/v1/audit/checkpoint").text)
    served = server.client.get(f"/v1/decisions/{decision_id}/proof").json()
    written = tmp_path / "proof.json"
    run = run_cli(
        "audit", "prove", str(folder / "audit.db"), decision_id, "--checkpoint", str(held),
        "-o", str(written),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(written.read_text()) == served


def test_unknown_decisions_are_problem_documents(signing: tuple[ServiceProcess, Path]) -> None:
    server, _ = signing
    answer = server.client.get("/v1/decisions/" + "0" * 32 + "/proof")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "A002"


def test_the_openapi_document_names_both_routes(signing: tuple[ServiceProcess, Path]) -> None:
    server, _ = signing
    paths = server.client.get("/v1/openapi.json").json()["paths"]
    proof = paths["/v1/decisions/{decision_id}/proof"]["get"]["responses"]["200"]
    schema = proof["content"]["application/json"]["schema"]
    assert "audit_path" in schema["required"]
    assert "text/plain" in paths["/v1/audit/checkpoint"]["get"]["responses"]["200"]["content"]
