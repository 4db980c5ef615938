"""Loading and checking policies: every broken policy gets located errors, never a partial load."""

from __future__ import annotations

import json

import jsonschema
import pytest

from clearline.engine import PolicyError, load_policy, load_policy_text
from clearline.engine.policy.load import analyse_policy, analyse_policy_text
from clearline.engine.policy.schema import policy_schema

from .conftest import POLICIES, SHIPPED_V1, SHIPPED_V2, SMALL_POLICY, small_policy


def codes(text: str) -> list[str]:
    """The error codes of a policy given as text."""
    return [d.code for d in analyse_policy_text(text, "p.yaml").errors]


def first_error(text: str) -> str:
    result = analyse_policy_text(text, "p.yaml")
    assert result.policy is None
    return result.errors[0].render()


def test_shipped_policies_load_without_diagnostics() -> None:
    for path in (SHIPPED_V1, SHIPPED_V2):
        result = analyse_policy(path)
        assert result.policy is not None
        # 1.1.0's segment-tightening (reduce_limit, score below 620) outranks thin-file-low-score
        # (review, score below 580) for every account the latter fires on: W002 says so.
        found = [(d.code, d.message.split(" never decides")[0]) for d in result.diagnostics]
        dead = [("W002", "rule `thin-file-low-score` (review)")] if path == SHIPPED_V2 else []
        assert found == dead
        assert len(result.policy.rules) >= 12
        assert {rule.action.kind.value for rule in result.policy.rules} >= {
            "close",
            "suspend",
            "reduce_limit",
            "review",
            "notify",
        }


def test_published_schema_is_the_packaged_one_and_valid() -> None:
    published = json.loads((POLICIES / "policy.schema.json").read_text("utf-8"))
    assert published == policy_schema()
    jsonschema.Draft202012Validator.check_schema(published)


def test_small_policy_loads() -> None:
    policy = load_policy_text(SMALL_POLICY)
    assert [rule.id for rule in policy.rules] == ["late"]


@pytest.mark.parametrize(
    ("text", "code", "where"),
    [
        ("apiVersion: [unclosed\n", "E001", "p.yaml:2:1"),
        ("a: 1\na: 2\n", "E005", "p.yaml:2:1"),
        ("a: !!python/object:os.system ls\n", "E003", "p.yaml:1:4"),
        ("a: !custom 1\n", "E003", "p.yaml:1:4"),
        ("", "E002", "p.yaml:1:1"),
        ("- just\n- a list\n", "S003", "p.yaml:1:1"),
    ],
)
def test_yaml_level_errors_are_located(text: str, code: str, where: str) -> None:
    rendered = first_error(text)
    assert rendered.startswith(f"{where}: error[{code}]"), rendered


def test_yaml_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    assert codes("\n".join(lines) + "\n") == ["E007"]


def test_deep_nesting_is_refused() -> None:
    assert codes("a: " + "[" * 200 + "]" * 200 + "\n") == ["E008"]


def test_yaml_11_booleans_and_dates_stay_strings() -> None:
    text = small_policy(
        rules="""\
        - id: tier
          action: notify
          when: {fact: tier, in: [gold]}
          reason: {code: T1}
        """
    ).replace("values: [gold, silver, bronze]", "values: [gold, 'no', yes]")
    policy = load_policy_text(text)
    assert policy.fact("tier").values == ("gold", "no", "yes")  # type: ignore[union-attr]


def test_unknown_key_suggests_the_right_one() -> None:
    text = SMALL_POLICY.replace("  dpd:\n    type: integer", "  dpd:\n    typ: integer")
    errors = analyse_policy_text(text, "p.yaml").errors
    rendered = [e.render() for e in errors]
    assert any(
        "error[S001]: unknown key `typ`" in r and "did you mean `type`" in r for r in rendered
    )
    assert any(r.startswith("p.yaml:11:5:") for r in rendered), rendered


@pytest.mark.parametrize(
    ("rules", "code", "fragment"),
    [
        (
            "- {id: a, action: suspend, grace: standard, reason: {code: A}, when: {fact: dpp, gt: 3}}\n",
            "C100",
            "unknown fact `dpp`; did you mean `dpd`?",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: tier, gt: gold}}\n",
            "C101",
            "`gt` needs an ordered fact",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: tier, eq: platinum}}\n",
            "C103",
            "is not one of gold, silver, bronze",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: dpd, eq: '30'}}\n",
            "C102",
            "expected an integer",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: score, lt: 1000}}\n",
            "C104",
            "above the maximum 900",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: dpd, gt: 3}}\n"
            "- {id: a, action: notify, reason: {code: B}, when: {fact: dpd, gt: 4}}\n",
            "C110",
            "duplicate rule id `a`",
        ),
        (
            "- id: a\n  action: notify\n  reason: {code: A}\n  when:\n    all:\n"
            "      - {fact: dpd, gt: 5}\n      - {fact: dpd, lt: 3}\n",
            "C130",
            "can never hold",
        ),
        (
            "- {id: a, action: close, reason: {code: A}, when: {fact: dpd, gt: 3}}\n",
            "C113",
            "needs a grace rule",
        ),
        (
            "- {id: a, action: close, grace: standrd, reason: {code: A}, when: {fact: dpd, gt: 3}}\n",
            "C112",
            "did you mean `standard`?",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: dpd, between: [9, 3]}}\n",
            "C106",
            "low 9 is above high 3",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: dpd, gt: {fact: tier}}}\n",
            "C105",
            "cannot compare integer `dpd` with enum `tier`",
        ),
        (
            "- {id: a, action: reduce_limit, grace: standard, reason: {code: A}, when: {fact: dpd, gt: 3}}\n",
            "C030",
            "needs a `limit_factor`",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: dpd, gt: 3, lt: 9}}\n",
            "C021",
            "exactly one operator",
        ),
        (
            "- {id: a, action: notify, reason: {code: A}, when: {fact: flagged, in: [true]}}\n",
            "C101",
            "does not fit boolean",
        ),
    ],
)
def test_semantic_errors_are_located(rules: str, code: str, fragment: str) -> None:
    text = small_policy(rules=rules)
    result = analyse_policy_text(text, "p.yaml")
    assert result.policy is None
    matching = [d for d in result.errors if d.code == code]
    assert matching, [d.render() for d in result.errors]
    assert fragment in matching[0].message
    assert matching[0].line > 20  # points into the rules section, not at the top


def test_integer_contradiction_uses_integer_steps() -> None:
    rules = "- id: a\n  action: notify\n  reason: {code: A}\n  when:\n    all:\n      - {fact: dpd, gt: 5}\n      - {fact: dpd, lt: 6}\n"
    assert "C130" in codes(small_policy(rules=rules))
    ok = "- id: a\n  action: notify\n  reason: {code: A}\n  when:\n    all:\n      - {fact: dpd, gt: 5}\n      - {fact: dpd, lt: 7}\n"
    assert codes(small_policy(rules=ok)) == []


def test_rule_without_text_needs_labels_in_every_language() -> None:
    text = SMALL_POLICY.replace("languages: [en]", "languages: [en, zh-CN]").replace(
        "title: {en: Small policy}", "title: {en: Small policy, zh-CN: 小策略}"
    )
    result = analyse_policy_text(text, "p.yaml")
    by_code = {d.code: d for d in result.errors}
    assert "no zh-CN reason text" in by_code["C120"].message
    assert "missing the zh-CN text" in by_code["C121"].message
    labelled = text
    for label in ("days past due", "credit score", "ratio", "tier", "flagged"):
        labelled = labelled.replace(f"label: {{en: {label}}}", f"label: {{en: {label}, zh-CN: 某}}")
    assert codes(labelled) == []


def test_all_errors_are_reported_at_once() -> None:
    rules = (
        "- {id: a, action: notify, reason: {code: A}, when: {fact: nope, gt: 3}}\n"
        "- {id: b, action: notify, reason: {code: B}, when: {fact: tier, eq: iron}}\n"
    )
    assert codes(small_policy(rules=rules)) == ["C100", "C103"]


def test_a_broken_policy_is_never_loaded_in_part(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.yaml"
    path.write_text(
        small_policy(rules="- {id: a, action: notify, reason: {code: A}, when: {fact: x, eq: 1}}\n")
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert "error[C100]" in str(caught.value)


def test_unused_fact_is_a_warning_not_an_error() -> None:
    result = analyse_policy_text(SMALL_POLICY, "p.yaml")
    assert result.policy is not None
    assert {d.code for d in result.diagnostics} == {"W001"}
    assert all(d.severity == "warning" for d in result.diagnostics)


def test_policy_tests_are_checked_against_the_facts() -> None:
    extra = "tests:\n  - name: t\n    facts: {dpd: -1, tyer: gold}\n    expect: {action: none, reasons: [lat]}\n"
    found = codes(SMALL_POLICY + extra)
    assert found.count("C140") == 2
    assert "C141" in found


def test_merge_keys_let_tests_share_a_baseline() -> None:
    extra = (
        "tests:\n"
        "  - name: base\n    facts: &base {dpd: 0, score: 700, ratio: 0.1, tier: gold, flagged: false}\n"
        "    expect: {action: none}\n"
        "  - name: late\n    facts: {<<: *base, dpd: 31}\n    expect: {action: suspend, reasons: [late]}\n"
    )
    policy = load_policy_text(SMALL_POLICY + extra)
    assert dict(policy.tests[1].facts)["dpd"] == 31
    assert dict(policy.tests[1].facts)["score"] == 700
