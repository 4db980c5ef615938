"""Shared fixtures: the shipped policies and a small policy to mutate in tests.

Markers (`pytest -m "not slow"` for a quick loop; `make test` runs everything):
- `cli`: the module runs the `clearline` command line in a subprocess;
- `property`: a hypothesis property test;
- `slow`: a module that starts something heavy (Spark, a browser, a wheel build, a server).
Hypothesis profiles: `default` (what `make test` runs) and `thorough` (ten times the examples,
for a nightly run: `pytest --hypothesis-profile thorough`).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from clearline.engine import CompiledPolicy, compile_policy, load_policy, load_policy_text

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("default")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark property tests and the tests of modules that run the command line."""
    for item in items:
        test = getattr(item, "obj", None)
        if getattr(test, "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)
        module = getattr(item, "module", None)
        if module is not None and "run_cli" in vars(module):
            item.add_marker(pytest.mark.cli)


# The audit tests' shared fixtures (registry, decisions, pristine), loaded here so that pytest
# rewrites their asserts (tests/test_audit_*.py).
pytest_plugins = ["tests.audit_helpers"]

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SHIPPED_V1 = POLICIES / "credit-line-closure" / "1.0.0.yaml"
SHIPPED_V2 = POLICIES / "credit-line-closure" / "1.1.0.yaml"

SMALL_POLICY = textwrap.dedent(
    """\
    apiVersion: clearline/v1
    kind: CreditLinePolicy
    metadata:
      id: small
      version: 1.0.0
      title: {en: Small policy}
      effective_from: 2026-01-01
      languages: [en]
    facts:
      dpd:
        type: integer
        minimum: 0
        label: {en: days past due}
      score:
        type: integer
        minimum: 300
        maximum: 900
        label: {en: credit score}
      ratio:
        type: number
        minimum: 0
        label: {en: ratio}
      tier:
        type: enum
        values: [gold, silver, bronze]
        label: {en: tier}
      flagged:
        type: boolean
        label: {en: flagged}
    rules:
      - id: late
        action: suspend
        when: {fact: dpd, gt: 30}
        reason: {code: D1}
        grace: standard
    grace:
      standard:
        notice_days: 10
        cure: {days: 10}
        appeal: {days: 20}
    """
)


def small_policy(rules: str | None = None, extra: str = "") -> str:
    """The small policy, with its `rules:` section replaced when given."""
    text = SMALL_POLICY
    if rules is not None:
        head, tail = text.split("rules:\n", 1)
        tail = tail[tail.index("grace:\n") :]
        text = head + "rules:\n" + textwrap.indent(textwrap.dedent(rules), "  ") + tail
    return text + extra


def compiled_text(text: str) -> CompiledPolicy:
    """Load and compile a policy given as text."""
    return compile_policy(load_policy_text(text, "test.yaml"))


@pytest.fixture(scope="session")
def shipped() -> CompiledPolicy:
    """The newest shipped policy, compiled."""
    return compile_policy(load_policy(SHIPPED_V2))


@pytest.fixture(scope="session")
def shipped_v1() -> CompiledPolicy:
    """The first shipped policy, compiled."""
    return compile_policy(load_policy(SHIPPED_V1))


def run_cli(
    *args: str, stdin: str | None = None, cwd: Path | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the real `clearline` command line in a subprocess (after `prefix`, a command that
    runs it, if given)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "clearline", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=300,
    )
