"""Documents people read (issue 18 item 5): words for every id, owner texts in every language,
the one-screen summary, change kinds in words, no Markdown syntax in HTML."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearline.disclosures.change_notice import change_notice
from clearline.disclosures.locale import Locale
from clearline.engine import load_policy, load_policy_text
from clearline.engine.change.diff import diff_policies
from clearline.engine.change.kinds import ChangeKind
from clearline.engine.policy.load import analyse_policy_text

from .conftest import SHIPPED_V2, run_cli
from .disclosure_fixtures import GOLDEN, LANGS

SHIPPED: dict[str, Any] = yaml.safe_load(SHIPPED_V2.read_text(encoding="utf-8"))


def _codes(edit: Callable[[dict[str, Any]], None]) -> list[str]:
    data = copy.deepcopy(SHIPPED)
    edit(data)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    result = analyse_policy_text(text, "policy.yaml", SHIPPED_V2.parent)
    return [d.code for d in result.diagnostics if d.severity == "error"]


def test_the_shipped_policy_passes() -> None:
    assert _codes(lambda data: None) == []


@pytest.mark.parametrize(
    ("code", "edit"),
    [
        ("C210", lambda d: d["grace"]["closure"].pop("label")),
        ("C210", lambda d: d["grace"]["closure"]["label"].pop("en")),
        ("C211", lambda d: d["facts"]["segment"]["value_labels"].pop("gig_worker")),
        ("C211", lambda d: d["facts"]["segment"]["value_labels"]["gig_worker"].pop("zh-CN")),
        ("C212", lambda d: d["grace"]["reduction"]["exemptions"][0].pop("description")),
        ("C213", lambda d: d["metadata"]["owner"]["contact"].pop("en")),
        ("C213", lambda d: d["metadata"]["owner"]["review_channel"].pop("zh-CN")),
        ("C213", lambda d: d["metadata"]["owner"]["name"].pop("en")),
    ],
)
def test_every_visible_id_and_owner_text_needs_every_language(
    code: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    # The CN pack also wants a review channel in every language (C173); nothing else is raised.
    assert code in _codes(edit) and set(_codes(edit)) <= {code, "C173"}


def test_a_policy_without_an_owner_is_not_yet_for_customers() -> None:
    def sketch(data: dict[str, Any]) -> None:
        data["metadata"].pop("owner")
        data["metadata"].pop("jurisdictions")  # the CN pack wants an owner
        data["grace"]["closure"].pop("label")

    assert _codes(sketch) == []


def test_the_english_contact_missing_is_a_located_error(tmp_path: Path) -> None:
    # The case of the review: `owner.contact` without English vanished from the English page.
    text = SHIPPED_V2.read_text(encoding="utf-8")
    contact = next(
        line for line in text.splitlines() if line.strip().startswith("contact: {zh-CN:")
    )
    policy = tmp_path / "1.1.0.yaml"
    policy.write_text(
        text.replace(contact, contact.split(", en:")[0] + "}"),
        encoding="utf-8",
    )
    result = run_cli("check", str(policy))
    assert result.returncode == 1
    line = 1 + text.splitlines().index(contact)
    assert re.search(rf"1\.1\.0\.yaml:{line}:\d+: error\[C213\]: `owner\.contact`", result.stderr)
    assert "Traceback" not in result.stderr


def test_every_change_kind_has_words_in_every_catalogue() -> None:
    policy = load_policy(SHIPPED_V2)
    for lang in LANGS:
        locale = Locale(policy, lang)
        assert [k.value for k in ChangeKind if not locale.has("change_kinds", k.value)] == []


def test_a_change_notice_names_no_raw_kind_or_id() -> None:
    old = load_policy(SHIPPED_V2)
    data = json.loads(json.dumps(SHIPPED, default=str))
    data["metadata"].update(version="1.2.0", effective_from="2027-06-01", announced_on="2027-04-01")
    data["facts"]["prior_adverse_actions_12m"]["unit"] = "day"  # fact_unit
    notify = [i for i, r in enumerate(data["rules"]) if r["action"] == "notify"]
    rules = data["rules"]
    rules[notify[0]], rules[notify[1]] = rules[notify[1]], rules[notify[0]]  # reason_order
    new = load_policy_text(json.dumps(data), "1.2.0.yaml")
    diff = diff_policies(old, new)
    kinds = {change.kind for change in diff.changes}
    assert {ChangeKind.FACT_UNIT, ChangeKind.REASON_ORDER} <= kinds
    for lang in LANGS:
        text = change_notice(diff, lang)
        for raw in ("fact_unit", "reason_order", "prior_adverse_actions_12m", "early-late-payment"):
            assert raw not in text
        assert "N02" in text and "N01" in text  # the reordered reminders, by their codes
    assert "the order in which we list reasons" in change_notice(diff, "en")
    assert "列出原因的顺序" in change_notice(diff, "zh-CN")


def _page_text(html: str) -> str:
    body = html.split("<main>", 1)[1]
    return unescape(re.sub(r"<[^>]+>", "", body))


@pytest.mark.parametrize("lang", LANGS)
def test_golden_documents_show_no_raw_id_and_no_markdown(lang: str) -> None:
    policy = load_policy(SHIPPED_V2)
    ids = [g.name for g in policy.grace if "_" in g.name]
    ids += [v for f in policy.facts for v in f.values if "_" in v]
    shown = {g.label.get(lang) for g in policy.grace}
    for path in sorted(GOLDEN.glob(f"*.{lang}.md")):
        markdown = path.read_text(encoding="utf-8")
        assert "\\_" not in markdown, path.name
        for raw in ids:
            assert raw not in markdown and raw.replace("_", "\\_") not in markdown, (path, raw)
        for named in re.findall(r"(?:Grace rule:\*\* |宽限规则\*\*：)(.+)", markdown):
            assert named in shown, (path.name, named)
        text = _page_text(path.with_suffix(".html").read_text(encoding="utf-8"))
        for syntax in ("**", "](", "\\_", "\\.", "__"):
            assert syntax not in text, (path.name, syntax)


@pytest.mark.parametrize(
    ("lang", "heading", "details", "notice"),
    [
        ("en", "## At a glance", "## Who decides", "at least 60 days before"),
        ("zh-CN", "## 要点", "## 由谁决定", "至少提前60天通知您"),
    ],
)
def test_a_one_screen_summary_opens_the_disclosure(
    lang: str, heading: str, details: str, notice: str
) -> None:
    markdown = (GOLDEN / f"disclosure.{lang}.md").read_text(encoding="utf-8")
    summary = markdown[markdown.index(heading) : markdown.index(details)]
    assert markdown.index(heading) < markdown.index(details)
    policy = load_policy(SHIPPED_V2)
    owner = policy.metadata.owner
    assert owner is not None
    review = owner.review_channel.get(lang)
    assert review is not None and review in summary
    assert notice in summary
    assert summary.count("\n- ") == 5  # close, suspend, reduce, a person, the details
    # one phone screen: a few hundred characters per line at most
    assert len(summary) < (1400 if lang == "en" else 700)
