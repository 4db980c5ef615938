"""Checks that the documents a customer reads can be written from a policy in every language.

Every id a customer could otherwise see (a grace rule's name, an enum value, an exemption) needs
words in each of the policy's languages, and every owner text (who decides, how to reach them)
must be given in all of them: a text missing in one language would silently vanish from that
language's documents, or a raw id would take its place.
"""

from __future__ import annotations

from clearline.engine.errors import Diagnostic
from clearline.engine.model import Fact, FactType, Policy, Text
from clearline.engine.parties import factor_codes
from clearline.engine.policy.source import Path, SourceMap

GRACE_LABEL = "C210"
VALUE_LABEL = "C211"
EXEMPTION_TEXT = "C212"
OWNER_TEXT = "C213"
KEY_FACTORS = "C214"
BUREAU = "C215"

OWNER_FIELDS = ("name", "contact", "review_channel")


def _missing(text: Text, langs: tuple[str, ...]) -> list[str]:
    return [lang for lang in langs if not (text.get(lang) or "").strip()]


def document_findings(policy: Policy, source: SourceMap) -> list[Diagnostic]:
    """Errors for each customer-visible id or owner text without words in a policy language."""
    langs = policy.metadata.languages
    found: list[Diagnostic] = party_findings(policy, source)
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
    if owner.complaints:
        need(
            owner.complaints,
            ("metadata", "owner", "complaints"),
            OWNER_TEXT,
            "`owner.complaints` is printed in every language",
        )
    for code, regulator in owner.regulators:
        where = ("metadata", "owner", "regulators", code)
        need(regulator.name, (*where, "name"), OWNER_TEXT, f"the name of regulator {code}")
        need(regulator.contact, (*where, "contact"), OWNER_TEXT, f"the contact of regulator {code}")
    return found


def party_findings(policy: Policy, source: SourceMap) -> list[Diagnostic]:
    """Errors for a score's key factors or a fact's credit bureau that no notice could write."""
    langs = policy.metadata.languages
    meta = policy.metadata
    found: list[Diagnostic] = []

    def error(path: Path, code: str, message: str) -> None:
        found.append(source.diagnostic(path, code, message))

    for bureau_id, bureau in meta.bureaus:
        for part in ("name", "contact"):
            missing = _missing(getattr(bureau, part), langs)
            if missing:
                error(
                    ("metadata", "bureaus", bureau_id, part),
                    BUREAU,
                    f"bureau `{bureau_id}` needs its {part} in {', '.join(missing)}",
                )
    reporting = meta.reports_to_bureau
    if reporting is not None and meta.bureau(reporting.bureau) is None:
        error(
            ("metadata", "reports_to_bureau", "bureau"),
            BUREAU,
            f"unknown bureau `{reporting.bureau}`; declare it under `metadata.bureaus`",
        )
    for fact in policy.facts:
        if fact.source is not None and meta.bureau(fact.source) is None:
            error(
                (*fact.path, "source"),
                BUREAU,
                f"`{fact.name}` comes from unknown bureau `{fact.source}`; declare it under "
                "`metadata.bureaus`",
            )
        if fact.key_factors is not None:
            found.extend(_key_factor_findings(policy, fact, source))
    return found


def _key_factor_findings(policy: Policy, fact: Fact, source: SourceMap) -> list[Diagnostic]:
    """The codes fact must be a string fact; every code has words in every language, and the
    policy's own tests use only declared codes."""
    factors = fact.key_factors
    assert factors is not None
    found: list[Diagnostic] = []
    holder = policy.fact(factors.fact)
    if holder is None or holder.type is not FactType.STRING:
        what = "is not a fact" if holder is None else f"is a {holder.type} fact"
        found.append(
            source.diagnostic(
                (*factors.path, "fact"),
                KEY_FACTORS,
                f"key factors of `{fact.name}`: `{factors.fact}` {what}; declare it as a string "
                "fact holding the codes separated by commas",
            )
        )
    for code, text in factors.texts:
        missing = _missing(text, policy.metadata.languages)
        if missing:
            found.append(
                source.diagnostic(
                    (*factors.path, "texts", code),
                    KEY_FACTORS,
                    f"key factor {code} of `{fact.name}`: no {', '.join(missing)} text",
                )
            )
    declared = {code for code, _ in factors.texts}
    for test in policy.tests:
        for code in factor_codes(dict(test.facts).get(factors.fact)):
            if code not in declared:
                found.append(
                    source.diagnostic(
                        (*test.path, "facts", factors.fact),
                        KEY_FACTORS,
                        f"key factor {code} is not declared under `{fact.name}.key_factors.texts`",
                    )
                )
    return found
