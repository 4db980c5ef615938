"""Give every property of the editor schema a description, a markdownDescription with a short
example, enum descriptions and defaults, in place.

Run from the repository root: `python scripts/describe_schema.py`. It edits
engine/schema/policy.schema.json as text (inserting keys right after a property's `{`), so the
hand-kept layout and key order stay as they are, then copies it to policies/policy.schema.json.
It never overwrites what an author wrote; it only adds what is missing (an example is appended
to a hand-written markdownDescription that has none). The words live in scripts/schema_words.yaml;
it exits 1 naming any property it has no words for, so a property added later is caught on the
next run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "engine" / "schema" / "policy.schema.json"
COPY = ROOT / "policies" / "policy.schema.json"

WORDS_FILE = Path(__file__).resolve().parent / "schema_words.yaml"


def read_words(path: Path = WORDS_FILE) -> dict[str, Any]:
    """The word tables: property words and examples, operators, enum words and defaults."""
    data = yaml.safe_load(path.read_text("utf-8"))
    words: dict[str, tuple[str, str]] = {
        key: (entry["description"], entry["example"]) for key, entry in data["words"].items()
    }
    for op, entry in data["operators"].items():
        words[f"condition/{op}"] = (f"The fact is {entry['words']}.", entry["example"])
        words[f"eventCondition/{op}"] = (
            f"The field is {entry['words']}.",
            entry["example"].replace("fact:", "field:"),
        )
    return {"words": words, "enums": data["enums"], "defaults": data["defaults"]}


# key (the property's path without $defs/properties/combinator steps) -> (description, example)
_TABLES = read_words()
WORDS: dict[str, tuple[str, str]] = _TABLES["words"]
ENUMS: dict[str, dict[str, str]] = _TABLES["enums"]
DEFAULTS: dict[str, Any] = _TABLES["defaults"]
SKIP = {"$defs", "properties", "items", "oneOf", "anyOf", "allOf", "additionalProperties"}


def locate(text: str) -> dict[tuple[Any, ...], int]:
    """By JSON path: the offset just after the `{` of every object, and of the closing quote of
    every string (where words can be appended to a text)."""
    found: dict[tuple[Any, ...], int] = {}
    i = 0

    def space() -> None:
        nonlocal i
        while text[i] in " \t\r\n":
            i += 1

    def value(path: tuple[Any, ...]) -> None:
        nonlocal i
        space()
        c = text[i]
        if c == "{":
            i += 1
            found[path] = i
            space()
            while text[i] != "}":
                key, end = json.JSONDecoder().raw_decode(text, i)
                i = end
                space()
                i += 1  # the colon
                value((*path, key))
                space()
                if text[i] == ",":
                    i += 1
                    space()
            i += 1
        elif c == "[":
            i += 1
            space()
            n = 0
            while text[i] != "]":
                value((*path, n))
                n += 1
                space()
                if text[i] == ",":
                    i += 1
                    space()
            i += 1
        else:
            _, i = json.JSONDecoder().raw_decode(text, i)
            if c == '"':
                found[path] = i - 1

    value(())
    return found


def key_of(path: tuple[Any, ...]) -> str:
    """`$defs/graceRule/properties/appeal/properties/days` -> `graceRule/appeal/days`."""
    return "/".join(str(p) for p in path if p not in SKIP and not isinstance(p, int))


def properties(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every property schema below a node, with its JSON path."""
    found = []
    if isinstance(node, dict):
        for name, child in node.items():
            if name == "if":
                continue  # a condition's properties are not properties an author writes
            if name == "properties" and isinstance(child, dict):
                for prop, schema in child.items():
                    found.append(((*path, "properties", prop), schema))
            found += properties(child, (*path, name))
    elif isinstance(node, list):
        for n, child in enumerate(node):
            found += properties(child, (*path, n))
    return found


def additions(path: tuple[Any, ...], schema: dict[str, Any]) -> dict[str, Any] | None:
    """The keys a property lacks, or None when there are no words for it."""
    key = key_of(path)
    words = WORDS.get(key)
    if words is None and "description" not in schema:
        return None
    description = schema.get("description") or (words[0] if words else "")
    add: dict[str, Any] = {}
    if "description" not in schema:
        add["description"] = description
    if "markdownDescription" not in schema:
        example = f"\n\n```yaml\n{words[1]}\n```" if words else ""
        add["markdownDescription"] = description + example
    values = schema.get("enum") or schema.get("items", {}).get("enum")
    if values and "markdownEnumDescriptions" not in schema and key in ENUMS:
        add["markdownEnumDescriptions"] = [ENUMS[key].get(v, "") for v in values]
    if key in DEFAULTS and "default" not in schema:
        add["default"] = DEFAULTS[key]
    return add


def main() -> int:
    """Add what is missing to the schema and copy it; exit 1 naming untaught properties."""
    text = SCHEMA.read_text("utf-8")
    schema = json.loads(text)
    at = locate(text)
    edits: list[tuple[int, str]] = []
    untaught = []
    for path, prop in properties(schema):
        if not isinstance(prop, dict) or path not in at:
            continue
        add = additions(path, prop)
        if add is None:
            untaught.append("/".join(map(str, path)))
            continue
        if key_of(path) not in WORDS:
            print(
                f"no example for {key_of(path)}: add it to scripts/schema_words.yaml",
                file=sys.stderr,
            )
        markdown = prop.get("markdownDescription")
        words = WORDS.get(key_of(path))
        if isinstance(markdown, str) and "```" not in markdown and words:
            # Hand-written words without an example: the example is appended, the words kept.
            example = f"\n\n```yaml\n{words[1]}\n```"
            edits.append((at[(*path, "markdownDescription")], json.dumps(example)[1:-1]))
        if add:
            body = ", ".join(
                f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in add.items()
            )
            edits.append((at[path], body + ("" if not prop else ", ")))
    for offset, body in sorted(edits, reverse=True):
        text = text[:offset] + body + text[offset:]
    json.loads(text)  # still JSON
    SCHEMA.write_text(text, "utf-8")
    COPY.write_text(text, "utf-8")
    print(f"{len(edits)} properties given words; {len(untaught)} without", file=sys.stderr)
    for path in untaught:
        print(f"no words for {path}: add it to scripts/schema_words.yaml", file=sys.stderr)
    return 1 if untaught else 0


if __name__ == "__main__":
    sys.exit(main())
