"""Hostile input never wins: the corpus in tests/hostile/ and the properties of the JSONL reader."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import compile_policy, decide, load_policy, load_policy_text
from clearline.engine.decisions.decide import AsOfError
from clearline.engine.decisions.requests import InputProblem, read_requests
from clearline.engine.input_lines import MAX_DEPTH, json_lines
from clearline.engine.policy.load import analyse_policy, analyse_policy_text, load_tests_file
from clearline.engine.synthetic.accounts import sample_accounts
from tests.conftest import SHIPPED_V2, SMALL_POLICY, run_cli

HOSTILE = Path(__file__).parent / "hostile"
AS_OF = "2027-03-01"


def _load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load((HOSTILE / name).read_text("utf-8"))
    return cases


def _line_bytes(case: dict[str, Any]) -> bytes:
    if "hex" in case:
        return bytes.fromhex(case["hex"])
    body = case["text"] * case.get("repeat", 1)
    return (case.get("before", "") + body + case.get("after", "")).encode("utf-8")


@pytest.fixture(scope="module")
def good_lines() -> list[bytes]:
    """300 synthetic accounts of the shipped policy, one canonical JSON line each."""
    policy = load_policy(SHIPPED_V2)
    return [
        json.dumps(account, ensure_ascii=False).encode("utf-8") + b"\n"
        for account in sample_accounts(policy, 300, 24)
    ]


def _decide(path: Path) -> Any:
    args = ("decide", "--policy", str(SHIPPED_V2), "--as-of", AS_OF, "--no-trace", path.name)
    return run_cli(*args, cwd=path.parent)


def test_every_hostile_fact_line_is_an_error_at_its_line(
    tmp_path: Path, good_lines: list[bytes]
) -> None:
    cases = _load("fact_lines.yaml")
    data = [b"\xef\xbb\xbf" + good_lines[0]]  # a BOM opening the input is dropped, no error
    expected: list[str] = []
    for case in cases:
        data.append(_line_bytes(case) + b"\n")
        expected.append(f"in.jsonl:{len(data)}:{case['expect']}")
        data.append(good_lines[len(data)])
    (tmp_path / "in.jsonl").write_bytes(b"".join(data))
    result = _decide(tmp_path / "in.jsonl")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error[" in line]
    got = [re.sub(r"\]: .*", "]", line) for line in errors]
    assert got == expected, "\n".join(errors)
    decided = [json.loads(line)["account_id"] for line in result.stdout.splitlines()]
    good = [line.removeprefix(b"\xef\xbb\xbf") for line in data[::2]]
    assert decided == [json.loads(line)["account_id"] for line in good]


_BAD = [b"\xff\xfe not text", b"[" * 100_000, b"not json"]


@pytest.mark.parametrize("turn", [0, 1, 2])
def test_one_bad_line_anywhere_costs_only_itself(
    tmp_path: Path, good_lines: list[bytes], turn: int
) -> None:
    # Each kind of bad line at the start, the middle and the end: three runs, each with one bad
    # line at each place (kinds turned round), every error located and every good line decided.
    lines = list(good_lines)
    for place, position in enumerate((300, 150, 0)):  # from the end, so positions hold
        lines.insert(position, _BAD[(place + turn) % 3] + b"\n")
    (tmp_path / "in.jsonl").write_bytes(b"".join(lines))
    result = _decide(tmp_path / "in.jsonl")
    assert result.returncode == 1
    assert [json.loads(line)["account_id"] for line in result.stdout.splitlines()] == [
        json.loads(line)["account_id"] for line in good_lines
    ]
    errors = [line for line in result.stderr.splitlines() if "error[" in line]
    assert [line.split(":")[:2] for line in errors] == [
        ["in.jsonl", "1"],
        ["in.jsonl", "152"],
        ["in.jsonl", "303"],
    ]


@pytest.mark.parametrize("case", _load("policies.yaml"), ids=lambda case: case["name"])
def test_every_hostile_policy_is_refused_at_its_place(tmp_path: Path, case: dict[str, Any]) -> None:
    old, new = case["replace"]
    assert old in SMALL_POLICY
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    result = analyse_policy_text(SMALL_POLICY.replace(old, new, 1), "p.yaml", folder)
    assert result.policy is None
    first = result.errors[0]
    assert f"{first.line}:{first.column} {first.code}" == case["expect"], first.render()


def test_check_locates_every_hostile_policy_in_one_run(tmp_path: Path) -> None:
    # The corpus again, through the command line: one `clearline check` over every policy,
    # the first error of each file read from the located output.
    cases = _load("policies.yaml")
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    names = [f"p{i:02}.yaml" for i in range(len(cases))]
    for name, case in zip(names, cases, strict=True):
        (folder / name).write_text(SMALL_POLICY.replace(*case["replace"], 1), "utf-8")
    result = run_cli("check", *names, cwd=folder)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    first: dict[str, str] = {}
    for line in result.stderr.splitlines():
        found = re.match(r"(p\d\d\.yaml):(\d+):(\d+): error\[(\w+)\]", line)
        if found and found[1] not in first:
            first[found[1]] = f"{found[2]}:{found[3]} {found[4]}"
    assert first == {name: case["expect"] for name, case in zip(names, cases, strict=True)}
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in result.stderr  # the code point is named


def _with_calendar(folder: Path, name: str) -> Any:
    policy = folder / "p.yaml"
    policy.write_text(
        SMALL_POLICY.replace("languages: [en]", f"languages: [en]\n  calendar: {name}"), "utf-8"
    )
    return analyse_policy(policy)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d: os.mkfifo(d / "x.calendar.yaml"), "C162"),  # would wait for a writer
        (lambda d: os.symlink("/dev/zero", d / "x.calendar.yaml"), "C162"),  # endless
        (lambda d: os.symlink(d.parent / "out.yaml", d / "x.calendar.yaml"), "C162"),
        (lambda d: os.mkdir(d / "x.calendar.yaml"), "C162"),
        (lambda d: (d / "x.calendar.yaml").write_bytes(b"#" * (1024 * 1024 + 1)), "C163"),
        (lambda d: None, "C160"),
    ],
    ids=["fifo", "dev-zero", "symlink-out", "folder", "too-large", "missing"],
)
def test_a_policy_reads_only_regular_files_in_its_folder(
    tmp_path: Path, make: Any, code: str
) -> None:
    (tmp_path / "out.yaml").write_text("weekend: [sunday]\n")
    folder = tmp_path / "policy"
    folder.mkdir()
    make(folder)
    result = _with_calendar(folder, "x.calendar.yaml")
    assert result.policy is None
    assert [d.code for d in result.errors] == [code]
    assert (result.errors[0].line, result.errors[0].column) == (9, 13)


def test_a_calendar_symlinked_inside_the_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.calendar.yaml").write_text("weekend: [saturday, sunday]\n")
    os.symlink("real.calendar.yaml", tmp_path / "x.calendar.yaml")
    result = _with_calendar(tmp_path, "x.calendar.yaml")
    assert result.policy is not None, result.diagnostics


# -- the reader's properties ------------------------------------------------------------------

_compiled = compile_policy(load_policy(SHIPPED_V2))

_bad_line = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")),
    st.text(max_size=40).map(lambda t: t.replace("\n", " ").encode("utf-8", "surrogatepass")),
    st.integers(MAX_DEPTH + 1, 5000).map(lambda n: b"{" * n),
    st.sampled_from(
        [
            b'{"account_id": "x", "account_id": "y", "facts": {}}',
            b'{"facts": 1e-400}',
            b"\xef\xbb\xbf",
        ]
    ),
)


def _decided(requests: Any) -> list[str]:
    out = []
    for item in requests:
        if isinstance(item, InputProblem):
            continue
        try:
            decision = decide(_compiled, item.facts, AS_OF, account_id=item.account_id)
        except Exception:
            continue
        out.append(decision.to_json())
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    good=st.lists(st.integers(0, 299), min_size=1, max_size=12),
    bad=st.lists(st.tuples(st.integers(0, 12), _bad_line), max_size=6),
)
def test_random_bad_lines_never_change_a_good_decision(
    good: list[int], bad: list[tuple[int, bytes]]
) -> None:
    accounts = list(sample_accounts(_compiled.policy, 300, 24))
    good_lines = [json.dumps(accounts[i]).encode() + b"\n" for i in good]
    alone = [_decided(read_requests(io.BytesIO(line)))[0] for line in good_lines]
    mixed = list(good_lines)
    for position, line in sorted(bad, reverse=True):
        mixed.insert(min(position, len(mixed)), line + b"\n")
    mixed.insert(0, b"\n")  # never let a bad line open the input (a BOM there is dropped)
    ids = {accounts[i]["account_id"] for i in good}
    decided = _decided(read_requests(io.BytesIO(b"".join(mixed))))
    got = [d for d in decided if json.loads(d)["account_id"] in ids]
    assert got == alone


def test_a_pretty_printed_object_is_still_one_input() -> None:
    text = b'{\n  "account_id": "p",\n  "facts": {"a": 1}\n}\n'
    items = list(json_lines(io.BytesIO(text), document=True))
    assert [(i.line, getattr(i, "value", None)) for i in items] == [
        (1, {"account_id": "p", "facts": {"a": 1}})
    ]


@pytest.mark.parametrize(
    ("test", "expect"),
    [
        ('"late \\u202E"', "2:11 C200"),  # a test name
        ('late\n    facts: {dpd: "3\\0", score: 700}', "3:18 C200"),  # a fact value
        ('late\n    facts: {"dp\\u200Bd": 3}', "3:13 C200"),  # a fact name
    ],
    ids=["name", "fact-value", "fact-name"],
)
def test_a_tests_file_is_text_too(tmp_path: Path, test: str, expect: str) -> None:
    text = f"tests:\n  - name: {test}\n    expect: {{action: none}}\n"
    if "facts:" not in test:
        text += "    facts: {dpd: 3}\n"
    (tmp_path / "p.tests.yaml").write_text(text, "utf-8")
    policy = load_policy_text(SMALL_POLICY, "p.yaml")
    tests, problems = load_tests_file(tmp_path / "p.tests.yaml", policy)
    assert tests == ()
    assert [f"{p.line}:{p.column} {p.code}" for p in problems[:1]] == [expect]


@pytest.mark.parametrize("year", [1, 999, 9000, 9999])
def test_decide_refuses_an_aware_moment_outside_the_calendar(year: int) -> None:
    moment = dt.datetime(year, 6, 1, 12, tzinfo=dt.UTC)
    with pytest.raises(AsOfError, match="outside the dates Clearline reads"):
        decide(_compiled, {}, moment, what_if=True)
