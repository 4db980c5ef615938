"""The decision record: a `Decision` rendered as plain data and as canonical JSON.

`decide` keeps only what it computed; this module turns that into the record of the contract
(docs/decision-record.md): `record_dict` builds it as data (the reference), `record_json`
writes the same bytes from the policy's `RecordLayout` (the fast path the audit log uses), and
`record_parts`/`stored_parts` give what the log keeps of a decision. A property test holds
`record_json(d)` and `canonical_json(record_dict(d))` together byte for byte.
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from clearline.engine.canonical import canonical_json, sha256_hex, to_json_value
from clearline.engine.decisions.record_layout import (
    RecordLayout,
    RecordTemplate,
    encode_value,
    layout_for,
)
from clearline.engine.ids import decision_id as _decision_id
from clearline.engine.model import ActionKind, FactRef
from clearline.engine.version import DECISION_SCHEMA, ENGINE_VERSION

if TYPE_CHECKING:
    from clearline.engine.decisions.decide import Decision

_SCHEMA_JSON = canonical_json(DECISION_SCHEMA)
_ENGINE_VERSION_JSON = canonical_json(ENGINE_VERSION)


def trace_entries(decision: Decision) -> list[dict[str, Any]] | None:
    """Every rule with whether it matched, and every comparison with what it saw."""
    checks_seen, matches = decision._checks, decision._matches
    if checks_seen is None or matches is None:
        return None
    compiled = decision.compiled
    facts = decision.facts
    result = []
    for r, rule in enumerate(compiled.policy.rules):
        checks = []
        for index in compiled.rule_sites[r]:
            cmp = compiled.sites[index].comparison
            entry: dict[str, Any] = {
                "fact": cmp.fact,
                "op": cmp.op.value,
                "value": to_json_value(facts.get(cmp.fact)),
                "result": checks_seen[index],
            }
            missing = [name for name in cmp.facts() if name not in facts]
            if missing:
                entry["missing"] = missing
            if isinstance(cmp.operand, FactRef):
                entry["threshold"] = {
                    "fact": cmp.operand.fact,
                    "value": to_json_value(facts.get(cmp.operand.fact)),
                }
            else:
                entry["threshold"] = to_json_value(cmp.operand)
            checks.append(entry)
        result.append(
            {
                "rule": rule.id,
                "action": rule.action.kind.value,
                "matched": matches[r],
                "checks": checks,
            }
        )
    return result


def record_dict(decision: Decision) -> dict[str, Any]:
    """The decision record as plain JSON data (see the decision-record contract)."""
    policy = decision.compiled.policy
    timeline = decision.timeline
    reasons = decision.reasons
    top_factor = reasons[0].limit_factor if reasons else None
    return {
        "schema": DECISION_SCHEMA,
        "decision_id": decision.decision_id,
        "account_id": decision.account_id,
        "policy": {
            "id": policy.metadata.id,
            "version": policy.metadata.version,
            "sha256": decision.compiled.sha256,
        },
        "as_of": decision.as_of_text,
        "input_sha256": decision.input_sha256,
        "action": decision.action.value,
        "limit_factor": top_factor if decision.action is ActionKind.REDUCE_LIMIT else None,
        "reasons": [reason.to_dict() for reason in reasons],
        "missing_facts": list(decision.missing_facts),
        "trace": trace_entries(decision),
        "timeline": timeline.to_dict() if timeline else None,
        "engine_version": ENGINE_VERSION,
    }


def record_json(decision: Decision) -> str:
    """Canonical JSON of the record: same inputs, same bytes; kept on the decision.

    Built from the policy's precomputed record layout; byte for byte what
    `canonical_json(record_dict(decision))` gives.
    """
    cache = decision.__dict__
    text = cache.get("_json")
    if text is not None:
        return text  # type: ignore[no-any-return]
    # One pass with locals, filling the lazy attributes on the way: this runs once per
    # audited decision, and attribute and descriptor calls were a large share of it.
    layout = layout_for(decision.compiled)
    if decision._checks is None or decision._matches is None:
        trace = "null"  # without a trace the record shows no fact value: none is encoded
    else:
        encoded, missing = layout.encode(decision.facts)
        trace = layout.trace_json(decision._checks, decision._matches, encoded, missing)
    action, factor, missing_facts, reasons, timeline = record_head(decision)
    account = decision.account_id
    text = "".join(
        (
            '{"account_id":',
            "null" if account is None else encode_basestring(account),
            ',"action":"',
            action,
            '","as_of":"',
            cache.get("as_of_text") or decision.as_of_text,
            '","decision_id":"',
            cache.get("decision_id") or decision.decision_id,
            '","engine_version":',
            _ENGINE_VERSION_JSON,
            ',"input_sha256":"',
            decision.input_sha256,
            '","limit_factor":',
            factor,
            ',"missing_facts":',
            missing_facts,
            ',"policy":',
            layout.policy_json,
            ',"reasons":',
            reasons,
            ',"schema":',
            _SCHEMA_JSON,
            ',"timeline":',
            timeline,
            ',"trace":',
            trace,
            "}",
        )
    )
    cache["_json"] = text
    return text


def record_head(decision: Decision) -> tuple[str, str, str, str, str]:
    """The record's action, limit factor, missing facts, reasons and timeline as JSON text
    (the parts a record template holds besides the trace)."""
    if decision.fired or decision.review_missing:
        reasons, reasons_json = decision._reasons_entry
        timeline_json = decision._timeline_entry[1]
    else:
        reasons, reasons_json, timeline_json = (), "[]", "null"
    action = decision.action
    factor = reasons[0].limit_factor if reasons and action is ActionKind.REDUCE_LIMIT else None
    layout = layout_for(decision.compiled)
    return (
        action.value,
        "null" if factor is None else encode_value(factor),
        _missing_json(decision.missing_facts, layout),
        reasons_json,
        timeline_json,
    )


def template_of(decision: Decision) -> RecordTemplate:
    """The template of a decision's record: `record_json` is it rendered with the decision's
    ids, moment and inputs (see `RecordTemplate`)."""
    return record_parts(decision)[2]


def stored_parts(decision: Decision) -> tuple[str, str, str, str, RecordTemplate]:
    """What the audit log keeps of a decision: (decision_id, as_of text, input_sha256, inputs
    JSON, record template), the same values as the decision's attributes of those names."""
    as_of, inputs, template = record_parts(decision)
    cache = decision.__dict__
    input_sha = cache.get("input_sha256")
    if input_sha is None:
        input_sha = cache["input_sha256"] = sha256_hex(inputs)
    found = cache.get("decision_id")
    if found is None:
        found = cache["decision_id"] = _decision_id(
            decision.compiled.sha256, decision.account_id, as_of, input_sha
        )
    return found, as_of, input_sha, inputs, template


def record_parts(decision: Decision) -> tuple[str, str, RecordTemplate]:
    """(as_of text, inputs JSON, record template): the stored parts but the two hashes
    (the audit log hashes the inputs as it goes and leaves the id to its writer, which
    derives it with the same function: `audit.writer.with_ids`).

    Computed in one pass with locals: this runs once per audited decision, where descriptor
    and lookup calls cost as much as the values. The inputs JSON is not kept on the decision
    (an append has no further use for it, and keeping it made each batch take fresh memory,
    whose first touch costs more than the text).
    """
    cache = decision.__dict__
    layout = layout_for(decision.compiled)
    inputs = cache.get("inputs_json") or decision._inputs_text()
    as_of = cache.get("as_of_text")
    if as_of is None:
        last = layout.last_as_of
        as_of = last[1] if decision.as_of == last[0] else decision.as_of_text
    facts = decision.facts
    absent = (
        ()
        if len(facts) == len(layout.names)
        else tuple(name for name in layout.names if name not in facts)
    )
    if decision.fired or decision.review_missing or decision.missing_facts:
        head = record_head(decision)
    else:
        head = _NO_ACTION_HEAD[decision.action]
    return as_of, inputs, layout.template(decision._checks, decision._matches, absent, head)


def _missing_json(missing: tuple[str, ...], layout: RecordLayout) -> str:
    """The record's list of missing facts, rendered once per distinct set."""
    if not missing:
        return "[]"
    text = layout.memo.get(("missing", missing))
    if text is None:
        text = layout.remember(("missing", missing), canonical_json(list(missing)))
    return text  # type: ignore[no-any-return]


# The head of a record with no fired rule and no missing fact, by its action.
_NO_ACTION_HEAD = {kind: (kind.value, "null", "[]", "[]", "null") for kind in ActionKind}
