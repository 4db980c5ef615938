"""What a notice owes besides the reasons: a score's key factors, the credit bureau, the regulator.

- A reason read from a score with declared key factors lists the provider's factors behind the
  score, at most four, in the input's order (Reg B 1002.9(b)(2): "insufficient score" alone is
  not a reason).
- A reason read from a fact with a bureau `source` brings the bureau's elements: it did not make
  the decision and cannot explain it, a free report within 60 days, the right to dispute, and
  its contact (FCRA 615(a)).
- An adverse decision of a policy that reports to a bureau with `warning: true` says so, and from
  which day, before anything is reported (征信业管理条例 art. 15).
- Every notice names the complaint route and the regulators of the declared jurisdictions.

Everything here is read from the decision record's values and the policy; nothing is guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from clearline.engine.facts import FactValue
from clearline.engine.model import Policy, condition_facts
from clearline.engine.parties import factor_codes

from .locale import Locale

MAX_FACTORS = 4  # Reg B: at most four key factors behind a score


def score_factors(
    policy: Policy,
    rule_id: str,
    values: Mapping[str, FactValue],
    locale: Locale,
    hidden: frozenset[str] = frozenset(),
) -> list[str]:
    """The provider's key factors behind a score a rule read, at most four, in input order."""
    rule = policy.rule(rule_id)
    if rule is None:
        return []
    found: list[str] = []
    for name in condition_facts(rule.when):
        fact = policy.fact(name)
        factors = fact.key_factors if fact is not None else None
        if factors is None or factors.fact in hidden:
            continue
        for code in factor_codes(values.get(factors.fact)):
            text = factors.text(code)
            words = text.get(locale.lang) if text is not None else None
            # The checker holds every declared code to a text in every language. A code the
            # policy does not declare has no words a customer could read, and a notice states
            # nothing the policy or the decision does not back: it is left out.
            if not words:
                continue
            line = f"{words} ({code})"
            if line not in found:
                found.append(line)
    return found[:MAX_FACTORS]


def _bureau_ids(policy: Policy, rule_ids: Iterable[str]) -> list[str]:
    """The bureaus the facts of these rules come from, in first-use order."""
    ids: list[str] = []
    for rule_id in rule_ids:
        rule = policy.rule(rule_id)
        if rule is None:
            continue
        for name in condition_facts(rule.when):
            fact = policy.fact(name)
            if fact is not None and fact.source and fact.source not in ids:
                ids.append(fact.source)
    return ids


def party_context(
    policy: Policy,
    record: Mapping[str, Any],
    decided_on: dt.date,
    effective: dt.date,
    adverse: bool,
    locale: Locale,
) -> dict[str, Any]:
    """The bureau elements, the reporting warning, the complaint route and the regulators.

    A warned report reaches the bureau `notice_days` after the decision at the earliest, and
    never before the action takes effect (`effective`)."""
    meta = policy.metadata
    lang = locale.lang
    rules = [str(reason.get("rule")) for reason in record.get("reasons", ())]
    bureaus = []
    for bureau_id in _bureau_ids(policy, rules):
        bureau = meta.bureau(bureau_id)
        if bureau is None:
            continue
        name = bureau.name.get(lang) or bureau_id
        bureaus.append(
            {
                "name": name,
                "contact": bureau.contact.get(lang),
                "rights": [
                    locale.phrase("parties", key).format(bureau=name)
                    for key in ("used", "not_decided", "free_report", "dispute")
                ],
            }
        )
    reporting = None
    plan = meta.reports_to_bureau
    if adverse and plan is not None and plan.warning and meta.bureau(plan.bureau) is not None:
        bureau = meta.bureau(plan.bureau)
        assert bureau is not None
        reporting = locale.phrase("parties", "reporting").format(
            bureau=bureau.name.get(lang) or plan.bureau,
            date=locale.date(max(decided_on + dt.timedelta(days=plan.notice_days), effective)),
        )
    owner = meta.owner
    regulators = []
    if owner is not None:
        for code in meta.jurisdictions:
            regulator = owner.regulator(code)
            if regulator is not None:
                regulators.append(
                    {"name": regulator.name.get(lang), "contact": regulator.contact.get(lang)}
                )
    return {
        "bureaus": bureaus,
        "bureau_reporting": reporting,
        "complaints": owner.complaints.get(lang) if owner is not None else None,
        "regulators": regulators,
    }
