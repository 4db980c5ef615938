"""Checks that the documents a customer reads can be written from a policy in every language.

Every id a customer could otherwise see (a grace rule's name, an enum value, an exemption) needs
words in each of the policy's languages, and every owner text (who decides, how to reach them)
must be given in all of them: a text missing in one language would silently vanish from that
language's documents, or a raw id would take its place.
"""

from __future__ import annotations

from clearline.engine.errors import Diagnostic
from clearline.engine.model import FactType, Policy, Text
from clearline.engine.policy.source import Path, SourceMap

GRACE_LABEL = "C210"
VALUE_LABEL = "C211"
EXEMPTION_TEXT = "C212"
OWNER_TEXT = "C213"

OWNER_FIELDS = ("name", "contact", "review_channel")


def _missing(text: Text, langs: tuple[str, ...]) -> list[str]:
    return [lang for lang in langs if not (text.get(lang) or "").strip()]


def document_findings(policy: Policy, source: SourceMap) -> list[Diagnostic]:
    """Errors for each customer-visible id or owner text without words in a policy language."""
    langs = policy.metadata.languages
    found: list[Diagnostic] = []
    owner = policy.metadata.owner
    if owner is None:
        # A policy without an owner is not written for customers yet (a sketch, a test
        # fixture): no document can say who decides, so words for its ids are not required.
        return found

    def need(text: Text, path: Path, code: str, what: str) -> None:
        missing = _missing(text, langs)
        if missing:
            found.append(source.diagnostic(path, code, f"{what}: no {', '.join(missing)} text"))

    for grace in policy.grace:
        need(
            grace.label,
            (*grace.path, "label") if grace.label else grace.path,
            GRACE_LABEL,
            f"grace rule `{grace.name}` needs a `label` (documents never show its id)",
        )
        for exemption in grace.exemptions:
            need(
                exemption.description,
                (*exemption.path, "description") if exemption.description else exemption.path,
                EXEMPTION_TEXT,
                f"exemption `{exemption.id}` of grace rule `{grace.name}` needs a `description` "
                "that tells the customer what it gives",
            )
    for fact in policy.facts:
        if fact.type is not FactType.ENUM:
            continue
        for value in fact.values:
            label = fact.value_label(value) or Text()
            where: Path = (*fact.path, "value_labels", value) if label else (*fact.path, "values")
            need(
                label,
                where,
                VALUE_LABEL,
                f"value `{value}` of `{fact.name}` needs a label in `value_labels`",
            )
    for field in OWNER_FIELDS:
        text: Text = getattr(owner, field)
        if field == "name" or text:
            need(
                text,
                ("metadata", "owner", field),
                OWNER_TEXT,
                f"`owner.{field}` is printed in every language",
            )
    return found
