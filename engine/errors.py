"""Errors as values: every problem Clearline reports carries where it is and a stable code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Where a value sits in a policy document: its keys and list indexes from the root. The model
# keeps one per node, and diagnostics are located through it.
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One located problem in a policy or an input file."""

    file: str
    line: int
    column: int
    code: str
    message: str
    severity: str = "error"
    # Optional extras a renderer may show: where the span ends (1-based, inclusive line,
    # exclusive column) and a `help:` line with the fix, when the check that found it knows one.
    end_line: int | None = None
    end_column: int | None = None
    help: str | None = None

    def render(self) -> str:
        """Format as `FILE:LINE:COL: error[CODE]: message`, like compilers and linters do."""
        return (
            f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"
        )


class ClearlineError(Exception):
    """Base of every error Clearline raises on purpose for bad input."""


class PolicyError(ClearlineError):
    """A policy failed to load or check; carries every diagnostic found, never a partial policy."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


@dataclass(frozen=True, slots=True)
class FactProblem:
    """One problem with one input fact."""

    fact: str
    code: str
    message: str


class FactError(ClearlineError):
    """The facts given to `decide` do not fit the policy's fact schema."""

    def __init__(self, problems: Sequence[FactProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"error[{p.code}]: {p.message}" for p in self.problems))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A `; did you mean `x`?` suffix when a close candidate exists, else an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""
