"""Documents escape what they did not write: the corpus in tests/hostile/documents.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token

from clearline.cli.diff_report import render_markdown
from clearline.disclosures import decision_notice, markdown_to_html, policy_disclosure
from clearline.disclosures.change_notice import change_notice
from clearline.disclosures.escape import markdown_text, plain_text
from clearline.engine import CompiledPolicy, decide
from clearline.engine.change.diff import diff_policies
from tests.conftest import SMALL_POLICY, compiled_text

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "hostile" / "documents.yaml").read_text("utf-8")
)
PLAIN = "plain words"
FACTS = {"dpd": 40, "score": 500, "ratio": 0.1, "tier": "gold", "flagged": False}


@cache
def _policy(text: str, version: str = "1.0.0", threshold: int = 30) -> CompiledPolicy:
    """The small policy with `text` in every customer text and as an enum value."""
    q = json.dumps(text)
    value = json.dumps(" ".join(text.split()))  # enum values are names: no new line or tab
    reason = json.dumps(f"{text} more than {threshold} days")
    source = (
        SMALL_POLICY.replace("version: 1.0.0", f"version: {version}")
        .replace(
            "title: {en: Small policy}",
            f"title: {{en: {q}}}\n  owner: {{name: {{en: {q}}}, contact: {{en: {q}}},"
            f" review_channel: {{en: {q}}}}}",
        )
        .replace("label: {en: days past due}", f"label: {{en: {q}}}\n    description: {{en: {q}}}")
        .replace(
            "values: [gold, silver, bronze]",
            f"values: [gold, silver, {value}]\n    value_labels: {{gold: {{en: gold}},"
            f" silver: {{en: silver}}, {value}: {{en: {q}}}}}",
        )
        .replace("gt: 30}", f"gt: {threshold}}}")
        .replace(
            "reason: {code: D1}",
            f"reason: {{code: D1, text: {{en: {reason}}}}}\n    advice: {{en: {q}}}"
            f"\n    description: {{en: {q}}}",
        )
        .replace(
            "appeal: {days: 20}",
            f"appeal: {{days: 20}}\n    description: {{en: {q}}}\n    label: {{en: {q}}}",
        )
    )
    return compiled_text(source)


def _documents(text: str, account: bool) -> dict[str, str]:
    """Every Markdown document a hostile text reaches."""
    policy = _policy(PLAIN if account else text)
    decision = decide(policy, FACTS, "2026-03-01", account_id=text if account else "acc-1")
    documents = {"notice": decision_notice(policy, decision, "en")}
    if not account:
        diff = diff_policies(policy.policy, _policy(text, "1.1.0", 40).policy)
        documents["disclosure"] = policy_disclosure(policy, "en")
        documents["change notice"] = change_notice(diff, "en")
        documents["diff report"] = render_markdown(diff)
    return documents


@cache
def _markdown_it() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def _shape(markdown: str) -> list[str]:
    """The document's structure as markdown-it-py parses it (raw HTML on, to see any)."""

    def walk(tokens: list[Token]) -> Iterator[str]:
        for token in tokens:
            yield f"{token.type}:{token.tag}"
            yield from walk(token.children or [])

    shape: list[str] = []
    for item in walk(_markdown_it().parse(markdown)):
        if not (item == "text:" and shape and shape[-1] == "text:"):
            shape.append(item)
    return shape


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["name"])
def test_a_hostile_text_is_shown_as_text_in_every_document(case: dict[str, Any]) -> None:
    text, expected = case["text"], case["markdown"]
    account = case.get("account", False)
    assert markdown_text(text) == expected
    plain = _documents(PLAIN, account)
    hostile = _documents(text, account)
    shown = escapeHtml(plain_text(text))
    for name, markdown in hostile.items():
        if name != "diff report":  # there the text follows "en: ", so no line-start escape
            assert expected in markdown, name
        assert _shape(markdown) == _shape(plain[name]), name
        kinds = {item.split(":")[0] for item in _shape(markdown)}
        assert not kinds & {"html_inline", "html_block", "link_open", "image"}, name
        page = markdown_to_html(markdown, "en")
        assert shown in page, name
        assert page.count("<") == markdown_to_html(plain[name], "en").count("<"), name


def test_no_unsafe_character_reaches_a_code_span() -> None:
    from clearline.disclosures.escape import code_span

    assert str(code_span("a\u202eb`c\x00\nd")) == "`a\ufffdb'c\ufffd d`"
