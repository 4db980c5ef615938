"""The decision notice: what was decided, why, what would change it, and what the customer can do.

A notice is made from a decision record (`Decision.to_dict()`, a `clearline decide` output line
or an audit entry) and the policy version that made it. The record must carry its trace: the
observed values come from there, and before writing anything the notice checks that the record
belongs to this policy (same hash), that its reasons are exactly the rules its trace says fired,
and that the compiled policy fires the same rules on those values.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from clearline.engine.audit.anchors import Receipt
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision
from clearline.engine.errors import ClearlineError
from clearline.engine.facts import FactValue, ValueProblem, coerce
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    MISSING_FACTS_REASON,
    ActionKind,
    Fact,
    FactType,
    Policy,
    condition_facts,
)

from .claims import Claims, advice_backed, claims_for
from .counterfactual import counterfactuals
from .disclosure import action_text, exemption_texts, lender_context
from .escape import code_span, markdown_text
from .locale import Locale
from .parties import party_context, score_factors
from .recourse import recourse_context
from .render import render_markdown
from .sentences import Mood, describe, sentence
from .signals import signal_context, signals_read
from .texts import condition_text, reason_text

PRINCIPAL_REASONS = 4  # Reg B 1002.9(b)(2): at most four principal reasons


class NoticeError(ClearlineError):
    """A decision record cannot become a notice (wrong policy, no trace, inconsistent)."""


def record_of(decision: Decision | Mapping[str, Any]) -> Mapping[str, Any]:
    """The decision record of a Decision, or the record itself."""
    return decision.to_dict() if isinstance(decision, Decision) else decision


def observed_values(policy: Policy, record: Mapping[str, Any]) -> dict[str, FactValue]:
    """The fact values a decision saw, read back from its trace and typed by the policy."""
    trace = record.get("trace")
    if not isinstance(trace, list):
        raise NoticeError(
            "the decision record has no trace; decide again without --no-trace to write a notice"
        )
    values: dict[str, FactValue] = {}
    for entry in trace:
        for check in entry.get("checks", ()):
            missing = set(check.get("missing", ()))
            pairs = [(check["fact"], check.get("value"))]
            threshold = check.get("threshold")
            if isinstance(threshold, dict):
                pairs.append((threshold.get("fact"), threshold.get("value")))
            for name, raw in pairs:
                fact = policy.fact(str(name))
                if fact is None or name in missing or raw is None or _is_redacted(raw):
                    continue
                try:
                    values[fact.name] = coerce(fact.type, raw, fact.values)
                except ValueProblem as exc:
                    raise NoticeError(f"the trace value of `{name}` does not fit: {exc}") from None
    return values


def _is_redacted(raw: Any) -> bool:
    return isinstance(raw, dict) and "redacted" in raw


def redacted_facts(record: Mapping[str, Any]) -> set[str]:
    """Facts an audit log stored only as salted hashes: their values cannot be shown."""
    found: set[str] = set()
    for entry in record.get("trace") or ():
        for check in entry.get("checks", ()):
            if _is_redacted(check.get("value")):
                found.add(str(check["fact"]))
            threshold = check.get("threshold")
            if isinstance(threshold, dict) and _is_redacted(threshold.get("value")):
                found.add(str(threshold.get("fact")))
    return found


def check_record(compiled: CompiledPolicy, record: Mapping[str, Any]) -> dict[str, FactValue]:
    """Refuse a record of another policy, or one whose reasons and trace disagree; return values."""
    meta = compiled.policy.metadata
    policy_ref = record.get("policy") or {}
    if policy_ref.get("id") != meta.id or policy_ref.get("version") != meta.version:
        raise NoticeError(
            f"the decision was made with policy {policy_ref.get('id')} "
            f"{policy_ref.get('version')}, not {meta.id} {meta.version}"
        )
    if policy_ref.get("sha256") != compiled.sha256:
        raise NoticeError(
            f"policy {meta.id} {meta.version} has hash {compiled.sha256[:12]}..., but the "
            f"decision was made with hash {str(policy_ref.get('sha256'))[:12]}...: the policy "
            "file changed since the decision"
        )
    values = observed_values(compiled.policy, record)
    traced = {entry["rule"] for entry in record["trace"] if entry.get("matched") is True}
    reasons = {reason.get("rule") for reason in record.get("reasons", ())}
    reasons.discard(MISSING_FACTS_REASON)
    if traced != reasons:
        raise NoticeError(
            "the decision record's reasons are not the rules its trace says fired "
            f"(reasons: {', '.join(sorted(map(str, reasons))) or 'none'}; "
            f"fired: {', '.join(sorted(traced)) or 'none'})"
        )
    refired = {compiled.policy.rules[r].id for r in compiled.traced3(values)[2]}
    # A rule that reads a redacted fact cannot be re-run; its trace result stands.
    hidden = redacted_facts(record)
    unseen = {r.id for r in compiled.policy.rules if hidden & set(condition_facts(r.when))}
    if refired - unseen != traced - unseen:
        raise NoticeError(
            "the policy does not fire the record's rules on the record's own values "
            f"(record: {', '.join(sorted(traced)) or 'none'}; "
            f"policy: {', '.join(sorted(refired)) or 'none'})"
        )
    return values


def decision_day(policy: Policy, record: Mapping[str, Any]) -> dt.date:
    """The calendar day of a decision in the policy's time zone."""
    try:
        moment = dt.datetime.fromisoformat(str(record.get("as_of")).replace("Z", "+00:00"))
    except ValueError:
        raise NoticeError(
            f"the decision's as_of `{record.get('as_of')}` is not a date-time"
        ) from None
    if moment.tzinfo is None:
        raise NoticeError(f"the decision's as_of `{record.get('as_of')}` has no UTC offset")
    return moment.astimezone(zoneinfo.ZoneInfo(policy.metadata.timezone)).date()


def _day(locale: Locale, value: str | None) -> str | None:
    return locale.date(dt.date.fromisoformat(value)) if value else None


def _seen(label: str, value: str, scale: str | None = None) -> dict[str, str | None]:
    return {"label": label, "Label": label[:1].upper() + label[1:], "value": value, "range": scale}


def _scale(fact: Fact, locale: Locale) -> str | None:
    """A score's range ("300 to 900"), shown beside the value as fair-credit rules ask."""
    if fact.minimum is None or fact.maximum is None or fact.unit != "point":
        return None
    low = locale.value(fact, fact.minimum, bare=True)
    high = locale.value(fact, fact.maximum, bare=True)
    return locale.phrase("sentence", "range").format(low=low, high=high)


def reason_context(
    compiled: CompiledPolicy,
    reason: Mapping[str, Any],
    values: Mapping[str, FactValue],
    locale: Locale,
    hidden: frozenset[str] = frozenset(),
    claims: Claims | None = None,
    decided: str | None = None,
) -> dict[str, Any]:
    """One ranked reason as plain data: text, what we saw, what would change it, advice.

    Advice and "fixing this alone lifts it" come from `claims` (the engine and the case
    lifecycle); without them the notice promises nothing beyond the counterfactuals.
    """
    claims = claims or Claims()
    policy = compiled.policy
    action = ActionKind(reason["action"])
    base = {
        "rank": reason["rank"],
        "code": reason["code"],
        "rule": reason["rule"],
        "action": action_text(locale, action, reason.get("limit_factor")),
    }
    if reason["rule"] == MISSING_FACTS_REASON:
        facts = [f for f in (policy.fact(name) for name in reason.get("facts", ())) if f]
        labels = [locale.label(fact) for fact in facts]
        # The policy's review text says a person will look; that is true only of a review.
        own = policy.outcome.missing_facts.review_reason.get(locale.lang)
        text = own if claims.person_looks and decided == ActionKind.REVIEW.value else None
        return {
            **base,
            "text": text
            or locale.phrase("sentence", "example_missing").format(
                labels=locale.phrase("join", "values", "sep").join(labels)
            ),
            "seen": [_seen(label, locale.phrase("missing_value")) for label in labels],
            "signals": [],
            "check": None,
            "changes": [
                sentence(
                    locale.phrase("sentence", "missing_fact").format(label=label),
                    locale,
                    "counterfactual",
                )
                for label in labels
            ],
            "advice": None,
            "lift": None,
            "exemptions": [],
        }
    rule = policy.rule(reason["rule"])
    if rule is None:
        raise NoticeError(f"the decision names rule `{reason['rule']}`, which the policy lacks")
    seen = []
    for name in condition_facts(rule.when):
        fact = policy.fact(name)
        if fact is not None:
            shown = (
                locale.phrase("redacted_value")
                if name in hidden
                else locale.value(fact, values.get(name))
            )
            seen.append(_seen(locale.label(fact), shown, _scale(fact, locale)))
    exemptions = exemption_texts(policy, rule.id, reason.get("exemptions", ()), locale)
    signals = signals_read(policy, condition_facts(rule.when))
    return {
        **base,
        "text": reason_text(rule, locale),
        "seen": seen,
        "signals": [signal_context(signal, locale) for signal in signals],
        "check": condition_text(rule, locale),
        "changes": [
            sentence(describe(cf.region, locale, Mood.COUNTERFACTUAL), locale, "counterfactual")
            for cf in counterfactuals(compiled, rule, values)
        ],
        # Only the policy's own advice, and only when the lifecycle backs what it promises: a
        # negated condition would repeat the counterfactuals above.
        "advice": rule.advice.get(locale.lang)
        if decided is not None and advice_backed(compiled, claims, reason["action"], rule)
        else None,
        "lift": _lift(claims, rule.id, locale),
        "exemptions": exemptions,
    }


def _lift(claims: Claims, rule_id: str, locale: Locale) -> str | None:
    """ "Fixing this alone lifts the decision", or which reasons remain, as re-decided."""
    check = claims.reasons.get(rule_id)
    if check is None or not check.change:
        return None
    if check.lifts:
        return locale.phrase("claims", "lifts")
    codes = locale.phrase("join", "values", "sep").join(check.still)
    return locale.phrase("claims", "still_one" if len(check.still) == 1 else "still_many").format(
        codes=codes
    )


def claim_sentences(
    claims: Claims, locale: Locale, timeline: Mapping[str, Any]
) -> dict[str, str | None]:
    """The promise sentences a notice may print, each None when the engine does not back it."""
    cure_until = _day(locale, timeline.get("cure_until"))
    appeal_until = _day(locale, timeline.get("appeal_until"))
    return {
        "cure": locale.phrase("claims", "cure").format(date=cure_until)
        if claims.cure and cure_until
        else None,
        "pause": locale.phrase("claims", "pause") if claims.review and claims.pause else None,
        "review": locale.phrase("claims", "review_until").format(date=appeal_until)
        if claims.review and appeal_until
        else None,
        "computer": locale.phrase("claims", "computer_review" if claims.review else "computer_ask"),
        "ask": None if claims.review else locale.phrase("claims", "ask_person"),
    }


def _limit_change(
    policy: Policy,
    action: ActionKind,
    factor: Any,
    values: Mapping[str, Any],
    hidden: frozenset[str],
    locale: Locale,
) -> str | None:
    """The current and the new limit, when the policy names the fact that holds the limit."""
    name = policy.metadata.limit_fact
    fact = policy.fact(name) if name is not None else None
    current = values.get(fact.name) if fact is not None and fact.name not in hidden else None
    if (
        action is not ActionKind.REDUCE_LIMIT
        or fact is None
        or not isinstance(factor, (int, float))
        or isinstance(current, bool)
        or not isinstance(current, (int, float))
    ):
        return None
    # Cents at most: the decision records the factor, the lender applies it to the amount.
    new = round(current * factor, 2)
    if fact.type is FactType.INTEGER or new == int(new):
        new = int(new)
    return locale.phrase("limit_change").format(
        old=locale.value(fact, current), new=locale.value(fact, new)
    )


def _receipt(locale: Locale, found: Receipt | None) -> Markup | None:
    if found is None:
        return None
    # The catalogue's words are escaped as any text; the ids and the command are code spans.
    words = markdown_text(locale.phrase("receipt"))
    return Markup(
        words.format(
            id=code_span(found.decision_id),
            seq=found.seq,
            size=found.tree_size,
            root=code_span(found.root_prefix),
            command=code_span("clearline audit verify-proof"),
        )
    )


def input_values(policy: Policy, inputs: Mapping[str, Any]) -> dict[str, FactValue]:
    """The typed values of a decision's inputs (as `decide` checked them, or as an audit log
    stores them), leaving out what is missing or redacted."""
    values: dict[str, FactValue] = {}
    for name, raw in inputs.items():
        fact = policy.fact(str(name))
        if fact is None or raw is None or _is_redacted(raw):
            continue
        try:
            values[fact.name] = coerce(fact.type, raw, fact.values)
        except ValueProblem as exc:
            raise NoticeError(f"the stored value of `{name}` does not fit: {exc}") from None
    return values


def notice_context(
    compiled: CompiledPolicy,
    decision: Decision | Mapping[str, Any],
    lang: str,
    receipt: Receipt | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the notice template shows, as plain data (a receipt only from an audit log).

    A record holds the values its rules compared; a score's key-factor codes, which no rule
    compares, come from the decision's inputs: a `Decision` carries them, and a record read from
    an audit log comes with the inputs the log stored (`inputs`). Nothing else is taken from the
    inputs, so every other sentence rests on the record alone."""
    record = record_of(decision)
    values = check_record(compiled, record)
    if inputs is None and isinstance(decision, Decision):
        inputs = decision.inputs()
    factor_facts = {f.key_factors.fact for f in compiled.policy.facts if f.key_factors}
    if inputs and factor_facts:
        given = {name: inputs[name] for name in factor_facts if name in inputs}
        values = {**input_values(compiled.policy, given), **values}
    policy = compiled.policy
    locale = Locale(policy, lang)
    action = ActionKind(record["action"])
    hidden = frozenset(redacted_facts(record))
    claims = claims_for(compiled, record, values, hidden)
    reasons = [
        reason_context(compiled, r, values, locale, hidden, claims, action.value)
        for r in record.get("reasons", ())
    ]
    for r in reasons:
        r["factors"] = score_factors(policy, r["rule"], values, locale, hidden)
    timeline = record.get("timeline") or {}
    top = record.get("reasons", [{}])[0] if record.get("reasons") else {}
    decided_on = timeline.get("decided_on") or decision_day(policy, record).isoformat()
    day = dt.date.fromisoformat(decided_on)
    effective = dt.date.fromisoformat(timeline["effective"]) if timeline.get("effective") else day
    parties = party_context(policy, record, day, effective, action in ADVERSE_ACTIONS, locale)
    return {
        **lender_context(policy, lang),
        "account_id": record.get("account_id"),
        "decision_id": record.get("decision_id"),
        "decided_on": _day(locale, decided_on),
        "action_kind": action.value,
        "adverse": action in ADVERSE_ACTIONS,
        "action": action_text(locale, action, top.get("limit_factor")),
        "limit_change": _limit_change(
            policy, action, top.get("limit_factor"), values, hidden, locale
        ),
        "immediate": bool(timeline.get("immediate")),
        "notice": locale.days(int(timeline.get("notice_days") or 0)),
        "notice_days": int(timeline.get("notice_days") or 0),
        "effective": _day(locale, timeline.get("effective")),
        "cure_until": _day(locale, timeline.get("cure_until")),
        "appeal_until": _day(locale, timeline.get("appeal_until")),
        "review_max": locale.days(int(timeline["review_max_days"]))
        if timeline.get("review_max_days")
        else None,
        "paused": bool(timeline.get("paused_during_review")),
        "claims": claim_sentences(claims, locale, timeline),
        **recourse_context(compiled, record, values, locale, hidden),
        "principal": reasons[:PRINCIPAL_REASONS],
        "other": reasons[PRINCIPAL_REASONS:],
        "sha256": compiled.sha256,
        "engine_version": record.get("engine_version"),
        "receipt": _receipt(locale, receipt),
        **parties,
    }


def decision_notice(
    compiled: CompiledPolicy,
    decision: Decision | Mapping[str, Any],
    lang: str,
    receipt: Receipt | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> str:
    """The decision notice in Markdown; with a receipt, it says where the log proves it."""
    context = notice_context(compiled, decision, lang, receipt, inputs)
    return render_markdown(f"notice.{lang}.md.j2", context)
