"""`clearline schema`: the JSON Schemas Clearline publishes, as services and editors read them."""

from __future__ import annotations

import json
from typing import Any

import click

from clearline.engine.decisions.record_schema import decision_schema
from clearline.engine.policy.facts_schema import facts_schema
from clearline.engine.policy.schema import policy_schema

from .common import load_compiled


def _print(schema: dict[str, Any]) -> None:
    click.echo(json.dumps(schema, ensure_ascii=False, indent=2))


@click.group("schema")
def schema() -> None:
    """Print a JSON Schema: the policy format, a policy's facts, or the decision record."""


@schema.command("policy")
def policy_command() -> None:
    """The policy format (what editors check YAML policies against)."""
    _print(policy_schema())


@schema.command("facts")
@click.argument("policy_path", metavar="POLICY", type=click.Path())
def facts_command(policy_path: str) -> None:
    """The facts a policy version accepts (what `decide` checks each input against)."""
    _print(facts_schema(load_compiled(policy_path).policy))


@schema.command("decision")
def decision_command() -> None:
    """The decision record (what `decide` writes and the audit log keeps)."""
    _print(decision_schema())
