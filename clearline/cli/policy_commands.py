"""`clearline check` and `clearline test`: is a policy valid, and does it do what its examples say."""

from __future__ import annotations

import time

import click

from clearline.engine import compile_policy
from clearline.engine.change.notice_period import notice_period_diagnostics
from clearline.engine.policy.load import (
    analyse_policy,
    display_path,
    load_tests_file,
    tests_file_for,
)
from clearline.engine.policy.policy_tests import run_tests
from clearline.engine.versions import version_diagnostics

from .common import Failed, policy_files, report
from .disclose_command import text_diagnostics


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def check(paths: tuple[str, ...]) -> None:
    """Validate policies (files, or every *.yaml below a folder) and their tests files."""
    files = list(policy_files(paths))
    errors = warnings = 0
    loaded = []
    for path in files:
        result = analyse_policy(path)
        found = report(result.diagnostics)
        errors += found
        warnings += len(result.diagnostics) - found
        errors += report(text_diagnostics(result))
        tests_path = tests_file_for(path)
        if result.policy is not None:
            loaded.append(result.policy)
            if tests_path.exists():
                _, problems = load_tests_file(tests_path, result.policy)
                errors += report(problems)
    # Across versions of one policy: one version in force at a time, and adverse changes need
    # their notice period.
    versions = version_diagnostics(loaded)
    found = report(versions)
    errors += found
    warnings += len(versions) - found
    errors += report(notice_period_diagnostics(loaded))
    summary = f"checked {len(files)} {'policy' if len(files) == 1 else 'policies'}: "
    summary += f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    click.echo(summary)
    if errors or not files:
        if not files:
            click.echo("clearline: error[E101]: no policy files found", err=True)
        raise Failed()


@click.command(name="test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-v", "--verbose", is_flag=True, help="Name every test, not only failures.")
def test_command(paths: tuple[str, ...], verbose: bool) -> None:
    """Run the example accounts of policies (`tests:` and `*.tests.yaml`); pytest-style summary."""
    started = time.perf_counter()
    passed = failed = errors = 0
    for path in policy_files(paths):
        result = analyse_policy(path)
        if result.policy is None:
            errors += max(1, report(result.errors))
            continue
        compiled = compile_policy(result.policy)
        tests = result.policy.tests
        tests_path = tests_file_for(path)
        if tests_path.exists():
            extra, problems = load_tests_file(tests_path, result.policy)
            if problems:
                errors += report(problems)
            tests = tests + extra
        shown = display_path(path)
        for outcome in run_tests(compiled, tests):
            if outcome.passed:
                passed += 1
                if verbose:
                    click.echo(f"{shown}::{outcome.test.name} PASSED")
            else:
                failed += 1
                click.echo(f"{shown}::{outcome.test.name} FAILED")
                for failure in outcome.failures:
                    click.echo(f"    {failure}")
    elapsed = time.perf_counter() - started
    parts = [f"{passed} passed"]
    if failed:
        parts.append(f"{failed} failed")
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    click.echo(f"{', '.join(parts)} in {elapsed:.2f}s")
    if failed or errors or not (passed or failed):
        raise Failed()
