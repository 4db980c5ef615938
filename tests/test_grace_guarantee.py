"""The grace guarantee holds by construction: `check` refuses a grace rule that would close,
suspend or reduce a line without notice, a cure and a person to ask, and every accepted policy
decides adverse actions that take effect no earlier than its minimum notice."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import compile_policy, decide, load_policy, load_policy_text
from clearline.engine.errors import FactError, PolicyError
from clearline.engine.model import ADVERSE_ACTIONS, Policy
from clearline.engine.policy.load import analyse_policy_text
from clearline.engine.synthetic.accounts import sample_accounts
from tests.conftest import SHIPPED_V1, SHIPPED_V2, run_cli
from tests.policy_strategies import accounts, policies

BASE = yaml.safe_load(SHIPPED_V2.read_text("utf-8"))


def codes_of(edit: Callable[[dict[str, Any]], None]) -> list[tuple[str, int, str]]:
    """(code, line, message) of every error `check` finds in the shipped 1.1.0 after `edit`."""
    data = copy.deepcopy(BASE)
    edit(data)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    result = analyse_policy_text(text, "edited.yaml")
    return [(d.code, d.line, d.message) for d in result.diagnostics if d.severity == "error"]


def only_codes(edit: Callable[[dict[str, Any]], None]) -> set[str]:
    return {code for code, _, _ in codes_of(edit)}


def test_the_shipped_versions_pass_with_their_jurisdictions_declared() -> None:
    for path in (SHIPPED_V1, SHIPPED_V2):
        policy = load_policy(path)
        assert policy.metadata.jurisdictions == ("CN",)
    run = run_cli("check", str(SHIPPED_V1.parent))
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        # no notice at all, or a zero notice, on close and suspend
        (lambda d: d["grace"].update(closure={}), "C116"),
        (lambda d: d["grace"]["suspension"].update(notice_days=0), "C116"),
        # below the policy's own declared minimum (close: 60)
        (lambda d: d["grace"]["closure"].update(notice_days=59), "C116"),
        (lambda d: d["grace"]["immediate"].pop("category"), "C117"),
        (lambda d: d["grace"]["closure"].update(category="fraud"), "C117"),
        (lambda d: d["grace"]["suspension"].pop("appeal"), "C118"),
        (lambda d: d["grace"]["immediate"].pop("appeal"), "C118"),
        (lambda d: d["grace"]["reduction"].pop("cure"), "C119"),
        (lambda d: d["grace"]["immediate"].pop("cure"), "C119"),
        # the illusory cure: a 30-day signal window, a 15-day cure window
        (lambda d: d["rules"][6].update(grace="behaviour"), "C190"),
        (
            lambda d: d["grace"]["closure"]["exemptions"].append(
                {
                    "id": "x",
                    "when": {"fact": "segment", "eq": "gig_worker"},
                    "downgrade_to": "reduce_limit",
                }
            ),
            "C191",
        ),
        (lambda d: d["grace"]["suspension"]["appeal"].update(days=14), "C192"),
        (
            lambda d: d["grace"]["immediate"].update(
                exemptions=[
                    {
                        "id": "h",
                        "when": {"fact": "declared_hardship", "eq": True},
                        "extend_notice_days": 5,
                    }
                ]
            ),
            "C193",
        ),
        (
            lambda d: d["grace"]["closure"]["exemptions"].append(
                {
                    "id": "hardship",
                    "when": {"fact": "segment", "eq": "gig_worker"},
                    "extend_notice_days": 5,
                }
            ),
            "C194",
        ),
        (
            lambda d: d["grace"]["closure"]["exemptions"].append(
                {"id": "nothing", "when": {"fact": "segment", "eq": "gig_worker"}}
            ),
            "C195",
        ),
    ],
)
def test_each_way_to_hurt_a_customer_is_refused(
    edit: Callable[[dict[str, Any]], None], code: str
) -> None:
    found = codes_of(edit)
    assert code in {c for c, _, _ in found}, found
    message = next(m for c, _, m in found if c == code)
    assert "`" in message  # names the grace rule, rule or field to fix


def test_the_refusal_is_located_and_names_the_fix_on_the_command_line(tmp_path: Path) -> None:
    shipped = SHIPPED_V2.read_text("utf-8")
    # The suspension grace rule's notice: the first `notice_days: 15` after its key.
    start = shipped.index("\n  suspension:\n")
    at = shipped.index("    notice_days: 15\n", start)
    text = shipped[:at] + "    notice_days: 0\n" + shipped[at + len("    notice_days: 15\n") :]
    assert text != shipped
    path = tmp_path / "1.1.0.yaml"
    path.write_text(text, "utf-8")
    line = text.splitlines().index("    notice_days: 0") + 1
    run = run_cli("check", str(path))
    assert run.returncode == 1
    assert f"1.1.0.yaml:{line}:18: error[C116]:" in run.stderr  # at the value 0
    assert "give at least that" in run.stderr and "Traceback" not in run.stderr


def test_notice_in_calendar_months_takes_effect_on_the_same_day_of_the_month() -> None:
    data = copy.deepcopy(BASE)
    data["grace"]["closure"].pop("notice_days")
    data["grace"]["closure"]["notice"] = {"months": 2}
    data["grace"]["closure"]["appeal"]["days"] = 62
    data["metadata"]["minimum_notice_days"]["close"] = 59  # two months are 59 to 62 days
    data["metadata"]["jurisdictions"] = ["CN", "EU"]
    data["tests"] = []
    compiled = compile_policy(load_policy_text(yaml.safe_dump(data, allow_unicode=True)))
    facts = dict(BASE["tests"][0]["facts"], days_past_due=91)
    timeline = decide(compiled, facts, "2027-12-31").timeline
    assert timeline is not None
    assert timeline.effective == dt.date(2028, 2, 29)  # the last day of the shorter month
    assert timeline.appeal_until is not None and timeline.appeal_until >= timeline.effective


def test_exemption_days_lengthen_the_appeal_window_as_they_do_the_notice() -> None:
    compiled = compile_policy(load_policy(SHIPPED_V2))
    facts = dict(BASE["tests"][0]["facts"], days_past_due=120, declared_hardship=True)
    timeline = decide(compiled, facts, "2027-03-01").timeline
    assert timeline is not None
    assert timeline.effective == dt.date(2027, 5, 30)
    assert timeline.appeal_until == timeline.effective


def test_the_record_of_an_immediate_action_names_its_category() -> None:
    compiled = compile_policy(load_policy(SHIPPED_V2))
    facts = dict(BASE["tests"][0]["facts"], confirmed_fraud=True)
    record = decide(compiled, facts, "2027-03-01").to_dict()["timeline"]
    assert record["immediate"] is True and record["immediate_category"] == "fraud"


def _assert_guarantee(policy: Policy, decision: Any) -> None:
    """An adverse action takes effect no earlier than the minimum unless immediate, and the
    record's `immediate` is true exactly when it takes effect on the decision day."""
    timeline = decision.timeline
    grace = policy.grace_rule(timeline.grace)
    assert timeline.immediate == (timeline.effective == timeline.decided_on)
    if grace is not None and grace.immediate:
        assert timeline.immediate
        return
    minimum = policy.metadata.minimum_notice(decision.action)
    assert (timeline.effective - timeline.decided_on).days >= minimum
    assert not timeline.immediate
    if timeline.appeal_until is not None:
        assert timeline.appeal_until >= timeline.effective


@pytest.mark.parametrize("path", [SHIPPED_V1, SHIPPED_V2], ids=["1.0.0", "1.1.0"])
def test_every_adverse_rule_of_every_shipped_version_waits_its_minimum(path: Path) -> None:
    policy = load_policy(path)
    compiled = compile_policy(policy)
    moment = policy.metadata.effective_from + dt.timedelta(days=40)
    seen: set[str] = set()
    examples = [dict(test.facts) for test in policy.tests]
    examples += [account["facts"] for account in sample_accounts(policy, 3000, seed=7)]
    for facts in examples:
        decision = decide(compiled, facts, moment)
        for reason in decision.reasons:
            seen.add(reason.rule)
        if decision.action in ADVERSE_ACTIONS:
            _assert_guarantee(policy, decision)
    adverse = {rule.id for rule in policy.rules if rule.action.kind in ADVERSE_ACTIONS}
    assert adverse <= seen, f"adverse rules never decided: {sorted(adverse - seen)}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), pair=policies())
def test_no_accepted_policy_acts_before_its_notice_minimum(data: st.DataObject, pair: Any) -> None:
    _, policy = pair
    compiled = compile_policy(policy)
    for _ in range(5):
        facts = data.draw(accounts(policy))
        try:
            decision = decide(compiled, facts, "2025-06-01")
        except FactError:
            continue
        if decision.action in ADVERSE_ACTIONS:
            _assert_guarantee(policy, decision)


def test_a_grace_rule_of_no_promise_is_refused_in_a_small_policy() -> None:
    text = """
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata: {id: p, version: 1.0.0, title: {en: P}, effective_from: 2027-01-01, languages: [en]}
facts:
  days_past_due: {type: integer, minimum: 0, label: {en: days past due}}
rules:
  - {id: late, action: close, when: {fact: days_past_due, gt: 30}, reason: {code: D1}, grace: g}
grace:
  g: {notice_days: 0}
"""
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text)
    assert {"C116", "C118", "C119"} <= {d.code for d in caught.value.diagnostics}


def test_the_eu_pack_asks_two_calendar_months_before_a_closure() -> None:
    def eu(d: dict[str, Any]) -> None:
        d["metadata"]["jurisdictions"] = ["EU"]

    found = codes_of(eu)
    assert [c for c, _, _ in found] == ["C172"]
    assert "EU Consumer Credit Directive 2023/2225 art. 28(1)" in found[0][2]
    assert "2 calendar months" in found[0][2]


def test_the_us_pack_asks_45_days_and_a_reason_code_of_each_rule() -> None:
    def us(d: dict[str, Any]) -> None:
        d["metadata"]["jurisdictions"] = ["US"]
        d["rules"][1]["reason"]["code"] = "D02"

    found = codes_of(us)
    # C176: the US pack also asks for the regulator's contact, as the shipped policy names
    # only the CN one while its reasons use credit bureau data.
    assert {c for c, _, _ in found} == {"C172", "C174", "C176"}
    assert any("Reg Z 12 CFR 1026.9" in m and "45 days" in m for _, _, m in found)


def test_an_unknown_pack_names_the_shipped_ones_and_a_lender_pack_is_read(tmp_path: Path) -> None:
    assert only_codes(lambda d: d["metadata"].update(jurisdictions=["XX"])) == {"C170"}
    (tmp_path / "XX.jurisdiction.yaml").write_text(
        "id: XX\nname: A lender's own rules\nrequirements:\n"
        "  - {book: House rule 7, minimum_notice: {actions: [suspend], days: 20}}\n",
        "utf-8",
    )
    text = SHIPPED_V2.read_text("utf-8").replace("jurisdictions: [CN]", "jurisdictions: [CN, XX]")
    (tmp_path / "1.1.0.yaml").write_text(text, "utf-8")
    run = run_cli("check", str(tmp_path / "1.1.0.yaml"))
    assert run.returncode == 1
    assert "error[C172]" in run.stderr and "House rule 7" in run.stderr
