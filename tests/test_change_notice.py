"""The customer notice of a policy change, generated from the semantic diff."""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from clearline.disclosures import measure
from clearline.disclosures.change_notice import change_notice
from clearline.engine import load_policy, load_policy_text
from clearline.engine.change.diff import diff_policies
from clearline.engine.change.kinds import ChangeKind

from .conftest import SHIPPED_V1, SHIPPED_V2, run_cli
from .test_diff import BASE, rule

SHIPPED = diff_policies(load_policy(SHIPPED_V1), load_policy(SHIPPED_V2))


def test_shipped_change_notice_in_english() -> None:
    text = change_notice(SHIPPED, "en")
    assert "Issued on November 30, 2026. The new rules start on **January 15, 2027**." in text
    assert "We tell you at least 45 days before a change that can affect you." in text
    adverse = text.split("## Changes that can affect you")[1].split("## Other changes")[0]
    # each adverse rule as it is now and as it will be, with both thresholds
    assert (
        "is 3 or more and the number of days since your first loan with us is 30 or fewer"
        in adverse
    )
    assert (
        "is 2 or more and the number of days since your first loan with us is 60 or fewer"
        in adverse
    )
    assert "95% or more" in adverse and "90% or more" in adverse
    assert "gig worker or new to credit" in adverse
    # each changed rule by its number in the disclosure and its reason code
    assert "- Rule 5 (code B01) changes." in adverse
    assert "- Rule 11 (code L02) changes." in adverse
    assert "- Rule 12 (code L03) changes." in adverse
    # the reminder rule N03 changed who it reaches: described, never called wording
    other = text.split("## Other changes")[1].split("## What you can do")[0]
    assert "- Rule 17 (code N03) changes." in other
    assert "is 1 and the number of days since your first loan with us is 60 or fewer" in other
    assert "That does not change any decision" not in text
    assert "## Changes in your favour" not in text
    assert "call 400-000-0000" in text
    assert SHIPPED.old.metadata.version in text and SHIPPED.new.metadata.version in text
    readability = measure(text, "en")
    assert readability.grade <= 8, readability.report()


def test_shipped_change_notice_in_chinese() -> None:
    text = change_notice(SHIPPED, "zh-CN")
    assert "本通知发布于2026年11月30日。新规则自**2027年1月15日**起施行。" in text
    assert "规则17（代码 N03）有变化。" in text
    assert (
        "近7天申请高息贷款次数达到3次或以上" in text
        and "近7天申请高息贷款次数达到2次或以上" in text
    )
    assert "额度使用率达到95%或以上" in text and "额度使用率达到90%或以上" in text
    readability = measure(text, "zh-CN")
    assert readability.chars_per_sentence <= 30, readability.report()
    assert readability.longest <= 60, readability.report()


def _diff(edit: Any) -> Any:
    old = load_policy_text(json.dumps(BASE), "1.0.0.yaml")
    data = copy.deepcopy(BASE)
    data["metadata"].update(version="1.1.0", effective_from="2026-06-01")
    edit(data)
    return diff_policies(old, load_policy_text(json.dumps(data), "1.1.0.yaml"))


def test_a_favourable_change_only() -> None:
    text = change_notice(_diff(lambda d: rule(d, "late")["when"].update(gt=60)), "en")
    assert "## Changes that can affect you" not in text
    favourable = text.split("## Changes in your favour")[1]
    assert "more than 30" in favourable and "more than 60" in favourable


def test_shorter_notice_is_an_adverse_time_limit() -> None:
    text = change_notice(_diff(lambda d: d["grace"]["std"].update(notice_days=10)), "en")
    adverse = text.split("## Changes that can affect you")[1]
    assert "Notice before we act: 30 days now, 10 days from June 1, 2026." in adverse


def test_new_and_removed_rules_and_precedence_in_words() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["rules"].append(
            {
                "id": "new",
                "action": "suspend",
                "grace": "std",
                "reason": {"code": "N"},
                "when": {"fact": "score", "lt": 400},
            }
        )
        d["rules"] = [r for r in d["rules"] if r["id"] != "low"]
        d["outcome"] = {"precedence": ["suspend", "close", "reduce_limit", "review", "notify"]}

    text = change_notice(_diff(edit), "en")
    assert "A new rule from June 1, 2026, rule 3 (code N): Your score is below 400." in text
    assert (
        "Rule 2 (code S) ends:" in text
        and "We will no longer close your credit line for this." in text
    )
    assert "Pause borrowing > Close the line" in text


def test_wording_only_change() -> None:
    text = change_notice(_diff(lambda d: d["facts"]["dpd"].update(label={"en": "days late"})), "en")
    assert "Nothing changes in how we decide. We only changed some wording." in text
    # not announced ahead: the notice is dated the day the new rules start
    assert "Issued on June 1, 2026. The new rules start on **June 1, 2026**." in text


def test_a_changed_reminder_condition_is_described_not_called_wording() -> None:
    # A reminder rule takes nothing away, so the diff calls its change neutral; the notice
    # must still say who it reaches now, and must not claim only wording changed.
    def with_nudge(version: str, below: int) -> Any:
        data = copy.deepcopy(BASE)
        data["metadata"].update(version=version, effective_from="2026-06-01")
        nudge = {"fact": "score", "lt": below}
        data["rules"].append(
            {"id": "nudge", "action": "notify", "reason": {"code": "R9"}, "when": nudge}
        )
        return load_policy_text(json.dumps(data), f"{version}.yaml")

    diff = diff_policies(with_nudge("1.0.0", 700), with_nudge("1.1.0", 650))
    assert [c.kind for c in diff.changes] == [ChangeKind.THRESHOLD]
    text = change_notice(diff, "en")
    other = text.split("## Other changes")[1]
    assert "Rule 4 (code R9) changes." in other
    assert "below 700" in other and "below 650" in other
    assert "wording" not in text
    assert "Nothing changes in how we decide" not in text


def test_wording_is_mentioned_only_when_a_text_changed() -> None:
    text = change_notice(_diff(lambda d: rule(d, "late")["when"].update(gt=60)), "en")
    assert "wording" not in text


def test_cli_change_notice_html(tmp_path: Path) -> None:
    out = tmp_path / "change.html"
    result = run_cli(
        "diff",
        str(SHIPPED_V1),
        str(SHIPPED_V2),
        "--notice",
        "--lang",
        "zh-CN",
        "--format",
        "html",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    html = out.read_text("utf-8")
    assert '<html lang="zh-CN">' in html
    HTMLParser().feed(html)
    assert "<h1>我们将修改信用额度规则</h1>" in html
    # Markdown's ** next to full-width punctuation must still become bold, never leak
    assert "**" not in html
    assert "<strong>现在</strong>：" in html
    bad = run_cli("diff", str(SHIPPED_V1), str(SHIPPED_V2), "--notice", "--format", "json")
    assert bad.returncode == 2
