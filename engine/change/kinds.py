"""The kinds of change the semantic diff reports, one closed set that readers match on."""

from __future__ import annotations

from enum import StrEnum


class ChangeKind(StrEnum):
    """What moved between two policy versions."""

    # a rule's condition (see diff.condition_changes)
    THRESHOLD = "threshold"
    OPERATOR = "operator"
    ADDED = "added"
    REMOVED = "removed"
    REWRITTEN = "rewritten"
    # a rule as a whole
    ACTION = "action"
    LIMIT_FACTOR = "limit_factor"
    GRACE = "grace"
    RULE_ADDED = "rule_added"
    RULE_REMOVED = "rule_removed"
    RULE_RENAMED = "rule_renamed"
    REASON_CODE = "reason_code"
    REASON_ORDER = "reason_order"
    # texts a customer reads; never what is decided
    TEXT = "text"
    # the fact schema
    FACT_ADDED = "fact_added"
    FACT_REMOVED = "fact_removed"
    FACT_TYPE = "fact_type"
    FACT_MINIMUM = "fact_minimum"
    FACT_MAXIMUM = "fact_maximum"
    FACT_VALUES = "fact_values"
    FACT_UNIT = "fact_unit"
    FACT_ON_MISSING = "fact_on_missing"
    # grace rules
    GRACE_ADDED = "grace_added"
    GRACE_REMOVED = "grace_removed"
    GRACE_IMMEDIATE = "grace_immediate"
    GRACE_NOTICE = "grace_notice"
    GRACE_CURE = "grace_cure"
    GRACE_APPEAL = "grace_appeal"
    GRACE_EXEMPTION = "grace_exemption"
    # the outcome and metadata
    PRECEDENCE = "precedence"
    MISSING_FACTS = "missing_facts"
    CHANGE_NOTICE_DAYS = "change_notice_days"
    METADATA = "metadata"


# A changed condition: it moves who a rule hits, so a notice always describes it.
CONDITION_KINDS = frozenset(
    {
        ChangeKind.THRESHOLD,
        ChangeKind.OPERATOR,
        ChangeKind.ADDED,
        ChangeKind.REMOVED,
        ChangeKind.REWRITTEN,
    }
)

# Changes to one rule that a notice shows as the rule before and after.
RULE_KINDS = CONDITION_KINDS | {
    ChangeKind.ACTION,
    ChangeKind.LIMIT_FACTOR,
    ChangeKind.GRACE,
    ChangeKind.RULE_ADDED,
    ChangeKind.RULE_REMOVED,
}

# Changes to a grace rule's terms, shown per grace rule.
GRACE_TERM_KINDS = frozenset(
    {
        ChangeKind.GRACE_IMMEDIATE,
        ChangeKind.GRACE_NOTICE,
        ChangeKind.GRACE_CURE,
        ChangeKind.GRACE_APPEAL,
        ChangeKind.GRACE_EXEMPTION,
    }
)
