"""`audit show` for a person: a recorded decision as text, read through the typed record."""

from __future__ import annotations

import json
from typing import Any

from clearline.engine.audit.log import AuditRecord
from clearline.engine.decisions.decision_record import DecisionRecord, RecordError


def _value(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"redacted"}:
        return f"(redacted {str(value['redacted'])[:12]}…)"
    return json.dumps(value, ensure_ascii=False)


def _raw(record: AuditRecord, note: str = "") -> str:
    body = json.dumps(record.data(), ensure_ascii=False, indent=2, sort_keys=True)
    return f"record {record.seq} ({record.kind}{note}, recorded {record.recorded_at})\n{body}"


def render_record(record: AuditRecord) -> str:
    """A decision record for a person: what was decided, under which rules, on which data."""
    if record.kind != "decision":
        return _raw(record)
    try:
        decision = DecisionRecord.from_data(record.data())
    except RecordError as exc:  # an older or foreign layout: shown as it is, never half-read
        return _raw(record, f"; {exc}")
    policy = decision.policy
    limit = f" (limit x {decision.limit_factor})" if decision.limit_factor is not None else ""
    lines = [
        f"decision {record.record_id}  (record {record.seq}, recorded {record.recorded_at})",
        f"  account      {decision.account_id or '-'}",
        f"  as of        {decision.data['as_of']}",
        f"  policy       {policy.id} {policy.version} (sha256 {policy.sha256})",
        f"  engine       {decision.engine_version}",
        f"  action       {decision.action.value}{limit}",
        "",
        "reasons",
    ]
    for reason in decision.reasons:
        extra = ""
        if reason.exemptions and reason.rule_action is not None:
            extra = (
                f"  exemptions {', '.join(reason.exemptions)}"
                f" (rule says {reason.rule_action.value})"
            )
        lines.append(
            f"  {reason.rank}. {reason.rule} [{reason.code}] {reason.action.value}"
            f", grace {reason.grace or '-'}{extra}"
        )
    if not decision.reasons:
        lines.append("  none: no rule fired")
    lines += ["", "inputs"]
    facts = record.facts()
    width = max((len(name) for name in facts), default=0)
    for name, value in sorted(facts.items()):
        lines.append(f"  {name:<{width}}  {_value(value)}")
    if decision.missing_facts:
        lines.append(f"  missing: {', '.join(decision.missing_facts)}")
    lines += ["", "rules"]
    if decision.trace is None:
        lines.append("  (decided without a trace)")
    for rule in decision.trace or ():
        mark = {True: "matched", False: "not matched", None: "unknown"}[rule.matched]
        lines.append(f"  {rule.rule} ({rule.action.value}): {mark}")
        for check in rule.checks:
            other = check.other_fact
            target = (
                f"{other} ({_value(check.threshold['value'])})"
                if other
                else _value(check.threshold)
            )
            seen = "missing" if check.missing else _value(check.value)
            result = {True: "true", False: "false", None: "unknown"}[check.result]
            lines.append(f"    {check.fact} {check.op} {target}: saw {seen} -> {result}")
    timeline = decision.timeline
    lines += ["", "timeline"]
    if timeline is None:
        lines.append("  none (no action)")
    else:
        days = {
            "notice date": timeline.notice_date,
            "effective": timeline.effective,
            "cure until": timeline.cure_until,
            "appeal until": timeline.appeal_until,
        }
        for label, day in days.items():
            lines.append(f"  {label:<13} {day.isoformat() if day else '-'}")
        lines.append(
            f"  grace {timeline.grace or '-'}, notice {timeline.notice_days} days"
            + (", immediate" if timeline.immediate else "")
        )
    return "\n".join(lines)
