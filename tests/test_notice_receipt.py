"""The per-decision notice carries a receipt when it is made from a signed audit log: the
decision id, the signed tree that holds it and where to check it; the receipt it names checks
out with `clearline audit prove` / `verify-proof`. A notice from a decision file says nothing
of a receipt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearline.engine.audit.checkpoint import parse_note

from .conftest import run_cli
from .disclosure_fixtures import AS_OF, CLOSED, GOOD, SHIPPED, SUSPENDED


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three decisions appended by `decide --audit` with a key, and the same as plain JSONL."""
    where = tmp_path_factory.mktemp("receipt")
    requests = where / "accounts.jsonl"
    requests.write_text(
        "".join(
            json.dumps({"account_id": f"A-{n}", "facts": facts}) + "\n"
            for n, facts in enumerate([CLOSED, SUSPENDED, GOOD])
        )
    )
    db, key, cps = where / "audit.db", where / "audit.key", where / "cps"
    assert run_cli("audit", "keygen", str(db), "-o", str(key)).returncode == 0
    out = where / "decisions.jsonl"
    common = ("decide", "--policy", str(SHIPPED), "--as-of", AS_OF, "--format", "jsonl")
    run = run_cli(
        *common, str(requests), "-o", str(out), "--audit", str(db), "--audit-key", str(key),
        "--checkpoints", str(cps),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    unsigned = where / "unsigned.db"
    run = run_cli(*common, str(requests), "-o", str(where / "x.jsonl"), "--audit", str(unsigned))
    assert run.returncode == 0, run.stderr
    return {"db": db, "cps": cps, "out": out, "pub": Path(f"{key}.pub"), "unsigned": unsigned}


def _closed_id(signed: dict[str, Path]) -> str:
    first = json.loads(signed["out"].read_text().splitlines()[0])
    assert first["action"] == "close"
    return str(first["decision_id"])


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_notice_from_a_signed_log_carries_its_receipt(signed: dict[str, Path], lang: str) -> None:
    decision_id = _closed_id(signed)
    run = run_cli("notice", "--audit", str(signed["db"]), "--id", decision_id, "--lang", lang)
    assert run.returncode == 0, run.stderr
    held = parse_note(sorted(signed["cps"].glob("*"))[-1].read_text()).checkpoint
    last = run.stdout.strip().splitlines()[-1]
    assert f"`{decision_id}`" in last
    assert f"`{held.root.hex()[:16]}`" in last and f" {held.size} " in last
    assert "`clearline audit verify-proof`" in last
    assert ("Receipt" in last) if lang == "en" else ("凭证" in last)


def test_the_receipt_checks_out_with_prove_and_verify_proof(
    signed: dict[str, Path], tmp_path: Path
) -> None:
    decision_id = _closed_id(signed)
    held = sorted(signed["cps"].glob("*"))[-1]
    proof = tmp_path / "proof.json"
    run = run_cli(
        "audit", "prove", str(signed["db"]), decision_id, "--checkpoint", str(held),
        "-o", str(proof),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    run = run_cli(
        "audit", "verify-proof", str(proof), "--checkpoint", str(held), "--key",
        str(signed["pub"]),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(proof.read_text())["record_id"] == decision_id


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_notice_without_a_signed_checkpoint_says_nothing_of_a_receipt(
    signed: dict[str, Path], tmp_path: Path, lang: str
) -> None:
    decision_id = _closed_id(signed)
    decision = tmp_path / "decision.json"
    decision.write_text(signed["out"].read_text().splitlines()[0])
    from_file = run_cli("notice", str(decision), "--lang", lang)
    from_unsigned = run_cli(
        "notice", "--audit", str(signed["unsigned"]), "--id", decision_id, "--lang", lang
    )
    for run in (from_file, from_unsigned):
        assert run.returncode == 0, run.stderr
        for word in ("Receipt", "凭证", "verify-proof", "checkpoint", "检查点"):
            assert word not in run.stdout
    # the same decision, the same notice but for the receipt line
    from_log = run_cli("notice", "--audit", str(signed["db"]), "--id", decision_id, "--lang", lang)
    lines = from_log.stdout.rstrip("\n").splitlines()
    assert "\n".join(lines[:-2]) == from_file.stdout.rstrip("\n")
