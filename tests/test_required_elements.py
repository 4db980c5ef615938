"""The elements `shared/domain.md` asks of each document, read element by element from the
generated documents (tests/golden, regenerated from the shipped policy), in both languages.

Each element names what a document must carry and, per language, the words that carry it; a
document missing one fails here with the element named. The golden documents are checked for
being current by tests/test_disclosure_documents.py, so this reads what Clearline writes today.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
LANGS = ("en", "zh-CN")

# (element, {lang: patterns that must all match}) for a per-decision notice of an adverse action.
NOTICE_ELEMENTS: list[tuple[str, dict[str, list[str]]]] = [
    ("what was decided", {"en": [r"## What we decided\n\nWe will"], "zh-CN": [r"## 我们的决定"]}),
    ("on which account", {"en": [r"\*\*Account:\*\* A-\d+"], "zh-CN": [r"\*\*账户\*\*：A-\d+"]}),
    ("by whom", {"en": [r"\*\*From:\*\* \S"], "zh-CN": [r"\*\*发出机构\*\*：\S"]}),
    (
        "the lender's contact",
        {"en": [r"\*\*Contact us:\*\* \S"], "zh-CN": [r"\*\*联系我们\*\*：\S"]},
    ),
    (
        "when it takes effect",
        {"en": [r"takes effect on \w+ \d+, \d{4}"], "zh-CN": [r"在\d{4}年\d+月\d+日生效"]},
    ),
    (
        "the reasons",
        {"en": [r"## Why\n\n(.+\n\n)?### 1\. \S"], "zh-CN": [r"## 原因\n\n(.+\n\n)?### 1\. \S"]},
    ),
    (
        "each reason's code and the value used",
        {"en": [r"\*\*Code:\*\* [A-Z]\d+"], "zh-CN": [r"\*\*代码\*\*：[A-Z]\d+"]},
    ),
    (
        "what would lead to a different outcome",
        {"en": [r"## What would change the outcome"], "zh-CN": [r"## 怎样会有不同的结果"]},
    ),
    ("what the customer can do", {"en": [r"## What you can do"], "zh-CN": [r"## 您可以做什么"]}),
    (
        "the right to an explanation",
        {"en": [r"ask us to explain this decision"], "zh-CN": [r"要求我们说明这个决定"]},
    ),
    (
        "the right to refuse a solely automated decision",
        {"en": [r"refuse a decision made only by a computer"], "zh-CN": [r"拒绝仅由电脑"]},
    ),
    (
        "the channel for human review, with its deadline",
        {
            "en": [
                r"\*\*Ask for a review:\*\* \S",
                r"ask for a person to review this decision until",
            ],
            "zh-CN": [r"\*\*申请复核\*\*：\S", r"要求人工复核这个决定，截止日期为"],
        },
    ),
    (
        "a complaint route",
        {"en": [r"\*\*Make a complaint:\*\* \S"], "zh-CN": [r"\*\*投诉\*\*：\S"]},
    ),
    ("the regulator", {"en": [r"\*\*Our regulator:\*\* \S"], "zh-CN": [r"\*\*监管机构\*\*：\S"]}),
    (
        "advance warning before reporting to a credit bureau",
        {
            "en": [r"We will report this decision to .+ at the earliest"],
            "zh-CN": [r"最早将于.+报送"],
        },
    ),
    (
        "the right to add a statement",
        {"en": [r"add your own statement"], "zh-CN": [r"附上您?自己的说明"]},
    ),
    (
        "that a computer decided",
        {"en": [r"A computer made this decision"], "zh-CN": [r"由电脑按公开的规则做出"]},
    ),
]

# Where a reason rests on credit bureau data (the suspension notice's B01 reads credit searches).
BUREAU_ELEMENTS: list[tuple[str, dict[str, list[str]]]] = [
    ("who supplied the data", {"en": [r"## Your credit report"], "zh-CN": [r"## 您的信用报告"]}),
    (
        "the bureau did not decide",
        {"en": [r"did not make this decision"], "zh-CN": [r"没有参与这个决定"]},
    ),
    ("a free report within 60 days", {"en": [r"within 60 days"], "zh-CN": [r"60天内.*免费"]}),
    ("the right to dispute", {"en": [r"dispute it with the bureau"], "zh-CN": [r"提出异议"]}),
    ("the bureau's contact", {"en": [r"\*\*Contact .+:\*\* \S"], "zh-CN": [r"\*\*联系.+\*\*：\S"]}),
]

DISCLOSURE_ELEMENTS: list[tuple[str, dict[str, list[str]]]] = [
    (
        "who decides and how to reach them",
        {
            "en": [
                r"## Who decides and how to reach us",
                r"\*\*Lender:\*\* \S",
                r"\*\*Contact:\*\* \S",
            ],
            "zh-CN": [r"## 由谁决定，如何联系我们"],
        },
    ),
    (
        "that automated decision-making is used",
        {"en": [r"A computer checks your account"], "zh-CN": [r"电脑按下面的规则检查"]},
    ),
    (
        "the logic: which data and which thresholds",
        {
            "en": [r"## The rules", r"## The data we use"],
            "zh-CN": [r"## 规则", r"## 我们使用的数据"],
        },
    ),
    (
        "the consequences of each rule",
        {"en": [r"### Rule 1: Close the line"], "zh-CN": [r"### 规则1：关闭额度"]},
    ),
    (
        "grounds and notice periods for closure and suspension",
        {
            "en": [
                r"\*\*We may close your line\*\* because of",
                r"\*\*We may pause borrowing on your line\*\*",
                r"## Notice, fixing and review periods",
            ],
            "zh-CN": [r"## 通知期、改正期和复核期"],
        },
    ),
    (
        "how to ask for a human review",
        {"en": [r"## How to ask for a human review"], "zh-CN": [r"## 如何申请人工复核"]},
    ),
    (
        "the right to an explanation",
        {"en": [r"ask us to explain any decision"], "zh-CN": [r"要求我们说明任何决定"]},
    ),
    (
        "the right to refuse a solely automated decision",
        {"en": [r"refuse a decision made only by a computer"], "zh-CN": [r"拒绝仅由电脑"]},
    ),
    (
        "a complaint route",
        {"en": [r"complain to us: .*[Cc]omplaints"], "zh-CN": [r"向我们投诉：.*投诉"]},
    ),
    (
        "how changes are announced",
        {
            "en": [r"## Changes to these rules", r"at least \d+ days before a change"],
            "zh-CN": [r"## 规则的变更", r"至少提前\d+天通知"],
        },
    ),
    (
        "every version is kept and can be asked for",
        {"en": [r"Each version of these rules is kept"], "zh-CN": [r"每个版本的规则都会保留"]},
    ),
    ("a summary on one screen first", {"en": [r"^## At a glance"], "zh-CN": [r"^## 要点"]}),
]


def _doc(name: str, lang: str) -> str:
    return (GOLDEN / f"{name}.{lang}.md").read_text("utf-8")


def _missing(text: str, elements: list[tuple[str, dict[str, list[str]]]], lang: str) -> list[str]:
    return [
        element
        for element, patterns in elements
        if not all(re.search(p, text, re.M) for p in patterns[lang])
    ]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("notice", ["notice-closed", "notice-suspended"])
def test_each_adverse_notice_carries_every_element(notice: str, lang: str) -> None:
    assert _missing(_doc(notice, lang), NOTICE_ELEMENTS, lang) == []


@pytest.mark.parametrize("lang", LANGS)
def test_a_notice_on_bureau_data_carries_the_bureau_elements(lang: str) -> None:
    assert _missing(_doc("notice-suspended", lang), BUREAU_ELEMENTS, lang) == []


@pytest.mark.parametrize("lang", LANGS)
def test_the_disclosure_carries_every_element(lang: str) -> None:
    assert _missing(_doc("disclosure", lang), DISCLOSURE_ELEMENTS, lang) == []


@pytest.mark.parametrize("lang", LANGS)
def test_a_notice_gives_at_most_four_principal_reasons(lang: str) -> None:
    for notice in ("notice-closed", "notice-suspended"):
        text = _doc(notice, lang)
        why = text.split("## Why" if lang == "en" else "## 原因")[1].split("\n## ")[0]
        count = len(re.findall(r"^### \d+\. ", why, re.M))
        assert 1 <= count <= 4
        ordered = "the most important first" if lang == "en" else "最重要的在前"
        assert (ordered in why) is (count > 1)  # several reasons are said to be in order


def test_the_checks_fail_on_a_document_without_an_element() -> None:
    text = _doc("notice-closed", "en").replace("Make a complaint", "Write to us")
    assert _missing(text, NOTICE_ELEMENTS, "en") == ["a complaint route"]


@pytest.mark.parametrize("lang", LANGS)
def test_a_score_reason_gives_the_score_its_range_and_date_and_its_factors(lang: str) -> None:
    from clearline.disclosures import decision_notice
    from clearline.engine import decide

    from .disclosure_fixtures import AS_OF, GOOD, shipped

    compiled = shipped()
    facts = {**GOOD, "credit_score": 499, "credit_score_factors": "K01"}
    notice = decision_notice(compiled, decide(compiled, facts, AS_OF), lang)
    expected = {
        "en": [r"\*\*Credit score:\*\* 499 points \(range 300 to 900, used on March 1, 2027\)",
               r"\(K01\)"],
        "zh-CN": [r"\*\*信用评分\*\*：499分（范围300到900，2027年3月1日使用的评分）", r"（K01）|\(K01\)"],
    }  # fmt: skip
    assert all(re.search(pattern, notice) for pattern in expected[lang]), notice
