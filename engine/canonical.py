"""Canonical JSON and content hashes: the same meaning always gives the same bytes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from enum import Enum
from typing import Any

# The one SHA-256 helper lives in the writer module (standard library only), which the audit
# log's writer process runs on its own; re-exported here for the rest of the engine.
from clearline.engine.ids import sha256_hex as sha256_hex
from clearline.engine.model import FactRef, Policy, Text


def to_json_value(value: Any) -> Any:
    """Turn a fact value or a model value into plain JSON data."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite numbers have no canonical JSON form")
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Text):
        return dict(sorted(value.values))
    if isinstance(value, FactRef):
        return {"fact": value.fact}
    if isinstance(value, (tuple, list)):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json_value(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.compare
        }
    raise TypeError(f"no canonical JSON form for {type(value).__name__}")


def is_text(value: str) -> bool:
    """Whether a string can be written as UTF-8 (in JSON, in a record): no lone surrogate."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def canonical_json(data: Any) -> str:
    """Sorted keys, no insignificant white space, UTF-8 text, no NaN: one spelling per value."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def policy_data(policy: Policy) -> dict[str, Any]:
    """The canonical form of a policy: YAML layout, comments and mapping order do not count.

    Mappings of the source (facts, grace rules, labels, test facts) are sorted by name; lists whose order
    means something (rules rank reasons, precedence, tests) keep their order.
    """
    data = to_json_value(policy)
    data["facts"] = sorted(data["facts"], key=lambda fact: fact["name"])
    data["grace"] = sorted(data["grace"], key=lambda rule: rule["name"])
    data["events"] = sorted(data["events"], key=lambda event: event["name"])
    data["signals"] = sorted(data["signals"], key=lambda signal: signal["name"])
    for fact in data["facts"]:
        fact["value_labels"] = sorted(fact["value_labels"], key=lambda pair: pair[0])
    for test in data["tests"]:
        test["facts"] = sorted(test["facts"], key=lambda pair: pair[0])
    return data  # type: ignore[no-any-return]


def policy_sha256(policy: Policy) -> str:
    """The content hash of a policy version."""
    return sha256_hex(canonical_json(policy_data(policy)))
