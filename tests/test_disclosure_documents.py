"""Policy disclosures: golden files, completeness, readability, and a well-formed accessible page."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from clearline.disclosures import (
    disclosure_problems,
    markdown_to_html,
    measure,
    policy_disclosure,
)
from clearline.engine import compile_policy, load_policy_text

from .conftest import run_cli
from .disclosure_fixtures import GOLDEN, LANGS, SHIPPED, shipped
from .regenerate_golden import golden_documents


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    return golden_documents()


def test_golden_files_are_current(documents: dict[str, str]) -> None:
    stale = [
        name
        for name, content in documents.items()
        if not (GOLDEN / name).exists() or (GOLDEN / name).read_text(encoding="utf-8") != content
    ]
    assert not stale, f"regenerate with `make golden` and read the diff: {stale}"
    assert len(documents) == 12


VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}


class PageChecker(HTMLParser):
    """Collects what an accessible, self-contained page must have, and nesting errors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.lang: str | None = None
        self.headings: list[int] = []
        self.tables = 0
        self.header_cells = 0
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag in {"script", "link", "iframe", "object", "embed"}:
            self.external.append(tag)
        for name in ("src", "href"):
            value = values.get(name) or ""
            if "://" in value or value.startswith("//"):
                self.external.append(value)
        if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self.headings.append(int(tag[1]))
        self.tables += tag == "table"
        self.header_cells += tag == "th"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:  # `<hr />`
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check_page(html: str, lang: str) -> PageChecker:
    checker = PageChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert checker.lang == lang
    assert checker.external == []
    assert html.startswith("<!DOCTYPE html>")
    assert checker.headings[0] == 1 and checker.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(checker.headings, checker.headings[1:], strict=False))
    return checker


@pytest.mark.parametrize("lang", LANGS)
def test_disclosure_page_is_well_formed_and_accessible(
    documents: dict[str, str], lang: str
) -> None:
    checker = _check_page(documents[f"disclosure.{lang}.html"], lang)
    assert checker.tables == 2
    assert checker.header_cells >= 10
    for kind in ("closed", "suspended"):
        _check_page(documents[f"notice-{kind}.{lang}.html"], lang)


@pytest.mark.parametrize("lang", LANGS)
def test_disclosure_is_complete(lang: str) -> None:
    compiled = shipped()
    markdown = policy_disclosure(compiled, lang)
    assert disclosure_problems(compiled, markdown, lang) == []
    policy = compiled.policy
    for rule in policy.rules:
        assert rule.reason_code in markdown
    for grace in policy.grace:
        assert grace.label.get(lang) in markdown  # documents name grace rules by their labels
    assert compiled.sha256 in markdown
    assert policy.metadata.version in markdown


def test_completeness_check_finds_a_dropped_rule_and_a_wrong_number() -> None:
    compiled = shipped()
    markdown = policy_disclosure(compiled, "en")
    start = markdown.index("### Rule 4:")
    end = markdown.index("### Rule 5:")
    dropped = markdown[:start] + markdown[end:]
    problems = disclosure_problems(compiled, dropped, "en")
    assert any("very-low-score" in p for p in problems)
    wrong = markdown.replace("It takes effect 60 days later.", "It takes effect 67 days later.")
    assert any("shows 67" in p for p in disclosure_problems(compiled, wrong, "en"))


def test_disclosure_meets_the_readability_targets() -> None:
    compiled = shipped()
    english = measure(policy_disclosure(compiled, "en"), "en")
    assert english.sentences > 100
    assert english.grade <= 8
    assert english.reading_ease >= 60
    chinese = measure(policy_disclosure(compiled, "zh-CN"), "zh-CN")
    assert chinese.sentences > 100
    assert chinese.chars_per_sentence <= 30
    assert chinese.longest <= 60


def test_policy_text_is_shown_as_text_never_markup() -> None:
    hostile = SHIPPED.read_text(encoding="utf-8").replace(
        'en: "call 400-000-0000, or write to us in the app under Me > Help"',
        'en: "<script>alert(1)</script> | **bold** [x](http://e.example) `code`"',
    )
    compiled = compile_policy(load_policy_text(hostile, "hostile.yaml"))
    markdown = policy_disclosure(compiled, "en")
    html = markdown_to_html(markdown, "en")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<strong>bold</strong>" not in html
    assert 'href="http://e.example"' not in html
    _check_page(html, "en")


def test_disclose_cli_check_and_stats() -> None:
    for lang in LANGS:
        result = run_cli("disclose", str(SHIPPED), "--lang", lang, "--check", "--stats")
        assert result.returncode == 0, result.stderr
        assert "complete" in result.stdout
        assert ("Flesch-Kincaid grade" if lang == "en" else "characters per sentence") in (
            result.stderr
        )


def test_disclose_cli_refuses_a_language_the_policy_lacks() -> None:
    result = run_cli("disclose", str(SHIPPED), "--lang", "fr")
    assert result.returncode == 1
    assert "not `fr`" in result.stderr
