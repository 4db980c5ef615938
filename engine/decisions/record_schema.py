"""The published JSON Schema of the decision record, the contract services and auditors rely on."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema

DECISION_SCHEMA_RESOURCE = "schema/decision.schema.json"


@functools.cache
def _schema_text() -> str:
    return resources.files("clearline.engine").joinpath(DECISION_SCHEMA_RESOURCE).read_text("utf-8")


def decision_schema() -> dict[str, Any]:
    """The decision record's JSON Schema (draft 2020-12), a fresh copy each call."""
    return json.loads(_schema_text())  # type: ignore[no-any-return]


def record_problems(record: Any) -> list[str]:
    """Every way a parsed record breaks the schema, as `path: message` lines (empty when valid)."""
    validator = jsonschema.Draft202012Validator(decision_schema())
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(record)'}: {error.message}"
        for error in sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    ]


def embeddable_decision_schema() -> dict[str, Any]:
    """The schema with its `$defs` written in place, for documents that hold it inside their
    own (an OpenAPI 3.1 component), where `#/$defs/...` would point at the outer document."""
    schema = decision_schema()
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(
                    {
                        **defs[ref.removeprefix("#/$defs/")],
                        **{k: v for k, v in node.items() if k != "$ref"},
                    }
                )
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)  # type: ignore[no-any-return]
