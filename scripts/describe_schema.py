"""Give every property of the editor schema a description, a markdownDescription with a short
example, enum descriptions and defaults, in place.

Run from the repository root: `python scripts/describe_schema.py`. It edits
engine/schema/policy.schema.json as text (inserting keys right after a property's `{`), so the
hand-kept layout and key order stay as they are, then copies it to policies/policy.schema.json.
It never overwrites what an author wrote; it only adds what is missing. It exits 1 naming any
property it has no words for, so a property added later is caught on the next run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "engine" / "schema" / "policy.schema.json"
COPY = ROOT / "policies" / "policy.schema.json"

TEXT_EX = "{zh-CN: 逾期天数, en: days past due}"
OPS = {
    "eq": ("equal to", "{fact: confirmed_fraud, eq: true}"),
    "ne": ("not equal to", "{fact: segment, ne: standard}"),
    "lt": ("less than", "{fact: credit_score, lt: 550}"),
    "le": ("less than or equal to", "{fact: days_past_due, le: 30}"),
    "gt": ("greater than", "{fact: days_past_due, gt: 90}"),
    "ge": ("greater than or equal to", "{fact: high_apr_applications_7d, ge: 3}"),
    "in": ("one of a list", "{fact: segment, in: [subprime, thin_file]}"),
    "not_in": ("none of a list", "{fact: segment, not_in: [premium]}"),
    "between": ("between two bounds, both inclusive", "{fact: credit_score, between: [550, 600]}"),
}

# key (the property's path without $defs/properties/combinator steps) -> (description, example)
WORDS: dict[str, tuple[str, str]] = {
    "apiVersion": ("Version of the policy format.", "apiVersion: clearline/v1"),
    "kind": ("What this document is: always CreditLinePolicy.", "kind: CreditLinePolicy"),
    "metadata": (
        "Who owns the policy, its id and version, when it is in force and in which languages.",
        "metadata:\n  id: credit-line-closure\n  version: 1.1.0\n  effective_from: 2027-01-15",
    ),
    "facts": (
        "The typed inputs of a decision, by name.",
        "facts:\n  days_past_due: {type: integer, minimum: 0, label: " + TEXT_EX + "}",
    ),
    "rules": (
        "The criteria, in order of importance within the same action.",
        "rules:\n  - id: severe-delinquency\n    action: close\n    when: {fact: days_past_due, gt: 90}\n    reason: {code: D01}",
    ),
    "grace": (
        "Named grace rules: notice, cure, appeal and exemptions.",
        "grace:\n  standard:\n    notice_days: 15\n    cure: {days: 15}\n    appeal: {days: 30}",
    ),
    "outcome": (
        "Which action wins when several rules fire, and what a missing fact does.",
        "outcome:\n  missing_facts: {default: ignore}",
    ),
    "tests": (
        "Example accounts with the outcome the policy must give them, run by `clearline test`.",
        "tests:\n  - name: on time keeps the line\n    facts: {days_past_due: 0}\n    expect: {action: none}",
    ),
    "events": (
        "The kinds of account events the monitor reads, by name.",
        "events:\n  loan_drawn:\n    label: {en: loan drawn}\n    fields: {amount: {type: number}}",
    ),
    "signals": (
        "Behaviour patterns over an account's events; each becomes a fact rules can read.",
        "signals:\n  spree:\n    label: {en: applications this week}\n    count: {event: application}\n    window: 7d",
    ),
    "metadata/id": (
        "The policy's id: lower-case words joined by hyphens; the same across versions.",
        "id: credit-line-closure",
    ),
    "metadata/version": ("Semantic version MAJOR.MINOR.PATCH.", "version: 1.1.0"),
    "metadata/title": (
        "The policy's title for people, in each language.",
        "title: {zh-CN: 额度关闭政策, en: Credit line closure policy}",
    ),
    "metadata/owner": (
        "The lender: name, contact and the channel for a human review.",
        "owner:\n  name: {en: Example Bank}\n  contact: {en: 400-000-0000}",
    ),
    "metadata/effective_from": (
        "The first day (or instant) this version decides.",
        "effective_from: 2027-01-15",
    ),
    "metadata/effective_until": (
        "The last day this version decides; leave out while it is current.",
        "effective_until: 2027-12-31",
    ),
    "metadata/timezone": (
        "IANA time zone for calendar days, e.g. Asia/Shanghai.",
        "timezone: Asia/Shanghai",
    ),
    "metadata/languages": (
        "The languages every text of the policy is written in (BCP 47 tags).",
        "languages: [zh-CN, en]",
    ),
    "metadata/announced_on": (
        "When this version was announced to customers.",
        "announced_on: 2026-11-30",
    ),
    "metadata/limit_fact": (
        "The fact holding the account's current credit limit (unit currency).",
        "limit_fact: credit_limit",
    ),
    "metadata/jurisdictions": (
        "Jurisdiction packs this policy must meet.",
        "jurisdictions: [us-reg-b, eu-ccd2]",
    ),
    "metadata/minimum_notice_days": (
        "The fewest days of notice before close, suspend or reduce_limit.",
        "minimum_notice_days: {close: 60, suspend: 15, reduce_limit: 15}",
    ),
    "metadata/adverse_change_notice_days": (
        "Days of notice a customer gets before an adverse change of policy.",
        "adverse_change_notice_days: 45",
    ),
    "metadata/calendar": (
        "Business-day calendar file, relative to the policy file.",
        "calendar: cn.calendar.yaml",
    ),
    "metadata/owner/name": (
        "The lender's name, in each language.",
        "name: {zh-CN: 示例银行, en: Example Bank}",
    ),
    "metadata/owner/contact": (
        "How customers reach the lender, in each language.",
        "contact: {en: call 400-000-0000}",
    ),
    "metadata/owner/review_channel": (
        "Where a customer asks for a human review, in each language.",
        "review_channel: {en: the app, Help > Review}",
    ),
    "metadata/minimum_notice_days/close": ("Fewest days of notice before a closure.", "close: 60"),
    "metadata/minimum_notice_days/suspend": (
        "Fewest days of notice before a suspension.",
        "suspend: 15",
    ),
    "metadata/minimum_notice_days/reduce_limit": (
        "Fewest days of notice before a limit cut.",
        "reduce_limit: 15",
    ),
    "fact/type": ("The fact's type; inputs are checked against it.", "type: integer"),
    "fact/label": ("The fact's name for people, in each language.", "label: " + TEXT_EX),
    "fact/description": (
        "A short explanation of the fact for customers, in each language.",
        "description: {en: Days since the oldest unpaid instalment was due.}",
    ),
    "fact/unit": ("What the number counts; percent facts hold ratios (0.9 is 90%).", "unit: day"),
    "fact/minimum": ("The smallest value an input may have (a date for date facts).", "minimum: 0"),
    "fact/maximum": (
        "The largest value an input may have (a date for date facts).",
        "maximum: 900",
    ),
    "fact/values": (
        "For an enum fact: its members, in order.",
        "values: [standard, subprime, thin_file]",
    ),
    "fact/value_labels": (
        "For an enum fact: each member's name for people.",
        "value_labels:\n  subprime: {en: higher-risk group}",
    ),
    "fact/on_missing": (
        "What a rule on this fact does when it is missing (default: the policy's).",
        "on_missing: review",
    ),
    "fact/redact": ("Stored in the audit log only as a salted hash.", "redact: true"),
    "fact/actionable": (
        "Whether the customer can change the fact, and which way helps.",
        "actionable: {direction: decrease}",
    ),
    "fact/grows_daily": (
        "One more each day while nothing else changes (days late).",
        "grows_daily: true",
    ),
    "fact/known_to_customer": (
        "false: only the lender knows the value.",
        "known_to_customer: false",
    ),
    "actionable/direction": ("Which change helps the customer.", "direction: decrease"),
    "factRef/fact": (
        "Another fact to compare with, instead of a literal.",
        "{fact: balance, gt: {fact: credit_limit}}",
    ),
    "condition/all": (
        "Holds when every part holds.",
        "all:\n  - {fact: days_past_due, gt: 30}\n  - {fact: credit_score, lt: 600}",
    ),
    "condition/any": (
        "Holds when at least one part holds.",
        "any:\n  - {fact: days_past_due, gt: 90}\n  - {fact: confirmed_fraud, eq: true}",
    ),
    "condition/not": ("Holds when its part does not.", "not: {fact: declared_hardship, eq: true}"),
    "condition/fact": (
        "The fact a comparison reads; give exactly one operator beside it.",
        "{fact: days_past_due, gt: 90}",
    ),
    "action/kind": (
        "What the rule does to the line.",
        "action: {kind: reduce_limit, limit_factor: 0.5}",
    ),
    "action/limit_factor": (
        "For reduce_limit: the new limit as a fraction of the old one.",
        "limit_factor: 0.5",
    ),
    "rule/id": (
        "The rule's id: lower-case words joined by hyphens, unique in the policy.",
        "id: severe-delinquency",
    ),
    "rule/action": ("What the rule does when it fires.", "action: suspend"),
    "rule/when": (
        "The condition under which the rule fires.",
        "when: {fact: days_past_due, gt: 90}",
    ),
    "rule/reason": (
        "The reason code, and the reason text for customers (generated when left out).",
        "reason: {code: D01}",
    ),
    "rule/advice": (
        "What the customer can do, in each language (generated when left out).",
        "advice: {en: Pay the overdue amount.}",
    ),
    "rule/description": (
        "A note for policy readers, in each language.",
        "description: {en: Long delinquency closes the line.}",
    ),
    "rule/grace": (
        "The name of the grace rule that applies when this rule fires.",
        "grace: standard",
    ),
    "rule/reason/code": (
        "The reason code recorded and shown (Reg B principal reason).",
        "code: D01",
    ),
    "rule/reason/text": (
        "The reason as customers read it, in each language.",
        "text: {en: Your payment is more than 90 days late.}",
    ),
    "graceRule/notice_days": (
        "Calendar days between the decision and the action taking effect.",
        "notice_days: 15",
    ),
    "graceRule/notice": ("Notice in days or in calendar months.", "notice: {months: 2}"),
    "graceRule/immediate": (
        "The action takes effect at once; must be said explicitly, with a `category`.",
        "immediate: true\ncategory: fraud",
    ),
    "graceRule/category": ("Why an immediate action needs no notice.", "category: fraud"),
    "graceRule/cure": (
        "The action is rescinded if the cure holds within `days`.",
        "cure: {when: {fact: days_past_due, eq: 0}, days: 15}",
    ),
    "graceRule/appeal": (
        "The human-review window, and whether a review pauses the action.",
        "appeal: {days: 30, pauses_action: true, review_max_days: 10}",
    ),
    "graceRule/exemptions": (
        "Accounts that get more notice or a milder action.",
        "exemptions:\n  - id: hardship\n    when: {fact: declared_hardship, eq: true}\n    extend_notice_days: 30",
    ),
    "graceRule/description": (
        "The grace rule explained to customers, in each language.",
        "description: {en: You have 15 days to fix this.}",
    ),
    "graceRule/label": (
        "The grace rule's name as customers read it, in each language.",
        "label: {en: Before we pause borrowing}",
    ),
    "graceRule/no_cure": (
        "Why this action cannot be cured, for the customer.",
        "no_cure: {en: Confirmed fraud is not something you can fix yourself.}",
    ),
    "graceRule/notice/days": ("Notice in calendar days.", "notice: {days: 15}"),
    "graceRule/notice/months": (
        "Notice in calendar months (same day of the month).",
        "notice: {months: 2}",
    ),
    "graceRule/cure/when": (
        "The cure condition; without it the cure is the rule no longer firing.",
        "when: {fact: days_past_due, eq: 0}",
    ),
    "graceRule/cure/days": ("Days after notice within which the cure must hold.", "days: 15"),
    "graceRule/cure/none": (
        "Why this action cannot be cured, for the customer.",
        "cure: {none: {en: A fraud finding cannot be cured.}}",
    ),
    "graceRule/appeal/days": (
        "Days after notice within which the customer may ask for a human review.",
        "days: 30",
    ),
    "graceRule/appeal/pauses_action": (
        "Whether an open review holds the action back.",
        "pauses_action: true",
    ),
    "graceRule/appeal/review_max_days": (
        "Days the lender has to decide a review.",
        "review_max_days: 10",
    ),
    "graceRule/appeal/on_timeout": (
        "What an unanswered review resolves to.",
        "on_timeout: overturn",
    ),
    "graceRule/exemptions/id": ("The exemption's id.", "id: hardship"),
    "graceRule/exemptions/when": (
        "The accounts the exemption applies to.",
        "when: {fact: declared_hardship, eq: true}",
    ),
    "graceRule/exemptions/extend_notice_days": (
        "Extra days of notice for these accounts.",
        "extend_notice_days: 30",
    ),
    "graceRule/exemptions/downgrade_to": (
        "A milder action for these accounts.",
        "downgrade_to: notify",
    ),
    "graceRule/exemptions/description": (
        "The exemption explained to customers, in each language.",
        "description: {en: If you declared hardship, you get 30 more days.}",
    ),
    "outcome/precedence": (
        "Strongest first: which action wins when several rules fire.",
        "precedence: [close, suspend, reduce_limit, review, notify]",
    ),
    "outcome/missing_facts": (
        "What happens when a fact a rule reads is missing.",
        "missing_facts: {default: review, review_code: MISSING}",
    ),
    "outcome/missing_facts/default": (
        "What a rule on a missing fact does, unless the fact says otherwise.",
        "default: ignore",
    ),
    "outcome/missing_facts/review_code": (
        "The reason code of a review sent by missing facts.",
        "review_code: MISSING",
    ),
    "outcome/missing_facts/review_reason": (
        "The reason text of that review, in each language.",
        "review_reason: {en: We need more information.}",
    ),
    "outcome/missing_facts/review_grace": (
        "The grace rule of that review.",
        "review_grace: standard",
    ),
    "eventType/label": (
        "The event kind's name for people, in each language.",
        "label: {en: loan drawn}",
    ),
    "eventType/description": (
        "The event kind explained, in each language.",
        "description: {en: Money drawn from the line.}",
    ),
    "eventType/fields": (
        "The typed fields every event of this kind carries.",
        "fields: {amount: {type: number}}",
    ),
    "eventCondition/all": ("Holds when every part holds.", "all: [{field: amount, gt: 1000}]"),
    "eventCondition/any": ("Holds when at least one part holds.", "any: [{field: apr, ge: 0.24}]"),
    "eventCondition/not": ("Holds when its part does not.", "not: {field: internal, eq: true}"),
    "eventCondition/field": ("The event field a comparison reads.", "{field: amount, gt: 5000}"),
    "fieldOperand/field": (
        "Another field of the same event to compare with.",
        "{field: amount, gt: {field: balance}}",
    ),
    "eventPattern/event": ("The event kind to match.", "event: loan_drawn"),
    "eventPattern/when": ("A condition on the event's fields.", "when: {field: amount, gt: 5000}"),
    "eventPattern/field": ("For sum: the numeric field to add up.", "field: amount"),
    "signal/label": (
        "The signal's name for people, in each language.",
        "label: {en: applications this week}",
    ),
    "signal/description": (
        "The signal explained to customers, in each language.",
        "description: {en: Applications for high-interest credit.}",
    ),
    "signal/match": (
        "True while a matching event is within the window.",
        "match: {event: transfer_out}",
    ),
    "signal/sequence": (
        "True while these events, in this order and within `within`, are in the window.",
        "sequence: [{event: loan_drawn}, {event: application}]",
    ),
    "signal/count": (
        "How many matching events are within the window.",
        "count: {event: application}",
    ),
    "signal/sum": (
        "The sum of `field` over matching events within the window.",
        "sum: {event: transfer_out, field: amount}",
    ),
    "signal/within": (
        "For a sequence: the longest time from its first to its last event.",
        "within: 3d",
    ),
    "signal/window": ("How long an event counts.", "window: 7d"),
    "signal/actionable": (
        "Whether the customer can change the signal, and which way helps.",
        "actionable: {direction: decrease}",
    ),
    "test/name": (
        "What the example shows, as a sentence.",
        "name: three applications in a week suspends",
    ),
    "test/description": (
        "A longer explanation, reused in the disclosure's worked examples.",
        "description: {en: A customer applies three times.}",
    ),
    "test/as_of": (
        "When the example is decided (default: the policy's effective_from).",
        "as_of: 2027-02-01",
    ),
    "test/facts": ("The account's facts, by name.", "facts: {days_past_due: 0, credit_score: 700}"),
    "test/expect": (
        "The outcome the policy must give.",
        "expect: {action: suspend, reasons: [credit-seeking-spree]}",
    ),
    "test/expect/action": ("The expected action.", "action: suspend"),
    "test/expect/reasons": ("The expected fired rules, ranked.", "reasons: [credit-seeking-spree]"),
    "test/expect/missing_facts": (
        "The facts the decision must report missing.",
        "missing_facts: [credit_score]",
    ),
    "test/expect/effective": (
        "The expected effective date of the action.",
        "effective: 2027-02-15",
    ),
}
for _op, (_words, _example) in OPS.items():
    WORDS[f"condition/{_op}"] = (f"The fact is {_words}.", _example)
    WORDS[f"eventCondition/{_op}"] = (
        f"The field is {_words}.",
        _example.replace("fact:", "field:"),
    )

ACTIONS = {
    "close": "close the line",
    "suspend": "pause borrowing",
    "reduce_limit": "lower the limit (`limit_factor`)",
    "review": "send to a human review",
    "notify": "warn the customer only",
    "none": "no rule fired",
}
ENUMS: dict[str, dict[str, str]] = {
    "fact/type": {
        "integer": "a whole number",
        "number": "any number",
        "boolean": "true or false",
        "enum": "one of `values`",
        "date": "a day, YYYY-MM-DD",
        "datetime": "an instant with offset",
        "string": "text",
    },
    "fact/unit": {
        "day": "days",
        "percent": "a ratio shown as a percentage (0.9 = 90%)",
        "ratio": "a ratio",
        "count": "a count",
        "currency": "money",
        "point": "score points",
    },
    "fact/on_missing": {
        "ignore": "the rule does not fire",
        "review": "the account goes to review",
        "error": "the input is refused",
    },
    "actionable/direction": {
        "increase": "raising it helps",
        "decrease": "lowering it helps",
        "either": "either way",
    },
    "action/kind": ACTIONS,
    "graceRule/category": {
        "fraud": "confirmed fraud",
        "legal_order": "a court or regulator order",
        "deceased": "the customer died",
        "sanctions": "sanctions screening",
        "customer_request": "the customer asked",
    },
    "graceRule/appeal/on_timeout": {
        "overturn": "decided for the customer",
        "uphold": "the action stands",
    },
    "graceRule/exemptions/downgrade_to": ACTIONS,
    "outcome/missing_facts/default": {
        "ignore": "the rule does not fire",
        "review": "the account goes to review",
        "error": "the input is refused",
    },
    "test/expect/action": ACTIONS,
}
DEFAULTS: dict[str, Any] = {
    "fact/redact": False,
    "fact/grows_daily": False,
    "fact/known_to_customer": True,
    "graceRule/immediate": False,
    "graceRule/notice_days": 0,
    "graceRule/appeal/pauses_action": True,
    "graceRule/appeal/on_timeout": "overturn",
    "graceRule/exemptions/extend_notice_days": 0,
    "outcome/precedence": ["close", "suspend", "reduce_limit", "review", "notify"],
    "outcome/missing_facts/default": "ignore",
    "outcome/missing_facts/review_code": "MISSING",
}
SKIP = {"$defs", "properties", "items", "oneOf", "anyOf", "allOf", "additionalProperties"}


def locate(text: str) -> dict[tuple[Any, ...], int]:
    """The offset just after the `{` of every object in a JSON text, by JSON path."""
    found: dict[tuple[Any, ...], int] = {}
    i = 0

    def space() -> None:
        nonlocal i
        while text[i] in " \t\r\n":
            i += 1

    def value(path: tuple[Any, ...]) -> None:
        nonlocal i
        space()
        c = text[i]
        if c == "{":
            i += 1
            found[path] = i
            space()
            while text[i] != "}":
                key, end = json.JSONDecoder().raw_decode(text, i)
                i = end
                space()
                i += 1  # the colon
                value((*path, key))
                space()
                if text[i] == ",":
                    i += 1
                    space()
            i += 1
        elif c == "[":
            i += 1
            space()
            n = 0
            while text[i] != "]":
                value((*path, n))
                n += 1
                space()
                if text[i] == ",":
                    i += 1
                    space()
            i += 1
        else:
            _, i = json.JSONDecoder().raw_decode(text, i)

    value(())
    return found


def key_of(path: tuple[Any, ...]) -> str:
    """`$defs/graceRule/properties/appeal/properties/days` -> `graceRule/appeal/days`."""
    return "/".join(str(p) for p in path if p not in SKIP and not isinstance(p, int))


def properties(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every property schema below a node, with its JSON path."""
    found = []
    if isinstance(node, dict):
        for name, child in node.items():
            if name == "if":
                continue  # a condition's properties are not properties an author writes
            if name == "properties" and isinstance(child, dict):
                for prop, schema in child.items():
                    found.append(((*path, "properties", prop), schema))
            found += properties(child, (*path, name))
    elif isinstance(node, list):
        for n, child in enumerate(node):
            found += properties(child, (*path, n))
    return found


def additions(path: tuple[Any, ...], schema: dict[str, Any]) -> dict[str, Any] | None:
    """The keys a property lacks, or None when there are no words for it."""
    key = key_of(path)
    words = WORDS.get(key)
    if words is None and "description" not in schema:
        return None
    description = schema.get("description") or (words[0] if words else "")
    add: dict[str, Any] = {}
    if "description" not in schema:
        add["description"] = description
    if "markdownDescription" not in schema:
        example = f"\n\n```yaml\n{words[1]}\n```" if words else ""
        add["markdownDescription"] = description + example
    values = schema.get("enum") or schema.get("items", {}).get("enum")
    if values and "markdownEnumDescriptions" not in schema and key in ENUMS:
        add["markdownEnumDescriptions"] = [ENUMS[key].get(v, "") for v in values]
    if key in DEFAULTS and "default" not in schema:
        add["default"] = DEFAULTS[key]
    return add


def main() -> int:
    """Add what is missing to the schema and copy it; exit 1 naming untaught properties."""
    text = SCHEMA.read_text("utf-8")
    schema = json.loads(text)
    at = locate(text)
    edits: list[tuple[int, str]] = []
    untaught = []
    for path, prop in properties(schema):
        if not isinstance(prop, dict) or path not in at:
            continue
        add = additions(path, prop)
        if add is None:
            untaught.append("/".join(map(str, path)))
            continue
        if key_of(path) not in WORDS:
            print(f"no example for {key_of(path)}: add it to WORDS", file=sys.stderr)
        if add:
            body = ", ".join(
                f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in add.items()
            )
            edits.append((at[path], body + ("" if not prop else ", ")))
    for offset, body in sorted(edits, reverse=True):
        text = text[:offset] + body + text[offset:]
    json.loads(text)  # still JSON
    SCHEMA.write_text(text, "utf-8")
    COPY.write_text(text, "utf-8")
    print(f"{len(edits)} properties given words; {len(untaught)} without", file=sys.stderr)
    for path in untaught:
        print(
            f"no words for {path}: add it to WORDS in scripts/describe_schema.py", file=sys.stderr
        )
    return 1 if untaught else 0


if __name__ == "__main__":
    sys.exit(main())
