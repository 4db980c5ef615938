"""Text Clearline did not write, made safe to print into a Markdown document.

Policy texts (titles, labels, reasons, advice, contacts, enum values) and values from decision
records (account ids, observed facts) enter the disclosure, the decision notice, the change
notice and the diff report only through `markdown_text` or `code_span`. They
are shown as text: no raw HTML, no link, image or autolink, no emphasis, heading, list, quote,
table or entity syntax, whatever renderer a lender pastes the Markdown into. Control,
bidirectional and invisible characters are replaced by U+FFFD: `check` already refuses them in
policies, but a decision record (an account id) is not a policy.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

# C0 (tab, newline, vertical tab, form feed and carriage return are whitespace, collapsed
# below), DEL and C1, bidirectional controls and invisible characters: the same set `check`
# refuses in a policy (engine/policy/text_safety.py).
_UNSAFE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)
REPLACEMENT = "\ufffd"
# Characters that open inline markup anywhere in a line: escapes, code, emphasis, links and
# images (`]` closes them), raw HTML and autolinks, table cells, GFM strikethrough.
_INLINE = re.compile(r"([\\`*_\[\]<|~])")
# An entity reference would let `&#x202E;` or `&lt;script&gt;` become a character in the HTML.
_ENTITY = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")
# Block markers count only at the start of a line, and a value may be printed there: headings,
# quotes, bullets and setext or thematic lines (a sign before a digit, as in -5, is left), and
# ordered-list numbers (1. or 2) before a space; a version like 1.1.0 is left.
_BLOCK_START = re.compile(r"^([#>]|[-+=](?![0-9]))|^([0-9]{1,9})([.)])(?=\s|$)")


def plain_text(value: Any) -> str:
    """The value as one line of printable text: unsafe characters replaced, whitespace collapsed."""
    return " ".join(_UNSAFE.sub(REPLACEMENT, str(value)).split())


def markdown_text(value: Any) -> str:
    """A value escaped so that Markdown shows it as text wherever in a line it is printed."""
    text = _INLINE.sub(r"\\\1", plain_text(value))
    text = _ENTITY.sub(r"\\&", text)
    return _BLOCK_START.sub(lambda m: "\\" + m[1] if m[1] else m[2] + "\\" + m[3], text)


def markdown_escape(value: Any) -> Any:
    """The Jinja `finalize` hook: every printed value escaped; Markup (code spans) unchanged."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return str(value)
    return markdown_text(value)


def code_span(value: Any) -> Markup:
    """A value as inline code (ids, hashes): shown verbatim, backticks and unsafe characters out."""
    text = plain_text(value).replace("`", "'")
    return Markup("`" + text + "`")
