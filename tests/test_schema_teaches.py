"""The editor schema teaches (descriptions, examples, enum words, defaults, a stable $id) and
agrees with `check`: what the schema rejects, `check` rejects, and the rules `check` enforces
that JSON Schema can express are in the schema too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from clearline.engine.policy import schema as policy_schemas
from clearline.engine.policy.load import analyse_policy
from clearline.engine.policy.schema import policy_schema
from clearline.engine.policy.source import read_yaml
from tests.conftest import ROOT, SHIPPED_V1, SHIPPED_V2, SMALL_POLICY

COPIES = (
    ROOT / "engine" / "schema" / "policy.schema.json",
    ROOT / "policies" / "policy.schema.json",
)


def properties(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every property schema an author writes, with a readable path (conditions' `if` skipped)."""
    found = []
    if isinstance(node, dict):
        for name, child in node.items():
            if name == "if":
                continue
            if name == "properties" and isinstance(child, dict):
                found += [(f"{path}/{prop}", schema) for prop, schema in child.items()]
            found += properties(child, f"{path}/{name}")
    elif isinstance(node, list):
        for n, child in enumerate(node):
            found += properties(child, f"{path}/{n}")
    return found


def test_both_copies_are_equal_and_have_a_stable_id() -> None:
    first, second = (json.loads(p.read_text("utf-8")) for p in COPIES)
    assert first == second
    assert first["$id"] == "https://clearline.dev/schema/policy/v1.json"
    assert (
        policy_schemas.tests_file_schema()["$id"]
        == "https://clearline.dev/schema/policy/v1/tests.json"
    )


@pytest.mark.parametrize("which", ["policy", "tests"])
def test_every_property_has_a_description_and_an_example(which: str) -> None:
    schema = policy_schema() if which == "policy" else policy_schemas.tests_file_schema()
    found = properties(schema)
    assert len(found) > 100 if which == "policy" else len(found) > 3
    for path, prop in found:
        assert prop.get("description"), f"{path} has no description"
        assert prop.get("markdownDescription"), f"{path} has no markdownDescription"
    # A property added since scripts/describe_schema.py last had words for it may lack its
    # example for a while (the script names it); nearly all must have one.
    with_example = [p for p, prop in found if "```yaml" in prop["markdownDescription"]]
    assert len(with_example) >= 0.9 * len(found)


def test_enums_carry_descriptions_and_defaults_are_declared() -> None:
    found = dict(properties(policy_schema()))
    for path, prop in found.items():
        values = prop.get("enum")
        if values:
            words = prop.get("markdownEnumDescriptions")
            assert words and len(words) == len(values) and all(words), path
    defaults = {path: prop["default"] for path, prop in found.items() if "default" in prop}
    assert defaults["/$defs/fact/known_to_customer"] is True
    assert defaults["/$defs/graceRule/properties/appeal/on_timeout"] == "overturn"
    assert defaults["/$defs/outcome/properties/missing_facts/default"] == "ignore"


# Rules `check` enforces that JSON Schema can express: each is in the schema (marked
# editor-only, because `check` reports it with its own code and words), with one file breaking it.
SCHEMA_EXPRESSIBLE = {
    "C010": SMALL_POLICY.replace(
        "    label: {en: days past due}", "    values: [a, b]\n    label: {en: days past due}"
    ),
    "C111": SMALL_POLICY.replace("id: late", "id: missing-facts"),
    "C114": SMALL_POLICY.replace(
        "    notice_days: 10\n", "    immediate: true\n    category: fraud\n    notice_days: 10\n"
    ),
    "C117": SMALL_POLICY.replace("    notice_days: 10\n", "    immediate: true\n"),
}


def schema_errors(text: str) -> list[str]:
    data = read_yaml(text, "policy.yaml").data
    validator = jsonschema.Draft202012Validator(policy_schema())
    return [e.message for e in validator.iter_errors(data)]


def check_codes(tmp_path: Path, name: str, text: str) -> set[str]:
    path = tmp_path / name / "1.0.0.yaml"
    path.parent.mkdir()
    path.write_text(text, "utf-8")
    result = analyse_policy(path)
    return {d.code for d in result.diagnostics if d.severity == "error"}


@pytest.mark.parametrize("code", sorted(SCHEMA_EXPRESSIBLE))
def test_schema_expressible_rules_are_in_the_schema(code: str, tmp_path: Path) -> None:
    text = SCHEMA_EXPRESSIBLE[code]
    assert text != SMALL_POLICY
    assert schema_errors(text), f"the schema lets a {code} mistake through"
    assert code in check_codes(tmp_path, code, text)


def corpus() -> list[Path]:
    return [SHIPPED_V1, SHIPPED_V2, *sorted((ROOT / "tests" / "invalid").glob("*.yaml"))]


@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.name)
def test_what_the_schema_rejects_check_rejects(path: Path) -> None:
    text = path.read_text("utf-8")
    document = read_yaml(text, str(path))
    rejected_by_schema = bool(document.diagnostics) or bool(schema_errors(text))
    result = analyse_policy(path)
    rejected_by_check = any(d.severity == "error" for d in result.diagnostics)
    if rejected_by_schema:
        assert rejected_by_check, f"{path.name}: the schema rejects it, check does not"
    if path in (SHIPPED_V1, SHIPPED_V2):
        assert not rejected_by_schema, f"{path.name}: the schema rejects a shipped policy"


def test_the_word_file_teaches_every_property_and_the_schema_is_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # scripts/describe_schema.py reads its words from scripts/schema_words.yaml; run on a copy
    # of the schema it must find nothing to add and no property without words or example.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "describe_schema", ROOT / "scripts" / "describe_schema.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    original = (ROOT / "engine" / "schema" / "policy.schema.json").read_text("utf-8")
    script.SCHEMA = tmp_path / "policy.schema.json"
    script.COPY = tmp_path / "copy.schema.json"
    script.SCHEMA.write_text(original, "utf-8")
    assert script.main() == 0
    assert script.SCHEMA.read_text("utf-8") == original
    assert "no example" not in capsys.readouterr().err
