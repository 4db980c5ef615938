"""`clearline test --coverage`: rules fired and not, both sides of each threshold, grace paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.model import ActionKind, Expectation, PolicyTest
from clearline.engine.testing.coverage import Coverage, coverage
from tests.conftest import compiled_text, run_cli, small_policy

EXEMPTION = """\
    exemptions:
      - id: flagged-extra
        when: {fact: flagged, eq: true}
        extend_notice_days: 5
"""


def examples_section(*cases: tuple[str, str, str]) -> str:
    """A `tests:` section from (name, facts, action) triples."""
    lines = ["tests:"]
    for name, facts, action in cases:
        lines += [f"  - name: {name}", f"    facts: {facts}", f"    expect: {{action: {action}}}"]
    return "\n".join(lines) + "\n"


LATE = ("late", "{dpd: 40, flagged: false}", "suspend")
ON_TIME = ("on time", "{dpd: 0, flagged: false}", "none")
LATE_FLAGGED = ("late and flagged", "{dpd: 40, flagged: true}", "suspend")

FULL = small_policy(extra=EXEMPTION + examples_section(LATE, ON_TIME, LATE_FLAGGED))
PARTIAL = small_policy(extra=EXEMPTION + examples_section(LATE))


def outcomes(text: str) -> dict[tuple[str, str, str], str | None]:
    compiled = compiled_text(text)
    report = coverage(compiled, compiled.policy.tests)
    return {(i.kind, i.subject, i.outcome): i.covered_by for i in report.items}


def test_every_outcome_covered_by_a_complete_suite() -> None:
    found = outcomes(FULL)
    assert found == {
        ("rule", "late", "fired"): "late",
        ("rule", "late", "not fired"): "on time",
        ("comparison", "late: dpd gt 30", "true"): "late",
        ("comparison", "late: dpd gt 30", "false"): "on time",
        # the case opened by `late` is rescinded when the facts of `on time` are reported
        ("grace", "standard", "cure"): "late -> on time",
        ("grace", "standard", "review upheld"): "late",
        ("grace", "standard", "review overturned"): "late",
        ("grace", "standard", "exemption flagged-extra"): "late and flagged",
    }


def test_a_single_adverse_example_leaves_the_other_sides_uncovered() -> None:
    compiled = compiled_text(PARTIAL)
    report = coverage(compiled, compiled.policy.tests)
    missing = {(i.kind, i.outcome) for i in report.missing()}
    assert missing == {
        ("rule", "not fired"),
        ("comparison", "false"),
        ("grace", "cure"),
        ("grace", "exemption flagged-extra"),
    }
    assert report.counts() == (4, 8)
    assert report.percent == 50.0


def test_a_missing_fact_covers_neither_side_of_its_threshold() -> None:
    text = small_policy(extra=examples_section(("unknown", "{score: 500}", "none")))
    found = outcomes(text)
    assert found[("comparison", "late: dpd gt 30", "true")] is None
    assert found[("comparison", "late: dpd gt 30", "false")] is None


def test_shipped_policy_names_the_exemptions_its_tests_never_apply(shipped: CompiledPolicy) -> None:
    compiled = shipped
    report = coverage(compiled, compiled.policy.tests)
    by_key = {(i.kind, i.subject, i.outcome): i for i in report.items}
    assert by_key[("grace", "closure", "exemption hardship")].covered
    assert all(by_key[("rule", r.id, "fired")].covered for r in compiled.policy.rules)


@settings(max_examples=40, deadline=None)
@given(
    first=st.lists(st.integers(0, 120), max_size=4),
    more=st.lists(st.integers(0, 120), max_size=4),
)
def test_more_tests_never_cover_less(first: list[int], more: list[int]) -> None:
    compiled = compiled_text(small_policy(extra=EXEMPTION))

    NONE = Expectation(ActionKind.NONE)

    def suite(values: list[int], tag: str) -> list[PolicyTest]:
        # The expectation does not matter to coverage: only the decisions do.
        return [
            PolicyTest(f"{tag}{n}", (("dpd", v), ("flagged", n % 2 == 0)), NONE)
            for n, v in enumerate(values)
        ]

    before = _covered(coverage(compiled, suite(first, "a")))
    after = _covered(coverage(compiled, suite(first, "a") + suite(more, "b")))
    assert before <= after


def _covered(report: Coverage) -> set[tuple[str, str, str]]:
    return {(i.kind, i.subject, i.outcome) for i in report.items if i.covered}


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "small"
    folder.mkdir()
    path = folder / "1.0.0.yaml"
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


def test_cli_text_json_and_min_coverage(tmp_path: Path) -> None:
    path = write(tmp_path, PARTIAL)
    text = run_cli("test", "--coverage", str(path))
    assert text.returncode == 0, text.stderr
    assert "50.0% (4 of 8)" in text.stdout
    assert "rule `late` fired on every test" in text.stdout
    assert "comparison `late: dpd gt 30` never false" in text.stdout
    assert "grace `standard`: cure not exercised" in text.stdout

    data = run_cli("test", "--coverage", "--format", "json", str(path))
    assert data.returncode == 0, data.stderr
    (report,) = json.loads(data.stdout)["coverage"]
    assert report["file"] == str(path)
    assert (report["covered"], report["total"], report["percent"]) == (4, 8, 50.0)
    assert report["kinds"]["grace"] == {"covered": 2, "total": 4}

    below = run_cli("test", "--min-coverage", "75", str(path))
    assert below.returncode == 1
    assert "error[T002]: coverage 50.0% is below the minimum 75%" in below.stderr
    assert run_cli("test", "--min-coverage", "50", str(path)).returncode == 0
    assert run_cli("test", "--min-coverage", "101", str(path)).returncode == 2


def test_shell_completion_script_is_produced() -> None:
    # Documented in docs/guides/authoring.md: eval "$(_CLEARLINE_COMPLETE=bash_source clearline)"
    env = {**os.environ, "_CLEARLINE_COMPLETE": "bash_source"}
    command = str(Path(sys.executable).parent / "clearline")  # the installed entry point
    result = subprocess.run([command], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "_clearline_completion" in result.stdout
    assert "complete -o nosort -F _clearline_completion clearline" in result.stdout
