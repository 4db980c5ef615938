"""The `clearline audit` commands on real logs: verify, list, show, an auditor's read-only copy,
and logs that are missing or damaged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearline.engine import (
    compile_policy,
    decide,
    load_policy_text,
)
from clearline.engine.audit.log import (
    AuditLog,
)

from .audit_helpers import (
    AS_OF,
    ROOT,
    SHIPPED,
    V110_TEXT,
    decide_into,
    tampered,
)
from .conftest import run_cli

# -- the command line --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("cli")
    db = folder / "audit.db"
    run = decide_into(db, 300)
    assert run.returncode == 0, run.stderr
    yield db


def run_cli_unprivileged(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI run without the power to write what its permissions forbid (as root, the
    file-permission override capabilities dropped)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: read-only files are writable")
        drop = "-dac_override,-dac_read_search,-fowner"
        prefix = [setpriv, f"--bounding-set={drop}", "--inh-caps=-all", "--"]
    return run_cli(*args, stdin=stdin, prefix=prefix)


def test_an_auditor_reads_a_copy_of_the_log_it_may_not_write(cli_log: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    copy = folder / "audit.db"
    shutil.copy(cli_log, copy)
    with AuditLog(cli_log) as log:
        first = log.at(1)
        assert first is not None
        count = len(log)
    # A second copy, taken while a writer still had it open: records in its write-ahead log.
    live = tmp_path / "live"
    live.mkdir()
    with AuditLog(live / "audit.db") as log:
        log.append(
            [decide(compile_policy(load_policy_text(V110_TEXT)), {}, AS_OF, account_id="A1")]
        )
        for end in ("", "-wal", "-shm"):
            shutil.copy(live / f"audit.db{end}", folder / f"live.db{end}")
            if end:
                shutil.copy(live / f"audit.db{end}", folder / f"waiting.db{end}")
        shutil.copy(live / "audit.db", folder / "waiting.db")
        (folder / "waiting.db-shm").unlink()
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    try:
        run = run_cli_unprivileged("audit", "verify", str(copy))
        assert run.returncode == 0 and run.stdout.startswith(f"ok: {count} records"), run.stderr
        run = run_cli_unprivileged("audit", "show", str(copy), first.record_id[:12])
        assert run.returncode == 0 and f"decision {first.record_id}" in run.stdout, run.stderr
        run = run_cli_unprivileged("audit", "list", str(copy), "--account", str(first.account_id))
        assert run.returncode == 0 and first.record_id[:32] in run.stdout, run.stderr
        # With its shared-memory file the records in the WAL are read; without it, SQLite
        # cannot read the WAL, and the log is refused rather than read without them.
        run = run_cli_unprivileged("audit", "verify", str(folder / "live.db"))
        assert run.returncode == 0 and run.stdout.startswith("ok: 1 records"), run.stderr
        run = run_cli_unprivileged("audit", "verify", str(folder / "waiting.db"))
        assert run.returncode == 1 and "cannot open the audit log" in run.stderr, run.stderr
        run = run_cli_unprivileged(
            "decide",
            "--policy",
            str(SHIPPED / "1.1.0.yaml"),
            "--audit",
            str(copy),
            stdin='{"account_id": "A2", "facts": {}}',
        )
        assert run.returncode == 1 and "readonly" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    finally:
        folder.chmod(0o755)
        for path in folder.iterdir():
            path.chmod(0o644)
    assert sorted(path.name for path in folder.iterdir()) == [
        "audit.db",
        "live.db",
        "live.db-shm",
        "live.db-wal",
        "waiting.db",
        "waiting.db-wal",
    ]


def test_cli_decide_audit_then_verify(cli_log: Path) -> None:
    out = cli_log.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines()
    with AuditLog(cli_log) as log:
        assert [r.document for r in log.records()] == out
    run = run_cli("audit", "verify", str(cli_log))
    assert run.returncode == 0
    assert run.stdout.startswith("ok: 300 records")


def test_cli_verify_locates_tampering(cli_log: Path, tmp_path: Path) -> None:
    target = tmp_path / "t.db"
    tampered(cli_log, target, "UPDATE records SET action = action || 'x' WHERE seq = 42").close()
    run = run_cli("audit", "verify", str(target))
    assert run.returncode == 1
    assert "record 42" in run.stderr and "altered" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("account_id = X'41'", "its account_id holds binary data, not text"),
        ("record_id = X'00ff'", "its record_id holds binary data, not text"),
        ("inputs = '5.5'", "its inputs are not a JSON object"),
        ("inputs = '{\"broken'", "its inputs are not a JSON object"),
    ],
)
def test_every_audit_command_names_a_record_altered_to_what_clearline_never_writes(
    cli_log: Path, tmp_path: Path, change: str, message: str
) -> None:
    target = tmp_path / "t.db"
    tampered(cli_log, target, f"UPDATE records SET {change} WHERE seq = 42").close()
    policies = str(ROOT / "policies")
    commands = [
        ("verify", str(target)),
        ("show", str(target), "#42"),
        ("show", str(target), "#42", "--format", "json"),
        ("replay", str(target), "--policies", policies),
    ]
    if "binary" in message:  # a listing does not read the inputs
        commands.append(("list", str(target)))
    for command in commands:
        run = run_cli("audit", *command)
        assert run.returncode == 1, (command, run.stderr)
        # verify walks the chain: altered text fails its hash, binary data is named as such
        expected = "was altered" if command[0] == "verify" and "binary" not in message else message
        assert "record 42" in run.stderr and expected in run.stderr, (command, run.stderr)
        assert "internal error" not in run.stderr and "Traceback" not in run.stderr


def test_cli_list_filters(cli_log: Path) -> None:
    run = run_cli("audit", "list", str(cli_log), "--action", "close", "--format", "jsonl")
    assert run.returncode == 0
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert rows and {row["action"] for row in rows} == {"close"}
    account = rows[0]["account_id"]
    run = run_cli("audit", "list", str(cli_log), "--account", account)
    assert run.returncode == 0 and len(run.stdout.splitlines()) == 1
    run = run_cli("audit", "list", str(cli_log), "--policy-version", "1.0.0")
    assert run.returncode == 0 and run.stdout == ""
    run = run_cli("audit", "list", str(cli_log), "--since", "2027-02-02")
    assert run.returncode == 0 and run.stdout == ""
    run = run_cli("audit", "list", str(cli_log), "--since", "2027-01-31", "--until", "2027-02-01")
    assert run.returncode == 0 and len(run.stdout.splitlines()) == 300
    run = run_cli("audit", "list", str(cli_log), "--since", "soon")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_cli_show(cli_log: Path) -> None:
    with AuditLog(cli_log) as log:
        record = next(log.records(action="suspend"))
    run = run_cli("audit", "show", str(cli_log), record.record_id[:12])
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert f"decision {record.record_id}" in text
    assert "credit-line-closure 1.1.0" in text
    for rule in record.data()["trace"]:
        assert rule["rule"] in text
    assert ": matched" in text and "not matched" in text and "saw " in text
    assert "effective" in text
    run = run_cli("audit", "show", str(cli_log), f"#{record.seq}", "--format", "json")
    assert run.returncode == 0
    shown = json.loads(run.stdout)
    assert shown["record"] == record.data() and shown["seq"] == record.seq
    run = run_cli("audit", "show", str(cli_log), "0" * 16)
    assert run.returncode == 1 and "no record" in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        [b"audit", b"show", b"LOG", b"\xff\xfe" * 6],  # not UTF-8 (read with surrogates)
        [b"audit", b"show", b"LOG", b"#99999999999999999999999"],  # beyond SQLite's integers
        [b"audit", b"list", b"LOG", b"--account", b"\xff\xfe"],
    ],
)
def test_cli_lookups_of_what_no_record_can_hold_find_nothing(
    cli_log: Path, args: list[bytes]
) -> None:
    command = [sys.executable.encode(), b"-m", b"clearline"]
    command += [os.fsencode(cli_log) if arg == b"LOG" else arg for arg in args]
    run = subprocess.run(command, capture_output=True, cwd=ROOT, timeout=300)
    errors = run.stderr.decode(errors="replace")
    assert "internal error" not in errors and "Traceback" not in errors
    if args[1] == b"show":
        assert run.returncode == 1 and "error[A002]: no record" in errors
    else:
        assert run.returncode == 0 and run.stdout == b"" and "0 records" in errors


@pytest.mark.parametrize(
    ("seq", "error"),
    [
        ("#\u00b2", "error[A003]: give at least 8 characters"),  # a digit, but not 0 - 9
        ("#" + "9" * 5_000, "error[A002]: no record"),  # beyond any seq
    ],
)
def test_cli_show_of_a_seq_no_record_can_have_finds_nothing(
    cli_log: Path, seq: str, error: str
) -> None:
    run = run_cli("audit", "show", str(cli_log), seq)
    assert run.returncode == 1 and error in run.stderr, run.stderr


@pytest.mark.parametrize("head", ["garbage", "", "150.0 x", "9" * 5_000, None])
def test_verify_reports_a_head_altered_into_something_else(
    cli_log: Path, tmp_path: Path, head: str | None
) -> None:
    statement = (
        "DELETE FROM meta WHERE key = 'head'"
        if head is None
        else f"UPDATE meta SET value = '{head}' WHERE key = 'head'"
    )
    with tampered(cli_log, tmp_path / "t.db", statement) as log:
        count = len(log)
        result = log.verify()
        assert result.problem is not None and result.count == count
        assert (result.problem.seq, result.problem.kind) == (count + 1, "altered")
        assert "the log's head" in result.problem.message
        assert list(log.records(account_id=123)) == []  # type: ignore[arg-type]
    run = run_cli("audit", "verify", str(tmp_path / "t.db"))
    assert run.returncode == 1 and "error[A100]" in run.stderr and "head" in run.stderr
    assert "internal error" not in run.stderr


def test_cli_decide_audit_into_a_missing_folder(tmp_path: Path) -> None:
    run = decide_into(tmp_path / "no" / "such" / "a.db", 2)
    assert run.returncode == 1 and "cannot open the audit log" in run.stderr
    assert "clearline: error[A001]: " in run.stderr
    assert "Traceback" not in run.stderr


def test_cli_on_a_missing_log(tmp_path: Path) -> None:
    for command in ("verify", "list"):
        run = run_cli("audit", command, str(tmp_path / "nope.db"))
        assert run.returncode == 1 and "no such audit log" in run.stderr
        assert not (tmp_path / "nope.db").exists()


def test_cli_demo_writes_verifies_and_replays(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    run = run_cli("demo", "-n", "2000", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "ok: 2000 records" in run.stdout
    assert "2000 of 2000 reproduced byte for byte (100.0%)" in run.stdout
    run = run_cli("audit", "replay", "clearline-audit.db", "--policies", "policies", cwd=tmp_path)
    assert run.returncode == 0 and "(100.0% reproduced)" in run.stdout
    first = os.path.getmtime(tmp_path / "clearline-audit.db")
    run = run_cli("demo", "-n", "500", cwd=tmp_path)  # fresh each run, not appended
    assert run.returncode == 0 and "ok: 500 records" in run.stdout
    assert os.path.getmtime(tmp_path / "clearline-audit.db") >= first
