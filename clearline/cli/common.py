"""What every command shares: loading policies for the CLI, reporting errors, finding files."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import click

from clearline.engine import CompiledPolicy, Diagnostic, compile_policy
from clearline.engine.policy.load import analyse_policy
from clearline.engine.versions import policy_files as policy_files  # the commands import it here

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def reject_constant(name: str) -> Any:
    """Refuse NaN and Infinity: JSON has no such numbers (Python's reader accepts them)."""
    raise ValueError(f"{name} is not a number JSON allows")


# One decoder for every line: `json.loads` with an option builds a new decoder per call.
JSON_DECODER = json.JSONDecoder(parse_constant=reject_constant)
parse_json = JSON_DECODER.decode


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


def with_progress(
    items: Iterable[T], label: str, *, enabled: bool, every: int = 1000
) -> Iterator[T]:
    """Pass items through, showing a count on a terminal; nothing at all when not enabled."""
    if not enabled:
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)
        for n, item in enumerate(items, 1):
            if n % every == 0:
                bar.update(task, completed=n)
            yield item


def signing_options(command: F) -> F:
    """`--audit-key` and `--checkpoints`: sign a checkpoint of the audit log after each batch."""
    command = click.option(
        "--checkpoints",
        type=click.Path(file_okay=False),
        help="Also write each signed checkpoint to this folder, outside the audit log.",
    )(command)
    return click.option(
        "--audit-key",
        type=click.Path(exists=True, dir_okay=False),
        help="Sign a checkpoint of the audit log after each batch with this key (audit keygen).",
    )(command)


def version_options(says: str) -> Callable[[F], F]:
    """`--policy FILE` or `--policies DIR [--policy-id ID]`: `says` tells where the version
    each account was decided with is named."""

    def add(command: F) -> F:
        command = click.option(
            "--policy-id", help="With --policies: the policy, when the folder holds several."
        )(command)
        command = click.option(
            "--policies",
            "policies_dir",
            type=click.Path(file_okay=False),
            help="Folder of policy versions: each account is decided with the version in force "
            f"at its as_of ({says}).",
        )(command)
        return click.option("--policy", "policy_path", type=click.Path(), help="Policy file.")(
            command
        )

    return add
