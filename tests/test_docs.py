"""The docs' examples are real: every policy block loads and passes its tests, every command runs.

Conventions the docs follow (CONTRIBUTING.md):
- A fenced block with `title="NAME"` is a file: it is written under that name before anything
  runs (titles are unique across the docs), so a policy can name a calendar shown elsewhere.
- A `yaml` block with `apiVersion: clearline/v1` and `kind: CreditLinePolicy` is a policy: it
  must pass `check`, and its `tests:` must pass.
- A `sh` block is run with bash, in order within its page, in a folder holding the shipped
  `policies/`, the titled files and a few inputs (`accounts.jsonl`, `account.json`,
  `events.jsonl`, `snapshot.jsonl`); it must exit 0. `CASE_ID` stands for the first case
  opened in that folder, and sample sizes above 1,000 are cut to 200 so the suite stays fast.
- A `console` block is shown, not run: sessions and servers that do not end on their own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clearline.engine import compile_policy, decide, load_policy
from clearline.engine.policy.load import analyse_policy
from clearline.engine.synthetic.accounts import sample_accounts
from clearline.engine.synthetic.events import sample_events
from clearline.engine.testing.policy_tests import run_tests

from .conftest import ROOT, SHIPPED_V2

FENCE = re.compile(r"^```([a-z]*)([^\n]*)\n(.*?)^```\s*$", re.M | re.S)
TITLE = re.compile(r'title="([^"]+)"')
BIG_SAMPLE = re.compile(r"-n (\d{4,})")


def doc_pages() -> list[Path]:
    """README, CONTRIBUTING and every page of the docs site."""
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [page for page in pages if page.exists()]


def blocks(page: Path) -> list[tuple[str, str | None, str]]:
    """The fenced blocks of a page as (language, title, text)."""
    found = []
    for match in FENCE.finditer(page.read_text("utf-8")):
        title = TITLE.search(match.group(2))
        found.append((match.group(1), title.group(1) if title else None, match.group(3)))
    return found


def is_policy(language: str, text: str) -> bool:
    """A YAML block that is a whole policy."""
    return language == "yaml" and "apiVersion: clearline/v1" in text and "CreditLinePolicy" in text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the shipped policies, every titled block and the inputs the commands read."""
    folder = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "policies", folder / "policies")
    titles: dict[str, Path] = {}
    for page in doc_pages():
        for _, title, text in blocks(page):
            if title is None:
                continue
            assert title not in titles, f"{title} is the title of a block in {titles[title]} too"
            titles[title] = page
            (folder / title).write_text(text, "utf-8")
    policy = load_policy(SHIPPED_V2)
    compiled = compile_policy(policy)
    drawn = list(sample_accounts(policy, 500, seed=3))
    # Every action of the policy at least once, so that cases open and notices have something to say.
    first_of_each = {}
    for account in drawn:
        action = decide(compiled, account["facts"], "2027-03-01").action
        first_of_each.setdefault(action, account)
    accounts = [*first_of_each.values(), *drawn[:20]]
    with (folder / "accounts.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(account) + "\n" for account in accounts)
    (folder / "account.json").write_text(json.dumps(accounts[0]), "utf-8")
    with (folder / "snapshot.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(account) + "\n" for account in accounts)
    ids = [str(account["account_id"]) for account in accounts]
    with (folder / "events.jsonl").open("w", encoding="utf-8") as handle:
        for event in sample_events(policy, ids, 200, 3, mean_gap_seconds=600):
            handle.write(json.dumps(event) + "\n")
    (folder / "out").mkdir()
    return folder


def test_every_policy_block_checks_and_its_tests_pass(workdir: Path) -> None:
    checked = 0
    for page in doc_pages():
        for number, (language, title, text) in enumerate(blocks(page)):
            if not is_policy(language, text):
                continue
            path = workdir / (title or f"{page.stem}-{number}.policy.yaml")
            path.write_text(text, "utf-8")
            result = analyse_policy(path)
            where = f"{page.relative_to(ROOT)} block {number}"
            assert result.policy is not None, (where, [d.render() for d in result.diagnostics])
            outcomes = run_tests(compile_policy(result.policy), result.policy.tests)
            assert all(o.passed for o in outcomes), (where, [o.failures for o in outcomes])
            checked += 1
    assert checked >= 2  # the README's example and the annotated one of the policy language


def _open_first_case(lines: list[str], workdir: Path, env: dict[str, str]) -> str | None:
    """Run the block's `case open` lines; the id of the first case they opened."""
    case_ids = []
    for line in lines:
        done = subprocess.run(
            ["bash", "-c", line], cwd=workdir, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (line, done.stderr[-2000:])
        case_ids += re.findall(r'"case_id":\s*"([^"]+)"', done.stdout)
    return case_ids[0] if case_ids else None


@pytest.mark.parametrize(
    "page",
    [p for p in doc_pages() if any(language == "sh" for language, _, _ in blocks(p))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_command_block_runs(page: Path, workdir: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for number, (language, _, text) in enumerate(blocks(page)):
        if language != "sh":
            continue
        script = BIG_SAMPLE.sub(lambda m: "-n 200" if int(m.group(1)) > 1000 else m.group(0), text)
        script = script.replace("/usr/bin/time -v ", "")
        if "CASE_ID" in script:
            lines = script.splitlines()
            opening = [line for line in lines if "case open" in line]
            case_id = _open_first_case(opening, workdir, env)
            assert case_id, f"{page.name} block {number}: no case opened"
            script = "\n".join(line for line in lines if line not in opening)
            script = script.replace("CASE_ID", case_id)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (page.name, number, script, done.stderr[-2000:])
