"""Plain language of the sentences Clearline writes itself (issue 18): the rule sentences the
engine generates from conditions, measured alone, not diluted by the page's fixed wording.
English at most grade 8 (Flesch-Kincaid), Chinese at most 30 characters per sentence on average."""

from __future__ import annotations

import pytest

from clearline.disclosures.locale import Locale
from clearline.disclosures.readability import measure
from clearline.disclosures.sentences import describe, sentence
from clearline.disclosures.texts import (
    advice_text,
    condition_text,
    reason_is_generated,
    reason_text,
)
from clearline.engine import load_policy
from clearline.engine.model import Policy

from .conftest import SHIPPED_V1, SHIPPED_V2


def generated_sentences(policy: Policy, lang: str) -> list[str]:
    """Every rule sentence generated from the policy rather than written by its author."""
    locale = Locale(policy, lang)
    found: list[str] = []
    for rule in policy.rules:
        found.append(condition_text(rule, locale))
        if reason_is_generated(rule, lang):
            found.append(reason_text(rule, locale))
        if rule.advice.get(lang) is None:
            found.append(advice_text(rule, locale))
    for grace in policy.grace:
        if grace.cure is not None and grace.cure.when is not None:
            found.append(sentence(describe(grace.cure.when, locale), locale))
    return found


@pytest.mark.parametrize("path", [SHIPPED_V1, SHIPPED_V2], ids=["1.0.0", "1.1.0"])
def test_generated_rule_sentences_are_plain(path: object) -> None:
    policy = load_policy(path)  # type: ignore[arg-type]
    english = generated_sentences(policy, "en")
    figures = measure("\n\n".join(english), "en")
    assert figures.sentences >= len(policy.rules)
    assert figures.grade <= 8, figures
    chinese = measure("\n\n".join(generated_sentences(policy, "zh-CN")), "zh-CN")
    assert chinese.sentences >= len(policy.rules)
    assert chinese.chars_per_sentence <= 30, chinese
