"""Semantic checks of a parsed policy: what JSON Schema cannot see, reported at the YAML node."""

from __future__ import annotations

import math
from pathlib import Path as FsPath
from typing import Any

from clearline.engine.conditions import branches
from clearline.engine.errors import Diagnostic, FactError, did_you_mean
from clearline.engine.facts import ValueProblem, check_bounds, coerce, normalise_facts
from clearline.engine.model import (
    ADVERSE_ACTIONS,
    MISSING_FACTS_REASON,
    ORDERING_OPERATORS,
    Comparison,
    Condition,
    EventPattern,
    Fact,
    FactRef,
    FactType,
    Operator,
    Policy,
    PolicyTest,
    Signal,
    SignalKind,
    Text,
    comparisons,
    condition_facts,
)
from clearline.engine.policy.document_checks import document_findings
from clearline.engine.policy.grace_checks import grace_findings, policy_minimums
from clearline.engine.policy.impossible import impossible_nodes, never_decides, show_account
from clearline.engine.policy.jurisdictions import (
    Pack,
    PackError,
    find_pack,
    load_pack,
    pack_findings,
    pack_minimums,
)
from clearline.engine.policy.source import Path, SourceMap
from clearline.engine.policy.text_numbers import text_number_problems

# The most alternatives one event pattern may compile to (C186): the event engine tests each.
MAX_ALTERNATIVES = 32


def pattern_size(condition: Condition) -> int:
    """How many alternatives the event engine writes a field condition as: one per branch of
    its normal form, times the values of each `in` (`events.rulesets.alternatives`; a test
    holds the two equal)."""
    return sum(
        math.prod(
            len(cmp.operand) if cmp.op is Operator.IN and isinstance(cmp.operand, tuple) else 1
            for cmp in branch
        )
        for branch in branches(condition)
    )


RESERVED_EVENT_TYPES = frozenset({"facts"})  # `{"type": "facts"}` events update facts
MAX_EVENT_FIELDS = 24  # durable_rules keeps at most 32 properties per fact; 8 are ours
MAX_WINDOW = 3650 * 86400

_ORDERED_TYPES = frozenset({FactType.INTEGER, FactType.NUMBER, FactType.DATE, FactType.DATETIME})
_NUMERIC = frozenset({FactType.INTEGER, FactType.NUMBER})


class _Checker:
    def __init__(self, policy: Policy, source: SourceMap) -> None:
        self.policy = policy
        self.source = source
        self.facts = {fact.name: fact for fact in policy.facts}
        self.noun = "fact"  # what a comparison reads: a fact, or an event's field
        self.diagnostics: list[Diagnostic] = []

    def error(self, path: Path, code: str, message: str, *, key: bool = False) -> None:
        self.diagnostics.append(self.source.diagnostic(path, code, message, key=key))

    def warn(self, path: Path, code: str, message: str) -> None:
        line, column = self.source.locate(path)
        self.diagnostics.append(
            Diagnostic(self.source.file, line, column, code, message, severity="warning")
        )

    # -- conditions ---------------------------------------------------------------------------

    def comparison(self, cmp: Comparison) -> None:
        fact = self.facts.get(cmp.fact)
        if fact is None:
            self.error(
                (*cmp.path, self.noun),
                "C100",
                f"unknown {self.noun} `{cmp.fact}`{did_you_mean(cmp.fact, self.facts)}",
            )
            return
        op_path = (*cmp.path, cmp.op.value)
        if cmp.op in ORDERING_OPERATORS and fact.type not in _ORDERED_TYPES:
            self.error(
                op_path,
                "C101",
                f"`{cmp.op}` needs an ordered fact, but `{fact.name}` is {fact.type}; "
                "use eq, ne, in or not_in",
            )
            return
        if cmp.op in (Operator.IN, Operator.NOT_IN) and fact.type is FactType.BOOLEAN:
            self.error(op_path, "C101", f"`{cmp.op}` does not fit boolean `{fact.name}`; use eq")
            return
        operand = cmp.operand
        if isinstance(operand, FactRef):
            other = self.facts.get(operand.fact)
            if other is None:
                self.error(
                    (*op_path, self.noun),
                    "C100",
                    f"unknown {self.noun} `{operand.fact}`{did_you_mean(operand.fact, self.facts)}",
                )
            elif not _compatible(fact, other):
                self.error(
                    op_path,
                    "C105",
                    f"cannot compare {fact.type} `{fact.name}` with {other.type} `{other.name}`",
                )
            elif fact.name == other.name:
                self.error(op_path, "C105", f"`{fact.name}` is compared with itself")
            return
        literals = operand if isinstance(operand, tuple) else (operand,)
        typed: list[Any] = []
        for i, literal in enumerate(literals):
            where: Path = (*op_path, i) if isinstance(operand, tuple) else op_path
            try:
                value = coerce(fact.type, literal, fact.values)
            except ValueProblem as exc:
                code = "C103" if fact.type is FactType.ENUM and isinstance(literal, str) else "C102"
                self.error(where, code, f"`{fact.name}` is {fact.type}: {exc}")
                continue
            try:
                check_bounds(fact, value)
            except ValueProblem as exc:
                self.error(where, "C104", f"threshold out of range for `{fact.name}`: {exc}")
                continue
            typed.append(value)
        if cmp.op is Operator.BETWEEN and len(typed) == 2 and typed[0] > typed[1]:
            self.error(op_path, "C106", f"`between` low {typed[0]} is above high {typed[1]}")

    def condition(self, condition: Condition) -> None:
        before = len(self.diagnostics)
        for cmp in comparisons(condition):
            self.comparison(cmp)
        if len(self.diagnostics) > before:
            return  # a threshold that does not fit its fact is the finding to fix first
        for node, reason in impossible_nodes(self.facts, condition):
            self.error(node.path, "C130", f"this condition can never hold: {reason}")

    # -- sections -----------------------------------------------------------------------------

    def run(self) -> list[Diagnostic]:
        policy = self.policy
        langs = policy.metadata.languages
        self.texts(policy.metadata.title, ("metadata", "title"), required=True)
        self.limit_fact()
        for fact in policy.facts:
            self.texts(fact.label, (*fact.path, "label"), required=False)
            self.texts(fact.description, (*fact.path, "description"), required=False)
        seen: dict[str, Path] = {}
        # A score's key-factor codes are read by every notice that gives the score as a reason.
        used: set[str] = {f.key_factors.fact for f in policy.facts if f.key_factors}
        for rule in policy.rules:
            if rule.id in seen:
                self.error((*rule.path, "id"), "C110", f"duplicate rule id `{rule.id}`")
            seen.setdefault(rule.id, rule.path)
            if rule.id == MISSING_FACTS_REASON:
                self.error((*rule.path, "id"), "C111", f"`{rule.id}` is reserved for missing facts")
            self.condition(rule.when)
            used.update(condition_facts(rule.when))
            if rule.grace is not None and policy.grace_rule(rule.grace) is None:
                names = [g.name for g in policy.grace]
                self.error(
                    (*rule.path, "grace"),
                    "C112",
                    f"unknown grace rule `{rule.grace}`{did_you_mean(rule.grace, names)}",
                )
            if rule.action.kind in ADVERSE_ACTIONS and rule.grace is None:
                self.error(
                    (*rule.path, "action"),
                    "C113",
                    f"`{rule.action.kind}` is adverse and needs a grace rule; for an action that "
                    "takes effect at once, name a grace rule with `immediate: true`",
                )
            for part, path in (
                (rule.reason, (*rule.path, "reason", "text")),
                (rule.advice, (*rule.path, "advice")),
            ):
                self.texts(part, path, required=False)
            for where, code, message in text_number_problems(policy, rule):
                self.error(where, code, message)
            for lang in langs:
                if rule.reason.get(lang) is None:
                    unlabelled = [
                        name
                        for name in condition_facts(rule.when)
                        if name in self.facts and self.facts[name].label.get(lang) is None
                    ]
                    if unlabelled:
                        self.error(
                            rule.path,
                            "C120",
                            f"rule `{rule.id}` has no {lang} reason text and it cannot be "
                            f"generated: fact `{unlabelled[0]}` has no {lang} label",
                        )
        for grace in policy.grace:
            if grace.immediate and grace.notice_days:
                self.error(
                    (*grace.path, "notice_days"),
                    "C114",
                    "an immediate grace rule cannot also give notice days",
                )
            if grace.cure is not None and grace.cure.when is not None:
                self.condition(grace.cure.when)
                used.update(condition_facts(grace.cure.when))
            for exemption in grace.exemptions:
                self.condition(exemption.when)
                used.update(condition_facts(exemption.when))
                if exemption.downgrade_to is not None:
                    for rule in policy.rules:
                        stronger = policy.outcome.rank(
                            exemption.downgrade_to
                        ) <= policy.outcome.rank(rule.action.kind)
                        if rule.grace == grace.name and stronger:
                            self.error(
                                (*exemption.path, "downgrade_to"),
                                "C115",
                                f"exemption `{exemption.id}` must lighten the action of rule "
                                f"`{rule.id}` ({rule.action.kind}), not keep or raise it",
                            )
            self.texts(grace.description, (*grace.path, "description"), required=False)
        self.never_deciding()
        self.guarantee()
        review_grace = policy.outcome.missing_facts.review_grace
        if review_grace is not None and policy.grace_rule(review_grace) is None:
            self.error(
                ("outcome", "missing_facts", "review_grace"),
                "C112",
                f"unknown grace rule `{review_grace}`",
            )
        for fact in policy.facts:
            if fact.name not in used:
                self.warn(fact.path, "W001", f"fact `{fact.name}` is not used by any rule")
        for test in policy.tests:
            self.diagnostics.extend(check_test(policy, test, self.source))
        self.events()
        return self.diagnostics

    def never_deciding(self) -> None:
        # Fired rules stay ranked reasons, so this is a warning: the rule still explains.
        for rule, stronger, account in never_decides(self.policy):
            names = ", ".join(f"`{other.id}` ({other.action.kind})" for other in stronger)
            self.warn(
                (*rule.path, "when"),
                "W002",
                f"rule `{rule.id}` ({rule.action.kind}) never decides: whenever it fires, "
                f"{names} fires too and outranks it; for example {show_account(account)}",
            )

    # -- the grace guarantee and jurisdiction packs ---------------------------------------------

    def guarantee(self) -> None:
        policy = self.policy
        minimums = policy_minimums(policy)
        packs: list[Pack] = []
        here = FsPath(self.source.file).parent if self.source.file.endswith(".yaml") else None
        for i, code in enumerate(policy.metadata.jurisdictions):
            try:
                packs.append(load_pack(find_pack(code, here)))
            except PackError as exc:
                self.error(("metadata", "jurisdictions", i), "C170", str(exc))
        for kind, items in pack_minimums(packs).items():
            minimums.setdefault(kind, []).extend(items)
        for path, code, message in grace_findings(policy, minimums):
            self.error(path, code, message)
        for path, code, message in pack_findings(policy, packs):
            self.error(path, code, message)
        calendar = policy.metadata.calendar
        if calendar is not None:
            both = sorted(set(calendar.non_business_days) & set(calendar.working_days))
            if both:
                self.error(
                    ("metadata", "calendar"),
                    "C196",
                    f"calendar {calendar.file or ''} lists {both[0].isoformat()} both as a "
                    "non-business day and as a working day; keep it in one list",
                )

    # -- events and signals -------------------------------------------------------------------

    def events(self) -> None:
        policy = self.policy
        for event in policy.events:
            self.texts(event.label, (*event.path, "label"), required=True)
            self.texts(event.description, (*event.path, "description"), required=False)
            if event.name in RESERVED_EVENT_TYPES:
                self.error(event.path, "C182", f"`{event.name}` is reserved for fact-update events")
            if len(event.fields) > MAX_EVENT_FIELDS:
                self.error(
                    (*event.path, "fields"),
                    "C183",
                    f"an event type has at most {MAX_EVENT_FIELDS} fields",
                )
            for item in event.fields:
                self.texts(item.label, (*item.path, "label"), required=False)
                if item.type in (FactType.DATE, FactType.DATETIME):
                    self.error(
                        (*item.path, "type"),
                        "C183",
                        f"event fields cannot be {item.type} yet; the event's `ts` is its time",
                    )
        declared = {fact.name for fact in policy.facts if fact.path[:1] == ("facts",)}
        for signal in policy.signals:
            self.texts(signal.fact.label, (*signal.path, "label"), required=True)
            self.texts(signal.fact.description, (*signal.path, "description"), required=False)
            if signal.name in declared:
                self.error(
                    signal.path,
                    "C180",
                    f"signal `{signal.name}` has the same name as a declared fact; "
                    "remove the fact (a signal is a fact) or rename the signal",
                    key=True,
                )
            if signal.window > MAX_WINDOW:
                self.error((*signal.path, "window"), "C185", "a window is at most 3650 days")
            if signal.within is not None and signal.within > MAX_WINDOW:
                self.error((*signal.path, "within"), "C185", "`within` is at most 3650 days")
            for pattern in signal.patterns:
                self.pattern(signal, pattern)

    def pattern(self, signal: Signal, pattern: EventPattern) -> None:
        event = self.policy.event_type(pattern.event)
        if event is None:
            names = [e.name for e in self.policy.events]
            self.error(
                (*pattern.path, "event"),
                "C181",
                f"unknown event type `{pattern.event}`{did_you_mean(pattern.event, names)}",
            )
            return
        fields = {item.name: item for item in event.fields}
        if pattern.when is not None:
            saved = self.facts
            self.facts, self.noun = fields, "field"
            self.condition(pattern.when)
            self.facts, self.noun = saved, "fact"
            if pattern_size(pattern.when) > MAX_ALTERNATIVES:
                self.error(
                    (*pattern.path, "when"),
                    "C186",
                    f"this condition has more than {MAX_ALTERNATIVES} alternatives once "
                    "written for the event engine; simplify it",
                )
        if signal.kind is SignalKind.SUM and signal.summed is not None:
            summed = fields.get(signal.summed)
            if summed is None:
                self.error(
                    (*pattern.path, "field"),
                    "C184",
                    f"unknown field `{signal.summed}` of `{event.name}`"
                    f"{did_you_mean(signal.summed, fields)}",
                )
            elif summed.type not in _NUMERIC:
                self.error(
                    (*pattern.path, "field"),
                    "C184",
                    f"a sum adds up a number, but `{summed.name}` is {summed.type}",
                )

    def limit_fact(self) -> None:
        # A limit-cut notice prints this fact as money and multiplies it by the limit factor.
        name = self.policy.metadata.limit_fact
        if name is None:
            return
        fact = self.policy.fact(name)
        if (
            fact is None
            or fact.type not in (FactType.INTEGER, FactType.NUMBER)
            or fact.unit != "currency"
        ):
            self.error(
                ("metadata", "limit_fact"),
                "C031",
                f"`limit_fact` names `{name}`, which is not a declared integer or number fact "
                "with `unit: currency`",
            )

    def texts(self, text: Text, path: Path, *, required: bool) -> None:
        langs = self.policy.metadata.languages
        for lang in text.langs():
            if lang not in langs:
                self.error(
                    (*path, lang),
                    "C122",
                    f"text in `{lang}`, which is not one of the policy's languages "
                    f"({', '.join(langs)})",
                    key=True,
                )
        if required or text:
            for lang in langs:
                if text.get(lang) is None:
                    self.error(path, "C121", f"missing the {lang} text")


def check_test(policy: Policy, test: PolicyTest, source: SourceMap) -> list[Diagnostic]:
    """Diagnostics for one policy test: facts that do not fit, reasons that name no rule."""
    result: list[Diagnostic] = []
    try:
        normalise_facts(policy, dict(test.facts))
    except FactError as exc:
        for problem in exc.problems:
            path: Path = (
                (*test.path, "facts", problem.fact) if problem.fact else (*test.path, "facts")
            )
            result.append(source.diagnostic(path, "C140", problem.message))
    rule_ids = {rule.id for rule in policy.rules} | {MISSING_FACTS_REASON}
    for i, reason in enumerate(test.expect.reasons or ()):
        if reason not in rule_ids:
            result.append(
                source.diagnostic(
                    (*test.path, "expect", "reasons", i),
                    "C141",
                    f"unknown rule `{reason}`{did_you_mean(reason, rule_ids)}",
                )
            )
    for i, name in enumerate(test.expect.missing_facts or ()):
        if policy.fact(name) is None:
            result.append(
                source.diagnostic(
                    (*test.path, "expect", "missing_facts", i), "C141", f"unknown fact `{name}`"
                )
            )
    return result


def check_policy(policy: Policy, source: SourceMap) -> list[Diagnostic]:
    """Every semantic problem of a parsed policy, errors and warnings, in file order."""
    diagnostics = _Checker(policy, source).run()
    diagnostics.extend(document_findings(policy, source))  # words for every visible id
    diagnostics.sort(key=lambda d: (d.line, d.column, d.code))
    return diagnostics


def _compatible(a: Fact, b: Fact) -> bool:
    if a.type in _NUMERIC and b.type in _NUMERIC:
        return True
    if a.type is FactType.ENUM and b.type is FactType.ENUM:
        return bool(set(a.values) & set(b.values))
    return a.type == b.type
