"""The one typed, immutable model of a policy. Every other stage reads this, never YAML."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from clearline.engine.errors import Path
from clearline.engine.parties import Agency, BureauReporting, KeyFactors

Scalar = bool | int | float | str | dt.date | dt.datetime


class FactType(StrEnum):
    """The types a fact can have."""

    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ENUM = "enum"
    DATE = "date"
    DATETIME = "datetime"
    STRING = "string"


class ActionKind(StrEnum):
    """What a rule does to a credit line. NONE is the outcome when no rule fires."""

    CLOSE = "close"
    SUSPEND = "suspend"
    REDUCE_LIMIT = "reduce_limit"
    REVIEW = "review"
    NOTIFY = "notify"
    NONE = "none"


# The reason id of a decision sent to review for missing facts; no rule may take it.
MISSING_FACTS_REASON = "missing-facts"
ADVERSE_ACTIONS = frozenset({ActionKind.CLOSE, ActionKind.SUSPEND, ActionKind.REDUCE_LIMIT})
DEFAULT_PRECEDENCE: tuple[ActionKind, ...] = (
    ActionKind.CLOSE,
    ActionKind.SUSPEND,
    ActionKind.REDUCE_LIMIT,
    ActionKind.REVIEW,
    ActionKind.NOTIFY,
)


class Operator(StrEnum):
    """Comparison operators of the condition language."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "not_in"
    BETWEEN = "between"


ORDERING_OPERATORS = frozenset(
    {Operator.LT, Operator.LE, Operator.GT, Operator.GE, Operator.BETWEEN}
)
SET_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
# `not (x op v)` is `x negated-op v` for two-valued values (between has no single opposite).
NEGATED_OPERATORS = {
    Operator.EQ: Operator.NE,
    Operator.NE: Operator.EQ,
    Operator.LT: Operator.GE,
    Operator.GE: Operator.LT,
    Operator.GT: Operator.LE,
    Operator.LE: Operator.GT,
    Operator.IN: Operator.NOT_IN,
    Operator.NOT_IN: Operator.IN,
}


class MissingMode(StrEnum):
    """What a missing fact means for a decision."""

    IGNORE = "ignore"  # comparisons on it are unknown, so rules on it do not fire
    REVIEW = "review"  # as IGNORE, and the account is sent to manual review
    ERROR = "error"  # the fact is required: deciding without it is an input error


class Actionable(StrEnum):
    """Whether a customer can change a fact, and in which direction it helps them."""

    NO = "no"  # a fraud finding, an age, a customer group
    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


@dataclass(frozen=True)
class Text:
    """A short text in several languages, e.g. a label or a customer-facing reason."""

    values: tuple[tuple[str, str], ...] = ()

    def get(self, lang: str) -> str | None:
        """The text in `lang`, or None."""
        for key, value in self.values:
            if key == lang:
                return value
        return None

    def langs(self) -> tuple[str, ...]:
        """The languages this text is given in."""
        return tuple(key for key, _ in self.values)

    def __bool__(self) -> bool:
        return bool(self.values)

    def as_dict(self) -> dict[str, str]:
        """The text as a plain mapping of language to string."""
        return dict(self.values)


@dataclass(frozen=True)
class Fact:
    """One typed input of a decision."""

    name: str
    type: FactType
    label: Text
    description: Text = Text()
    unit: str | None = None
    minimum: int | float | dt.date | dt.datetime | None = None
    maximum: int | float | dt.date | dt.datetime | None = None
    values: tuple[str, ...] = ()  # enum members, in declared order
    value_labels: tuple[tuple[str, Text], ...] = ()
    on_missing: MissingMode | None = None  # None: the policy's default
    redact: bool = False
    path: Path = field(default=(), compare=False, repr=False)
    # Whether and which way the customer can change the fact (None: not declared, either way).
    actionable: Actionable | None = None
    grows_daily: bool = False  # one more each day while nothing else changes (days late)
    # False: only the lender knows the value (a fraud finding, an internal customer group), so
    # a page for customers does not ask it. Not the same as `actionable: false`: a customer
    # cannot change their past delinquencies but knows them.
    known_to_customer: bool = True
    key_factors: KeyFactors | None = None  # a score's factors behind a low value
    source: str | None = None  # the id of the credit bureau in `metadata.bureaus` it comes from

    def can_move(self, observed: Any, value: Any) -> bool:
        """Whether the customer can change this fact from `observed` to `value`."""
        way = self.actionable or Actionable.EITHER
        if way is Actionable.NO or observed is None:
            return False
        if way is Actionable.EITHER or isinstance(observed, str):
            return bool(observed != value)
        try:
            return bool(value < observed if way is Actionable.DECREASE else value > observed)
        except TypeError:
            return False

    def value_label(self, value: str) -> Text | None:
        """The label of one enum member, if declared."""
        for key, text in self.value_labels:
            if key == value:
                return text
        return None


@dataclass(frozen=True)
class FactRef:
    """The right-hand side of a comparison that names another fact."""

    fact: str


Operand = Scalar | tuple[Scalar, ...] | FactRef


@dataclass(frozen=True)
class Comparison:
    """`fact <op> operand`; for between the operand is (low, high), both inclusive."""

    fact: str
    op: Operator
    operand: Operand
    path: Path = field(default=(), compare=False, repr=False)

    def facts(self) -> Iterator[str]:
        """The facts this comparison reads."""
        yield self.fact
        if isinstance(self.operand, FactRef):
            yield self.operand.fact


@dataclass(frozen=True)
class AllOf:
    """True when every part is true."""

    parts: tuple[Condition, ...]
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class AnyOf:
    """True when at least one part is true."""

    parts: tuple[Condition, ...]
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    """True when the part is false (unknown stays unknown)."""

    part: Condition
    path: Path = field(default=(), compare=False, repr=False)


Condition = Comparison | AllOf | AnyOf | Not


def comparisons(condition: Condition) -> Iterator[Comparison]:
    """Every comparison of a condition, in source order."""
    if isinstance(condition, Comparison):
        yield condition
    elif isinstance(condition, Not):
        yield from comparisons(condition.part)
    else:
        for part in condition.parts:
            yield from comparisons(part)


def condition_facts(condition: Condition) -> tuple[str, ...]:
    """The facts a condition reads, each once, in order of first use."""
    seen: dict[str, None] = {}
    for comparison in comparisons(condition):
        for name in comparison.facts():
            seen.setdefault(name, None)
    return tuple(seen)


@dataclass(frozen=True)
class Action:
    """What happens to the line; `limit_factor` is the new limit as a fraction of the old."""

    kind: ActionKind
    limit_factor: float | None = None


@dataclass(frozen=True)
class Exemption:
    """A case where a grace rule softens its action: longer notice, or a lighter action."""

    id: str
    when: Condition
    extend_notice_days: int = 0
    downgrade_to: ActionKind | None = None
    description: Text = Text()
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Cure:
    """Re-evaluated within `days` of the decision, the action is rescinded if the cure holds.

    With `when`, the cure holds when that condition is true; without it, when the rule that
    fired no longer fires (the customer fixed what the rule watches).
    """

    when: Condition | None
    days: int
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Appeal:
    """The window in which a customer can ask for a human review, and what that review does."""

    days: int
    pauses_action: bool = True
    review_max_days: int | None = None
    on_timeout: str = "overturn"  # an unanswered review resolves for the customer by default


# Why an adverse action may take effect on the decision day, without notice (`immediate: true`).
IMMEDIATE_CATEGORIES = ("fraud", "legal_order", "deceased", "sanctions", "customer_request")
# Without `metadata.minimum_notice_days`, an adverse action waits at least this many days.
DEFAULT_MINIMUM_NOTICE_DAYS = 1


@dataclass(frozen=True)
class GraceRule:
    """What happens between a rule firing and its action taking effect.

    Notice is `notice_days` or `notice_months` calendar months (same day of the month, the last
    day of a shorter month), never both. `category` says why an immediate action needs no
    notice; `no_cure` says why there is no cure when `cure` is None on purpose.
    """

    name: str
    notice_days: int = 0
    immediate: bool = False
    cure: Cure | None = None
    appeal: Appeal | None = None
    exemptions: tuple[Exemption, ...] = ()
    description: Text = Text()
    path: Path = field(default=(), compare=False, repr=False)
    notice_months: int = 0
    category: str | None = None
    no_cure: Text = Text()
    label: Text = Text()  # the grace rule's name for customers (its id never shows)


@dataclass(frozen=True)
class Rule:
    """A criterion: when `when` holds, `action` is taken for `reason_code`."""

    id: str
    action: Action
    when: Condition
    reason_code: str
    reason: Text = Text()
    advice: Text = Text()
    grace: str | None = None
    description: Text = Text()
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class MissingFacts:
    """The policy-wide semantics of missing facts."""

    default: MissingMode = MissingMode.IGNORE
    review_code: str = "MISSING"
    review_reason: Text = Text()
    review_grace: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How fired rules become one decision."""

    precedence: tuple[ActionKind, ...] = DEFAULT_PRECEDENCE
    missing_facts: MissingFacts = MissingFacts()

    def rank(self, kind: ActionKind) -> int:
        """Position of an action in precedence (0 = strongest); NONE ranks last."""
        try:
            return self.precedence.index(kind)
        except ValueError:
            return len(self.precedence)


@dataclass(frozen=True)
class Expectation:
    """What a policy test expects of a decision."""

    action: ActionKind
    reasons: tuple[str, ...] | None = None
    missing_facts: tuple[str, ...] | None = None
    effective: dt.date | None = None


@dataclass(frozen=True)
class PolicyTest:
    """An example account with its expected outcome; doubles as a worked example."""

    name: str
    facts: tuple[tuple[str, object], ...]
    expect: Expectation
    as_of: dt.datetime | None = None
    description: Text = Text()
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Lender:
    """Who decides and how a customer reaches them."""

    name: Text
    contact: Text = Text()
    review_channel: Text = Text()
    complaints: Text = Text()  # where a customer complains about the lender
    regulators: tuple[tuple[str, Agency], ...] = ()  # per jurisdiction code

    def regulator(self, jurisdiction: str) -> Agency | None:
        """The regulator a customer can contact in `jurisdiction`, if declared."""
        return dict(self.regulators).get(jurisdiction)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days are business days, read from a policy's calendar file with the policy.

    A day is not a business day when it is listed in `non_business_days`, or falls on a
    `weekend` weekday (ISO numbers, Monday = 1) and is not listed in `working_days` (the
    make-up working days some countries move to a weekend). Date tuples are sorted.
    """

    non_business_days: tuple[dt.date, ...] = ()
    weekend: tuple[int, ...] = ()
    working_days: tuple[dt.date, ...] = ()
    file: str = field(default="", compare=False)

    def is_business_day(self, day: dt.date) -> bool:
        """Whether `day` is a business day."""
        if _contains(self.non_business_days, day):
            return False
        return day.isoweekday() not in self.weekend or _contains(self.working_days, day)

    def on_or_after(self, day: dt.date) -> dt.date:
        """`day` itself when it is a business day, else the next business day."""
        # The loader refuses a calendar without any business weekday, so this ends; the bound
        # is a guard against a calendar built by hand.
        for _ in range(7 * (len(self.non_business_days) + 1) + 1):
            if self.is_business_day(day):
                return day
            day += dt.timedelta(days=1)
        raise ValueError("the calendar has no business day after " + day.isoformat())


def _contains(days: tuple[dt.date, ...], day: dt.date) -> bool:
    i = bisect.bisect_left(days, day)
    return i < len(days) and days[i] == day


@dataclass(frozen=True)
class Metadata:
    """Identity, validity and languages of a policy version."""

    id: str
    version: str
    title: Text
    effective_from: dt.datetime
    languages: tuple[str, ...]
    effective_until: dt.datetime | None = None
    timezone: str = "UTC"
    owner: Lender | None = None
    adverse_change_notice_days: int = 0
    announced_on: dt.datetime | None = None
    limit_fact: str | None = None  # the fact holding the current credit limit
    calendar: BusinessCalendar | None = None
    jurisdictions: tuple[str, ...] = ()
    minimum_notice_days: tuple[tuple[ActionKind, int], ...] = ()  # per adverse action
    bureaus: tuple[tuple[str, Agency], ...] = ()  # credit bureaus facts come from, by id
    reports_to_bureau: BureauReporting | None = None

    def bureau(self, bureau_id: str) -> Agency | None:
        """The credit bureau declared under `bureau_id`, if any."""
        return dict(self.bureaus).get(bureau_id)

    def minimum_notice(self, kind: ActionKind) -> int:
        """The fewest days of notice the policy promises before `kind` takes effect."""
        for action, days in self.minimum_notice_days:
            if action is kind:
                return days
        return DEFAULT_MINIMUM_NOTICE_DAYS if kind in ADVERSE_ACTIONS else 0

    def in_force(self, instant: dt.datetime) -> bool:
        """Whether `instant` lies in [effective_from, effective_until)."""
        if instant < self.effective_from:
            return False
        return self.effective_until is None or instant < self.effective_until


class SignalKind(StrEnum):
    """How a signal turns a stream of account events into one fact value."""

    MATCH = "match"  # boolean: a matching event within the window
    SEQUENCE = "sequence"  # boolean: the steps in order, within `within`, completed in the window
    COUNT = "count"  # integer: matching events within the window
    SUM = "sum"  # number: sum of one field over matching events within the window


@dataclass(frozen=True)
class EventType:
    """A kind of account event the monitor reads; its fields are typed like facts."""

    name: str
    label: Text
    fields: tuple[Fact, ...] = ()
    description: Text = Text()
    path: Path = field(default=(), compare=False, repr=False)

    def field_named(self, name: str) -> Fact | None:
        """The field called `name`, if declared."""
        for item in self.fields:
            if item.name == name:
                return item
        return None


@dataclass(frozen=True)
class EventPattern:
    """One event of a signal: its type and an optional condition on its fields.

    The condition reuses the condition language; in it, `Comparison.fact` names a field.
    """

    event: str
    when: Condition | None = None
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Signal:
    """A behaviour pattern over one account's events whose value becomes the fact `name`.

    `window` (seconds): an event counts while `event.ts + window > now`; for a sequence, the
    event that completes it. `within` (seconds, sequences only): the longest span from the first
    to the last step. `summed` is the summed field of a SUM signal.
    """

    name: str
    kind: SignalKind
    patterns: tuple[EventPattern, ...]
    window: int
    fact: Fact
    within: int | None = None
    summed: str | None = None
    path: Path = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Policy:
    """One version of a credit-line policy."""

    api_version: str
    metadata: Metadata
    facts: tuple[Fact, ...]
    rules: tuple[Rule, ...]
    grace: tuple[GraceRule, ...] = ()
    outcome: Outcome = Outcome()
    tests: tuple[PolicyTest, ...] = ()
    events: tuple[EventType, ...] = ()
    signals: tuple[Signal, ...] = ()  # each signal's fact is also in `facts`
    source: str = field(default="", compare=False, repr=False)

    def event_type(self, name: str) -> EventType | None:
        """The event type called `name`, if declared."""
        for event in self.events:
            if event.name == name:
                return event
        return None

    def fact(self, name: str) -> Fact | None:
        """The fact called `name`, if declared."""
        for fact in self.facts:
            if fact.name == name:
                return fact
        return None

    def grace_rule(self, name: str | None) -> GraceRule | None:
        """The grace rule called `name`, if declared."""
        for rule in self.grace:
            if rule.name == name:
                return rule
        return None

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id, if any."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    def missing_mode(self, fact: Fact) -> MissingMode:
        """The effective missing-fact semantics of one fact."""
        return fact.on_missing or self.outcome.missing_facts.default
