"""JSON Lines input read as bytes: every bad line is an error at that line, the others still count.

The commands that read accounts or events (`decide`, `case open`, `watch`, `backtest`) read
their input through this module. A line is bytes until proven text: it must be at most
`MAX_LINE_BYTES` long, valid UTF-8, nested at most `MAX_DEPTH` deep (counted on the bytes,
before the parser's recursion could fail), one JSON value with no duplicate key, no NaN or
Infinity, and no number a double cannot hold. A problem with one line never stops the next.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from clearline.engine.errors import Diagnostic

MAX_LINE_BYTES = 1024 * 1024  # an account's facts are a few hundred bytes; 1 MiB is generous
MAX_DEPTH = 32  # accounts and events are two or three levels deep
BOM = b"\xef\xbb\xbf"

# Codes: F005 (not JSON) predates this module; the others are one per kind of problem.
NOT_JSON = "F005"
NOT_UTF8 = "F010"
TOO_LONG = "F011"
TOO_DEEP = "F012"
DUPLICATE_KEY = "F013"
NUMBER_RANGE = "F014"

_CHUNK = 64 * 1024
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_KEY_END = re.compile(rb"\s*:")
_MANTISSA = re.compile(r"[-+]?([0-9.]*)")


class LineProblem(Exception):
    """One input line that is not a JSON value Clearline reads: where, which code, and why."""

    def __init__(self, line: int, column: int, code: str, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.code = code
        self.message = message

    def diagnostic(self, file: str) -> Diagnostic:
        """The problem located in `file`."""
        return Diagnostic(file, self.line, self.column, self.code, self.message)


@dataclass(frozen=True, slots=True)
class JsonLine:
    """A JSON value read from the input, with the line it starts on."""

    line: int
    value: Any


class DuplicateKey(ValueError):
    """An object names the same key twice (JSON leaves the meaning open; we refuse it)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key `{key}`")
        self.key = key


class NumberOutOfRange(ValueError):
    """A number a double cannot hold: it would silently read as infinity or as zero."""

    def __init__(self, text: str, what: str) -> None:
        super().__init__(f"number `{text[:40]}` is {what}")
        self.text = text


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


def _float(text: str) -> float:
    value = float(text)
    if value in (0.0, float("inf"), float("-inf")):
        if value != 0.0:
            raise NumberOutOfRange(text, "too large for a number (it would read as infinity)")
        mantissa = _MANTISSA.match(text)
        if mantissa and mantissa.group(1).strip("0."):
            raise NumberOutOfRange(text, "too small for a number (it would read as 0)")
        return 0.0  # -0.0 reads as 0: the same value must give the same record and hash
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=_float, parse_constant=_constant)
_scan = DECODER.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__


def parse_json(text: str) -> Any:
    """One JSON value as `json.loads` reads it (errors worded alike), with duplicate keys, NaN,
    Infinity and numbers a double cannot hold refused (ValueError)."""
    if text.startswith("{"):
        # The usual line, `{...}` and its newline, goes straight to the scanner (what `decode`
        # does after skipping white space); anything else is decoded in full for the wording.
        try:
            data, end = _scan(text, 0)
        except StopIteration as err:
            raise json.JSONDecodeError("Expecting value", text, err.value) from None
        if end == len(text) or text[end:] == "\n":
            return data
    elif text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return DECODER.decode(text)


def depth_problem(raw: bytes) -> tuple[int, int] | None:
    """Where `raw` nests deeper than MAX_DEPTH (byte offset, depth), outside strings; else None."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return None  # the common case: too few brackets to be too deep, whatever they are
    depth = 0
    for token in _TOKENS.finditer(raw):
        first = token.group()[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return token.start(), depth
        elif first in (b"]", b"}"):
            depth -= 1
    return None


def _duplicate_offset(raw: bytes, key: str) -> int:
    """The byte offset of the second `key` in one object of `raw` (0 when not found)."""
    stack: list[set[str] | None] = []
    for token in _TOKENS.finditer(raw):
        text = token.group()
        if text in (b"{", b"["):
            stack.append(set() if text == b"{" else None)
        elif text in (b"}", b"]"):
            if stack:
                stack.pop()
        elif stack and stack[-1] is not None and _KEY_END.match(raw, token.end()):
            try:
                name = json.loads(text)
            except ValueError:
                continue
            if name in stack[-1] and name == key:
                return token.start()
            stack[-1].add(name)
    return 0


def _column(raw: bytes, offset: int) -> int:
    """The 1-based character column of a byte offset."""
    return len(raw[:offset].decode("utf-8", "replace")) + 1


def line_text(raw: bytes, number: int) -> str:
    """One input line as text once its bytes are proven safe to parse, or raise LineProblem:
    at most MAX_LINE_BYTES, valid UTF-8, nested at most MAX_DEPTH deep."""
    if len(raw) > MAX_LINE_BYTES:
        raise LineProblem(
            number, 1, TOO_LONG, f"line is longer than {MAX_LINE_BYTES} bytes; it was skipped"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineProblem(
            number,
            _column(raw, exc.start),
            NOT_UTF8,
            f"line is not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})",
        ) from None
    deep = depth_problem(raw)
    if deep is not None:
        raise LineProblem(
            number, _column(raw, deep[0]), TOO_DEEP, f"JSON nested deeper than {MAX_DEPTH} levels"
        )
    return text


# A float orjson may have made from text the careful parser reads otherwise: 0.0 (it may be an
# underflow, or -0.0 which reads as 0) and magnitudes from 2**63 (an integer beyond 64 bits,
# which orjson reads as a float and the careful parser as an int).
_EXACT_FLOATS = 2.0**63
_orjson_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError


def _pairs(values: Iterable[Any]) -> int | None:
    """The number of object members under `values` (nested), or None when one of them is a
    float the careful parser may read otherwise (see `_EXACT_FLOATS`)."""
    count = 0
    for value in values:
        kind = type(value)
        if kind is float:
            if not 0.0 < abs(value) < _EXACT_FLOATS:
                return None
        elif kind is dict:
            inner = _pairs(value.values())
            if inner is None:
                return None
            count += len(value) + inner
        elif kind is list:
            inner = _pairs(value)
            if inner is None:
                return None
            count += inner
    return count


def fast_value(raw: bytes) -> Any:
    """The object on one line read by orjson (about 5x faster than the careful parser), or None
    when the line needs the careful parser to get its value or its error.

    orjson reads the same value as the careful parser for every line it accepts but for
    duplicate keys (it keeps the last), zero and huge floats (`_EXACT_FLOATS`) and depth up to
    its own limit. A duplicate key is ruled out soundly by counting: every member of an object
    has one `:` outside strings, so when the line holds as many `:` bytes as the value has
    members, no member was dropped (a line with a `:` inside a string takes the careful way).
    """
    if raw[:1] != b"{" or len(raw) > MAX_LINE_BYTES or depth_problem(raw) is not None:
        return None
    try:
        value = _orjson_loads(raw)
    except _OrjsonError:  # not JSON, not UTF-8, NaN, a lone surrogate, ...: the careful way
        return None
    if type(value) is not dict:
        return None
    inner = _pairs(value.values())
    if inner is None or len(value) + inner != raw.count(b":"):
        return None
    return value


def read_line(raw: bytes, number: int) -> Any:
    """The JSON value of one input line (bytes, newline included or not), or raise LineProblem."""
    value = fast_value(raw)
    return careful_line(raw, number) if value is None else value


def careful_line(raw: bytes, number: int) -> Any:
    """`read_line` by the careful parser alone: every check made on the way, each error located."""
    text = line_text(raw, number)
    try:
        return parse_json(text)
    except DuplicateKey as exc:
        column = _column(raw, _duplicate_offset(raw, exc.key))
        raise LineProblem(number, column, DUPLICATE_KEY, str(exc)) from None
    except NumberOutOfRange as exc:
        at = raw.find(exc.text.encode())
        raise LineProblem(number, _column(raw, max(at, 0)), NUMBER_RANGE, str(exc)) from None
    except json.JSONDecodeError as exc:
        column = min(exc.pos, len(text.rstrip("\r\n"))) + 1  # at the end, not past the newline
        raise LineProblem(number, column, NOT_JSON, f"invalid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # NaN, Infinity, an integer of 4,300+ digits
        if "digits" in str(exc):
            message = "an integer with more than 4300 digits is too large to read"
            raise LineProblem(number, 1, NUMBER_RANGE, message) from None
        raise LineProblem(number, 1, NOT_JSON, f"invalid JSON: {exc}") from None


def raw_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for every line; None for a line over MAX_LINE_BYTES, which is
    skipped with a bounded read instead of being held in memory. A BOM opening the input is
    dropped (RFC 8259 lets a reader ignore it; Windows editors write one)."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest, a chunk at a time
                raw = stream.readline(_CHUNK)
            yield number, None
            continue
        yield number, raw


def json_lines(stream: IO[bytes], *, document: bool = False) -> Iterator[JsonLine | LineProblem]:
    """Every non-blank line of a JSONL input as a JsonLine or a LineProblem, streamed.

    With `document`, an input whose first line is not JSON by itself may be one JSON value
    spread over lines (a pretty-printed object): when the whole input is at most
    MAX_LINE_BYTES and reads as one value, that value is the only item; otherwise every line
    is read on its own as JSONL, so a bad first line costs only itself.
    """
    lines = raw_lines(stream)
    held: list[tuple[int, bytes | None]] = []
    if document:
        for number, raw in lines:
            held.append((number, raw))
            if raw is not None and raw.strip():
                break
        first = held[-1][1] if held else None
        if first is not None and first.strip():
            try:
                read_line(first, held[-1][0])
            except LineProblem as problem:
                if problem.code == NOT_JSON:
                    whole = _whole_document(held, lines)
                    if isinstance(whole, JsonLine):
                        yield whole
                        return
                    held = whole
    for number, raw in _chain(held, lines):
        if raw is None:
            yield LineProblem(
                number, 1, TOO_LONG, f"line is longer than {MAX_LINE_BYTES} bytes; it was skipped"
            )
            continue
        if not raw.strip():
            continue
        try:
            yield JsonLine(number, read_line(raw, number))
        except LineProblem as problem:
            yield problem


def _chain(
    held: list[tuple[int, bytes | None]], rest: Iterator[tuple[int, bytes | None]]
) -> Iterator[tuple[int, bytes | None]]:
    yield from held
    yield from rest


def _whole_document(
    held: list[tuple[int, bytes | None]], rest: Iterator[tuple[int, bytes | None]]
) -> JsonLine | list[tuple[int, bytes | None]]:
    """The input as one JSON value if it is one and small enough; else the lines read so far."""
    size = sum(len(raw) for _, raw in held if raw is not None)
    for number, raw in rest:
        held.append((number, raw))
        if raw is None:
            return held
        size += len(raw)
        if size > MAX_LINE_BYTES:
            return held
    start = next(number for number, raw in held if raw is not None and raw.strip())
    whole = b"".join(raw for _, raw in held if raw is not None)
    try:
        return JsonLine(start, read_line(whole, start))
    except LineProblem:
        return held
