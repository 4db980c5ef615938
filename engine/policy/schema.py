"""The published JSON Schema of the policy format, and schema errors located in the YAML."""

from __future__ import annotations

import difflib
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


TESTS_SCHEMA_ID = "https://clearline.dev/schema/policy/v1/tests.json"


def tests_file_schema() -> dict[str, Any]:
    """The JSON Schema of a `*.tests.yaml` file: a `tests:` list of example accounts."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": TESTS_SCHEMA_ID,
        "title": "Clearline policy tests",
        "description": "Example accounts with the outcome a policy must give them, run by "
        "`clearline test`; the file sits beside its policy as `<version>.tests.yaml`.",
        "type": "object",
        "required": ["tests"],
        "additionalProperties": False,
        "properties": {
            "policy": {
                "type": "string",
                "description": "The id of the policy these tests are for (documentation only).",
                "markdownDescription": "The id of the policy these tests are for.\n\n"
                "```yaml\npolicy: credit-line-closure\n```",
            },
            "version": {
                "type": "string",
                "description": "The policy version these tests are for (documentation only).",
                "markdownDescription": "The policy version these tests are for.\n\n"
                "```yaml\nversion: 1.1.0\n```",
            },
            "tests": {
                "type": "array",
                "description": "Example accounts with their expected outcome.",
                "markdownDescription": "Example accounts with their expected outcome.\n\n"
                "```yaml\ntests:\n  - name: paying on time keeps the line open\n"
                "    facts: {days_past_due: 0}\n    expect: {action: none}\n```",
                "items": {"$ref": "#/$defs/test"},
            },
        },
        "$defs": policy_schema()["$defs"],
    }


@cache
def _tests_validator() -> jsonschema.Draft202012Validator:
    defs = policy_schema()["$defs"]
    return jsonschema.Draft202012Validator(
        {"type": "array", "items": {"$ref": "#/$defs/test"}, "$defs": defs}
    )


def _where(path: tuple[str | int, ...]) -> str:
    return "/".join(str(p) for p in path) or "the document"


_TYPE_WORDS = {
    "object": "a mapping (`key: value` lines)",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "empty",
}


def shown(value: Any) -> str:
    """A value as a policy author would write it, never as a Python repr."""
    if value is None:
        return "empty (nothing after the colon)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and value.is_integer():
        return f"`{value:g}`"
    return f"`{value}`"


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types or [])
    return " or ".join(_TYPE_WORDS.get(str(name), str(name)) for name in names)


def _fits(branch: Any, instance: Any) -> bool:
    """Whether an `anyOf`/`oneOf` branch is the shape the author meant (a mapping for a mapping)."""
    if not isinstance(branch, dict):
        return True
    if "enum" in branch or "const" in branch:
        return not isinstance(instance, dict | list)
    types = branch.get("type")
    if types is None:
        return True
    names = {types} if isinstance(types, str) else set(types)
    kind = {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(instance))
    if kind is None:
        kind = "integer" if isinstance(instance, int) else "number"
        return bool(names & {kind, "number"})
    return kind in names


def _chosen(error: ValidationError) -> ValidationError:
    """The cause to show for an `anyOf`/`oneOf` failure: the branch of the author's shape."""
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    fitting = [
        sub
        for sub in error.context or ()
        if sub.relative_schema_path
        and isinstance(sub.relative_schema_path[0], int)
        and sub.relative_schema_path[0] < len(branches)
        and _fits(branches[sub.relative_schema_path[0]], error.instance)
    ]
    chosen: ValidationError = best_match(fitting or list(error.context or ()))
    return chosen


def _bound_message(where: str, error: ValidationError) -> str:
    limit = error.validator_value
    value = shown(error.instance)
    if error.validator == "minimum":
        return f"{where}: {value} is below the minimum {limit}"
    if error.validator == "maximum":
        return f"{where}: {value} is above the maximum {limit}"
    if error.validator == "exclusiveMinimum":
        return f"{where}: {value} must be above {limit}"
    hint = ""
    if limit == 1 and isinstance(error.instance, int | float) and error.instance > 1:
        # A fraction written as a percent: 50 for 50%.
        hint = f"; write a fraction: {error.instance / 100:g} for {error.instance:g}%"
    return f"{where}: {value} must be below {limit}{hint}"


def _translate(
    error: ValidationError, source: SourceMap, base: tuple[str | int, ...]
) -> Iterator[Diagnostic]:
    path = (*base, *error.absolute_path)
    kind = error.validator
    where = _where(path)
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        message = (
            f"`{error.instance}` is not a valid name in {where}: "
            "use lower-case letters, digits and underscores, starting with a letter"
        )
        yield source.diagnostic((*path, error.instance), "S005", message, key=True)
        return
    if kind in ("anyOf", "oneOf") and error.context:
        # Pick the branch of the author's shape, then the deepest cause in it (best_match).
        yield from _translate(_chosen(error), source, base)
        return
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = list(schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                message = f"unknown key `{key}` in {where}{did_you_mean(key, allowed)}"
                if allowed:
                    message += f" (allowed: {', '.join(allowed)})"
                yield source.diagnostic((*path, key), "S001", message, key=True)
        return
    if kind == "required" and isinstance(error.instance, dict):
        for key in error.validator_value or ():  # type: ignore[union-attr]
            if key not in error.instance:
                yield source.diagnostic(path, "S002", f"missing required key `{key}` in {where}")
        return
    if kind == "type":
        message = (
            f"{where} should be {_expected(error.validator_value)}, not {shown(error.instance)}"
        )
        yield source.diagnostic(path, "S003", message)
        return
    if kind == "enum":
        options = [str(o) for o in error.validator_value or ()]  # type: ignore[union-attr]
        hint = did_you_mean(error.instance, options) if isinstance(error.instance, str) else ""
        message = f"{where}: {shown(error.instance)} is not one of {', '.join(options)}{hint}"
        yield source.diagnostic(path, "S004", message)
        return
    if kind == "const":
        message = f"{where}: {shown(error.instance)} should be `{error.validator_value}`"
        yield source.diagnostic(path, "S004", message)
        return
    if kind == "pattern":
        description = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
        hint = f" ({description})" if description else ""
        yield source.diagnostic(
            path, "S005", f"{where}: {shown(error.instance)} is not valid{hint}"
        )
        return
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        yield source.diagnostic(path, "S006", _bound_message(where, error))
        return
    if kind in ("minItems", "minProperties", "minLength"):
        yield source.diagnostic(path, "S007", f"{where} is empty; it needs at least one entry")
        return
    if kind == "maxLength":
        limit = error.validator_value
        yield source.diagnostic(path, "S007", f"{where} is longer than {limit} characters")
        return
    if kind == "uniqueItems" and isinstance(error.instance, list):
        repeated = [item for i, item in enumerate(error.instance) if item in error.instance[:i]]
        named = shown(repeated[0]) if repeated else "an item"
        yield source.diagnostic(path, "S008", f"{where} lists {named} more than once")
        return
    # Any other keyword: name it with its JSON value, never a Python repr.
    rule = json.dumps(error.validator_value, ensure_ascii=False)
    yield source.diagnostic(path, "S000", f"{where} does not satisfy `{kind}: {rule}`")


def _editor_only(error: ValidationError) -> bool:
    """A constraint the schema states for editors that `check` reports itself, in its own words
    and code (marked `$comment: editor-only ...` where the failing keyword sits)."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    return str(schema.get("$comment", "")).startswith("editor-only")


def _collect(
    validator: jsonschema.Draft202012Validator,
    data: Any,
    source: SourceMap,
    base: tuple[str | int, ...],
) -> list[Diagnostic]:
    seen: set[Diagnostic] = set()
    result: list[Diagnostic] = []
    for error in validator.iter_errors(data):
        if _editor_only(error):
            continue
        for diagnostic in _translate(error, source, base):
            if diagnostic not in seen:
                seen.add(diagnostic)
                result.append(diagnostic)
    result.sort(key=lambda d: (d.line, d.column, d.code))
    return result


def _canonical_language(tag: str) -> str:
    """A BCP 47 tag in its usual case: `zh-cn` -> `zh-CN`, `EN` -> `en`, `zh-hans` -> `zh-Hans`."""
    head, *rest = tag.replace("_", "-").split("-")
    parts = [head.lower()]
    for part in rest:
        if len(part) == 2 or (len(part) == 3 and part.isdigit()):
            parts.append(part.upper())
        elif len(part) == 4:
            parts.append(part.title())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def _text_languages(data: dict[str, Any]) -> set[str]:
    """The language keys the policy's required texts use (title and fact labels)."""
    used: set[str] = set()
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("title"), dict):
        used.update(str(key) for key in metadata["title"])
    facts = data.get("facts")
    if isinstance(facts, dict):
        for fact in facts.values():
            if isinstance(fact, dict) and isinstance(fact.get("label"), dict):
                used.update(str(key) for key in fact["label"])
    return used


def language_diagnostics(data: Any, source: SourceMap) -> list[Diagnostic]:
    """One error per mistyped language code, at its line, instead of one per text that lacks it."""
    metadata = data.get("metadata") if isinstance(data, dict) else None
    languages = metadata.get("languages") if isinstance(metadata, dict) else None
    if not isinstance(languages, list):
        return []
    used = _text_languages(data)
    result = []
    for i, tag in enumerate(languages):
        if not isinstance(tag, str) or not tag:
            continue
        canonical = _canonical_language(tag)
        if tag in used:
            continue
        if canonical != tag or canonical in used:
            suggestion = canonical
        else:
            close = {u.lower(): u for u in used if u not in languages}
            primary = [u for u in close.values() if u.split("-")[0] == tag.split("-")[0]]
            near = difflib.get_close_matches(tag, list(close.values()), n=1, cutoff=0.6)
            suggestion = primary[0] if primary else (near[0] if near else "")
        if canonical == tag and not suggestion:
            continue
        if suggestion == tag:
            continue
        hint = f"; did you mean `{suggestion}`?" if suggestion else ""
        message = f"language `{tag}` is not how the policy's texts are keyed{hint}"
        if canonical != tag:
            message = f"language `{tag}` is written `{canonical}` (language lower-case, region upper-case){hint}"
        diagnostic = source.diagnostic(("metadata", "languages", i), "S009", message)
        result.append(diagnostic)
    return result


def schema_diagnostics(data: Any, source: SourceMap) -> list[Diagnostic]:
    """Every schema violation of a policy document, located and deduplicated, in file order."""
    languages = language_diagnostics(data, source)
    found = _collect(_validator(), data, source, ())
    if languages:
        # A mistyped language code is one error at its line: the texts keyed by the right
        # code are not each reported as missing it.
        lines = {(d.line, d.column) for d in languages}
        found = [d for d in found if (d.line, d.column) not in lines]
        found = sorted([*languages, *found], key=lambda d: (d.line, d.column, d.code))
    return found


def tests_schema_diagnostics(tests: Any, source: SourceMap) -> list[Diagnostic]:
    """Every schema violation of the `tests:` list of a `*.tests.yaml` file."""
    return _collect(_tests_validator(), tests, source, ("tests",))
