"""The checker sees every condition that can never hold (C130, the reason in words) and every
rule that can never decide (W002, with an example account); lists of numbers and negative
thresholds are no longer refused."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import compile_policy, decide
from clearline.engine.model import ActionKind, AllOf, Not, Policy
from clearline.engine.policy.impossible import example
from clearline.engine.policy.load import analyse_policy_text
from clearline.engine.policy.parse import parse_policy
from clearline.engine.policy.source import read_yaml
from tests.conftest import run_cli, small_policy

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
EXTRA_FACTS = """\
  balance:
    type: number
    label: {en: balance}
  limit_pct:
    type: number
    minimum: 0
    maximum: 1
    label: {en: limit used}
  opened:
    type: date
    minimum: 2020-01-01
    label: {en: opening date}
"""


def policy_text(rules: str) -> str:
    """The small test policy with more facts and the given rules."""
    return small_policy(rules).replace("facts:\n", "facts:\n" + EXTRA_FACTS, 1)


def findings(rules: str, code: str) -> list[tuple[int, str]]:
    """(line, message) of each `code` diagnostic of the small policy with these rules."""
    result = analyse_policy_text(policy_text(rules), "t.yaml")
    return [(d.line, d.message) for d in result.diagnostics if d.code == code]


def notify(when: str, rule_id: str = "a") -> str:
    return f"- id: {rule_id}\n  action: notify\n  when: {when}\n  reason: {{code: A1}}\n"


@pytest.mark.parametrize(
    ("when", "says"),
    [
        # a single comparison against the fact's bounds
        ("{fact: dpd, lt: 0}", "no `dpd` is below 0 (its declared minimum is 0)"),
        ("{fact: score, gt: 900}", "no `score` is above 900 (it is declared from 300 to 900)"),
        ("{fact: opened, lt: 2020-01-01}", "no `opened` is below 2020-01-01"),
        # enum domains
        (
            "{fact: tier, not_in: [gold, silver, bronze]}",
            "no `tier` is none of gold, silver, bronze (its declared values are gold, silver",
        ),
        # not
        ("{not: {fact: dpd, ge: 0}}", "no `dpd` is below 0"),
        ("{not: {any: [{fact: flagged, eq: true}, {fact: flagged, eq: false}]}}", "no `flagged`"),
        # any: every alternative impossible
        (
            "{any: [{fact: dpd, lt: 0}, {fact: score, lt: 300}]}",
            "no alternative can hold: no `dpd` is below 0 (its declared minimum is 0); "
            "no `score` is below 300",
        ),
        # all: contradictions across comparisons, integers without a whole number between
        (
            "{all: [{fact: dpd, gt: 30}, {fact: dpd, le: 30}]}",
            "no `dpd` is above 30 and at most 30",
        ),
        ("{all: [{fact: dpd, gt: 3}, {fact: dpd, lt: 4}]}", "no `dpd` is above 3 and below 4"),
        (
            "{all: [{fact: dpd, between: [1, 2]}, {fact: dpd, ne: 1}, {fact: dpd, ne: 2}]}",
            "no `dpd` is between 1 and 2 and other than 1 and other than 2",
        ),
        ("{all: [{fact: tier, eq: gold}, {fact: tier, in: [silver, bronze]}]}", "no `tier`"),
        # fact against fact, decided by the bounds
        (
            "{fact: score, lt: {fact: limit_pct}}",
            "`score` is never below `limit_pct`: here `score` is from 300 to 900 and "
            "`limit_pct` is from 0 to 1",
        ),
        (
            "{all: [{fact: dpd, ge: 50}, {fact: ratio, le: 50}, {fact: dpd, lt: {fact: ratio}}]}",
            "`dpd` is never below `ratio`",
        ),
    ],
)
def test_a_condition_that_can_never_hold_is_refused_with_the_reason(when: str, says: str) -> None:
    found = findings(notify(when), "C130")
    assert len(found) == 1, found
    assert says in found[0][1]


@pytest.mark.parametrize(
    "when",
    [
        "{fact: dpd, le: 0}",
        "{fact: balance, lt: -500}",
        "{fact: score, lt: {fact: dpd}}",  # dpd has no maximum: the bounds do not decide it
        "{all: [{fact: dpd, between: [1, 3]}, {fact: dpd, ne: 1}, {fact: dpd, ne: 3}]}",
        "{all: [{fact: ratio, gt: 3}, {fact: ratio, lt: 3.0000001}]}",
        "{not: {fact: tier, in: [gold, silver]}}",
        "{fact: tier, ne: gold}",
        "{all: [{fact: dpd, ge: 5}, {fact: score, le: 400}, {fact: dpd, ge: {fact: limit_pct}}]}",
        "{fact: score, le: {fact: balance}}",  # balance: no bound, no threshold of its own
        "{fact: balance, gt: {fact: score}}",
    ],
)
def test_a_condition_that_can_hold_passes(when: str) -> None:
    assert findings(notify(when), "C130") == []


def test_a_dead_alternative_inside_any_is_located_at_the_alternative() -> None:
    rules = notify("\n    any:\n      - {fact: dpd, gt: 5}\n      - {fact: dpd, lt: 0}")
    found = findings(rules, "C130")
    lines = policy_text(rules).splitlines()
    dead = next(i for i, line in enumerate(lines) if line.endswith("- {fact: dpd, lt: 0}"))
    assert [line for line, _ in found] == [dead + 1]


def test_a_threshold_out_of_range_is_reported_once() -> None:
    result = analyse_policy_text(policy_text(notify("{fact: dpd, lt: -1}")), "t.yaml")
    assert [d.code for d in result.diagnostics if d.severity == "error"] == ["C104"]


def test_the_cli_names_the_reason_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(policy_text(notify("{fact: dpd, lt: 0}")), "utf-8")
    run = run_cli("check", str(path))
    assert run.returncode == 1
    line = (
        policy_text(notify("{fact: dpd, lt: 0}")).splitlines().index("    when: {fact: dpd, lt: 0}")
    )
    assert (
        f"p.yaml:{line + 1}:11: error[C130]: this condition can never hold: no `dpd` is below 0"
        in run.stderr
    )


# -- rules that can never decide ----------------------------------------------------------------

SUSPEND_LATE = (
    "- id: late\n  action: suspend\n  when: {fact: dpd, gt: 30}\n  reason: {code: D1}\n"
    "  grace: standard\n"
)


def test_a_rule_shadowed_by_a_wider_stronger_rule_is_a_warning_with_an_example() -> None:
    found = findings(notify("{fact: dpd, gt: 40}") + SUSPEND_LATE, "W002")
    assert len(found) == 1
    assert found[0][1] == (
        "rule `a` (notify) never decides: whenever it fires, `late` (suspend) fires too and "
        "outranks it; for example {dpd: 41}"
    )


def test_a_rule_always_outranked_by_several_rules_names_them() -> None:
    other = SUSPEND_LATE.replace("id: late", "id: low").replace(
        "{fact: dpd, gt: 30}", "{fact: dpd, le: 30}"
    )
    found = findings(notify("{fact: dpd, ge: 0}") + SUSPEND_LATE + other, "W002")
    assert len(found) == 1
    assert "`late` (suspend), `low` (suspend) fires too" in found[0][1]


@pytest.mark.parametrize(
    "rules",
    [
        # the stronger rule is narrower
        notify("{fact: dpd, gt: 20}") + SUSPEND_LATE,
        # the stronger rule reads a fact the rule does not: when it is missing, the rule decides
        notify("{fact: dpd, gt: 40}")
        + SUSPEND_LATE.replace(
            "{fact: dpd, gt: 30}", "{all: [{fact: dpd, gt: 30}, {fact: flagged, eq: true}]}"
        ),
        # an equal action decides together with it
        notify("{fact: dpd, gt: 40}") + notify("{fact: dpd, gt: 30}", "b"),
    ],
)
def test_a_rule_that_can_decide_gets_no_warning(rules: str) -> None:
    assert findings(rules, "W002") == []


def test_a_stronger_rule_that_an_exemption_may_downgrade_does_not_shadow() -> None:
    text = policy_text(notify("{fact: dpd, gt: 40}") + SUSPEND_LATE).replace(
        "    appeal: {days: 20}\n",
        "    appeal: {days: 20}\n    exemptions:\n      - id: gold\n"
        "        when: {fact: tier, eq: gold}\n        downgrade_to: review\n",
    )
    result = analyse_policy_text(text, "t.yaml")
    assert not [d for d in result.diagnostics if d.code == "W002"]
    assert not [d for d in result.diagnostics if d.severity == "error"]


# -- the false refusals ---------------------------------------------------------------------


def test_lists_of_numbers_and_dates_are_accepted_and_said(tmp_path: Path) -> None:
    rules = (
        notify("{fact: dpd, in: [1, 2, 3]}")
        + notify("{fact: ratio, not_in: [0.5, 1.5]}", "b")
        + notify("{fact: opened, in: [2024-01-01, 2025-01-01]}", "c")
    )
    path = tmp_path / "p.yaml"
    path.write_text(policy_text(rules), "utf-8")
    run = run_cli("check", str(path))
    assert run.returncode == 0, run.stderr
    assert "D101" not in run.stderr
    out = tmp_path / "d.md"
    assert run_cli("disclose", str(path), "-o", str(out)).returncode == 0
    said = out.read_text("utf-8")
    assert "Your days past due is 1, 2, or 3." in said
    assert "Your ratio is neither 0.5 nor 1.5." in said
    assert "days past due is neither 1, 2, nor 3" in said  # the way out, negated


def test_a_negative_threshold_can_have_its_own_reason_text() -> None:
    rule = (
        "- id: a\n  action: notify\n  when: {fact: balance, lt: -500}\n"
        "  reason: {code: A1, text: {en: Your balance is below -500.}}\n"
    )
    result = analyse_policy_text(policy_text(rule), "t.yaml")
    assert [d.code for d in result.diagnostics if d.severity == "error"] == []
    wrong = rule.replace("below -500", "below 500")
    codes = {d.code for d in analyse_policy_text(policy_text(wrong), "t.yaml").diagnostics}
    assert {"C123", "C124"} <= codes  # 500 is not the threshold -500
    hyphen = rule.replace("below -500.", "below -500 for a 30-day stretch.")
    errors = [
        d.code
        for d in analyse_policy_text(policy_text(hyphen), "t.yaml").diagnostics
        if d.severity == "error"
    ]
    assert errors == ["C124"]  # 30 is a stray number; "-day" is no minus sign


# -- properties: the checker against the engine ---------------------------------------------

_COMPARISONS = st.sampled_from(
    [
        "{fact: dpd, lt: 0}",
        "{fact: dpd, le: 0}",
        "{fact: dpd, gt: 3}",
        "{fact: dpd, lt: 4}",
        "{fact: dpd, ne: 4}",
        "{fact: dpd, in: [1, 4]}",
        "{fact: score, ge: 900}",
        "{fact: score, lt: 300}",
        "{fact: score, between: [300, 310]}",
        "{fact: tier, eq: gold}",
        "{fact: tier, ne: gold}",
        "{fact: tier, not_in: [silver, bronze]}",
        "{fact: flagged, eq: true}",
        "{fact: flagged, eq: false}",
        "{fact: dpd, gt: {fact: limit_pct}}",
        "{fact: score, le: {fact: dpd}}",
    ]
)


def _conditions() -> st.SearchStrategy[str]:
    return st.recursive(
        _COMPARISONS,
        lambda inner: st.one_of(
            inner.map(lambda c: f"{{not: {c}}}"),
            st.lists(inner, min_size=2, max_size=3).map(lambda cs: f"{{all: [{', '.join(cs)}]}}"),
            st.lists(inner, min_size=2, max_size=3).map(lambda cs: f"{{any: [{', '.join(cs)}]}}"),
        ),
        max_leaves=5,
    )


_GRID: dict[str, list[Any]] = {
    "dpd": [0, 1, 3, 4, 5, 900, 901],
    "score": [300, 305, 310, 311, 899, 900],
    "tier": ["gold", "silver", "bronze"],
    "flagged": [True, False],
    "limit_pct": [0.0, 0.5, 1.0],
}


def _unchecked(text: str) -> Policy:
    """The policy parsed without `check`, so a refused condition can still be decided."""
    document = read_yaml(text, "t.yaml")
    assert isinstance(document.data, dict)
    policy, errors = parse_policy(document.data, document.source, None)
    assert policy is not None and not errors
    return policy


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_conditions())
def test_the_checker_agrees_with_the_engine(when: str) -> None:
    """C130 on a rule's condition: no account fires the rule. Otherwise the checker's example
    fires it; with W002 every account that fires it is decided by the stronger rule, and
    without W002 some account fires it and escapes the stronger rule."""
    rules = notify(when) + SUSPEND_LATE.replace("{fact: dpd, gt: 30}", "{fact: dpd, gt: 4}")
    text = policy_text(rules)
    line = text.splitlines().index(f"    when: {when}") + 1
    result = analyse_policy_text(text, "t.yaml")
    at_rule = {d.code for d in result.diagnostics if (d.line, d.column) == (line, 11)}
    policy = _unchecked(text)
    compiled = compile_policy(policy)
    facts = {fact.name: fact for fact in policy.facts}

    def fires(account: dict[str, Any]) -> tuple[bool, ActionKind]:
        decision = decide(compiled, account, AS_OF, trace=False, what_if=True)
        return "a" in [r.rule for r in decision.reasons], decision.action

    if "C130" in at_rule:
        for combo in itertools.product(*_GRID.values()):
            assert not fires(dict(zip(_GRID, combo, strict=True)))[0]
        return
    rule, late = policy.rules
    account = example(facts, rule.when)
    assert account is not None
    assert fires(account)[0]
    escape = example(facts, AllOf((rule.when, Not(late.when))))
    if "W002" in at_rule:
        assert escape is None
        for combo in itertools.product(*_GRID.values()):
            fired, action = fires(dict(zip(_GRID, combo, strict=True)))
            assert not fired or action is ActionKind.SUSPEND
    else:
        assert escape is not None
        assert fires(escape) == (True, ActionKind.NOTIFY)


def test_a_threshold_of_the_wrong_type_is_one_located_error_never_a_crash(tmp_path: Path) -> None:
    policy = tmp_path / "typed.yaml"
    rules = notify("{all: [{fact: dpd, lt: banana}, {fact: dpd, gt: 3}]}")
    policy.write_text(policy_text(rules), "utf-8")
    done = run_cli("check", str(policy))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "error[C102]" in done.stderr and "C130" not in done.stderr
