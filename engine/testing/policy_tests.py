"""Run a policy's example accounts (`tests:` and `*.tests.yaml`) against its compiled form."""

from __future__ import annotations

from dataclasses import dataclass

from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import decide
from clearline.engine.errors import FactError
from clearline.engine.model import PolicyTest


@dataclass(frozen=True)
class TestOutcome:
    """The result of one policy test: passed, or the differences found."""

    test: PolicyTest
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when the decision matched every expectation."""
        return not self.failures


def run_test(compiled: CompiledPolicy, test: PolicyTest) -> TestOutcome:
    """Decide a test's facts and compare with what it expects."""
    policy = compiled.policy
    as_of = test.as_of or policy.metadata.effective_from
    try:
        decision = decide(
            compiled, dict(test.facts), as_of, account_id=f"test:{test.name}", what_if=True
        )
    except FactError as exc:
        return TestOutcome(test, (f"facts rejected: {exc}",))
    expect = test.expect
    failures = []
    if decision.action is not expect.action:
        failures.append(f"action: expected {expect.action}, got {decision.action}")
    if expect.reasons is not None:
        got = tuple(reason.rule for reason in decision.reasons)
        if got != expect.reasons:
            failures.append(f"reasons: expected {list(expect.reasons)}, got {list(got)}")
    if expect.missing_facts is not None and tuple(decision.missing_facts) != expect.missing_facts:
        failures.append(
            f"missing_facts: expected {list(expect.missing_facts)}, "
            f"got {list(decision.missing_facts)}"
        )
    if expect.effective is not None:
        timeline = decision.timeline
        got_day = timeline.effective if timeline else None
        if got_day != expect.effective:
            failures.append(f"effective: expected {expect.effective}, got {got_day}")
    return TestOutcome(test, tuple(failures))


def run_tests(compiled: CompiledPolicy, tests: tuple[PolicyTest, ...]) -> list[TestOutcome]:
    """Run tests in order."""
    return [run_test(compiled, test) for test in tests]
