"""Business-day calendars: the file a policy names in `metadata.calendar`, read with the policy.

The loader reads the calendar once, together with the policy, into the immutable model
(`Metadata.calendar`), so `decide` and the case lifecycle stay pure and a changed calendar
changes the policy's hash. A calendar file is YAML:

    weekend: [saturday, sunday]          # optional: weekdays that are not business days
    non_business_days: [2027-02-08, ...] # public holidays
    working_days: [2027-02-20]           # optional: weekend days that are business days
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path as FsPath
from typing import Any

from clearline.engine.errors import Diagnostic
from clearline.engine.facts import ValueProblem, parse_date
from clearline.engine.model import WEEKDAYS, BusinessCalendar
from clearline.engine.policy.source import Path, SourceMap, read_yaml

CALENDAR_SUFFIX = ".calendar.yaml"
_KEYS = ("weekend", "non_business_days", "working_days", "description")


def calendar_for(
    metadata: Any, source: SourceMap, base_dir: FsPath
) -> tuple[BusinessCalendar | None, tuple[Diagnostic, ...]]:
    """The calendar named by schema-valid `metadata` (None when it names none), or its errors."""
    name = metadata.get("calendar") if isinstance(metadata, dict) else None
    if name is None:
        return None, ()
    path = base_dir / str(name)
    try:
        raw = read_policy_file(base_dir, str(name))
    except PolicyFileProblem as exc:
        return None, (source.diagnostic(("metadata", "calendar"), exc.code, str(exc)),)
    return read_calendar(raw, _shown(path), str(name))


MAX_FILE_BYTES = 1024 * 1024


class PolicyFileProblem(Exception):
    """A file a policy names that it may not or cannot read, with the diagnostic code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def read_policy_file(base_dir: FsPath, name: str) -> bytes:
    """The bytes of a file a policy names: a regular file inside the policy's folder (after
    symlinks), at most MAX_FILE_BYTES, read with a bounded read; else PolicyFileProblem."""
    if os.path.isabs(name) or "\0" in name:
        raise PolicyFileProblem("C162", f"`{name}` is not a path relative to the policy's folder")
    folder = base_dir.resolve()
    try:
        path = (folder / name).resolve()  # symlinks followed as far as they exist
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise PolicyFileProblem("C160", f"cannot read calendar file `{name}`: {exc}") from None
    if not path.is_relative_to(folder):
        raise PolicyFileProblem("C162", f"`{name}` leads outside the policy's folder")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise PolicyFileProblem(
            "C160", f"cannot read calendar file `{name}`: {exc.strerror or exc}"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PolicyFileProblem("C162", f"`{name}` is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise PolicyFileProblem("C163", f"`{name}` is larger than {MAX_FILE_BYTES} bytes")
    return data


def _shown(path: FsPath) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def read_calendar(
    text: str | bytes, file: str, name: str = ""
) -> tuple[BusinessCalendar | None, tuple[Diagnostic, ...]]:
    """A calendar from YAML text, or every problem found, located in the calendar file."""
    document = read_yaml(text, file)
    if document.diagnostics:
        return None, document.diagnostics
    source = document.source
    data = document.data
    if not isinstance(data, dict):
        return None, (source.diagnostic((), "C161", "a calendar must be a mapping"),)
    problems = [
        source.diagnostic(
            (key,), "C161", f"unknown key `{key}` in a calendar (allowed: {', '.join(_KEYS)})"
        )
        for key in data
        if key not in _KEYS
    ]
    weekend: list[int] = []
    for i, day in enumerate(_list(data, "weekend", source, problems)):
        if isinstance(day, str) and day.lower() in WEEKDAYS:
            weekend.append(WEEKDAYS.index(day.lower()) + 1)
        else:
            problems.append(
                source.diagnostic(
                    ("weekend", i), "C161", f"`{day}` is not a weekday name (monday ... sunday)"
                )
            )
    if len(set(weekend)) == len(WEEKDAYS):
        problems.append(source.diagnostic(("weekend",), "C161", "every weekday is a weekend"))
    dates = {key: _dates(data, key, source, problems) for key in _KEYS[1:3]}
    if problems:
        return None, tuple(problems)
    return BusinessCalendar(
        non_business_days=dates["non_business_days"],
        weekend=tuple(sorted(set(weekend))),
        working_days=dates["working_days"],
        file=name or file,
    ), ()


def _list(
    data: dict[str, Any], key: str, source: SourceMap, problems: list[Diagnostic]
) -> list[Any]:
    value = data.get(key, [])
    if isinstance(value, list):
        return value
    problems.append(source.diagnostic((key,), "C161", f"`{key}` must be a list"))
    return []


def _dates(
    data: dict[str, Any], key: str, source: SourceMap, problems: list[Diagnostic]
) -> tuple[dt.date, ...]:
    days: set[dt.date] = set()
    for i, raw in enumerate(_list(data, key, source, problems)):
        where: Path = (key, i)
        try:
            days.add(parse_date(str(raw)))
        except ValueProblem as exc:
            problems.append(source.diagnostic(where, "C161", f"`{key}`: {exc}"))
    return tuple(sorted(days))
