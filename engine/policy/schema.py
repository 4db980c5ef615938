"""The published JSON Schema of the policy format, and schema errors located in the YAML."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from clearline.engine.errors import Diagnostic, did_you_mean
from clearline.engine.policy.source import SourceMap

SCHEMA_RESOURCE = "schema/policy.schema.json"


@cache
def policy_schema() -> dict[str, Any]:
    """The policy JSON Schema (draft 2020-12) shipped inside the package."""
    text = resources.files("clearline.engine").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(policy_schema())


@cache
def _tests_validator() -> jsonschema.Draft202012Validator:
    defs = policy_schema()["$defs"]
    return jsonschema.Draft202012Validator(
        {"type": "array", "items": {"$ref": "#/$defs/test"}, "$defs": defs}
    )


def _where(path: tuple[str | int, ...]) -> str:
    return "/".join(str(p) for p in path) or "the document"


def _translate(
    error: ValidationError, source: SourceMap, base: tuple[str | int, ...]
) -> Iterator[Diagnostic]:
    path = (*base, *error.absolute_path)
    kind = error.validator
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        message = (
            f"`{error.instance}` is not a valid name in {_where(path)}: "
            "use lower-case letters, digits and underscores, starting with a letter"
        )
        yield source.diagnostic((*path, error.instance), "S005", message, key=True)
        return
    if kind in ("anyOf", "oneOf") and error.context:
        # Pick the branch that got furthest, as jsonschema's best_match does for humans.
        yield from _translate(best_match(error.context), source, base)
        return
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = list(schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                message = f"unknown key `{key}` in {_where(path)}{did_you_mean(key, allowed)}"
                if allowed:
                    message += f" (allowed: {', '.join(allowed)})"
                yield source.diagnostic((*path, key), "S001", message, key=True)
        return
    if kind == "required" and isinstance(error.instance, dict):
        for key in error.validator_value or ():  # type: ignore[union-attr]
            if key not in error.instance:
                yield source.diagnostic(
                    path, "S002", f"missing required key `{key}` in {_where(path)}"
                )
        return
    if kind == "type":
        yield source.diagnostic(path, "S003", f"{_where(path)}: {error.message}")
        return
    if kind in ("enum", "const"):
        yield source.diagnostic(path, "S004", f"{_where(path)}: {error.message}")
        return
    if kind == "pattern":
        description = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
        hint = f" ({description})" if description else ""
        yield source.diagnostic(
            path, "S005", f"{_where(path)}: {error.instance!r} is not valid{hint}"
        )
        return
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        yield source.diagnostic(path, "S006", f"{_where(path)}: {error.message}")
        return
    yield source.diagnostic(path, "S000", f"{_where(path)}: {error.message}")


def _collect(
    validator: jsonschema.Draft202012Validator,
    data: Any,
    source: SourceMap,
    base: tuple[str | int, ...],
) -> list[Diagnostic]:
    seen: set[Diagnostic] = set()
    result: list[Diagnostic] = []
    for error in validator.iter_errors(data):
        for diagnostic in _translate(error, source, base):
            if diagnostic not in seen:
                seen.add(diagnostic)
                result.append(diagnostic)
    result.sort(key=lambda d: (d.line, d.column, d.code))
    return result


def schema_diagnostics(data: Any, source: SourceMap) -> list[Diagnostic]:
    """Every schema violation of a policy document, located and deduplicated, in file order."""
    return _collect(_validator(), data, source, ())


def tests_schema_diagnostics(tests: Any, source: SourceMap) -> list[Diagnostic]:
    """Every schema violation of the `tests:` list of a `*.tests.yaml` file."""
    return _collect(_tests_validator(), tests, source, ("tests",))
