"""Grace rules turned into dates: when notice is given, when the action takes effect, and until
when the customer can cure it or ask for a human review."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from clearline.engine.model import BusinessCalendar, GraceRule


@dataclass(frozen=True)
class Timeline:
    """The dates of one decision's grace period, in the policy's time zone (calendar days)."""

    grace: str | None
    decided_on: dt.date
    notice_date: dt.date
    effective: dt.date
    immediate: bool
    notice_days: int
    cure_until: dt.date | None
    appeal_until: dt.date | None
    review_max_days: int | None
    paused_during_review: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for the decision record."""

        def day(value: dt.date | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "grace": self.grace,
            "decided_on": day(self.decided_on),
            "notice_date": day(self.notice_date),
            "notice_days": self.notice_days,
            "effective": day(self.effective),
            "immediate": self.immediate,
            "cure_until": day(self.cure_until),
            "appeal_until": day(self.appeal_until),
            "review_max_days": self.review_max_days,
            "paused_during_review": self.paused_during_review,
        }


def deadline(start: dt.date, days: int, calendar: BusinessCalendar | None = None) -> dt.date:
    """`days` calendar days after `start`, moved to the next business day when it falls on none."""
    day = start + dt.timedelta(days=days)
    return calendar.on_or_after(day) if calendar is not None else day


def timeline_for(
    grace: GraceRule | None,
    decided_on: dt.date,
    extra_notice_days: int = 0,
    calendar: BusinessCalendar | None = None,
) -> Timeline:
    """The timeline of an action under a grace rule; no grace rule means no notice at all.

    With a business-day calendar, the effective, cure-until and appeal-until dates that fall on
    a non-business day move to the next business day; an immediate action stays immediate.
    """
    immediate = grace is None or grace.immediate
    notice_days = 0 if immediate else grace.notice_days + extra_notice_days  # type: ignore[union-attr]
    effective = decided_on if immediate else deadline(decided_on, notice_days, calendar)
    cure_until = None
    if grace is not None and grace.cure is not None:
        cure_until = deadline(decided_on, grace.cure.days + extra_notice_days, calendar)
    appeal = grace.appeal if grace is not None else None
    return Timeline(
        grace=grace.name if grace is not None else None,
        decided_on=decided_on,
        notice_date=decided_on,
        effective=effective,
        immediate=bool(grace is not None and grace.immediate),
        notice_days=notice_days,
        cure_until=cure_until,
        appeal_until=deadline(decided_on, appeal.days, calendar) if appeal else None,
        review_max_days=appeal.review_max_days if appeal else None,
        paused_during_review=bool(appeal and appeal.pauses_action),
    )
