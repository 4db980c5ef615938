"""Events and signals in the policy format: model, schema, located errors, shipped policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearline.engine import load_policy
from clearline.engine.model import FactType, SignalKind, comparisons
from clearline.engine.policy.load import analyse_policy_text

BASE = """\
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: signals-test
  version: 1.0.0
  title: {en: Signals test}
  effective_from: 2027-01-01
  languages: [en]
facts:
  score: {type: integer, label: {en: score}}
events:
  payment:
    label: {en: payment}
    fields:
      amount: {type: number, minimum: 0, label: {en: amount}}
      channel: {type: enum, values: [app, bank], label: {en: channel}}
signals:
SIGNALS
rules:
  - {id: low, action: notify, when: {fact: score, lt: 5}, reason: {code: N1}}
"""

GOOD_SIGNAL = """\
  paid:
    label: {en: paid in the last day}
    sum: {event: payment, field: amount, when: {field: channel, eq: app}}
    window: 1d
"""


def _errors(signals: str) -> list[str]:
    result = analyse_policy_text(BASE.replace("SIGNALS\n", signals), "p.yaml")
    return [d.render() for d in result.diagnostics if d.severity == "error"]


def test_a_signal_is_a_typed_labelled_fact() -> None:
    result = analyse_policy_text(BASE.replace("SIGNALS\n", GOOD_SIGNAL), "p.yaml")
    policy = result.policy
    assert policy is not None
    (signal,) = policy.signals
    assert signal.kind is SignalKind.SUM and signal.window == 86400 and signal.summed == "amount"
    fact = policy.fact("paid")
    assert fact is not None and fact.type is FactType.NUMBER
    assert fact.label.get("en") == "paid in the last day"
    assert [d.code for d in result.diagnostics] == ["W001"]  # not used by a rule yet


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (
            "  paid:\n    label: {en: x}\n    count: {event: paymnt}\n    window: 1d\n",
            "p.yaml:20:20: error[C181]: unknown event type `paymnt`; did you mean `payment`?",
        ),
        (
            "  paid:\n    label: {en: x}\n"
            "    count: {event: payment, when: {field: amout, gt: 1}}\n    window: 1d\n",
            "p.yaml:20:43: error[C100]: unknown field `amout`; did you mean `amount`?",
        ),
        (
            "  paid:\n    label: {en: x}\n"
            "    count: {event: payment, when: {field: channel, eq: card}}\n    window: 1d\n",
            'p.yaml:20:56: error[C103]: `channel` is enum: "card" is not one of app, bank',
        ),
        (
            "  paid:\n    label: {en: x}\n    count: {event: payment}\n    window: 7 days\n",
            "p.yaml:21:13: error[S005]: signals/paid/window: `7 days` is not valid",
        ),
        (
            "  score:\n    label: {en: x}\n    count: {event: payment}\n    window: 1d\n",
            "p.yaml:18:3: error[C180]: signal `score` has the same name as a declared fact",
        ),
        (
            "  paid:\n    label: {en: x}\n"
            "    sum: {event: payment, field: channel}\n    window: 1d\n",
            "p.yaml:20:34: error[C184]: a sum adds up a number, but `channel` is enum",
        ),
        (
            "  paid:\n    label: {en: x}\n    count: {event: payment}\n"
            "    within: 1h\n    window: 1d\n",
            "p.yaml:21:13: error[C050]: `within` is only for a sequence signal",
        ),
        (
            "  paid:\n    label: {en: x}\n"
            "    sequence: [{event: payment}, {event: payment}]\n    window: 1d\n",
            "p.yaml:20:15: error[C050]: a sequence needs `within`",
        ),
        (
            "  paid:\n    label: {en: x}\n    count: {event: payment}\n    window: 3651d\n",
            "p.yaml:21:13: error[C185]: a window is at most 3650 days",
        ),
    ],
)
def test_mistakes_in_signals_are_located(signals: str, expected: str) -> None:
    errors = _errors(signals)
    assert any(error.startswith(expected) for error in errors), errors


def test_a_signal_has_exactly_one_kind() -> None:
    both = "  paid:\n    label: {en: x}\n    count: {event: payment}\n    match: {event: payment}\n"
    errors = _errors(both + "    window: 1d\n")
    assert errors == [
        "p.yaml:18:3: error[C050]: a signal needs exactly one of `match`, `sequence`, `count` or `sum`"
    ]


def test_a_reserved_event_type_is_refused() -> None:
    text = BASE.replace("  payment:\n", "  facts:\n", 1).replace("SIGNALS\n", "  {}\n")
    result = analyse_policy_text(text.replace("signals:\n  {}\n", ""), "p.yaml")
    assert any(d.code == "C182" for d in result.diagnostics)


def test_published_schema_is_the_engine_schema() -> None:
    published = json.loads(Path("policies/policy.schema.json").read_text("utf-8"))
    engine = json.loads(Path("engine/schema/policy.schema.json").read_text("utf-8"))
    assert published == engine
    assert {"events", "signals"} <= set(engine["properties"])


def test_shipped_policies_declare_the_story_signals() -> None:
    for version in ("1.0.0", "1.1.0"):
        policy = load_policy(f"policies/credit-line-closure/{version}.yaml")
        kinds = {signal.name: signal.kind for signal in policy.signals}
        assert kinds == {
            "high_apr_applications_7d": SignalKind.COUNT,
            "high_apr_after_loan": SignalKind.SEQUENCE,
            "large_transfers_out_30d": SignalKind.SUM,
        }
        used = {c.fact for rule in policy.rules for c in comparisons(rule.when)}
        assert set(kinds) <= used
