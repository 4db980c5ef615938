"""Synthetic account event streams drawn from a policy's event types, for demos and benchmarks."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from typing import Any

from clearline.engine.model import Fact, FactType, Policy


def _field_value(rng: random.Random, item: Fact) -> Any:
    """A plausible value: ratios spread around the usual thresholds, amounts over decades."""
    if item.type is FactType.BOOLEAN:
        return rng.random() < 0.5
    if item.type in (FactType.ENUM, FactType.STRING):
        return rng.choice(item.values) if item.values else "x"
    low = float(item.minimum) if isinstance(item.minimum, (int, float)) else 0.0
    if item.unit in ("ratio", "percent"):
        high = float(item.maximum) if isinstance(item.maximum, (int, float)) else 0.5
        value = rng.uniform(low, high)
        return round(value, 4) if item.type is FactType.NUMBER else round(value)
    if item.unit == "currency":
        value = max(low, round(10 ** rng.uniform(2, 5.3), 2))
    else:
        high = float(item.maximum) if isinstance(item.maximum, (int, float)) else low + 100
        value = rng.uniform(low, high)
    return round(value) if item.type is FactType.INTEGER else value


def sample_events(
    policy: Policy,
    accounts: Sequence[str],
    count: int,
    seed: int,
    start: dt.datetime | None = None,
    mean_gap_seconds: float = 5.0,
) -> Iterator[dict[str, Any]]:
    """`count` events in time order over the given account ids, seeded.

    Event types are drawn uniformly from the policy's `events`; gaps between events are
    exponential with the given mean, so a stream covers `count * mean_gap_seconds` seconds.
    """
    rng = random.Random(seed)
    moment = start or policy.metadata.effective_from
    seconds = moment.timestamp()
    events = policy.events
    if not events:
        return
    for _ in range(count):
        seconds += rng.expovariate(1.0 / mean_gap_seconds) if mean_gap_seconds > 0 else 0.0
        event = rng.choice(events)
        account = accounts[rng.randrange(len(accounts))]
        ts = dt.datetime.fromtimestamp(int(seconds), dt.UTC).isoformat().replace("+00:00", "Z")
        yield {
            "account_id": account,
            "type": event.name,
            "ts": ts,
            "fields": {item.name: _field_value(rng, item) for item in event.fields},
        }
