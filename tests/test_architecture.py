"""The house rules of the code base: the engine's rooms import each other without cycles, the
engine never imports the command line, the service or the disclosures, and no module is over
600 lines. The import contracts live in pyproject.toml (`[tool.importlinter]`) and are checked
by import-linter on the installed package layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings

from clearline.engine.events.rulesets import alternatives
from clearline.engine.model import Policy, condition_facts
from clearline.engine.policy.check import pattern_size
from tests.policy_strategies import policies

ROOT = Path(__file__).resolve().parent.parent
# Where the installed package's parts live in the checkout (pyproject's package-dir).
PARTS = {"engine": ROOT / "engine", "disclosures": ROOT / "disclosures"}
MAX_LINES = 600


def _installed_layout(folder: Path) -> Path:
    """The package as it is installed (clearline/, with engine/ and disclosures/ inside), as a
    tree of symlinks: import-linter reads the package from its files."""
    package = folder / "clearline"
    package.mkdir()
    for item in (ROOT / "clearline").iterdir():
        if item.name != "__pycache__":
            (package / item.name).symlink_to(item)
    for name, path in PARTS.items():
        (package / name).symlink_to(path)
    return folder


def test_import_contracts_hold(tmp_path: Path) -> None:
    """No cycles between the engine's rooms; the engine imports no outer layer."""
    layout = _installed_layout(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(layout)}
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=layout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout
    assert done.stdout.count("KEPT") >= 2


def test_no_module_is_over_600_lines() -> None:
    """Small modules with one job: none over 600 lines."""
    folders = [ROOT / "clearline", ROOT / "benchmarks", ROOT / "tests", *PARTS.values()]
    long = {
        str(path.relative_to(ROOT)): lines
        for folder in folders
        for path in folder.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


@settings(max_examples=60)
@given(policies())
def test_the_checkers_pattern_size_is_what_the_event_engine_writes(
    generated: tuple[str, Policy],
) -> None:
    """C186 counts alternatives without the event engine (the policy front end does not import
    it); the count is the number of alternatives `events.rulesets` writes."""
    _, policy = generated
    for rule in policy.rules:
        keys = {name: name for name in condition_facts(rule.when)}
        assert pattern_size(rule.when) == len(alternatives(rule.when, keys))
