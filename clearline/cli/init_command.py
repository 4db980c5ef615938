"""`clearline init`: a small, valid, commented starter policy with its tests and editor schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from clearline.engine.policy.schema import policy_schema, tests_file_schema

from .common import Failed, error

POLICY_ID = "my-credit-line"

# Starter texts per language; another language gets the English text to translate.
_TEXTS: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "我的信用额度规则", "en": "My credit line rules"},
    "lender": {"zh-CN": "示范消费金融有限公司", "en": "Example Lending Co."},
    "contact": {"zh-CN": "客服电话 400-000-0000", "en": "call 400-000-0000"},
    "review": {
        "zh-CN": "在应用内申请人工复核",
        "en": "in the app under Help > Ask for a human review",
    },
    "dpd": {"zh-CN": "逾期天数", "en": "days past due"},
    "dpd_description": {
        "zh-CN": "最早一笔未还款项已经逾期的天数。",
        "en": "How many days your oldest unpaid amount is late.",
    },
    "score": {"zh-CN": "信用评分", "en": "credit score"},
    "grace": {"zh-CN": "标准宽限", "en": "Standard notice and review"},
    "score_description": {
        "zh-CN": "我们的内部信用评分，300 到 900 分，越高越好。",
        "en": "Our own credit score, from 300 to 900. Higher is better.",
    },
}


def _text(key: str, languages: list[str]) -> str:
    parts = []
    for lang in languages:
        value = _TEXTS[key].get(lang, _TEXTS[key]["en"])
        parts.append(f"{lang}: {json.dumps(value, ensure_ascii=False)}")
    return "{" + ", ".join(parts) + "}"


def starter_policy(languages: list[str]) -> str:
    """The starter policy's YAML, with texts in the given languages."""
    t = {key: _text(key, languages) for key in _TEXTS}
    return f"""\
# yaml-language-server: $schema=../policy.schema.json
#
# A starter credit-line policy. `clearline check .` validates it, `clearline test .` runs the
# example accounts in 1.0.0.tests.yaml, `clearline disclose` writes what customers are told.
apiVersion: clearline/v1
kind: CreditLinePolicy
metadata:
  id: {POLICY_ID}
  version: 1.0.0                  # a new version is a new file: 1.1.0.yaml beside this one
  title: {t["title"]}
  owner:
    name: {t["lender"]}
    contact: {t["contact"]}
    review_channel: {t["review"]}
  effective_from: 2027-01-01
  timezone: Asia/Shanghai
  languages: [{", ".join(languages)}]
  adverse_change_notice_days: 45  # a stricter next version waits this long after announcement

# The inputs of a decision. Rules may only use facts declared here.
facts:
  days_past_due:
    type: integer
    minimum: 0
    unit: day
    label: {t["dpd"]}
    description: {t["dpd_description"]}
  credit_score:
    type: integer
    minimum: 300
    maximum: 900
    unit: point
    on_missing: review            # no score: a person looks at the account instead of a guess
    label: {t["score"]}
    description: {t["score_description"]}

# The criteria. Customer-facing reasons and advice are written from the condition when omitted.
rules:
  - id: late-payment
    action: suspend
    when: {{fact: days_past_due, gt: 30}}
    reason: {{code: R01}}
    grace: standard
  - id: low-score
    action: review
    when: {{fact: credit_score, lt: 500}}
    reason: {{code: R02}}
    grace: standard

# What a customer gets before an action takes effect: notice, a way to cure it, a human review.
grace:
  standard:
    label: {t["grace"]}           # how documents name these terms; its id never shows
    notice_days: 15
    cure: {{days: 15}}            # rescinded if the rule no longer fires within 15 days
    appeal: {{days: 30, pauses_action: true, review_max_days: 10}}
"""


STARTER_TESTS = f"""\
# yaml-language-server: $schema=../tests.schema.json
#
# Example accounts with the outcome they must get; `clearline test .` runs them.
policy: {POLICY_ID}
tests:
  - name: paying on time keeps the line open
    facts: {{days_past_due: 0, credit_score: 720}}
    expect: {{action: none}}
  - name: more than 30 days late suspends after notice
    facts: {{days_past_due: 31, credit_score: 720}}
    expect: {{action: suspend, reasons: [late-payment]}}
  - name: a low score goes to a person
    facts: {{days_past_due: 0, credit_score: 450}}
    expect: {{action: review, reasons: [low-score]}}
"""


@click.command(name="init")
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@click.option(
    "--lang",
    "languages",
    default="zh-CN,en",
    show_default=True,
    help="Languages of the customer texts, comma-separated.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init_command(directory: str, languages: str, force: bool) -> None:
    """Write a starter policy, its tests file and the editor schemas into DIRECTORY."""
    langs = [lang.strip() for lang in languages.split(",") if lang.strip()]
    if not langs:
        error("--lang needs at least one language, e.g. --lang zh-CN,en", code="E100")
        raise click.exceptions.Exit(2)
    root = Path(directory)
    folder = root / POLICY_ID
    files = {
        folder / "1.0.0.yaml": starter_policy(langs),
        folder / "1.0.0.tests.yaml": STARTER_TESTS,
        root / "policy.schema.json": json.dumps(policy_schema(), ensure_ascii=False, indent=2),
        root / "tests.schema.json": json.dumps(tests_file_schema(), ensure_ascii=False, indent=2),
    }
    existing = [path for path in files if path.exists()]
    if existing and not force:
        for path in existing:
            error("already exists (use --force to overwrite)", where=str(path), code="E103")
        raise Failed()
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        click.echo(f"wrote {path}")
    click.echo(f"next: clearline check {root}  and  clearline test {root}")
