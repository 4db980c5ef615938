"""The adverse-change notice check: customers must hear of a change that hurts them in time.

For each policy id, versions are taken in order of `effective_from`. When a version contains an
adverse change against the version it replaces (see `diff`), it must take effect at least
`adverse_change_notice_days` of the replaced version (the promise in force when the change is
announced) after it was announced, `metadata.announced_on`. A version with an adverse change
must say when it was announced (C151): without that day the promise is checked against nothing,
and the change notice would carry no issue date.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator

from clearline.engine.change.diff import diff_policies
from clearline.engine.errors import Diagnostic
from clearline.engine.model import Policy
from clearline.engine.policy.source import diagnostic_at


def earliest_effective(old: Policy, new: Policy) -> dt.date:
    """The first day `new` may take effect if it is adverse for customers."""
    announced = new.metadata.announced_on or old.metadata.effective_from
    tz = announced.tzinfo
    day = announced.astimezone(tz).date()
    return day + dt.timedelta(days=old.metadata.adverse_change_notice_days)


def notice_period_diagnostics(policies: Iterable[Policy]) -> Iterator[Diagnostic]:
    """A located error for every version that takes effect too soon after an adverse change."""
    by_id: dict[str, list[Policy]] = defaultdict(list)
    for policy in policies:
        by_id[policy.metadata.id].append(policy)
    for versions in by_id.values():
        versions.sort(key=lambda p: p.metadata.effective_from)
        for old, new in itertools.pairwise(versions):
            diff = diff_policies(old, new)
            if not diff.adverse:
                continue
            first = diff.adverse[0]
            if new.metadata.announced_on is None:
                yield diagnostic_at(
                    new.source,
                    ("metadata",),
                    "C151",
                    f"{new.metadata.version} has {len(diff.adverse)} adverse change(s) against "
                    f"{old.metadata.version} (first: {first.kind} at {first.where}) but no "
                    "`announced_on`: say when customers were told",
                )
                continue
            earliest = earliest_effective(old, new)
            tz = new.metadata.effective_from.tzinfo
            effective = new.metadata.effective_from.astimezone(tz).date()
            if effective >= earliest:
                continue
            days = old.metadata.adverse_change_notice_days
            yield diagnostic_at(
                new.source,
                ("metadata", "effective_from"),
                "C150",
                f"{new.metadata.version} has {len(diff.adverse)} adverse change(s) "
                f"(first: {first.kind} at {first.where}) and needs {days} days' notice "
                f"after announced_on: effective no earlier than {earliest.isoformat()}, "
                f"not {effective.isoformat()}",
            )
