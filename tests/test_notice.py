"""Decision notices: exactly the fired rules, ranked, with counterfactuals; refused when inconsistent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.disclosures import NoticeError, decision_notice, measure, notice_problems
from clearline.disclosures.notice import notice_context
from clearline.engine import decide, sample_accounts

from .conftest import run_cli
from .disclosure_fixtures import AS_OF, CLOSED, GOOD, LANGS, ROOT, SHIPPED, SUSPENDED, shipped


def _flat(markdown: str) -> str:
    return " ".join(markdown.replace("\\", "").split())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_random_decisions_give_complete_notices(seed: int) -> None:
    compiled = shipped()
    for account in sample_accounts(compiled.policy, 5, seed):
        decision = decide(compiled, account["facts"], AS_OF, account_id=account["account_id"])
        for lang in LANGS:
            markdown = decision_notice(compiled, decision, lang)
            assert notice_problems(compiled, decision, markdown, lang) == []
            context = notice_context(compiled, decision, lang)
            shown = [r["rule"] for r in context["principal"] + context["other"]]
            assert shown == [r.rule for r in decision.reasons]
            flat = _flat(markdown)
            for reason in context["principal"] + context["other"]:
                assert reason["text"] in flat
                for change in reason["changes"]:
                    assert change in flat


def test_at_most_four_principal_reasons() -> None:
    compiled = shipped()
    facts = {
        **GOOD,
        "days_past_due": 95,
        "delinquencies_12m": 4,
        "credit_score": 450,
        "credit_score_drop_90d": 200,
        "utilisation": 0.99,
        "outflow_to_income_30d": 3.5,
        "prior_adverse_actions_12m": 2,
    }
    decision = decide(compiled, facts, AS_OF)
    assert len(decision.reasons) > 4
    context = notice_context(compiled, decision, "en")
    assert len(context["principal"]) == 4
    assert [r["rank"] for r in context["principal"]] == [1, 2, 3, 4]
    markdown = decision_notice(compiled, decision, "en")
    assert "### Other reasons" in markdown
    assert notice_problems(compiled, decision, markdown, "en") == []


@pytest.mark.parametrize("facts", [CLOSED, SUSPENDED, GOOD])
@pytest.mark.parametrize("lang", LANGS)
def test_notices_meet_the_readability_targets(facts: dict[str, Any], lang: str) -> None:
    compiled = shipped()
    stats = measure(decision_notice(compiled, decide(compiled, facts, AS_OF), lang), lang)
    if lang == "en":
        assert stats.grade <= 8
    else:
        assert stats.chars_per_sentence <= 30
        assert stats.longest <= 60


def test_every_shipped_example_notice_meets_the_targets() -> None:
    compiled = shipped()
    for test in compiled.policy.tests:
        decision = decide(compiled, dict(test.facts), AS_OF)
        en = measure(decision_notice(compiled, decision, "en"), "en")
        zh = measure(decision_notice(compiled, decision, "zh-CN"), "zh-CN")
        assert en.grade <= 8, test.name
        assert zh.chars_per_sentence <= 30 and zh.longest <= 60, test.name


def test_a_record_without_trace_is_refused(tmp_path: Path) -> None:
    compiled = shipped()
    record = decide(compiled, CLOSED, AS_OF).to_dict()
    record["trace"] = None
    with pytest.raises(NoticeError, match="no trace"):
        decision_notice(compiled, record, "en")
    untraced = tmp_path / "untraced.json"
    untraced.write_text(json.dumps(record))
    result = run_cli("notice", str(untraced), "--policy", str(SHIPPED))
    assert result.returncode == 1
    assert result.stderr.startswith("clearline: error[N103]: ") and "no trace" in result.stderr


def test_a_record_whose_reasons_disagree_with_its_trace_is_refused() -> None:
    compiled = shipped()
    record = decide(compiled, CLOSED, AS_OF).to_dict()
    record["reasons"] = record["reasons"][:1]
    with pytest.raises(NoticeError, match="not the rules its trace says fired"):
        decision_notice(compiled, record, "en")


def test_a_record_whose_values_do_not_fire_its_rules_is_refused() -> None:
    compiled = shipped()
    record = decide(compiled, SUSPENDED, AS_OF).to_dict()
    for entry in record["trace"]:
        for check in entry["checks"]:
            if check["fact"] == "high_apr_applications_7d":
                check["value"] = 0
    with pytest.raises(NoticeError, match="does not fire"):
        decision_notice(compiled, record, "en")


@pytest.fixture(scope="module")
def decision_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `clearline decide` output for the closed account."""
    folder = tmp_path_factory.mktemp("decision")
    request = folder / "account.json"
    request.write_text(json.dumps({"account_id": "A-9", "facts": CLOSED}))
    out = folder / "decision.json"
    result = run_cli(
        "decide", "--policy", str(SHIPPED), "--as-of", AS_OF, str(request), "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    return out


def test_notice_cli_finds_the_policy_by_id_version_and_hash(
    decision_file: Path, tmp_path: Path
) -> None:
    decision = decision_file
    result = run_cli(
        "notice", str(decision), "--lang", "zh-CN", "--policies", str(ROOT / "policies")
    )
    assert result.returncode == 0, result.stderr
    assert "# 关于您的信用额度" in result.stdout
    assert "A-9" in result.stdout
    result = run_cli("notice", str(decision), "--lang", "en", "--check")
    assert result.returncode == 0, result.stderr
    assert "the en notice is complete" in result.stdout
    html = tmp_path / "n.html"
    result = run_cli("notice", str(decision), "--format", "html", "-o", str(html))
    assert result.returncode == 0, result.stderr
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_notice_cli_refuses_a_policy_whose_hash_changed(
    decision_file: Path, tmp_path: Path
) -> None:
    decision = decision_file
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    changed = folder / "credit-line-closure" / "1.1.0.yaml"
    text = changed.read_text(encoding="utf-8")
    changed.write_text(text.replace("Pay soon to keep your line open.", "Pay soon."))
    result = run_cli("notice", str(decision), "--policies", str(folder))
    assert result.returncode == 1
    assert "error[N101]" in result.stderr and "changed since the decision" in result.stderr
    assert "Traceback" not in result.stderr


def test_notice_cli_reports_an_unknown_policy_version(decision_file: Path, tmp_path: Path) -> None:
    record = json.loads(decision_file.read_text())
    record["policy"]["version"] = "9.9.9"
    decision = tmp_path / "other.json"
    decision.write_text(json.dumps(record))
    result = run_cli("notice", str(decision))
    assert result.returncode == 1
    assert "error[N102]: no policy credit-line-closure version 9.9.9" in result.stderr


def test_notice_cli_picks_one_record_of_jsonl_by_id(tmp_path: Path) -> None:
    compiled = shipped()
    records = [
        decide(compiled, facts, AS_OF, account_id=name).to_json()
        for name, facts in (("A-1", CLOSED), ("A-2", SUSPENDED))
    ]
    batch = tmp_path / "decisions.jsonl"
    batch.write_text("\n".join(records) + "\n", encoding="utf-8")
    result = run_cli("notice", str(batch), "--lang", "en")
    assert result.returncode == 1
    assert f"error[N100]: {batch}: 2 decision records; pick one with --id" in result.stderr
    wanted = json.loads(records[1])["decision_id"]
    result = run_cli("notice", str(batch), "--lang", "en", "--id", wanted)
    assert result.returncode == 0, result.stderr
    assert "A-2" in result.stdout and "pause new borrowing" in result.stdout
    assert run_cli("notice").returncode == 2


def test_a_record_with_redacted_facts_still_gives_a_notice() -> None:
    # An audit log may keep a fact only as a salted hash, in the trace too.
    compiled = shipped()
    record = decide(compiled, {**GOOD, "credit_score": 450}, AS_OF).to_dict()
    for entry in record["trace"]:
        for check in entry["checks"]:
            if check["fact"] == "credit_score":
                check["value"] = {"redacted": "5f3c"}
    markdown = decision_notice(compiled, record, "en")
    assert "**Credit score:** hidden in our records" in markdown
    assert "If your credit score were 500 points or more" in markdown
    assert notice_problems(compiled, record, markdown, "en") == []


def test_notice_from_the_audit_log(tmp_path: Path) -> None:
    from clearline.engine.audit.log import AuditLog

    compiled = shipped()
    closed = decide(compiled, CLOSED, AS_OF, account_id="A-1")
    suspended = decide(compiled, SUSPENDED, AS_OF, account_id="A-2")
    db = tmp_path / "audit.db"
    with AuditLog(db) as log:
        log.append([closed, suspended])
    result = run_cli(
        "notice", "--audit", str(db), "--id", suspended.decision_id[:12], "--lang", "en"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == decision_notice(compiled, suspended, "en")
    result = run_cli("notice", "--audit", str(db), "--lang", "en")
    assert result.returncode == 2 and "--audit needs --id" in result.stderr
    result = run_cli("notice", "--audit", str(db), "--id", "0000000000")
    assert result.returncode == 1 and "no record" in result.stderr
