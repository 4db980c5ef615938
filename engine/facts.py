"""Typed fact values: checking and normalising inputs and policy literals against a fact's type."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from clearline.engine.canonical import is_text
from clearline.engine.errors import FactProblem, did_you_mean
from clearline.engine.model import Fact, FactType, MissingMode, Policy

FactValue = bool | int | float | str | dt.date | dt.datetime


class ValueProblem(Exception):
    """A value does not fit a fact type; the message says why in words a user understands."""


# Dates Clearline reads lie in these years: every date a policy computes from one (notice,
# cure and appeal deadlines of at most a few times 3,650 days, a time-zone shift) then stays
# inside Python's calendar (years 1 to 9999) instead of ending in an OverflowError.
EARLIEST_DATE = dt.date(1000, 1, 1)
LATEST_DATE = dt.date(8999, 12, 31)


def check_calendar_range(value: dt.date) -> None:
    """Raise ValueProblem for a date or date-time outside EARLIEST_DATE .. LATEST_DATE."""
    day = value.date() if isinstance(value, dt.datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueProblem(
            f"{value.isoformat()} is outside the dates Clearline reads "
            f"({EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()})"
        )


def parse_date(text: str) -> dt.date:
    """An ISO date `YYYY-MM-DD` between EARLIEST_DATE and LATEST_DATE."""
    try:
        if len(text) != 10:
            raise ValueError
        value = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueProblem(f"`{text}` is not a date (YYYY-MM-DD)") from None
    check_calendar_range(value)
    return value


def parse_datetime(text: str) -> dt.datetime:
    """An ISO date-time with a UTC offset (`Z` or `+08:00`) between the calendar bounds."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueProblem(f"`{text}` is not a date-time (YYYY-MM-DDTHH:MM:SS+HH:MM)") from None
    if value.tzinfo is None:
        raise ValueProblem(f"`{text}` has no UTC offset; add `Z` or `+08:00`")
    check_calendar_range(value)
    return value


_TYPE_WORDS = {
    FactType.INTEGER: "an integer",
    FactType.NUMBER: "a number",
    FactType.BOOLEAN: "true or false",
    FactType.ENUM: "one of its values",
    FactType.DATE: "a date (YYYY-MM-DD)",
    FactType.DATETIME: "a date-time with a UTC offset",
    FactType.STRING: "a string",
}


def describe(value: Any) -> str:
    """A short rendering of a value for an error message."""
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + "..."


def coerce(fact_type: FactType, value: Any, values: tuple[str, ...] = ()) -> FactValue:
    """Convert a JSON or YAML value to the fact type, or raise ValueProblem."""
    wanted = _TYPE_WORDS[fact_type]
    if fact_type is FactType.BOOLEAN:
        if isinstance(value, bool):
            return value
    elif fact_type is FactType.INTEGER:
        # One rule for every integer fact: a number whose value is whole, however written
        # (3, 3.0, 3e0; -0.0 is 0). A JSON number no double can hold (1e-400, which would
        # read as 0) is refused by the input reader before it gets here.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif fact_type is FactType.NUMBER:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueProblem(f"{describe(value)} is not a finite number")
            return value
    elif fact_type is FactType.ENUM:
        if isinstance(value, str):
            if value in values:
                return value
            options = ", ".join(values)
            raise ValueProblem(
                f"{describe(value)} is not one of {options}{did_you_mean(value, values)}"
            )
    elif fact_type is FactType.STRING:
        if isinstance(value, str):
            if not is_text(value):  # no record could hold it
                raise ValueProblem("text with a lone surrogate is not valid Unicode")
            return value
    elif fact_type is FactType.DATE:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            check_calendar_range(value)
            return value
        if isinstance(value, str):
            return parse_date(value)
    elif fact_type is FactType.DATETIME:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueProblem("date-time has no UTC offset")
            check_calendar_range(value)
            return value
        if isinstance(value, str):
            return parse_datetime(value)
    raise ValueProblem(f"expected {wanted}, got {describe(value)}")


def check_bounds(fact: Fact, value: FactValue) -> None:
    """Raise ValueProblem when a value lies outside the fact's declared range."""
    unit = f" {fact.unit}" if fact.unit else ""
    if fact.minimum is not None and value < fact.minimum:  # type: ignore[operator]
        raise ValueProblem(
            f"{describe(value)} is below the minimum {_bound(fact.minimum, fact.unit)}"
            if fact.unit == "percent"
            else f"{describe(value)} is below the minimum {fact.minimum}{unit}"
        )
    if fact.maximum is not None and value > fact.maximum:  # type: ignore[operator]
        raise ValueProblem(
            f"{describe(value)} is above the maximum {_bound(fact.maximum, fact.unit)}"
            if fact.unit == "percent"
            else f"{describe(value)} is above the maximum {fact.maximum}{unit}"
        )


def _bound(limit: object, unit: str | None) -> str:
    """A percent fact's bound for people: 2 means 200%, and 90 was most likely meant as 0.9."""
    if isinstance(limit, int | float) and not isinstance(limit, bool):
        return f"{limit * 100:g}% ({limit:g}): percent facts hold ratios, write 0.9 for 90%"
    return f"{limit} {unit}"


def normalise_facts(
    policy: Policy, facts: Mapping[str, Any]
) -> tuple[dict[str, FactValue], tuple[str, ...]]:
    """Check facts against the policy's schema; return typed values and the missing fact names.

    A fact that is absent or null is missing. Unknown facts, wrong types, values out of range
    and missing required facts are all reported at once as a FactError.
    """
    from clearline.engine.errors import FactError

    if not isinstance(facts, Mapping):
        raise FactError(
            [FactProblem("", "F000", f"facts must be an object, got {describe(facts)}")]
        )
    problems: list[FactProblem] = []
    known = {fact.name for fact in policy.facts}
    for name in facts:
        if name not in known:
            problems.append(
                FactProblem(
                    str(name),
                    "F001",
                    f"unknown fact `{name}`{did_you_mean(str(name), known)}",
                )
            )
    values: dict[str, FactValue] = {}
    missing: list[str] = []
    for fact in policy.facts:
        raw = facts.get(fact.name)
        if raw is None:
            if policy.missing_mode(fact) is MissingMode.ERROR:
                problems.append(
                    FactProblem(fact.name, "F002", f"required fact `{fact.name}` is missing")
                )
            missing.append(fact.name)
            continue
        try:
            value = coerce(fact.type, raw, fact.values)
            check_bounds(fact, value)
        except ValueProblem as exc:
            problems.append(FactProblem(fact.name, "F003", f"fact `{fact.name}`: {exc}"))
            continue
        values[fact.name] = value
    if problems:
        raise FactError(problems)
    return values, tuple(missing)
