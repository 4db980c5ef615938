"""Which facts the self-check page asks: the policy says which ones only the lender knows
(`known_to_customer: false`), apart from whether the customer can change them (`actionable`);
`--lender-only` stays as an override."""

from __future__ import annotations

import re
from pathlib import Path

from clearline.disclosures.selfcheck import lender_only_facts
from clearline.engine import CompiledPolicy
from clearline.engine.model import Actionable
from tests.conftest import SHIPPED_V2, compiled_text, run_cli, small_policy


def test_shipped_policies_name_the_facts_only_the_lender_knows(
    shipped: CompiledPolicy, shipped_v1: CompiledPolicy
) -> None:
    # 1.1.0 adds the score provider's key-factor codes, which only the lender holds.
    expected = {
        shipped: ("credit_score_factors", "segment", "confirmed_fraud"),
        shipped_v1: ("segment", "confirmed_fraud"),
    }
    for compiled, lender_only in expected.items():
        policy = compiled.policy
        assert lender_only_facts(policy) == lender_only
        # Not the same thing: past delinquencies cannot be changed, but the customer knows them.
        unchangeable = {f.name for f in policy.facts if f.actionable is Actionable.NO}
        assert {"delinquencies_12m", "days_since_first_loan"} <= unchangeable
        assert not {"delinquencies_12m", "days_since_first_loan"} & set(lender_only_facts(policy))


def test_known_to_customer_is_parsed_and_defaults_to_true() -> None:
    text = small_policy().replace(
        "  flagged:\n    type: boolean\n",
        "  flagged:\n    type: boolean\n    known_to_customer: false\n",
    )
    policy = compiled_text(text).policy
    assert [f.name for f in policy.facts if not f.known_to_customer] == ["flagged"]
    assert lender_only_facts(policy, ["tier"]) == ("tier", "flagged")


def test_a_non_boolean_known_to_customer_is_a_located_error(tmp_path: Path) -> None:
    text = small_policy().replace(
        "  flagged:\n    type: boolean\n",
        "  flagged:\n    type: boolean\n    known_to_customer: sometimes\n",
    )
    source = tmp_path / "p.yaml"
    source.write_text(text, encoding="utf-8")
    done = run_cli("check", str(source))
    assert done.returncode == 1
    assert re.search(r"p\.yaml:\d+:\d+: error\[", done.stderr), done.stderr
    assert "Traceback" not in done.stderr


def test_the_page_of_the_shipped_policy_needs_no_override(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    done = run_cli("selfcheck", str(SHIPPED_V2), "--lang", "en", "-o", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    asked = set(re.findall(r'<(?:input|select) id="f-en-\d+" name="(\w+)"', html))
    assert "credit_score" in asked and "delinquencies_12m" in asked
    assert not {"confirmed_fraud", "segment"} & asked
    assert "Confirmed fraud" in html or "fraud" in html.split("<form", 1)[0]
