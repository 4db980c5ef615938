"""The moment of a decision, and whether the policy is in force then."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from clearline.engine.errors import ClearlineError
from clearline.engine.facts import ValueProblem, check_calendar_range, parse_date, parse_datetime
from clearline.engine.model import Policy


class AsOfError(ClearlineError):
    """The moment of a decision is not a valid date or date-time."""


class PolicyNotInForce(ClearlineError):
    """A decision asked of a policy version outside its [effective_from, effective_until)."""

    def __init__(self, policy: Policy, instant: dt.datetime) -> None:
        meta = policy.metadata
        until = (
            f"until {meta.effective_until.isoformat()}" if meta.effective_until else "with no end"
        )
        self.policy_id, self.version, self.instant = meta.id, meta.version, instant
        self.window = (meta.effective_from, meta.effective_until)
        super().__init__(
            f"policy {meta.id} {meta.version} is not in force at {instant.isoformat()}: it is "
            f"in force from {meta.effective_from.isoformat()} {until}; decide with the version "
            "in force (`--policies DIR`), or ask for a what-if decision (`--what-if`)"
        )


def to_instant(as_of: dt.datetime | dt.date | str, tz: str = "UTC") -> dt.datetime:
    """A decision moment: an aware date-time; a bare date is the start of that day in `tz`."""
    if isinstance(as_of, dt.date):
        try:  # a moment at the calendar's edge would overflow in the timeline, not here
            check_calendar_range(as_of)
        except ValueProblem as exc:
            raise AsOfError(f"as_of: {exc}") from None
    if isinstance(as_of, dt.datetime):
        if as_of.tzinfo is None:
            raise AsOfError(f"as_of {as_of.isoformat()} has no UTC offset")
        return as_of
    if isinstance(as_of, dt.date):
        return dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=zoneinfo.ZoneInfo(tz))
    if isinstance(as_of, str):
        try:
            if len(as_of) == 10:
                return to_instant(parse_date(as_of), tz)
            return parse_datetime(as_of)
        except (ValueError, ValueProblem) as exc:
            raise AsOfError(f"as_of `{as_of}` is not an ISO date or date-time: {exc}") from None
    raise AsOfError(f"as_of must be a date or date-time, got {type(as_of).__name__}")
