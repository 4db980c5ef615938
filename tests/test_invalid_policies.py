"""The mistakes policy authors make, one file each in tests/invalid/, with the errors declared.

Each file's header says what `check` must report: `# expect: CODE at LINE:COL` per error (no
more, no fewer) and `# says: TEXT` that the message or its help must contain. The whole set is
checked through the real command line in the concise, text and JSON forms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

INVALID = ROOT / "tests" / "invalid"
FILES = sorted(INVALID.glob("*.yaml"))
# What a Python repr looks like in a message: None, a dict or list literal, quoted strings.
REPR = re.compile(r"\bNone\b|\{'|\['|'\w+'")


def _expected(path: Path) -> tuple[set[tuple[str, int, int]], str]:
    head = path.read_text("utf-8")
    expect = {
        (code, int(line), int(column))
        for code, line, column in re.findall(r"^# expect: (\w+) at (\d+):(\d+)$", head, re.M)
    }
    says = re.search(r"^# says: (.+)$", head, re.M)
    assert expect and says, f"{path.name} declares no expectation"
    return expect, says.group(1)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.fixture(scope="module")
def as_json() -> list[dict[str, object]]:
    """Every invalid file checked at once, as JSON."""
    result = run_cli("check", "--format", "json", *map(_relative, FILES))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def as_text() -> str:
    """Every invalid file checked at once, with code frames."""
    result = run_cli("check", "--format", "text", *map(_relative, FILES))
    assert result.returncode == 1
    return result.stderr


def test_there_is_a_set_of_mistakes() -> None:
    assert len(FILES) >= 12


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_json_reports_exactly_the_declared_errors(
    path: Path, as_json: list[dict[str, object]]
) -> None:
    expect, says = _expected(path)
    mine = [d for d in as_json if d["file"] == _relative(path) and d["severity"] == "error"]
    assert {(d["code"], d["line"], d["column"]) for d in mine} == expect
    words = " ".join(f"{d['message']} {d['help'] or ''}" for d in mine)
    assert says in words
    for d in mine:
        assert not REPR.search(str(d["message"])), d["message"]


@pytest.fixture(scope="module")
def as_concise() -> str:
    """Every invalid file checked at once, one line per problem (what a pipe gets)."""
    result = run_cli("check", *map(_relative, FILES))
    assert result.returncode == 1
    return result.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_concise_form_is_one_located_line(path: Path, as_concise: str) -> None:
    expect, _ = _expected(path)
    for code, line, column in expect:
        assert f"{_relative(path)}:{line}:{column}: error[{code}]: " in as_concise


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_text_form_shows_the_line_and_a_caret(path: Path, as_text: str) -> None:
    expect, _ = _expected(path)
    lines = path.read_text("utf-8").splitlines()
    for code, line, column in expect:
        block = as_text.split(f"--> {_relative(path)}:{line}:{column}\n", 1)
        assert len(block) == 2, f"no frame for {code} at {line}:{column}"
        before, frame = block
        assert before.rstrip().splitlines()[-1].startswith(f"error[{code}]: ")
        frame_lines = frame.splitlines()
        shown = next(row for row in frame_lines if row.lstrip().startswith(f"{line} |"))
        assert shown.split("| ", 1)[1] == lines[line - 1].replace("\t", " ").rstrip()
        caret_row = frame_lines[frame_lines.index(shown) + 1]
        assert "^" in caret_row


def test_help_lines_name_the_fix(as_text: str) -> None:
    assert 'help: put the text in quotes: en: "Small policy: the one for tests"' in as_text
    assert "help: write `action: suspend` (a space after the colon)" in as_text
    assert "help: did you mean `zh-CN`?" in as_text
    assert "help: indent it by 4 spaces" in as_text


def test_a_wrong_language_code_is_one_error(as_json: list[dict[str, object]]) -> None:
    file = _relative(INVALID / "language-code-case.yaml")
    assert [d["code"] for d in as_json if d["file"] == file] == ["S009"]


def test_a_file_that_is_not_utf8_is_one_error_at_its_start(tmp_path: Path) -> None:
    # Kept out of tests/invalid: the headers there are read as UTF-8 text.
    text = (INVALID / "misspelt-action.yaml").read_text("utf-8").replace("suspnd", "suspend")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(text.replace("days past due", "jours de retard \xe9chus").encode("latin-1"))
    result = run_cli("check", str(latin1))
    assert result.returncode == 1
    assert f"{latin1}:1:1: error[E000]: file is not valid UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
