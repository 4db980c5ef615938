"""`disclose --check` does not call a disclosure complete when its general sentences say what the
policy does not do: changes that mostly wait for notice, a person for any decision."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from clearline.disclosures.policy_claims import untrue_claims
from clearline.engine import load_policy_text
from tests.conftest import run_cli, small_policy

IMMEDIATE = small_policy().replace(
    "    notice_days: 10\n    cure: {days: 10}\n",
    "    immediate: true\n    category: fraud\n    cure: {none: {en: You cannot fix this.}}\n",
)
NOTICE = "Most changes wait for a notice period first."
PERSON = "You can ask for a person to look at any decision."


def test_an_immediate_only_policy_is_not_said_to_wait(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(IMMEDIATE, "utf-8")
    assert run_cli("check", str(path)).returncode == 0
    run = run_cli("disclose", str(path), "--check", "-o", str(tmp_path / "d.md"))
    assert run.returncode == 1
    assert (
        f"{path}: error[D200]: the en disclosure says changes mostly wait for a notice period, "
        "but 1 of 1 adverse rules take effect at once" in run.stderr
    )


def test_a_policy_that_gives_notice_is_said_to_wait() -> None:
    policy = load_policy_text(small_policy())
    assert list(untrue_claims(policy, f"{NOTICE} {PERSON}", "en")) == []
    assert list(untrue_claims(load_policy_text(IMMEDIATE), PERSON, "en")) == []  # not said


def test_a_rule_without_a_review_window_denies_a_person_for_any_decision() -> None:
    policy = load_policy_text(small_policy())
    grace = dataclasses.replace(policy.grace[0], appeal=None)
    no_review = dataclasses.replace(policy, grace=(grace,))
    assert list(untrue_claims(no_review, f"{NOTICE} {PERSON}", "en")) == [
        "the en disclosure says a person can look at any decision, but rule `late` has no "
        "review (appeal) window"
    ]
    zh = "任何决定，您都可以要求人工复核。"
    assert list(untrue_claims(no_review, zh, "zh-CN"))
