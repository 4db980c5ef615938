"""`clearline watch` as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clearline.engine import AuditLog, load_policy, sample_accounts
from clearline.engine.events.runner import event_json
from clearline.engine.synthetic.events import sample_events

POLICY = str(Path("policies/credit-line-closure/1.1.0.yaml").resolve())


def _run(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clearline", "watch", "--policy", POLICY, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of 200 accounts and 3,000 events over them."""
    folder = tmp_path_factory.mktemp("watch")
    policy = load_policy(POLICY)
    accounts = list(sample_accounts(policy, 200, 5))
    (folder / "facts.jsonl").write_text(
        "".join(json.dumps(account) + "\n" for account in accounts), "utf-8"
    )
    ids = [account["account_id"] for account in accounts]
    events = sample_events(policy, ids, 3000, 5, mean_gap_seconds=900)
    (folder / "events.jsonl").write_text(
        "".join(json.dumps(event) + "\n" for event in events), "utf-8"
    )
    return folder


def test_decisions_are_lines_of_canonical_json(stream: Path) -> None:
    done = _run("--events", "events.jsonl", "--facts", "facts.jsonl", cwd=stream)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines
    records = [json.loads(line) for line in lines]
    for record in records:
        assert record["action"] != record["monitor"]["previous_action"]
        assert set(record["monitor"]["signals"]) == {
            "high_apr_after_loan",
            "high_apr_applications_7d",
            "large_transfers_out_30d",
        }
    assert {r["monitor"]["cause"]["kind"] for r in records} == {"event", "window"}
    assert "3000 lines" in done.stderr


def test_bad_events_are_reported_and_skipped_or_stop_the_run(stream: Path) -> None:
    lines = (stream / "events.jsonl").read_text("utf-8").splitlines()
    lines[9] = "{not json"
    lines[19] = json.dumps({**json.loads(lines[19]), "ts": "2020-01-01T00:00:00Z"})
    lines[29] = json.dumps({**json.loads(lines[29]), "type": "login"})
    (stream / "bad.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    skipped = _run("--events", "bad.jsonl", "--facts", "facts.jsonl", cwd=stream)
    assert skipped.returncode == 1
    errors = [line for line in skipped.stderr.splitlines() if "error[" in line]
    assert [error.split(": error")[0] for error in errors] == [
        "bad.jsonl:10:1",
        "bad.jsonl:20:1",
        "bad.jsonl:30:1",
    ]
    assert "error[E200]: not valid JSON" in errors[0]
    assert "error[E205]: event at 2020-01-01T00:00:00Z is out of time order" in errors[1]
    assert "error[E202]: unknown event type `login`" in errors[2]
    assert "Traceback" not in skipped.stderr
    stopped = _run(
        "--events", "bad.jsonl", "--facts", "facts.jsonl", "--on-error", "stop", cwd=stream
    )
    assert stopped.returncode == 1
    assert [line for line in stopped.stderr.splitlines() if "error[" in line] == errors[:1]
    assert len(stopped.stdout.splitlines()) <= len(skipped.stdout.splitlines())


def test_stop_and_resume_neither_loses_nor_repeats_a_decision(stream: Path) -> None:
    whole = _run("--events", "events.jsonl", "--facts", "facts.jsonl", cwd=stream)
    out, checkpoint = stream / "resumed.jsonl", stream / "watch.checkpoint"
    common = ["--events", "events.jsonl", "--checkpoint", str(checkpoint), "--out", str(out)]
    first = _run(*common, "--facts", "facts.jsonl", "--max-events", "1100", cwd=stream)
    assert first.returncode == 0, first.stderr
    # a crash after the checkpoint: decisions written later must not stay twice
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"half written": \n')
    second = _run(*common, "--max-events", "700", cwd=stream)
    assert second.returncode == 0, second.stderr
    rest = _run(*common, cwd=stream)
    assert rest.returncode == 0, rest.stderr
    assert out.read_text("utf-8") == whole.stdout
    torn = stream / "torn.checkpoint"
    torn.write_text(checkpoint.read_text("utf-8")[:40], "utf-8")
    refused = _run("--events", "events.jsonl", "--checkpoint", str(torn), cwd=stream)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"clearline: error[E220]: {torn}: not a usable checkpoint")


def test_standard_input_and_a_bad_snapshot(stream: Path) -> None:
    events = (stream / "events.jsonl").read_text("utf-8")
    piped = _run("--events", "-", "--facts", "facts.jsonl", stdin=events, cwd=stream)
    direct = _run("--events", "events.jsonl", "--facts", "facts.jsonl", cwd=stream)
    assert piped.stdout == direct.stdout
    facts = (stream / "facts.jsonl").read_text("utf-8").splitlines()
    record = json.loads(facts[1])
    record["facts"]["credit_score"] = 5000
    facts[1] = json.dumps(record)
    facts[2] = json.dumps([record["account_id"], record["facts"]])  # not a snapshot line
    (stream / "bad-facts.jsonl").write_text("\n".join(facts) + "\n", "utf-8")
    bad = _run("--events", "events.jsonl", "--facts", "bad-facts.jsonl", cwd=stream)
    assert bad.returncode == 1
    assert bad.stderr.startswith("bad-facts.jsonl:2:1: error[F003]: fact `credit_score`:")
    assert "bad-facts.jsonl:3:1: error[E210]: a snapshot line is" in bad.stderr
    assert bad.stdout == ""


def test_decisions_and_their_causes_are_recorded_in_the_audit_log(stream: Path) -> None:
    audit = stream / "watch-audit.db"
    done = _run(
        "--events", "events.jsonl", "--facts", "facts.jsonl", "--audit", str(audit), cwd=stream
    )
    assert done.returncode == 0, done.stderr
    decisions = [json.loads(line) for line in done.stdout.splitlines()]
    verify = subprocess.run(
        [sys.executable, "-m", "clearline", "audit", "verify", str(audit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0 and f"ok: {2 * len(decisions)} records" in verify.stdout
    replay = subprocess.run(
        [
            sys.executable,
            "-m",
            "clearline",
            "audit",
            "replay",
            str(audit),
            "--policies",
            str(Path(POLICY).parent),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert f"{len(decisions)} identical" in replay.stdout + replay.stderr
    with AuditLog(audit, create=False) as log:
        records = list(log.records())
    assert [r.kind for r in records[:4]] == ["decision", "monitor", "decision", "monitor"]
    for decision, cause in zip(records[::2], records[1::2], strict=True):
        context = json.loads(cause.body)
        assert context["decision_id"] == decision.record_id
        assert context["cause"]["kind"] in ("event", "window")
    first = decisions[0]
    assert json.loads(records[1].body)["cause"] == first["monitor"]["cause"]


def test_json_problems_are_worded_as_pythons_reader_words_them(stream: Path) -> None:
    first = (stream / "events.jsonl").read_text("utf-8").splitlines()[0]
    # A BOM opening the input is dropped (RFC 8259); one inside it is an error at its line.
    lines = ["\ufeff" + first, "\ufeff" + first, first.replace("}}", '}, "x": NaN}')]
    (stream / "constants.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    done = _run("--events", "constants.jsonl", cwd=stream)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "error[" in line]
    assert errors == [
        "constants.jsonl:2:1: error[E200]: not valid JSON: Unexpected UTF-8 BOM "
        "(decode using utf-8-sig): line 1 column 1 (char 0)",
        "constants.jsonl:3:1: error[E200]: not valid JSON: NaN is not a number JSON allows",
    ]
    assert "3 lines: " in done.stderr


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}\n',
        '{"a": 1}',
        '{"a": 1} \n',
        '{"a": 1}\r\n',
        '{"a": 1}\n\n',
        '{"a": 1}x',
        '{"a": 1}{"b": 2}',
        '  {"a": 1}',
        '{"a": [1,}\n',
        '{"a" 1}',
        '{"a": NaN}\n',
        '{"a": -Infinity}',
        "\ufeff{}",
        "",
        "\n",
        "[1]",
        '{"a": "\u00e9"}\n',
    ],
)
def test_event_lines_read_as_json_loads_reads_them(text: str) -> None:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        expected: Any = ("data", json.loads(text, parse_constant=refuse))
    except ValueError as exc:
        expected = ("error", type(exc), str(exc))
    try:
        got: Any = ("data", event_json(text))
    except ValueError as exc:
        got = ("error", type(exc), str(exc))
    assert got == expected
