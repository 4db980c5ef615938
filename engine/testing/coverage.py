"""How much of a policy its example accounts exercise (`clearline test --coverage`).

Three kinds of item, each with the outcomes a reviewer wants to have seen at least once:
- every rule fired on some test and did not fire on another;
- every comparison (one threshold of one rule) was true on some test and false on another,
  read from the decisions' traces, so it counts exactly what `decide` evaluated;
- every grace rule's paths, driven through the case lifecycle (the same code that runs real
  cases): a cure (a case opened by one test is rescinded when the facts of another test are
  reported in time), a review upheld and a review overturned (a case opened by a test takes the
  appeal and each outcome), and each exemption (applied to a fired rule on some test).

A missing fact makes a comparison neither true nor false, so it covers neither side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clearline.engine.canonical import to_json_value
from clearline.engine.cases.lifecycle import (
    Case,
    CaseError,
    CaseEvent,
    CaseState,
    EventKind,
    ReviewOutcome,
    apply_event,
    open_case,
)
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision, decide
from clearline.engine.errors import ClearlineError
from clearline.engine.model import ADVERSE_ACTIONS, Comparison, FactRef, GraceRule, PolicyTest

RULE = "rule"
COMPARISON = "comparison"
GRACE = "grace"
KINDS = (RULE, COMPARISON, GRACE)


@dataclass(frozen=True)
class CoverageItem:
    """One outcome a test should show: a rule firing, a threshold false, a grace path taken."""

    kind: str  # rule, comparison or grace
    subject: str  # the rule id, `rule: fact op threshold`, or the grace rule's name
    outcome: str  # fired / not fired; true / false; cure, review upheld, exemption X ...
    covered_by: str | None  # the name of the first test that shows it, or None

    @property
    def covered(self) -> bool:
        """Whether some test shows this outcome."""
        return self.covered_by is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for `test --coverage --format json`."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "outcome": self.outcome,
            "covered": self.covered,
            "covered_by": self.covered_by,
        }


@dataclass(frozen=True)
class Coverage:
    """Every coverage item of one policy version over its tests."""

    policy: str  # id@version
    tests: int
    items: tuple[CoverageItem, ...]

    def counts(self, kind: str | None = None) -> tuple[int, int]:
        """Covered and total items, of one kind or of all."""
        chosen = [i for i in self.items if kind is None or i.kind == kind]
        return sum(i.covered for i in chosen), len(chosen)

    @property
    def percent(self) -> float:
        """Covered items as a percentage of all items (100 when there is nothing to cover)."""
        covered, total = self.counts()
        return 100.0 if total == 0 else 100.0 * covered / total

    def missing(self) -> list[CoverageItem]:
        """The items no test shows, in policy order."""
        return [i for i in self.items if not i.covered]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: totals per kind, the percentage and every item."""
        kinds = {}
        for kind in KINDS:
            covered, total = self.counts(kind)
            kinds[kind] = {"covered": covered, "total": total}
        covered, total = self.counts()
        return {
            "policy": self.policy,
            "tests": self.tests,
            "covered": covered,
            "total": total,
            "percent": round(self.percent, 2),
            "kinds": kinds,
            "items": [i.to_dict() for i in self.items],
        }


def _operand_text(value: object) -> str:
    # Written as the policy author wrote it (JSON spelling), never as a Python repr.
    if isinstance(value, FactRef):
        return value.fact
    plain = to_json_value(value)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, list):
        return "[" + ", ".join(_operand_text(v) for v in plain) + "]"
    return f"{plain}"


def comparison_text(rule_id: str, comparison: Comparison) -> str:
    """`rule: fact op threshold`, the subject of a comparison's coverage items."""
    operand = _operand_text(comparison.operand)
    return f"{rule_id}: {comparison.fact} {comparison.op.value} {operand}"


def _first(found: dict[tuple[str, str, str], str], key: tuple[str, str, str], name: str) -> None:
    found.setdefault(key, name)


@dataclass(frozen=True)
class _Run:
    test: PolicyTest
    decision: Decision


def _decide_tests(compiled: CompiledPolicy, tests: Iterable[PolicyTest]) -> list[_Run]:
    runs = []
    for test in tests:
        as_of = test.as_of or compiled.policy.metadata.effective_from
        try:
            decision = decide(
                compiled, dict(test.facts), as_of, account_id=f"test:{test.name}", what_if=True
            )
        except ClearlineError:
            continue  # a test whose facts are rejected covers nothing; `test` reports it
        runs.append(_Run(test, decision))
    return runs


def _grace_paths(
    compiled: CompiledPolicy, runs: list[_Run], found: dict[tuple[str, str, str], str]
) -> None:
    """Record, per grace rule, which paths the tests take through the case lifecycle."""
    for run in runs:
        for reason in run.decision.reasons:
            for exemption in reason.exemptions:
                if reason.grace is not None:
                    _first(found, (GRACE, reason.grace, f"exemption {exemption}"), run.test.name)
        if run.decision.action not in ADVERSE_ACTIONS:
            continue
        try:
            case = open_case(compiled, run.decision)
        except CaseError:
            continue
        if case.grace is None:
            continue
        at = run.decision.as_of
        grace = case.grace
        sent = _step(compiled, case, CaseEvent(EventKind.NOTICE_SENT, at))
        if sent is None:
            continue
        appealed = _step(compiled, sent, CaseEvent(EventKind.APPEAL_FILED, at))
        if appealed is not None:
            for outcome, label in (
                (ReviewOutcome.UPHELD, "review upheld"),
                (ReviewOutcome.OVERTURNED, "review overturned"),
            ):
                event = CaseEvent(EventKind.REVIEW_DECIDED, at, outcome=outcome)
                decided = _step(compiled, appealed, event)
                upheld = outcome is ReviewOutcome.UPHELD
                if decided is not None and (decided.state is CaseState.OVERTURNED) != upheld:
                    _first(found, (GRACE, grace, label), run.test.name)
        if (GRACE, grace, "cure") in found:
            continue
        for other in runs:
            if other is run:
                continue
            event = CaseEvent(EventKind.CURED, at, dict(other.test.facts))
            cured = _step(compiled, sent, event)
            if cured is not None and cured.state is CaseState.RESCINDED:
                _first(found, (GRACE, grace, "cure"), f"{run.test.name} -> {other.test.name}")
                break


def _step(compiled: CompiledPolicy, case: Case, event: CaseEvent) -> Case | None:
    try:
        return apply_event(compiled, case, event)
    except CaseError:
        return None


def _grace_outcomes(grace: GraceRule) -> list[str]:
    outcomes = []
    if grace.cure is not None:
        outcomes.append("cure")
    if grace.appeal is not None:
        outcomes += ["review upheld", "review overturned"]
    outcomes += [f"exemption {e.id}" for e in grace.exemptions]
    return outcomes


def coverage(compiled: CompiledPolicy, tests: Iterable[PolicyTest]) -> Coverage:
    """What the tests exercise of the policy: rules, both sides of thresholds, grace paths."""
    policy = compiled.policy
    runs = _decide_tests(compiled, tests)
    found: dict[tuple[str, str, str], str] = {}
    for run in runs:
        trace = run.decision.trace() or []
        for r, rule_trace in enumerate(trace):
            rule_id = policy.rules[r].id
            matched = rule_trace["matched"]
            if matched is not None:
                _first(found, (RULE, rule_id, "fired" if matched else "not fired"), run.test.name)
            for index, check in zip(compiled.rule_sites[r], rule_trace["checks"], strict=True):
                result = check["result"]
                if result is None:
                    continue
                subject = comparison_text(rule_id, compiled.sites[index].comparison)
                outcome = "true" if result else "false"
                _first(found, (COMPARISON, f"{index}\x00{subject}", outcome), run.test.name)
    _grace_paths(compiled, runs, found)
    items: list[CoverageItem] = []
    for rule in policy.rules:
        for outcome in ("fired", "not fired"):
            items.append(CoverageItem(RULE, rule.id, outcome, found.get((RULE, rule.id, outcome))))
    for r, rule in enumerate(policy.rules):
        for index in compiled.rule_sites[r]:
            subject = comparison_text(rule.id, compiled.sites[index].comparison)
            key = f"{index}\x00{subject}"
            for outcome in ("true", "false"):
                items.append(
                    CoverageItem(
                        COMPARISON, subject, outcome, found.get((COMPARISON, key, outcome))
                    )
                )
    for grace in policy.grace:
        for outcome in _grace_outcomes(grace):
            items.append(
                CoverageItem(GRACE, grace.name, outcome, found.get((GRACE, grace.name, outcome)))
            )
    name = f"{policy.metadata.id}@{policy.metadata.version}"
    return Coverage(name, len(runs), tuple(items))


def render_text(report: Coverage, file: str) -> str:
    """The coverage of one policy for people: totals per kind, then what no test shows."""
    covered, total = report.counts()
    lines = [f"coverage of {file} ({report.policy}): {report.percent:.1f}% ({covered} of {total})"]
    for kind, heading in ((RULE, "rules"), (COMPARISON, "comparisons"), (GRACE, "grace paths")):
        done, count = report.counts(kind)
        lines.append(f"  {heading:<12} {done:>4} of {count}")
    missing = report.missing()
    if missing:
        lines.append("  not covered:")
        for item in missing:
            lines.append(f"    {_missing_text(item)}")
    return "\n".join(lines)


def _missing_text(item: CoverageItem) -> str:
    if item.kind == RULE:
        if item.outcome == "fired":
            return f"rule `{item.subject}` never fired"
        return f"rule `{item.subject}` fired on every test"
    if item.kind == COMPARISON:
        return f"comparison `{item.subject}` never {item.outcome}"
    return f"grace `{item.subject}`: {item.outcome} not exercised"
