"""The README's annotated examples are real: the policy loads (with the calendar example beside
it) and its tests pass."""

from __future__ import annotations

import re
from pathlib import Path

from clearline.engine import compile_policy
from clearline.engine.policy.load import analyse_policy
from clearline.engine.policy.policy_tests import run_tests

from .conftest import ROOT


def _yaml_block(readme: str, heading: str) -> str:
    section = readme[readme.index(heading) :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, heading
    return block.group(1)


def test_the_annotated_example_loads_and_its_tests_pass(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    policy = _yaml_block(readme, "## Policy format")
    calendar_name = re.search(r"calendar: (\S+)", policy)
    assert calendar_name is not None
    (tmp_path / calendar_name.group(1)).write_text(_yaml_block(readme, "### Business days"))
    path = tmp_path / "policy.yaml"
    path.write_text(policy, "utf-8")
    result = analyse_policy(path)
    assert result.policy is not None, [d.render() for d in result.diagnostics]
    assert result.policy.metadata.calendar is not None
    outcomes = run_tests(compile_policy(result.policy), result.policy.tests)
    assert outcomes and all(o.passed for o in outcomes), [o.failures for o in outcomes]
