"""Helpers holding the JavaScript back end equal to `decide()`: a node process kept open for a
test module, and the comparison of one account's two decisions."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from clearline.engine import CompiledPolicy, decide
from clearline.engine.errors import FactError
from clearline.engine.js import compile_js

DRIVER = Path(__file__).with_name("js_driver.js")
NODE = shutil.which("node") or "/usr/bin/node"


class NodeEngine:
    """One node process that decides batches of accounts with a compiled policy module."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [NODE, str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def decide(
        self,
        source: str,
        accounts: list[dict[str, Any]],
        not_asked: tuple[str, ...] = (),
        *,
        recourse: bool = False,
    ) -> list[dict[str, Any]]:
        """The module's decisions of `accounts` (or their recourse), in order."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {
            "source": source,
            "accounts": accounts,
            "not_asked": list(not_asked),
            "recourse": recourse,
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        assert not isinstance(answer, dict), answer.get("crash")
        return answer  # type: ignore[no-any-return]

    def close(self) -> None:
        """End the node process."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def expected(compiled: CompiledPolicy, facts: dict[str, Any]) -> dict[str, Any]:
    """What the JavaScript module must answer for `facts`, from `decide()`."""
    try:
        decision = decide(compiled, facts, compiled.policy.metadata.effective_from, trace=False)
    except FactError as exc:
        return {"error": True, "codes": sorted({p.code for p in exc.problems})}
    result: dict[str, Any] = {
        "error": False,
        "action": decision.action.value,
        "missing_facts": list(decision.missing_facts),
        "reasons": [
            {
                "rule": reason.rule,
                "code": reason.code,
                "action": reason.action.value,
                "limit_factor": reason.limit_factor,
                "grace": reason.grace,
                "exemptions": list(reason.exemptions),
                "facts": list(reason.facts),
            }
            for reason in decision.reasons
        ],
    }
    timeline = decision.timeline
    result["grace"] = timeline.grace if timeline else None
    if timeline is not None and compiled.policy.metadata.calendar is None:
        grace = compiled.policy.grace_rule(timeline.grace)

        def span(day: dt.date | None) -> int | None:
            return None if day is None else (day - timeline.decided_on).days

        result["cure_days"] = span(timeline.cure_until)
        result["appeal_days"] = span(timeline.appeal_until)
        result["immediate"] = timeline.immediate
        if grace is None or not grace.notice_months:
            result["notice_days"] = timeline.notice_days
    return result


def observed(answer: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """The JavaScript answer cut to the keys `expected` gives."""
    if answer["error"]:
        return {"error": True, "codes": sorted({p["code"] for p in answer["problems"]})}
    keys = ("rule", "code", "action", "limit_factor", "grace", "exemptions", "facts")
    result: dict[str, Any] = {
        "error": False,
        "action": answer["action"],
        "missing_facts": answer["missing_facts"],
        "reasons": [{key: reason[key] for key in keys} for reason in answer["reasons"]],
    }
    terms = answer["terms"]
    result["grace"] = terms["grace"] if terms else None
    for key in ("cure_days", "appeal_days", "immediate", "notice_days"):
        if key in want:
            result[key] = terms[key]
    return result


def module_source(compiled: CompiledPolicy) -> str:
    """The compiled JavaScript module of a policy."""
    return compile_js(compiled.policy).source
