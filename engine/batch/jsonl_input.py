"""A JSONL batch input checked line by line in Python before DuckDB reads it.

DuckDB's JSON reader stops the whole file at the first line it cannot read (a duplicate key, a
lone surrogate, a line that is not JSON), and the view over it names every key as an
identifier, where an empty key or two keys differing only in case (`DPD`, `dpd`) cannot both
be. So each line is read as `clearline decide` reads it (engine/input_lines.py); a line that
`decide` would reject for one of those reasons becomes a per-row problem with the code `decide`
gives it, and DuckDB reads a copy of the file holding only the other lines.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearline.engine.canonical import is_text
from clearline.engine.input_lines import (
    MAX_LINE_BYTES,
    TOO_LONG,
    LineProblem,
    raw_lines,
    read_line,
)

ACCOUNT_ID = "account_id"
_BESIDE_FACTS = frozenset((ACCOUNT_ID, "facts", "as_of"))
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # only a line holding one can hold a lone one


@dataclass(frozen=True, slots=True)
class InputLineProblem:
    """One input line rejected before DuckDB reads the file: where, which code, and why."""

    line: int
    column: int
    code: str
    message: str
    account_id: str | None = None
    fact: str | None = None

    def row(self) -> dict[str, Any]:
        """The problem as a row of the batch errors output."""
        return {
            "account_id": self.account_id,
            "fact": self.fact,
            "code": self.code,
            "message": f"line {self.line}, column {self.column}: {self.message}",
        }


@dataclass(frozen=True)
class JsonlScan:
    """The file DuckDB should read (the input itself, or a copy of its good lines) and the
    problems of the lines left out."""

    readable: Path
    problems: tuple[InputLineProblem, ...]


_SCANS: dict[tuple[str, int, int, frozenset[str]], JsonlScan] = {}
_COPIES: list[Path] = []


@atexit.register
def _remove_copies() -> None:
    for copy in _COPIES:
        copy.unlink(missing_ok=True)


def scan_jsonl(path: str | os.PathLike[str], declared: Iterable[str]) -> JsonlScan:
    """Check every line of a JSONL input; scanned once per process for the same file and facts
    (the batch command opens the input several times: decisions, records, input hashes)."""
    source = Path(path)
    stat = source.stat()
    names = frozenset(declared)
    key = (os.fspath(source.resolve()), stat.st_size, stat.st_mtime_ns, names)
    if key not in _SCANS:
        _SCANS[key] = _scan(source, names)
    return _SCANS[key]


def _scan(source: Path, declared: frozenset[str]) -> JsonlScan:
    checker = _KeyChecker(declared)
    problems: list[InputLineProblem] = []
    with source.open("rb") as stream:
        for number, raw in raw_lines(stream):
            if raw is None:
                message = f"line is longer than {MAX_LINE_BYTES} bytes; it was skipped"
                problems.append(InputLineProblem(number, 1, TOO_LONG, message))
                continue
            if not raw.strip():
                continue
            try:
                value = read_line(raw, number)
            except LineProblem as exc:
                problems.append(InputLineProblem(number, exc.column, exc.code, exc.message))
                continue
            found = checker.problem(value, number, _SURROGATE.search(raw) is not None)
            if found is not None:
                problems.append(found)
    if not problems:
        return JsonlScan(source, ())
    bad = {problem.line for problem in problems}
    handle, name = tempfile.mkstemp(prefix="clearline-batch-", suffix=".jsonl")
    copy = Path(name)
    _COPIES.append(copy)
    with source.open("rb") as stream, os.fdopen(handle, "wb") as out:
        for number, raw in raw_lines(stream):
            if raw is not None and number not in bad:
                out.write(raw if raw.endswith(b"\n") else raw + b"\n")
    return JsonlScan(copy, tuple(problems))


def _shown(text: str) -> str:
    """A key as it can be printed: a lone surrogate as its JSON escape."""
    return text if is_text(text) else json.dumps(text)[1:-1]


def _lone_surrogate(value: Any) -> bool:
    """Whether a JSON value holds a string (key or value) with a lone surrogate."""
    if isinstance(value, str):
        return not is_text(value)
    if isinstance(value, dict):
        return any(not is_text(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(item) for item in value)
    return False


class _KeyChecker:
    """The checks of one line, with the fact keys seen so far: DuckDB names columns without
    case, so the first spelling of a key (a declared fact's own spelling first) is the only one
    a column can have; another spelling is a fact no policy declares (F001, as in `decide`)."""

    def __init__(self, declared: frozenset[str]) -> None:
        self.declared = declared
        self.spelling = {name.lower(): name for name in sorted(declared)}
        self.spelling.setdefault(ACCOUNT_ID, ACCOUNT_ID)
        self.good: set[str] = set()  # keys already checked: the common line costs a set test

    def problem(self, value: Any, number: int, surrogate: bool) -> InputLineProblem | None:
        """Why the line cannot be handed to DuckDB, or None."""
        if not isinstance(value, dict):
            return InputLineProblem(number, 1, "F000", "each input must be a JSON object")
        account = value.get(ACCOUNT_ID)
        if "facts" in value:
            facts = value["facts"]
            unknown = [key for key in value if key not in _BESIDE_FACTS]
            if unknown:
                message = f"unknown key `{_shown(unknown[0])}` beside `facts` (allowed: account_id, as_of)"  # fmt: skip
                return InputLineProblem(number, 1, "F004", message, _text(account))
            if not isinstance(facts, dict):
                return InputLineProblem(number, 1, "F000", "facts must be an object", _text(account))  # fmt: skip
        else:
            facts = {key: item for key, item in value.items() if key != ACCOUNT_ID}
        if account is not None and not (isinstance(account, str) and is_text(account)):
            what = "a string" if not isinstance(account, str) else "valid Unicode text (it holds a lone surrogate)"  # fmt: skip
            return InputLineProblem(number, 1, "F004", f"`account_id` must be {what}")
        if not self.good.issuperset(facts):
            found = self._keys(facts, number, account)
            if found is not None:
                return found
        if surrogate:
            for key, item in facts.items():
                if _lone_surrogate(item):
                    code, message = (
                        ("F003", f"fact `{key}`: text with a lone surrogate is not valid Unicode")
                        if key in self.declared
                        else ("F001", f"unknown fact `{key}`")
                    )
                    return InputLineProblem(number, 1, code, message, account, key)
        return None

    def _keys(self, facts: dict[str, Any], number: int, account: str | None) -> InputLineProblem | None:  # fmt: skip
        for key in facts:
            if key in self.good:
                continue
            if key == "" or not is_text(key):
                message = f"unknown fact `{_shown(key)}`"
                return InputLineProblem(number, 1, "F001", message, account, _shown(key))
            first = self.spelling.setdefault(key.lower(), key)
            if first != key:
                message = f"unknown fact `{key}` (it differs from `{first}` only in case)"
                return InputLineProblem(number, 1, "F001", message, account, key)
            self.good.add(key)
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and is_text(value) else None
