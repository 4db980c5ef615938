"""Grace rules turned into dates: when notice is given, when the action takes effect, and until
when the customer can cure it or ask for a human review."""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from dataclasses import dataclass
from functools import cache
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
    category: str | None = None  # why an immediate action needs no notice

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
        } | ({"immediate_category": self.category} if self.category else {})


def deadline(start: dt.date, days: int, calendar: BusinessCalendar | None = None) -> dt.date:
    """`days` calendar days after `start`, moved to the next business day when it falls on none."""
    day = start + dt.timedelta(days=days)
    return calendar.on_or_after(day) if calendar is not None else day


def add_months(start: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later, or the last day of a shorter month."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(start.day, _calendar.monthrange(year, month)[1]))


@cache
def month_spans(months: int) -> tuple[int, int]:
    """The fewest and the most calendar days `months` calendar months span (2: 59 and 62)."""
    # Eight years from a leap year cover every pattern of month lengths a span can start on.
    start = dt.date(2024, 1, 1)
    spans = [
        (add_months(day, months) - day).days
        for day in (start + dt.timedelta(days=i) for i in range(366 * 8))
    ]
    return min(spans), max(spans)


def longest_months(months: int) -> int:
    """The most calendar days `months` calendar months can span (2 months: 62 days)."""
    return month_spans(months)[1]


def notice_span(grace: GraceRule, decided_on: dt.date) -> int:
    """Calendar days of notice the grace rule gives a decision made on `decided_on`."""
    if grace.notice_months:
        return (add_months(decided_on, grace.notice_months) - decided_on).days
    return grace.notice_days


def timeline_for(
    grace: GraceRule | None,
    decided_on: dt.date,
    extra_notice_days: int = 0,
    calendar: BusinessCalendar | None = None,
) -> Timeline:
    """The timeline of an action under a grace rule; no grace rule means no notice at all.

    With a business-day calendar, the effective, cure-until and appeal-until dates that fall on
    a non-business day move to the next business day; an immediate action stays immediate.
    Exemption days (`extra_notice_days`) lengthen the notice, the cure window and the appeal
    window alike, so a review can be asked for until the action takes effect. `immediate` is
    true exactly when the action takes effect on the decision day.
    """
    notice_days = 0
    if grace is not None and not grace.immediate:
        notice_days = notice_span(grace, decided_on) + extra_notice_days
    effective = deadline(decided_on, notice_days, calendar) if notice_days else decided_on
    cure_until = None
    if grace is not None and grace.cure is not None:
        cure_until = deadline(decided_on, grace.cure.days + extra_notice_days, calendar)
    appeal = grace.appeal if grace is not None else None
    appeal_until = None
    if appeal is not None:
        appeal_until = deadline(decided_on, appeal.days + extra_notice_days, calendar)
    return Timeline(
        grace=grace.name if grace is not None else None,
        decided_on=decided_on,
        notice_date=decided_on,
        effective=effective,
        immediate=effective == decided_on,
        notice_days=notice_days,
        cure_until=cure_until,
        appeal_until=appeal_until,
        review_max_days=appeal.review_max_days if appeal else None,
        paused_during_review=bool(appeal and appeal.pauses_action),
        category=grace.category if grace is not None and grace.immediate else None,
    )
