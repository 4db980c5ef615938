"""Plain-language documents generated from a policy: disclosures and decision notices.

Everything here reads the typed policy model and decision records; nothing reads YAML. Import
direction: disclosures -> engine, never the other way.
"""

from .counterfactual import Counterfactual, counterfactuals
from .disclosure import policy_disclosure
from .locale import CatalogueError, Locale, languages
from .notice import NoticeError, decision_notice
from .readability import Readability, measure
from .render import markdown_to_html
from .sentences import Mood, describe, negate
from .texts import advice_text, reason_text, text_problems
from .verify import disclosure_problems, notice_problems

__all__ = [
    "CatalogueError",
    "Counterfactual",
    "Locale",
    "Mood",
    "NoticeError",
    "Readability",
    "advice_text",
    "counterfactuals",
    "decision_notice",
    "describe",
    "disclosure_problems",
    "languages",
    "markdown_to_html",
    "measure",
    "negate",
    "notice_problems",
    "policy_disclosure",
    "reason_text",
    "text_problems",
]
