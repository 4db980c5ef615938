"""Mutated policies never crash the loader: they load whole or fail with located errors."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import FactError, compile_policy, decide
from clearline.engine.policy.load import analyse_policy_text
from clearline.engine.policy.source import read_yaml

from .conftest import SHIPPED_V2, SMALL_POLICY, run_cli

LOCATED = re.compile(r"^[^:]+:\d+:\d+: (error|warning)\[[A-Z]\d{3}\]: .+")
SHIPPED_TEXT = SHIPPED_V2.read_text("utf-8")
SHIPPED_DATA = read_yaml(SHIPPED_TEXT, "x").data


def assert_sound(text: str) -> None:
    """The loader returns a policy or located errors, never raises, and a policy works."""
    result = analyse_policy_text(text, "fuzz.yaml")
    for diagnostic in result.diagnostics:
        assert LOCATED.match(diagnostic.render()), diagnostic.render()
        assert diagnostic.line >= 1 and diagnostic.column >= 1
    if result.policy is None:
        assert result.errors
        return
    compiled = compile_policy(result.policy)
    for test in result.policy.tests:
        with contextlib.suppress(FactError):
            decide(compiled, dict(test.facts), "2027-02-01").to_json()


lines = SHIPPED_TEXT.splitlines(keepends=True)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    out = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(out) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "char", "swap"]))
        if kind == "delete":
            del out[i]
        elif kind == "duplicate":
            out.insert(i, out[i])
        elif kind == "indent":
            out[i] = "  " + out[i]
        elif kind == "dedent":
            out[i] = out[i][2:] if out[i].startswith("  ") else out[i]
        elif kind == "char":
            if out[i]:
                j = draw(st.integers(0, len(out[i]) - 1))
                c = draw(st.sampled_from([*list(":-[]{}&*!|>'\"#%@`,? \t0x"), "é", "中"]))
                out[i] = out[i][:j] + c + out[i][j + 1 :]
        else:
            j = draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
    return "".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_text())
def test_text_mutations_of_the_shipped_policy(text: str) -> None:
    assert_sound(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["close", "gt", "fact", "days_past_due", "2026-13-45", "zh-CN"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*prefix, i))
    return found


ALL_PATHS = [p for p in _paths(SHIPPED_DATA) if p]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(ALL_PATHS), json_values, st.booleans()), min_size=1, max_size=3
    )
)
def test_structural_mutations_of_the_shipped_policy(
    edits: list[tuple[tuple[Any, ...], Any, bool]],
) -> None:
    data = json.loads(json.dumps(SHIPPED_DATA))
    for path, value, delete in edits:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            if delete:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    assert_sound(json.dumps(data, ensure_ascii=False))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutated_text())
def test_cli_check_never_shows_a_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mutated.yaml"
    path.write_text(text, "utf-8")
    result = run_cli("check", str(path))
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 1)
    for line in result.stderr.splitlines():
        assert LOCATED.match(line) or line.startswith("clearline:"), line


def test_binary_and_odd_files_get_clean_errors(tmp_path: Path) -> None:
    cases = {
        "binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00",
        "latin1.yaml": "title: caf\u00e9".encode("latin-1"),
        "tabs.yaml": b"a:\n\t- b\n",
        "scalar.yaml": b"42\n",
        "small.yaml": SMALL_POLICY.encode(),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    # Named one by one, every file is checked (a folder is searched for policy files only).
    result = run_cli("check", *(str(tmp_path / name) for name in cases))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for name in ("binary.yaml", "latin1.yaml", "tabs.yaml", "scalar.yaml"):
        assert f"{name}:" in result.stderr
    assert "checked 5 policies" in result.stdout
