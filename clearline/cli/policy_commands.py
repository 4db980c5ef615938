"""`clearline check` and `clearline test`: is a policy valid, and does it do what its examples say."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from clearline.engine import compile_policy
from clearline.engine.change.notice_period import notice_period_diagnostics
from clearline.engine.errors import Diagnostic
from clearline.engine.model import PolicyTest
from clearline.engine.policy import diagnostic_format as fmt
from clearline.engine.policy.discover import discover
from clearline.engine.policy.load import (
    analyse_policy,
    display_path,
    load_tests_file,
    tests_file_for,
)
from clearline.engine.policy.source import diagnostic_at
from clearline.engine.testing.coverage import Coverage, coverage
from clearline.engine.testing.coverage import render_text as coverage_text
from clearline.engine.testing.policy_tests import TestOutcome, run_tests
from clearline.engine.versions import version_diagnostics

from .common import Failed
from .disclose_command import text_diagnostics

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_HELP = (
    "How to write problems: text (code frame and help; the default on a terminal), concise "
    "(one line each; the default when piped), json, sarif, junit, github (annotations)."
)


def format_option(command: F) -> F:
    """The shared `--format` option of `check` and `test`."""
    return click.option(
        "--format",
        "--output-format",
        "output_format",
        type=click.Choice(fmt.FORMATS),
        default=None,
        help=FORMAT_HELP,
    )(command)


def _chosen_format(output_format: str | None) -> str:
    # A person at a terminal gets code frames; a pipe or a log keeps one line per problem.
    return output_format or ("text" if sys.stderr.isatty() else "concise")


def _strict(diagnostics: Sequence[Diagnostic], strict: bool) -> list[Diagnostic]:
    if not strict:
        return list(diagnostics)
    return [dataclasses.replace(d, severity="error") for d in diagnostics]


def emit(diagnostics: Sequence[Diagnostic], output_format: str, files: Sequence[str]) -> None:
    """Write diagnostics in a format: people's forms to stderr, machine forms to stdout."""
    if output_format in ("text", "concise"):
        if diagnostics:
            text = (
                fmt.render_text(diagnostics)
                if output_format == "text"
                else fmt.render_concise(diagnostics)
            )
            click.echo(text, err=True)
        return
    if output_format == "json":
        click.echo(fmt.render_json(diagnostics))
    elif output_format == "sarif":
        click.echo(fmt.render_sarif(diagnostics))
    elif output_format == "junit":
        click.echo(fmt.render_junit(diagnostics, files))
    elif diagnostics:
        click.echo(fmt.render_github(diagnostics))


def _summary(line: str, output_format: str) -> None:
    # Machine formats own stdout: the human summary goes to stderr there.
    click.echo(line, err=output_format not in ("text", "concise"))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def check_diagnostics(paths: Sequence[str]) -> tuple[list[str], list[Diagnostic]]:
    """The policy files found under `paths` and every diagnostic of them and their tests files."""
    found = discover(paths)
    diagnostics: list[Diagnostic] = list(found.diagnostics)
    loaded = []
    for path in found.files:
        result = analyse_policy(path)
        diagnostics.extend(result.diagnostics)
        diagnostics.extend(text_diagnostics(result))
        tests_path = tests_file_for(path)
        if result.policy is not None:
            loaded.append(result.policy)
            if tests_path.exists():
                _, problems = load_tests_file(tests_path, result.policy)
                diagnostics.extend(problems)
    # Across versions of one policy: one version in force at a time, and adverse changes need
    # their notice period.
    diagnostics.extend(version_diagnostics(loaded))
    diagnostics.extend(notice_period_diagnostics(loaded))
    return [display_path(f) for f in found.files], diagnostics


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@format_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 on any).")
def check(paths: tuple[str, ...], output_format: str | None, strict: bool) -> None:
    """Validate policies (files, or policy files below a folder) and their tests files."""
    chosen = _chosen_format(output_format)
    files, diagnostics = check_diagnostics(paths)
    diagnostics = _strict(diagnostics, strict)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    emit(diagnostics, chosen, files)
    policies = "policy" if len(files) == 1 else "policies"
    _summary(
        f"checked {len(files)} {policies}: {_plural(errors, 'error')}, "
        f"{_plural(warnings, 'warning')}",
        chosen,
    )
    if errors or not files:
        if not files:
            click.echo("clearline: error[E101]: no policy files found", err=True)
        raise Failed()


def _failure_diagnostic(file: str, outcome: TestOutcome) -> Diagnostic:
    message = f"test `{outcome.test.name}` failed: " + "; ".join(outcome.failures)
    return diagnostic_at(file, outcome.test.path, "T001", message)


def _test_report(
    output_format: str,
    results: list[tuple[str, TestOutcome]],
    diagnostics: list[Diagnostic],
    covered: list[tuple[str, Coverage]],
) -> None:
    failed = [(file, outcome) for file, outcome in results if not outcome.passed]
    if output_format == "json":
        document: dict[str, Any] = {
            "tests": [
                {
                    "file": file,
                    "name": outcome.test.name,
                    "passed": outcome.passed,
                    "failures": list(outcome.failures),
                }
                for file, outcome in results
            ],
            "diagnostics": [fmt.as_json(d) for d in diagnostics],
            "passed": len(results) - len(failed),
            "failed": len(failed),
            "errors": sum(d.severity == "error" for d in diagnostics),
        }
        if covered:
            document["coverage"] = [{"file": f, **report.to_dict()} for f, report in covered]
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    elif output_format == "junit":
        cases = [
            fmt.junit_case(
                outcome.test.name,
                file,
                [(failure, failure) for failure in outcome.failures],
            )
            for file, outcome in results
        ]
        cases += [
            fmt.junit_case(f"{d.file}:{d.line}", d.file, [(d.message, d.render())])
            for d in diagnostics
            if d.severity == "error"
        ]
        bad = len(failed) + sum(d.severity == "error" for d in diagnostics)
        click.echo(fmt.junit_document("clearline test", cases, bad))
    else:
        located = [_failure_diagnostic(file, outcome) for file, outcome in failed]
        emit([*diagnostics, *located], output_format, [])


@click.command(name="test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-v", "--verbose", is_flag=True, help="Name every test, not only failures.")
@format_option
@click.option(
    "--coverage",
    "with_coverage",
    is_flag=True,
    help="Report what the tests exercise: rules fired and not, both sides of each threshold, "
    "grace paths (cure, review upheld/overturned, exemptions).",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PERCENT",
    help="Fail (exit 1) when a policy's coverage is below PERCENT (implies --coverage).",
)
def test_command(
    paths: tuple[str, ...],
    verbose: bool,
    output_format: str | None,
    with_coverage: bool,
    min_coverage: float | None,
) -> None:
    """Run the example accounts of policies (`tests:` and `*.tests.yaml`); pytest-style summary."""
    with_coverage = with_coverage or min_coverage is not None
    covered: list[tuple[str, Coverage]] = []
    chosen = _chosen_format(output_format)
    people = chosen in ("text", "concise")
    started = time.perf_counter()
    found = discover(paths)
    diagnostics: list[Diagnostic] = list(found.diagnostics)
    results: list[tuple[str, TestOutcome]] = []
    for path in found.files:
        result = analyse_policy(path)
        if result.policy is None:
            diagnostics.extend(result.errors or result.diagnostics)
            continue
        compiled = compile_policy(result.policy)
        shown = display_path(path)
        tests_path = tests_file_for(path)
        runs = [(shown, outcome) for outcome in run_tests(compiled, result.policy.tests)]
        extra: tuple[PolicyTest, ...] = ()
        if tests_path.exists():
            extra, problems = load_tests_file(tests_path, result.policy)
            diagnostics.extend(problems)
            runs += [(display_path(tests_path), o) for o in run_tests(compiled, extra)]
        if with_coverage:
            covered.append((shown, coverage(compiled, (*result.policy.tests, *extra))))
        for file, outcome in runs:
            if people and outcome.passed and verbose:
                click.echo(f"{file}::{outcome.test.name} PASSED")
            elif people and not outcome.passed:
                click.echo(f"{file}::{outcome.test.name} FAILED")
                for failure in outcome.failures:
                    click.echo(f"    {failure}")
        results += runs
    if people:
        emit(diagnostics, chosen, [])
        for file, report in covered:
            click.echo(coverage_text(report, file))
    else:
        _test_report(chosen, results, diagnostics, covered)
    low = [
        (file, report)
        for file, report in covered
        if min_coverage is not None and report.percent < min_coverage
    ]
    for file, report in low:
        click.echo(
            f"{file}: error[T002]: coverage {report.percent:.1f}% is below the minimum "
            f"{min_coverage:g}%",
            err=True,
        )
    passed = sum(outcome.passed for _, outcome in results)
    failed = len(results) - passed
    errors = sum(d.severity == "error" for d in diagnostics)
    if not found.files and not errors:
        errors = 1
        click.echo("clearline: error[E101]: no policy files found", err=True)
    elapsed = time.perf_counter() - started
    parts = [f"{passed} passed"]
    if failed:
        parts.append(f"{failed} failed")
    if errors:
        parts.append(_plural(errors, "error"))
    _summary(f"{', '.join(parts)} in {elapsed:.2f}s", chosen)
    if failed or errors or low or not (passed or failed):
        raise Failed()
