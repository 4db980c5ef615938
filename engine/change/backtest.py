"""Backtest: re-decide the same accounts under two policy versions and count what changes."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import AsOfError, decide
from clearline.engine.errors import FactError
from clearline.engine.model import ActionKind


@dataclass(frozen=True)
class Account:
    """One account to backtest: its id, facts and (optionally) its own decision moment."""

    account_id: str | None
    facts: Mapping[str, Any]
    as_of: dt.datetime | dt.date | str | None = None
    unusable: str | None = None  # why this account cannot be decided, when known up front


@dataclass
class BacktestReport:
    """Counts of how decisions move from the old version to the new one."""

    old: str
    new: str
    accounts: int = 0
    rejected: int = 0
    changed: int = 0
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    newly_deciding: Counter[str] = field(default_factory=Counter)
    no_longer_deciding: Counter[str] = field(default_factory=Counter)
    rejections: list[str] = field(default_factory=list)
    # per changed transition, the first few account ids in id order (the same for any engine)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add_example(self, transition: tuple[str, str], account_id: str) -> None:
        """Keep `account_id` if it is among the EXAMPLES smallest ids of its transition."""
        kept = self.examples.setdefault(transition, [])
        if len(kept) < EXAMPLES or account_id < kept[-1]:
            bisect.insort(kept, account_id)
            del kept[EXAMPLES:]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, sorted for stable output."""
        return {
            "old": self.old,
            "new": self.new,
            "accounts": self.accounts,
            "rejected": self.rejected,
            "changed": self.changed,
            "transitions": [
                {"from": a, "to": b, "accounts": n}
                for (a, b), n in sorted(self.transitions.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "newly_deciding": dict(
                sorted(self.newly_deciding.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            "no_longer_deciding": dict(
                sorted(self.no_longer_deciding.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            "examples": [
                {"from": a, "to": b, "accounts": ids}
                for (a, b), ids in sorted(self.examples.items())
            ],
        }


MAX_REJECTIONS_KEPT = 20
EXAMPLES = 3


def backtest(
    old: CompiledPolicy,
    new: CompiledPolicy,
    accounts: Iterable[Account],
    as_of: dt.datetime | dt.date | str,
) -> BacktestReport:
    """Decide every account under both versions at the same moment; stream, keep only counts.

    An account is *changed* when its action differs. For a changed account the deciding rule
    of the new version is counted as newly deciding, and the old one as no longer deciding.
    Accounts whose facts do not fit either version are counted as rejected, never dropped.
    Each version decides on the facts it declares (a fact only the other version has is left
    out for it); a fact neither declares rejects the account.
    """
    report = BacktestReport(
        old=f"{old.policy.metadata.id} {old.policy.metadata.version}",
        new=f"{new.policy.metadata.id} {new.policy.metadata.version}",
    )
    none = ActionKind.NONE.value
    # Versions add and drop facts: each decides on the facts it declares. A fact neither
    # declares is still an input error (F001), so a misspelt name is never silently dropped.
    old_facts = {fact.name for fact in old.policy.facts} | {s.name for s in old.policy.signals}
    new_facts = {fact.name for fact in new.policy.facts} | {s.name for s in new.policy.signals}
    only_new, only_old = new_facts - old_facts, old_facts - new_facts
    for account in accounts:
        report.accounts += 1
        moment = account.as_of or as_of
        if account.unusable is not None:
            report.rejected += 1
            if len(report.rejections) < MAX_REJECTIONS_KEPT:
                report.rejections.append(
                    f"{account.account_id or report.accounts}: {account.unusable}"
                )
            continue
        facts = account.facts
        old_view, new_view = facts, facts
        if isinstance(facts, dict) and (only_new or only_old):
            old_view = {name: value for name, value in facts.items() if name not in only_new}
            new_view = {name: value for name, value in facts.items() if name not in only_old}
        try:
            before = decide(old, old_view, moment, trace=False, what_if=True)
            after = decide(new, new_view, moment, trace=False, what_if=True)
        except (FactError, AsOfError) as exc:
            report.rejected += 1
            if len(report.rejections) < MAX_REJECTIONS_KEPT:
                report.rejections.append(f"{account.account_id or report.accounts}: {exc}")
            continue
        a, b = before.action.value, after.action.value
        report.transitions[(a, b)] += 1
        if a != b:
            report.changed += 1
            if account.account_id is not None:
                report.add_example((a, b), account.account_id)
            if b != none:
                report.newly_deciding[after.reasons[0].rule] += 1
            if a != none:
                report.no_longer_deciding[before.reasons[0].rule] += 1
    return report


def render_table(report: BacktestReport) -> str:
    """The report as a plain-text table."""
    lines = [
        f"backtest {report.old} -> {report.new}",
        f"{report.accounts} accounts, {report.changed} change action, {report.rejected} rejected",
        "",
        f"{'from':<14}{'to':<14}{'accounts':>10}",
    ]
    # the sorted order of to_dict, so that ties print alike whatever engine counted them
    data = report.to_dict()
    for item in data["transitions"]:
        marker = "" if item["from"] == item["to"] else "  *"
        lines.append(f"{item['from']:<14}{item['to']:<14}{item['accounts']:>10}{marker}")
    if report.newly_deciding:
        lines += ["", "newly deciding rule (changed accounts):"]
        lines += [f"  {rule:<28}{n:>10}" for rule, n in data["newly_deciding"].items()]
    if report.no_longer_deciding:
        lines += ["", "no longer deciding rule (changed accounts):"]
        lines += [f"  {rule:<28}{n:>10}" for rule, n in data["no_longer_deciding"].items()]
    if report.examples:
        lines += ["", "examples (first accounts by id):"]
        lines += [
            f"  {a} -> {b}: {', '.join(ids)}" for (a, b), ids in sorted(report.examples.items())
        ]
    return "\n".join(lines) + "\n"
