"""What every command shares: loading policies for the CLI, reporting errors, finding files."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from clearline.engine import CompiledPolicy, Diagnostic, compile_policy
from clearline.engine.calendars import CALENDAR_SUFFIX
from clearline.engine.load import TESTS_SUFFIX, analyse_policy

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class Failed(click.exceptions.Exit):
    """Stop a command with exit code 1 after its errors were printed."""

    def __init__(self) -> None:
        super().__init__(EXIT_INVALID)


def report(diagnostics: Iterable[Diagnostic]) -> int:
    """Print diagnostics to stderr; return how many were errors."""
    errors = 0
    for diagnostic in diagnostics:
        click.echo(diagnostic.render(), err=True)
        errors += diagnostic.severity == "error"
    return errors


def error(message: str, *, where: str = "clearline", code: str = "E100") -> None:
    """Print one error in the common format."""
    click.echo(f"{where}: error[{code}]: {message}", err=True)


def policy_files(paths: Iterable[str]) -> Iterator[Path]:
    """Policy files named directly, or every `*.yaml` below a folder, but tests and calendars."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for found in sorted(path.rglob("*.y*ml")):
                if found.suffix in (".yaml", ".yml") and not found.name.endswith(
                    (TESTS_SUFFIX, CALENDAR_SUFFIX)
                ):
                    yield found
        else:
            yield path


def load_compiled(path: str | os.PathLike[str]) -> CompiledPolicy:
    """Load, check and compile one policy, or print its errors and exit 1."""
    result = analyse_policy(path)
    if result.policy is None:
        report(result.diagnostics)
        raise Failed()
    return compile_policy(result.policy)


def progress_wanted() -> bool:
    """A progress bar only on an interactive terminal: batch output piped stays clean."""
    return sys.stderr.isatty() and not os.environ.get("CI")
