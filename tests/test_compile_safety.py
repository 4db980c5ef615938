"""The compiler writes Python from the model; no character of policy text may reach that source."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from clearline.engine import ActionKind, compile_policy, decide, load_policy_text
from clearline.engine.decisions.compile import generate_source


def policy_document(n: dict[str, str]) -> dict[str, Any]:
    """A policy of fixed shape whose every name, value and text comes from `n`."""
    label = {"en": n["text"]}
    return {
        "apiVersion": "clearline/v1",
        "kind": "CreditLinePolicy",
        "metadata": {
            "id": n["policy_id"],
            "version": "1.0.0",
            "title": {"en": n["text"]},
            "effective_from": "2026-01-01",
            "languages": ["en"],
        },
        "facts": {
            n["f1"]: {"type": "integer", "minimum": 0, "label": label},
            n["f1b"]: {"type": "integer", "label": label},
            n["f2"]: {"type": "enum", "values": [n["v1"], n["v2"]], "label": label},
            n["f3"]: {"type": "string", "label": label},
        },
        "rules": [
            {
                "id": n["r1"],
                "action": "suspend",
                "grace": n["g1"],
                # a rule's own text must mention its thresholds (check C123)
                "reason": {"code": "A1", "text": {"en": n["text"] + " (more than 5)"}},
                "when": {
                    "all": [
                        {"fact": n["f1"], "gt": 5},
                        {"fact": n["f2"], "in": [n["v1"]]},
                        {"not": {"fact": n["f3"], "eq": n["s1"]}},
                    ]
                },
            },
            {
                "id": n["r2"],
                "action": "notify",
                "reason": {"code": "A2"},
                "when": {"fact": n["f1"], "le": {"fact": n["f1b"]}},
            },
        ],
        "grace": {n["g1"]: {"notice_days": 5, "cure": {"days": 5}, "appeal": {"days": 5}}},
    }


BLAND = {
    "policy_id": "bland",
    "text": "plain label",
    "f1": "alpha",
    "f1b": "beta",
    "f2": "gamma",
    "f3": "delta",
    "v1": "one",
    "v2": "two",
    "s1": "plain",
    "r1": "rule-one",
    "r2": "rule-two",
    "g1": "standard",
}

HOSTILE = {
    "policy_id": "x-import-os",
    "text": "'\"\"\"\n; __import__('os').system('echo pwned') #\n\\x00",
    "f1": "facts",
    "f1b": "push",
    "f2": "v0",
    "f3": "get",
    "v1": "'); __import__('os').system('x') #",
    "v2": "__class__",
    # A carriage return is refused in any policy text now (C200), so not among these.
    "s1": '"""\n__builtins__\n\\',
    "r1": "fired-return-none",
    "r2": "k0-l0-m",
    "g1": "k_all",
}


def load(names: dict[str, str]) -> Any:
    # JSON is YAML: this way the hostile strings reach the loader exactly as written.
    return load_policy_text(json.dumps(policy_document(names)), "hostile.yaml")


def test_hostile_policy_compiles_to_the_same_source_as_a_bland_one() -> None:
    bland_source = generate_source(load(BLAND))[0]
    hostile_source = generate_source(load(HOSTILE))[0]
    assert hostile_source == bland_source
    # The fact names deliberately equal generated identifiers; identical source covers them.
    for key in ("text", "v1", "v2", "s1", "policy_id"):
        for fragment in HOSTILE[key].split():
            if len(fragment) > 4:
                assert fragment not in hostile_source, fragment


def test_hostile_policy_decides_correctly() -> None:
    compiled = compile_policy(load(HOSTILE))
    facts = {"facts": 6, "push": 1, "v0": HOSTILE["v1"], "get": "anything"}
    decision = decide(compiled, facts, dt.date(2026, 2, 1))
    assert decision.action is ActionKind.SUSPEND
    assert [r.rule for r in decision.reasons] == ["fired-return-none"]
    blocked = decide(compiled, {**facts, "get": HOSTILE["s1"], "push": 7}, dt.date(2026, 2, 1))
    assert blocked.action is ActionKind.NOTIFY
    assert json.loads(blocked.to_json())["trace"][0]["checks"][2]["threshold"] == HOSTILE["s1"]
