"""The input reader's fast path (orjson) gives exactly the careful parser's values and errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clearline.engine.input_lines import (
    DUPLICATE_KEY,
    MAX_DEPTH,
    NUMBER_RANGE,
    TOO_DEEP,
    LineProblem,
    careful_line,
    fast_value,
    line_text,
    parse_json,
    read_line,
)


def outcome(read: Any, raw: bytes) -> tuple[str, Any]:
    """('value', v) or ('error', (line, column, code, message)) of one reading."""
    try:
        return "value", read(raw, 7)
    except LineProblem as problem:
        return "error", (problem.line, problem.column, problem.code, problem.message)


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 == 1.0 == True is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


# JSON text pieces, including the ones the careful parser treats specially.
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        [
            "-0",
            "-0.0",
            "0.0",
            "0e5",
            "1e400",
            "-1e400",
            "1e-400",
            "5e-324",
            "2e-324",
            "1E2",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "9" * 5000,
            "NaN",
            "Infinity",
            "-Infinity",
            "1.",
            ".5",
            "01",
            "2.5e-7",
        ]
    ),
)
STRINGS = st.one_of(
    st.text(max_size=8).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.sampled_from(
        [
            '"a"',
            '"b"',
            '"\\ud800"',
            '"\\udc00x"',
            '"a:b"',
            '"\\u0061"',
            '"\\u003a"',
            '"\x01"',
            '"\\"}"',
            '"{["',
            '"\\n"',
        ]
    ),
)
KEYS = st.sampled_from(['"a"', '"b"', '"\\u0061"', '"a:"', '"facts"', '"account_id"'])
SCALARS = st.one_of(NUMBERS, STRINGS, st.sampled_from(["true", "false", "null"]))


def _values(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    members = st.lists(st.tuples(KEYS, children), max_size=5)
    return st.one_of(
        members.map(lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"),
        st.lists(children, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
    )


VALUES = st.recursive(SCALARS, _values, max_leaves=12)
OBJECTS = st.lists(st.tuples(KEYS, VALUES), max_size=6).map(
    lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
)
LINES = st.tuples(
    st.one_of(OBJECTS, VALUES),
    st.sampled_from(["", "\n", "\r\n", " \n", "x", "}", "\ufeff"]),
    st.sampled_from(["", " ", "\ufeff"]),
).map(lambda parts: (parts[2] + parts[0] + parts[1]).encode("utf-8", "surrogatepass"))


@settings(max_examples=600)
@given(LINES)
@example(b'{"a":1,"a":2}\n')
@example(b'{"a":1,"\\u0061":2}\n')
@example(b'{"a":{"b":1,"b":1}}\n')
@example(b'{"a":"x:y","a":2}\n')
@example(b'{"a":18446744073709551616}\n')
@example(b'{"a":-0.0,"b":1e-400}\n')
@example(b'{"a":NaN}\n')
@example(b'{"a":"\\ud800"}\n')
@example(b'{"a":"\xed\xa0\x80"}\n')
@example(b'{"a":"\xff"}\n')
@example(("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode())
@example(b'{"a":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}")
def test_the_fast_path_reads_every_line_as_the_careful_parser_does(raw: bytes) -> None:
    fast, slow = outcome(read_line, raw), outcome(careful_line, raw)
    assert fast[0] == slow[0]
    if fast[0] == "value":
        assert same(fast[1], slow[1])
    else:
        assert fast[1] == slow[1]


@settings(max_examples=200)
@given(st.binary(max_size=40).map(lambda tail: b'{"a":"' + tail + b'"}'))
def test_random_bytes_in_a_string_read_alike(raw: bytes) -> None:
    fast, slow = outcome(read_line, raw), outcome(careful_line, raw)
    assert fast == slow or (fast[0] == slow[0] == "value" and same(fast[1], slow[1]))


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"a":1,"a":2}', DUPLICATE_KEY),
        (b'{"a":{"b":"c:d","b":1}}', DUPLICATE_KEY),
        (b'{"a":1e-400}', NUMBER_RANGE),
        (b"{" + b'"a":[' * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", TOO_DEEP),
    ],
)
def test_what_orjson_accepts_and_the_reader_refuses_is_still_refused(raw: bytes, code: str) -> None:
    with pytest.raises(LineProblem) as caught:
        read_line(raw, 3)
    assert caught.value.code == code and caught.value.line == 3


def test_the_usual_account_line_takes_the_fast_path() -> None:
    raw = b'{"account_id":"A1","facts":{"credit_score":640,"utilisation":0.5,"ok":true}}\n'
    assert fast_value(raw) == parse_json(line_text(raw, 1))
    assert fast_value(b'{"as_of":"2027-01-01T10:00:00Z","facts":{}}\n') is None  # a `:` in text
