"""Grace rules turned into dates: when notice is given, when the action takes effect, and until
when the customer can cure it or ask for a human review."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .model import GraceRule


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


def timeline_for(
    grace: GraceRule | None, decided_on: dt.date, extra_notice_days: int = 0
) -> Timeline:
    """The timeline of an action under a grace rule; no grace rule means no notice at all."""
    immediate = grace is None or grace.immediate
    notice_days = 0 if immediate else grace.notice_days + extra_notice_days  # type: ignore[union-attr]
    effective = decided_on + dt.timedelta(days=notice_days)
    cure_until = None
    if grace is not None and grace.cure is not None:
        cure_until = decided_on + dt.timedelta(days=grace.cure.days + extra_notice_days)
    appeal = grace.appeal if grace is not None else None
    return Timeline(
        grace=grace.name if grace is not None else None,
        decided_on=decided_on,
        notice_date=decided_on,
        effective=effective,
        immediate=bool(grace is not None and grace.immediate),
        notice_days=notice_days,
        cure_until=cure_until,
        appeal_until=decided_on + dt.timedelta(days=appeal.days) if appeal else None,
        review_max_days=appeal.review_max_days if appeal else None,
        paused_during_review=bool(appeal and appeal.pauses_action),
    )
