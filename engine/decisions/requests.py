"""Accounts to decide as callers send them: `{"account_id", "facts", "as_of"?}` or the facts
themselves, one JSON object or JSONL. The command line and the service read requests here, so a
bad request gets the same code and message from both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from clearline.engine.input_lines import LineProblem, json_lines

RESERVED = ("account_id", "facts", "as_of")
_RESERVED_KEYS = frozenset(RESERVED)


class Request(NamedTuple):
    """One account to decide, read from a line of input (a tuple: cheap to make per line)."""

    line: int
    account_id: str | None
    facts: Any
    as_of: str | None


class InputProblem(Exception):
    """One input line that cannot become a request."""

    def __init__(self, line: int, code: str, message: str, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.code = code
        self.column = column


def parse_request(obj: Any, line: int) -> Request:
    """An input object: either `{"account_id", "facts", "as_of"?}` or the facts themselves."""
    if not isinstance(obj, dict):
        raise InputProblem(line, "F000", "each input must be a JSON object")
    if "facts" in obj:
        if not _RESERVED_KEYS.issuperset(obj):
            unknown = [key for key in obj if key not in RESERVED]
            raise InputProblem(
                line,
                "F004",
                f"unknown key `{unknown[0]}` beside `facts` (allowed: account_id, as_of)",
            )
        account = obj.get("account_id")
        as_of = obj.get("as_of")
        if account is not None and not isinstance(account, str):
            raise InputProblem(line, "F004", "`account_id` must be a string")
        if as_of is not None and not isinstance(as_of, str):
            raise InputProblem(line, "F004", "`as_of` must be an ISO date or date-time string")
        if as_of == "":
            raise InputProblem(line, "F006", "`as_of` is empty: give an ISO date or leave it out")
        return Request(line, account, obj["facts"], as_of)
    return Request(line, None, obj, None)


def read_requests(stream: IO[bytes]) -> Iterator[Request | InputProblem]:
    """Requests from one JSON object (possibly spread over lines) or JSONL, streamed; a bad
    line is an InputProblem at that line and never stops the lines after it."""
    for item in json_lines(stream, document=True):
        if isinstance(item, LineProblem):
            yield InputProblem(item.line, item.code, item.message, item.column)
            continue
        try:
            yield parse_request(item.value, item.line)
        except InputProblem as problem:
            yield problem
