"""The JSON Schema of a policy version's facts: what `decide` accepts, for services and editors.

Made from the same typed fact model `decide` checks inputs against; the CLI prints it
(`clearline schema facts POLICY`) and the service's OpenAPI document embeds it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from clearline.engine.model import Fact, FactType, Policy


def _bound(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def fact_schema(fact: Fact) -> dict[str, Any]:
    """The JSON Schema of one fact's value (null: the fact is missing)."""
    schema: dict[str, Any]
    if fact.type is FactType.INTEGER:
        schema = {"type": "integer"}
    elif fact.type is FactType.NUMBER:
        schema = {"type": "number"}
    elif fact.type is FactType.BOOLEAN:
        schema = {"type": "boolean"}
    elif fact.type is FactType.ENUM:
        schema = {"enum": list(fact.values)}
    elif fact.type is FactType.DATE:
        schema = {"type": "string", "format": "date"}
    elif fact.type is FactType.DATETIME:
        schema = {"type": "string", "format": "date-time"}
    else:
        schema = {"type": "string"}
    if fact.type in (FactType.INTEGER, FactType.NUMBER):
        if fact.minimum is not None:
            schema["minimum"] = fact.minimum
        if fact.maximum is not None:
            schema["maximum"] = fact.maximum
    elif fact.type in (FactType.DATE, FactType.DATETIME):
        # JSON Schema has no bounds for dates; the policy's range is said in words.
        bounds = [f"from {_bound(fact.minimum)}"] if fact.minimum is not None else []
        bounds += [f"until {_bound(fact.maximum)}"] if fact.maximum is not None else []
        if bounds:
            schema["description"] = ", ".join(bounds)
    label = dict(fact.label.values).get("en") or next(iter(dict(fact.label.values).values()), "")
    if label:
        schema["title"] = label
    return {"anyOf": [schema, {"type": "null"}]} if fact.type is not FactType.ENUM else schema


def facts_schema(policy: Policy) -> dict[str, Any]:
    """The JSON Schema of a policy version's facts: what `decide` accepts."""
    return {
        "type": "object",
        "properties": {fact.name: fact_schema(fact) for fact in policy.facts},
        "required": [f.name for f in policy.facts if policy.missing_mode(f).value == "error"],
        "additionalProperties": False,
    }
