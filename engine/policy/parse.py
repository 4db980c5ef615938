"""Schema-valid policy data -> the typed model, with located errors for what the schema cannot say."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from clearline.engine.errors import Diagnostic
from clearline.engine.facts import ValueProblem, coerce, parse_date
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    DEFAULT_PRECEDENCE,
    Action,
    Actionable,
    ActionKind,
    AllOf,
    AnyOf,
    Appeal,
    BusinessCalendar,
    Comparison,
    Condition,
    Cure,
    EventPattern,
    EventType,
    Exemption,
    Expectation,
    Fact,
    FactRef,
    FactType,
    GraceRule,
    Lender,
    Metadata,
    MissingFacts,
    MissingMode,
    Not,
    Operand,
    Operator,
    Outcome,
    Policy,
    PolicyTest,
    Rule,
    Signal,
    SignalKind,
    Text,
)
from clearline.engine.policy.parse_parties import agencies, bureau_reporting, key_factors
from clearline.engine.policy.source import Path, SourceMap

_OPERATORS = {op.value for op in Operator}


class _Parser:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.fact_types: dict[str, Fact] = {}
        self.tz: dt.tzinfo = dt.UTC

    def error(self, path: Path, code: str, message: str, *, key: bool = False) -> None:
        self.diagnostics.append(self.source.diagnostic(path, code, message, key=key))

    # -- small pieces -------------------------------------------------------------------------

    def text(self, data: Any) -> Text:
        if not isinstance(data, dict):
            return Text()
        return Text(tuple(sorted((str(k), str(v)) for k, v in data.items())))

    def instant(self, value: Any, path: Path) -> dt.datetime | None:
        """A date means the start of that day in the policy's time zone."""
        if not isinstance(value, str):
            return None
        try:
            if len(value) == 10:
                day = parse_date(value)
                return dt.datetime(day.year, day.month, day.day, tzinfo=self.tz)
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=self.tz)
        except (ValueProblem, ValueError) as exc:
            self.error(path, "C001", f"invalid date: {exc}")
            return None

    # -- sections -----------------------------------------------------------------------------

    def metadata(
        self, data: dict[str, Any], calendar: BusinessCalendar | None = None
    ) -> Metadata | None:
        path: Path = ("metadata",)
        tz_name = data.get("timezone", "UTC")
        try:
            self.tz = zoneinfo.ZoneInfo(str(tz_name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            # The loader rejects a name that is not an IANA zone (C201) before parsing; this
            # keeps the parser total for a caller that skipped that check.
            self.error((*path, "timezone"), "C201", f"unknown time zone `{tz_name}`")
        start = self.instant(data.get("effective_from"), (*path, "effective_from"))
        until = None
        if "effective_until" in data:
            until = self.instant(data["effective_until"], (*path, "effective_until"))
            if start and until and until <= start:
                self.error(
                    (*path, "effective_until"),
                    "C003",
                    "effective_until must be after effective_from",
                )
        owner = None
        if isinstance(data.get("owner"), dict):
            raw = data["owner"]
            owner = Lender(
                self.text(raw.get("name")),
                self.text(raw.get("contact")),
                self.text(raw.get("review_channel")),
                self.text(raw.get("complaints")),
                agencies(raw.get("regulators"), self.text),
            )
        if start is None:
            return None
        return Metadata(
            id=str(data["id"]),
            version=str(data["version"]),
            title=self.text(data.get("title")),
            effective_from=start,
            effective_until=until,
            languages=tuple(str(lang) for lang in data.get("languages", ())),
            timezone=str(tz_name),
            owner=owner,
            adverse_change_notice_days=int(data.get("adverse_change_notice_days", 0)),
            announced_on=(
                self.instant(data["announced_on"], (*path, "announced_on"))
                if "announced_on" in data
                else None
            ),
            limit_fact=str(data["limit_fact"]) if "limit_fact" in data else None,
            calendar=calendar,
            jurisdictions=tuple(str(code) for code in data.get("jurisdictions", ())),
            minimum_notice_days=_minimum_notice(data.get("minimum_notice_days")),
            bureaus=agencies(data.get("bureaus"), self.text),
            reports_to_bureau=bureau_reporting(data.get("reports_to_bureau")),
        )

    def fact(self, name: str, data: dict[str, Any], path: Path | None = None) -> Fact:
        path = path or ("facts", name)
        fact_type = FactType(data["type"])
        values = tuple(str(v) for v in data.get("values", ()))
        if fact_type is FactType.ENUM and not values:
            self.error(path, "C010", f"enum fact `{name}` needs a list of `values`")
        if fact_type is not FactType.ENUM and values:
            self.error(
                (*path, "values"), "C010", f"`values` is only for enum facts, not {fact_type}"
            )
        bounds: dict[str, Any] = {}
        for bound in ("minimum", "maximum"):
            if bound not in data:
                continue
            if fact_type not in (
                FactType.INTEGER,
                FactType.NUMBER,
                FactType.DATE,
                FactType.DATETIME,
            ):
                self.error(
                    (*path, bound), "C011", f"`{bound}` does not apply to a {fact_type} fact"
                )
                continue
            try:
                bounds[bound] = coerce(fact_type, data[bound])
            except ValueProblem as exc:
                self.error((*path, bound), "C011", f"`{bound}`: {exc}")
        if "minimum" in bounds and "maximum" in bounds and bounds["minimum"] > bounds["maximum"]:
            self.error((*path, "maximum"), "C011", "maximum is below minimum")
        value_labels: list[tuple[str, Text]] = []
        for value, label in (data.get("value_labels") or {}).items():
            if value not in values:
                self.error(
                    (*path, "value_labels", value),
                    "C012",
                    f"label for `{value}`, which is not a value of `{name}`",
                    key=True,
                )
            value_labels.append((str(value), self.text(label)))
        return Fact(
            name=name,
            type=fact_type,
            label=self.text(data.get("label")),
            description=self.text(data.get("description")),
            unit=data.get("unit"),
            minimum=bounds.get("minimum"),
            maximum=bounds.get("maximum"),
            values=values,
            value_labels=tuple(value_labels),
            on_missing=MissingMode(data["on_missing"]) if "on_missing" in data else None,
            redact=bool(data.get("redact", False)),
            path=path,
            actionable=_actionable(data.get("actionable")),
            grows_daily=bool(data.get("grows_daily", False)),
            known_to_customer=bool(data.get("known_to_customer", True)),
            key_factors=key_factors(data.get("key_factors"), self.text, path),
            source=str(data["source"]) if "source" in data else None,
        )

    def literal(self, fact_name: str, value: Any) -> Any:
        """Type a literal by its fact's type where possible; the checker reports misfits."""
        fact = self.fact_types.get(fact_name)
        if fact is None:
            return value
        try:
            return coerce(fact.type, value, fact.values)
        except ValueProblem:
            return value

    def condition(self, data: Any, path: Path, subject: str = "fact") -> Condition | None:
        """A condition; `subject` is the key naming what a comparison reads (fact or field)."""
        if not isinstance(data, dict) or not data:
            self.error(path, "C020", "a condition must be a mapping: all, any, not or a comparison")
            return None
        combinators = [key for key in ("all", "any", "not") if key in data]
        if combinators:
            if len(data) != 1:
                self.error(
                    path,
                    "C020",
                    f"`{combinators[0]}` must stand alone in its condition; "
                    "nest other keys inside it",
                )
                return None
            key = combinators[0]
            if key == "not":
                part = self.condition(data["not"], (*path, "not"), subject)
                return Not(part, path) if part is not None else None
            items = data[key]
            if not isinstance(items, list) or not items:
                self.error((*path, key), "C020", f"`{key}` needs a non-empty list of conditions")
                return None
            parts = [self.condition(item, (*path, key, i), subject) for i, item in enumerate(items)]
            if any(part is None for part in parts):
                return None
            kept = tuple(part for part in parts if part is not None)
            return AllOf(kept, path) if key == "all" else AnyOf(kept, path)
        if subject not in data:
            self.error(path, "C020", f"a comparison needs a `{subject}` and one operator")
            return None
        ops = [key for key in data if key != subject]
        if len(ops) != 1 or ops[0] not in _OPERATORS:
            names = ", ".join(sorted(_OPERATORS))
            self.error(path, "C021", f"a comparison needs exactly one operator ({names})")
            return None
        op = Operator(ops[0])
        fact_name = str(data[subject])
        raw = data[op.value]
        operand: Operand
        # The schema gives each operator its operand's shape: `in`, `not_in` and `between` a
        # list of literals (`between` exactly two), the others one literal or `{fact: NAME}`.
        if isinstance(raw, dict):
            operand = FactRef(str(raw.get(subject)))
        elif isinstance(raw, list):
            operand = tuple(self.literal(fact_name, item) for item in raw)
        else:
            operand = self.literal(fact_name, raw)
        return Comparison(fact_name, op, operand, path)

    def action(self, data: Any, path: Path) -> Action:
        if isinstance(data, str):
            kind = ActionKind(data)
            factor = None
        else:
            kind = ActionKind(data["kind"])
            factor = data.get("limit_factor")
        if kind is ActionKind.REDUCE_LIMIT and factor is None:
            self.error(path, "C030", "reduce_limit needs a `limit_factor` (new limit / old limit)")
        if kind is not ActionKind.REDUCE_LIMIT and factor is not None:
            self.error(path, "C030", f"`limit_factor` is only for reduce_limit, not {kind}")
            factor = None
        return Action(kind, float(factor) if factor is not None else None)

    def rule(self, data: dict[str, Any], index: int) -> Rule | None:
        path: Path = ("rules", index)
        when = self.condition(data["when"], (*path, "when"))
        action = self.action(data["action"], (*path, "action"))
        if when is None:
            return None
        reason = data.get("reason") or {}
        return Rule(
            id=str(data["id"]),
            action=action,
            when=when,
            reason_code=str(reason.get("code")),
            reason=self.text(reason.get("text")),
            advice=self.text(data.get("advice")),
            grace=data.get("grace"),
            description=self.text(data.get("description")),
            path=path,
        )

    def grace_rule(self, name: str, data: dict[str, Any]) -> GraceRule | None:
        path: Path = ("grace", name)
        cure = None
        ok = True
        notice_days = int(data.get("notice_days", 0))
        notice = data.get("notice") or {}
        notice_days = int(notice.get("days", notice_days))
        notice_months = int(notice.get("months", 0))
        no_cure = Text()
        if isinstance(data.get("cure"), dict) and "none" in data["cure"]:
            no_cure = self.text(data["cure"]["none"])
        elif "cure" in data:
            raw_cure = data["cure"]
            when = None
            if "when" in raw_cure:
                when = self.condition(raw_cure["when"], (*path, "cure", "when"))
                ok = ok and when is not None
            cure = Cure(when, int(raw_cure.get("days", notice_days)), (*path, "cure"))
        appeal = None
        if "appeal" in data:
            raw = data["appeal"]
            appeal = Appeal(
                days=int(raw["days"]),
                pauses_action=bool(raw.get("pauses_action", True)),
                review_max_days=raw.get("review_max_days"),
                on_timeout=str(raw.get("on_timeout", "overturn")),
            )
        exemptions = []
        for i, raw in enumerate(data.get("exemptions", ())):
            epath: Path = (*path, "exemptions", i)
            when = self.condition(raw["when"], (*epath, "when"))
            if when is None:
                ok = False
                continue
            downgrade = raw.get("downgrade_to")
            exemptions.append(
                Exemption(
                    id=str(raw["id"]),
                    when=when,
                    extend_notice_days=int(raw.get("extend_notice_days", 0)),
                    downgrade_to=ActionKind(downgrade) if downgrade else None,
                    description=self.text(raw.get("description")),
                    path=epath,
                )
            )
        if not ok:
            return None
        return GraceRule(
            name=name,
            notice_days=notice_days,
            immediate=bool(data.get("immediate", False)),
            cure=cure,
            appeal=appeal,
            exemptions=tuple(exemptions),
            description=self.text(data.get("description")),
            path=path,
            notice_months=notice_months,
            category=str(data["category"]) if "category" in data else None,
            no_cure=no_cure,
            label=self.text(data.get("label")),
        )

    def outcome(self, data: dict[str, Any]) -> Outcome:
        precedence = (
            tuple(ActionKind(a) for a in data.get("precedence", ())) or Outcome().precedence
        )
        raw = data.get("missing_facts") or {}
        missing = MissingFacts(
            default=MissingMode(raw.get("default", "ignore")),
            review_code=str(raw.get("review_code", "MISSING")),
            review_reason=self.text(raw.get("review_reason")),
            review_grace=raw.get("review_grace"),
        )
        return Outcome(precedence, missing)

    def test(self, data: dict[str, Any], path: Path) -> PolicyTest | None:
        expect = data["expect"]
        as_of = self.instant(data["as_of"], (*path, "as_of")) if "as_of" in data else None
        effective = None
        if "effective" in expect:
            try:
                effective = parse_date(str(expect["effective"]))
            except ValueProblem as exc:
                self.error((*path, "expect", "effective"), "C001", str(exc))
        facts = data["facts"]
        return PolicyTest(
            name=str(data["name"]),
            facts=tuple((str(k), v) for k, v in facts.items()),
            expect=Expectation(
                action=ActionKind(expect["action"]),
                reasons=tuple(expect["reasons"]) if "reasons" in expect else None,
                missing_facts=(
                    tuple(expect["missing_facts"]) if "missing_facts" in expect else None
                ),
                effective=effective,
            ),
            as_of=as_of,
            description=self.text(data.get("description")),
            path=path,
        )

    def event_type(self, name: str, data: dict[str, Any]) -> EventType:
        path: Path = ("events", name)
        fields = tuple(
            self.fact(field, raw, (*path, "fields", field))
            for field, raw in (data.get("fields") or {}).items()
        )
        return EventType(
            name=name,
            label=self.text(data.get("label")),
            fields=fields,
            description=self.text(data.get("description")),
            path=path,
        )

    def pattern(
        self, data: dict[str, Any], path: Path, events: dict[str, EventType]
    ) -> EventPattern | None:
        """One event pattern; its condition's literals are typed by the event's fields."""
        event = events.get(str(data["event"]))
        when = None
        if "when" in data:
            saved = self.fact_types
            self.fact_types = {f.name: f for f in event.fields} if event else {}
            when = self.condition(data["when"], (*path, "when"), "field")
            self.fact_types = saved
            if when is None:
                return None
        return EventPattern(str(data["event"]), when, path)

    def signal(
        self, name: str, data: dict[str, Any], events: dict[str, EventType]
    ) -> Signal | None:
        path: Path = ("signals", name)
        kinds = [k for k in SignalKind if k.value in data]
        if len(kinds) != 1:
            self.error(
                path,
                "C050",
                "a signal needs exactly one of `match`, `sequence`, `count` or `sum`",
                key=True,
            )
            return None
        kind = kinds[0]
        if kind is SignalKind.SEQUENCE and "within" not in data:
            self.error(
                (*path, "sequence"),
                "C050",
                "a sequence needs `within`: the longest time from its first to its last event",
            )
        raw_patterns = data["sequence"] if kind is SignalKind.SEQUENCE else [data[kind.value]]
        where = [
            (*path, kind.value, i) if kind is SignalKind.SEQUENCE else (*path, kind.value)
            for i in range(len(raw_patterns))
        ]
        patterns = [
            self.pattern(raw, at, events) for raw, at in zip(raw_patterns, where, strict=True)
        ]
        summed = None
        for raw, at in zip(raw_patterns, where, strict=True):
            if "field" in raw and kind is not SignalKind.SUM:
                self.error((*at, "field"), "C050", "`field` is only for a sum signal")
        if kind is SignalKind.SUM:
            summed = raw_patterns[0].get("field")
            if summed is None:
                self.error((*path, "sum"), "C050", "a sum signal needs the `field` to add up")
        within = None
        if "within" in data:
            if kind is not SignalKind.SEQUENCE:
                self.error((*path, "within"), "C050", "`within` is only for a sequence signal")
            within = parse_duration(str(data["within"]))
        fact_type = {
            SignalKind.MATCH: FactType.BOOLEAN,
            SignalKind.SEQUENCE: FactType.BOOLEAN,
            SignalKind.COUNT: FactType.INTEGER,
            SignalKind.SUM: FactType.NUMBER,
        }[kind]
        unit = "count" if kind is SignalKind.COUNT else None
        event = events.get(str(raw_patterns[0]["event"]))
        if kind is SignalKind.SUM and event is not None and summed is not None:
            summed_field = event.field_named(str(summed))
            unit = summed_field.unit if summed_field is not None else None
        fact = Fact(
            name=name,
            type=fact_type,
            label=self.text(data.get("label")),
            description=self.text(data.get("description")),
            unit=unit,
            minimum=0 if kind is SignalKind.COUNT else None,
            path=path,
            actionable=_actionable(data.get("actionable")),
            source=str(data["source"]) if "source" in data else None,
        )
        kept = tuple(pattern for pattern in patterns if pattern is not None)
        if len(kept) != len(patterns):
            return None
        return Signal(
            name=name,
            kind=kind,
            patterns=kept,
            window=parse_duration(str(data["window"])),
            fact=fact,
            within=within,
            summed=str(summed) if summed is not None else None,
            path=path,
        )


def _actionable(raw: Any) -> Actionable | None:
    """`actionable: false`, `true` or `{direction: increase|decrease|either}` (schema-checked)."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return Actionable.EITHER if raw else Actionable.NO
    return Actionable(str(raw.get("direction", "either")))


_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def _minimum_notice(raw: Any) -> tuple[tuple[ActionKind, int], ...]:
    """`minimum_notice_days`: one number for every adverse action, or one per action."""
    if raw is None:
        return ()
    if isinstance(raw, int):
        return tuple((kind, raw) for kind in DEFAULT_PRECEDENCE if kind in ADVERSE_ACTIONS)
    given = {ActionKind(kind): int(days) for kind, days in raw.items()}
    # In precedence order, so the mapping's key order never changes the policy's hash.
    return tuple((kind, given[kind]) for kind in DEFAULT_PRECEDENCE if kind in given)


def parse_duration(text: str) -> int:
    """Seconds in a schema-valid duration such as `7d`, `12h`, `30m` or `90s`."""
    return int(text[:-1]) * _DURATION_UNITS[text[-1]]


def parse_tests(
    data: list[Any], source: SourceMap, base: Path, parser: _Parser | None = None
) -> tuple[tuple[PolicyTest, ...], list[Diagnostic]]:
    """Parse a list of schema-valid tests (from a policy or a `*.tests.yaml` file)."""
    parser = parser or _Parser(source)
    tests = []
    for i, item in enumerate(data):
        test = parser.test(item, (*base, i))
        if test is not None:
            tests.append(test)
    return tuple(tests), parser.diagnostics


def parse_policy(
    data: dict[str, Any], source: SourceMap, calendar: BusinessCalendar | None = None
) -> tuple[Policy | None, list[Diagnostic]]:
    """Build the model from schema-valid data; the policy is None when anything failed.

    `calendar` is the business-day calendar the loader read from `metadata.calendar`.
    """
    parser = _Parser(source)
    metadata = parser.metadata(data["metadata"], calendar)
    facts = tuple(parser.fact(name, raw) for name, raw in data["facts"].items())
    events = tuple(parser.event_type(name, raw) for name, raw in (data.get("events") or {}).items())
    by_name = {event.name: event for event in events}
    signals = [
        parser.signal(name, raw, by_name) for name, raw in (data.get("signals") or {}).items()
    ]
    # A signal is a fact like any other: rules, checks, decide and disclosures see it in `facts`.
    facts += tuple(
        signal.fact for signal in signals if signal is not None and signal.name not in data["facts"]
    )
    parser.fact_types = {fact.name: fact for fact in facts}
    rules = [parser.rule(raw, i) for i, raw in enumerate(data["rules"])]
    grace = [parser.grace_rule(name, raw) for name, raw in (data.get("grace") or {}).items()]
    outcome = parser.outcome(data.get("outcome") or {})
    tests, _ = parse_tests(data.get("tests") or [], source, ("tests",), parser)
    if parser.diagnostics or metadata is None or None in rules or None in grace or None in signals:
        return None, parser.diagnostics
    policy = Policy(
        api_version=str(data["apiVersion"]),
        metadata=metadata,
        facts=facts,
        rules=tuple(rule for rule in rules if rule is not None),
        grace=tuple(rule for rule in grace if rule is not None),
        outcome=outcome,
        tests=tests,
        events=events,
        signals=tuple(signal for signal in signals if signal is not None),
        source=source.file,
    )
    return policy, parser.diagnostics
