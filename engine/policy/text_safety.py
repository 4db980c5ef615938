"""Policy text is text: no control, bidi or invisible characters, ids whole, real time zones.

Every string of a policy (mapping keys included) is read before the schema: a character that
could hide or reorder what a reader sees (an ANSI escape, a right-to-left override, a
zero-width space) or end a line inside an id is an error naming the code point. Customer texts
may hold newlines and tabs; ids, codes, versions and other names may not, so `id: "x\\n"` is
never read as `x`.
"""

from __future__ import annotations

import functools
import unicodedata
import zoneinfo
from collections.abc import Iterator
from typing import Any

from clearline.engine.errors import Diagnostic
from clearline.engine.policy.source import Path, SourceMap

UNSAFE_TEXT = "C200"
UNKNOWN_TIME_ZONE = "C201"

# Keys whose values are names, not prose: a newline or a tab in them is an error too.
NAME_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "id",
        "version",
        "code",
        "review_code",
        "timezone",
        "calendar",
        "grace",
        "review_grace",
        "fact",
        "action",
        "downgrade_to",
        "type",
        "unit",
        "effective_from",
        "effective_until",
        "languages",
        "values",
        "jurisdictions",
    }
)

_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_INVISIBLE = {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x2028, 0x2029}
# Zone files that exist on a machine but are not IANA zone names: they mean "this machine's".
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


def _kind(char: str, name_like: bool) -> str | None:
    """Why a character may not stand in a policy string, or None when it may."""
    point = ord(char)
    if point < 0x20 or 0x7F <= point <= 0x9F:
        if not name_like and char in "\n\t":
            return None
        return "control character"
    if point in _BIDI:
        return "bidirectional control"
    if point in _INVISIBLE:
        return "invisible character"
    return None


_C0_NAMES = {0x00: "NULL", 0x09: "TAB", 0x0A: "LINE FEED", 0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE"}


def _describe(char: str) -> str:
    name = unicodedata.name(char, "") or _C0_NAMES.get(ord(char), "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def string_problem(text: str, *, name_like: bool) -> str | None:
    """The first unsafe character of `text`, described, or None when the text is safe."""
    if text.isascii() and text.isprintable():
        return None  # the common case, at C speed
    for char in text:
        kind = _kind(char, name_like)
        if kind is not None:
            return f"{kind} {_describe(char)}"
    return None


@functools.cache
def iana_zones() -> frozenset[str]:
    """The IANA time zone names this Python knows (read once)."""
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


def _strings(data: Any, path: Path, name_like: bool) -> Iterator[tuple[Path, str, bool, bool]]:
    """(path, string, name_like, is_key) for every string in a document, keys included."""
    if isinstance(data, str):
        yield path, data, name_like, False
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str):
                yield (*path, key), key, True, True
            # `grace` names a rule's grace rule, but the top-level `grace` maps names to grace
            # rules whose texts are prose: a key makes names only of strings and lists.
            names = key in NAME_KEYS and not isinstance(value, dict)
            yield from _strings(value, (*path, key), name_like or names)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _strings(item, (*path, i), name_like)


def text_problems(data: Any, source: SourceMap) -> list[Diagnostic]:
    """Every unsafe character in a policy document's strings, and a time zone that is not IANA."""
    problems: list[Diagnostic] = []
    for path, text, name_like, is_key in _strings(data, (), False):
        problem = string_problem(text, name_like=name_like)
        if problem is not None:
            what = "key" if is_key else ("name" if name_like else "text")
            problems.append(
                source.diagnostic(path, UNSAFE_TEXT, f"{problem} in a {what}", key=is_key)
            )
    metadata = data.get("metadata") if isinstance(data, dict) else None
    zone = metadata.get("timezone") if isinstance(metadata, dict) else None
    if isinstance(zone, str) and zone not in iana_zones():
        problems.append(
            source.diagnostic(
                ("metadata", "timezone"),
                UNKNOWN_TIME_ZONE,
                f"`{zone}` is not an IANA time zone name (e.g. Asia/Shanghai, Europe/Paris, UTC)",
            )
        )
    return problems
