"""Load a policy file: read YAML safely, validate against the schema, parse, check. All or nothing."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath

from clearline.engine.errors import Diagnostic, PolicyError
from clearline.engine.model import Policy, PolicyTest
from clearline.engine.policy.calendars import calendar_for
from clearline.engine.policy.check import check_policy, check_test
from clearline.engine.policy.parse import parse_policy, parse_tests
from clearline.engine.policy.schema import schema_diagnostics, tests_schema_diagnostics
from clearline.engine.policy.source import Document, SourceMap, read_yaml
from clearline.engine.policy.text_safety import text_problems

TESTS_SUFFIX = ".tests.yaml"


@dataclass(frozen=True)
class LoadResult:
    """A policy (None when any error was found) with every diagnostic, warnings included."""

    policy: Policy | None
    diagnostics: tuple[Diagnostic, ...]
    source: SourceMap | None = field(default=None, compare=False, repr=False)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Only the diagnostics that stop the policy from loading."""
        return tuple(d for d in self.diagnostics if d.severity == "error")


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as the user gave it, so error locations can be pasted back into an editor."""
    return os.fspath(path)


def _read(path: FsPath, shown: str) -> Document:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Document(
            None,
            read_yaml("", shown).source,
            (Diagnostic(shown, 1, 1, "E009", f"cannot read file: {exc.strerror or exc}"),),
        )
    return read_yaml(raw, shown)


def analyse_policy_text(
    text: str | bytes, file: str = "<policy>", base_dir: str | os.PathLike[str] | None = None
) -> LoadResult:
    """Every diagnostic of a policy given as text, and the policy when it has no error.

    A calendar file named in `metadata.calendar` is read relative to `base_dir` (the policy
    file's folder; the working directory when None).
    """
    document = read_yaml(text, file)
    if document.diagnostics:
        return LoadResult(None, document.diagnostics)
    if not isinstance(document.data, dict):
        line, column = document.source.locate(())
        return LoadResult(
            None,
            (
                Diagnostic(
                    file, line, column, "S003", "a policy must be a mapping at the top level"
                ),
            ),
        )
    # Unsafe characters first: `id: "x\n"` passes the schema's pattern (`$` allows a newline).
    schema_errors = text_problems(document.data, document.source) or schema_diagnostics(
        document.data, document.source
    )
    if schema_errors:
        return LoadResult(None, tuple(schema_errors))
    calendar, calendar_errors = calendar_for(
        document.data.get("metadata"), document.source, FsPath(base_dir or ".")
    )
    if calendar_errors:
        return LoadResult(None, calendar_errors)
    policy, parse_errors = parse_policy(document.data, document.source, calendar)
    if parse_errors or policy is None:
        return LoadResult(None, tuple(parse_errors))
    diagnostics = check_policy(policy, document.source)
    if any(d.severity == "error" for d in diagnostics):
        return LoadResult(None, tuple(diagnostics))
    return LoadResult(policy, tuple(diagnostics), document.source)


def analyse_policy(path: str | os.PathLike[str]) -> LoadResult:
    """Every diagnostic of a policy file, and the policy when it has no error."""
    fs_path = FsPath(path)
    shown = display_path(fs_path)
    document = _read(fs_path, shown)
    if document.diagnostics:
        return LoadResult(None, document.diagnostics)
    return analyse_policy_text(fs_path.read_bytes(), shown, fs_path.parent)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Load and check one policy file; raise PolicyError with every error found."""
    result = analyse_policy(path)
    if result.policy is None:
        raise PolicyError(result.errors or result.diagnostics)
    return result.policy


def load_policy_text(
    text: str | bytes, file: str = "<policy>", base_dir: str | os.PathLike[str] | None = None
) -> Policy:
    """Load and check a policy given as text; raise PolicyError with every error found."""
    result = analyse_policy_text(text, file, base_dir)
    if result.policy is None:
        raise PolicyError(result.errors or result.diagnostics)
    return result.policy


def tests_file_for(policy_path: str | os.PathLike[str]) -> FsPath:
    """The `*.tests.yaml` file that belongs beside a policy file."""
    path = FsPath(policy_path)
    return path.with_name(path.name.removesuffix(".yaml").removesuffix(".yml") + TESTS_SUFFIX)


def load_tests_file(
    path: str | os.PathLike[str], policy: Policy
) -> tuple[tuple[PolicyTest, ...], tuple[Diagnostic, ...]]:
    """Tests from a `*.tests.yaml` file (a mapping with a `tests:` list), checked against a policy."""
    shown = display_path(path)
    document = _read(FsPath(path), shown)
    if document.diagnostics:
        return (), document.diagnostics
    data = document.data
    source = document.source
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        line, column = source.locate(())
        return (), (Diagnostic(shown, line, column, "S002", "a tests file needs a `tests:` list"),)
    # Test names and facts are read as a policy's strings are: no control, bidi or invisible
    # character (they reach `clearline test` output and, as facts, decision records).
    diagnostics = text_problems(data, source)
    if diagnostics:
        return (), tuple(diagnostics)
    unknown = [key for key in data if key not in ("tests", "policy", "version")]
    diagnostics = [
        source.diagnostic((key,), "S001", f"unknown key `{key}` in a tests file", key=True)
        for key in unknown
    ]
    diagnostics.extend(tests_schema_diagnostics(data["tests"], source))
    if diagnostics:
        return (), tuple(diagnostics)
    tests, parse_errors = parse_tests(data["tests"], source, ("tests",))
    diagnostics.extend(parse_errors)
    for test in tests:
        diagnostics.extend(check_test(policy, test, source))
    if diagnostics:
        return (), tuple(diagnostics)
    return tests, ()
