"""Templates to Markdown (the source format), and Markdown to one self-contained HTML page.

Templates are files in `disclosures/templates/` that a compliance writer edits. They run in
Jinja2's sandbox, so a template cannot reach Python objects beyond the plain data it is given.
Every value a template prints into Markdown is escaped for Markdown by `escape.py` (`*`, `_`,
`[`, `<`, `|`, entities, line-start markers; control and bidi characters replaced), so a policy
text is always shown as text and never becomes markup. The HTML page is rendered
from the Markdown by markdown-it-py with raw HTML disabled, inside an autoescaped page template.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from jinja2 import PackageLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup

from .escape import code_span, markdown_escape


@cache
def _markdown_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=PackageLoader("clearline.disclosures", "templates"),
        autoescape=False,  # Markdown, escaped by `finalize` instead
        finalize=markdown_escape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = code_span
    return env


@cache
def _html_env() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=PackageLoader("clearline.disclosures", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    )


DOCUMENTS = ("disclosure", "notice")


def missing_templates(lang: str) -> list[str]:
    """The Markdown templates a language needs and lacks."""
    names = set(_markdown_env().list_templates())
    wanted = [f"{document}.{lang}.md.j2" for document in DOCUMENTS]
    return [name for name in wanted if name not in names]


def render_markdown(template: str, context: dict[str, Any]) -> str:
    """Render a Markdown template with plain data; blank-line runs are collapsed."""
    text = _markdown_env().get_template(template).render(**context)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


@cache
def _markdown_it() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def markdown_to_html(markdown: str, lang: str, title: str | None = None) -> str:
    """A self-contained, printable HTML page (no external assets) from Markdown.

    The page title is the document's first heading unless `title` is given.
    """
    tokens = _markdown_it().parse(markdown)
    if title is None:
        title = next(
            (
                "".join(c.content for c in tokens[i + 1].children or () if c.type == "text")
                for i, token in enumerate(tokens)
                if token.type == "heading_open"
            ),
            "",
        )
    body = _markdown_it().renderer.render(tokens, _markdown_it().options, {})
    page = _html_env().get_template("page.html.j2")
    return page.render(lang=lang, title=title, body=Markup(body)).strip() + "\n"
