"""Regenerate the golden disclosure and notice files: `make golden` (read the diff before committing)."""

from __future__ import annotations

from clearline.disclosures import decision_notice, markdown_to_html, policy_disclosure
from clearline.engine import decide

from .disclosure_fixtures import AS_OF, CLOSED, GOLDEN, LANGS, SUSPENDED, shipped


def golden_documents() -> dict[str, str]:
    """File name -> content of every golden document."""
    compiled = shipped()
    documents: dict[str, str] = {}
    notices = {
        "closed": decide(compiled, CLOSED, AS_OF, account_id="A-1001"),
        "suspended": decide(compiled, SUSPENDED, AS_OF, account_id="A-1002"),
    }
    for lang in LANGS:
        markdown = policy_disclosure(compiled, lang)
        documents[f"disclosure.{lang}.md"] = markdown
        documents[f"disclosure.{lang}.html"] = markdown_to_html(markdown, lang)
        for name, decision in notices.items():
            notice = decision_notice(compiled, decision, lang)
            documents[f"notice-{name}.{lang}.md"] = notice
            documents[f"notice-{name}.{lang}.html"] = markdown_to_html(notice, lang)
    return documents


def main() -> None:
    """Write every golden file."""
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, content in golden_documents().items():
        (GOLDEN / name).write_text(content, encoding="utf-8")
        print(f"wrote tests/golden/{name}")


if __name__ == "__main__":
    main()
