"""The read side of a decision record: a typed view of the JSON that `audit show`, notices and
replay read, so that no reader knows the record's keys by hand.

`DecisionRecord.from_data` checks the record against the published schema first: a record that
does not meet it is a `RecordError` naming every problem, never a KeyError later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clearline.engine.decisions.record_schema import record_problems
from clearline.engine.errors import ClearlineError
from clearline.engine.model import ActionKind


class RecordError(ClearlineError):
    """A decision record that does not meet the decision record schema."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("not a decision record: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """The policy version a decision was made with."""

    id: str
    version: str
    sha256: str


@dataclass(frozen=True, slots=True)
class RecordReason:
    """One fired rule, in rank order."""

    rank: int
    rule: str
    code: str
    action: ActionKind
    grace: str | None
    limit_factor: float | None = None
    rule_action: ActionKind | None = None
    exemptions: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordCheck:
    """One comparison of a rule, with what it saw."""

    fact: str
    op: str
    value: Any
    threshold: Any
    result: bool | None
    missing: tuple[str, ...] = ()

    @property
    def other_fact(self) -> str | None:
        """The fact compared with, for a fact-vs-fact comparison."""
        if isinstance(self.threshold, dict) and "fact" in self.threshold:
            return str(self.threshold["fact"])
        return None


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule of the policy: whether it matched, and its comparisons."""

    rule: str
    action: ActionKind
    matched: bool | None
    checks: tuple[RecordCheck, ...]


@dataclass(frozen=True, slots=True)
class RecordTimeline:
    """The grace timeline of the deciding reason."""

    grace: str | None
    decided_on: dt.date
    effective: dt.date
    immediate: bool
    notice_date: dt.date | None = None
    notice_days: int | None = None
    cure_until: dt.date | None = None
    appeal_until: dt.date | None = None
    review_max_days: int | None = None
    paused_during_review: bool | None = None


def _day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision record as a typed value (`data` keeps the record as it was read)."""

    decision_id: str
    account_id: str | None
    policy: PolicyRef
    as_of: dt.datetime
    input_sha256: str
    action: ActionKind
    limit_factor: float | None
    reasons: tuple[RecordReason, ...]
    missing_facts: tuple[str, ...]
    trace: tuple[RuleTrace, ...] | None
    timeline: RecordTimeline | None
    engine_version: str
    data: Mapping[str, Any]

    @classmethod
    def from_data(cls, data: Any) -> DecisionRecord:
        """Read a parsed record; RecordError if it does not meet the schema."""
        problems = record_problems(data)
        if problems:
            raise RecordError(problems)
        timeline = data["timeline"]
        return cls(
            decision_id=data["decision_id"],
            account_id=data["account_id"],
            policy=PolicyRef(**data["policy"]),
            as_of=dt.datetime.fromisoformat(data["as_of"].replace("Z", "+00:00")),
            input_sha256=data["input_sha256"],
            action=ActionKind(data["action"]),
            limit_factor=data["limit_factor"],
            reasons=tuple(_reason(reason) for reason in data["reasons"]),
            missing_facts=tuple(data["missing_facts"]),
            trace=None if data["trace"] is None else tuple(_rule(r) for r in data["trace"]),
            timeline=None if timeline is None else _timeline(timeline),
            engine_version=data["engine_version"],
            data=data,
        )


def _reason(data: Mapping[str, Any]) -> RecordReason:
    rule_action = data.get("rule_action")
    return RecordReason(
        rank=data["rank"],
        rule=data["rule"],
        code=data["code"],
        action=ActionKind(data["action"]),
        grace=data["grace"],
        limit_factor=data.get("limit_factor"),
        rule_action=ActionKind(rule_action) if rule_action else None,
        exemptions=tuple(data.get("exemptions", ())),
        facts=tuple(data.get("facts", ())),
    )


def _rule(data: Mapping[str, Any]) -> RuleTrace:
    checks = tuple(
        RecordCheck(
            fact=check["fact"],
            op=check["op"],
            value=check["value"],
            threshold=check["threshold"],
            result=check["result"],
            missing=tuple(check.get("missing", ())),
        )
        for check in data["checks"]
    )
    return RuleTrace(data["rule"], ActionKind(data["action"]), data["matched"], checks)


def _timeline(data: Mapping[str, Any]) -> RecordTimeline:
    decided_on = _day(data["decided_on"])
    effective = _day(data["effective"])
    assert decided_on is not None and effective is not None  # the schema requires both
    return RecordTimeline(
        grace=data["grace"],
        decided_on=decided_on,
        effective=effective,
        immediate=data["immediate"],
        notice_date=_day(data.get("notice_date")),
        notice_days=data.get("notice_days"),
        cure_until=_day(data.get("cure_until")),
        appeal_until=_day(data.get("appeal_until")),
        review_max_days=data.get("review_max_days"),
        paused_during_review=data.get("paused_during_review"),
    )
