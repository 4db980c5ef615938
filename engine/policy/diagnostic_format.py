"""Diagnostics written for people and for CI from the same values, as ruff's renderers do.

`text` shows the offending line with a caret under the span and a `help:` line; `concise` is the
one-line `FILE:LINE:COL: error[CODE]: message` form; `json`, `sarif`, `junit` and `github`
(workflow annotations) are for machines. Renderers only format: they never decide.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from xml.sax.saxutils import escape, quoteattr

from clearline.engine.codes import help_for
from clearline.engine.errors import Diagnostic
from clearline.engine.version import ENGINE_VERSION

FORMATS = ("text", "concise", "json", "sarif", "junit", "github")

_DID_YOU_MEAN = re.compile(r"; (did you mean `[^`]*`\?)$")

SourceReader = Callable[[str], "str | None"]


@cache
def read_source(file: str) -> str | None:
    """The text of a file named in a diagnostic, or None when it cannot be read."""
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def message_and_help(diagnostic: Diagnostic) -> tuple[str, str | None]:
    """The message without its fix, and the fix (`did you mean` suffixes become help)."""
    if diagnostic.help:
        return diagnostic.message, diagnostic.help
    match = _DID_YOU_MEAN.search(diagnostic.message)
    if match:
        return diagnostic.message[: match.start()], match.group(1)
    # Otherwise the registry's advice for the code, when it has one.
    return diagnostic.message, help_for(diagnostic.code)


def _width(text: str) -> int:
    """Columns a text takes on a terminal: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _span_width(line: str, diagnostic: Diagnostic) -> int:
    start = diagnostic.column - 1
    if diagnostic.end_line == diagnostic.line and diagnostic.end_column:
        return max(1, diagnostic.end_column - diagnostic.column)
    # Underline the token at the column: up to the next space, comma or bracket.
    match = re.match(r"[^\s,:{}\[\]]+", line[start:])
    return max(1, len(match.group()) if match else 1)


def render_one(diagnostic: Diagnostic, read: SourceReader = read_source) -> str:
    """One diagnostic with a code frame, a caret under the span and a `help:` line."""
    message, fix = message_and_help(diagnostic)
    head = f"{diagnostic.severity}[{diagnostic.code}]: {message}"
    where = f"{diagnostic.file}:{diagnostic.line}:{diagnostic.column}"
    text = read(diagnostic.file)
    lines = text.splitlines() if text is not None else []
    if not 1 <= diagnostic.line <= len(lines):
        out = [head, f" --> {where}"]
        if fix:
            out.append(f"help: {fix}")
        return "\n".join(out)
    first = max(1, diagnostic.line - 1)
    gutter = len(str(diagnostic.line))
    pad = " " * gutter
    out = [head, f"{pad}--> {where}", f"{pad} |"]
    for number in range(first, diagnostic.line + 1):
        source_line = lines[number - 1].replace("\t", " ")
        out.append(f"{number:>{gutter}} | {source_line}".rstrip())
    target = lines[diagnostic.line - 1].replace("\t", " ")
    column = min(diagnostic.column, len(target) + 1)
    span = target[column - 1 : column - 1 + _span_width(target, diagnostic)] or " "
    carets = "^" * _width(span)
    out.append(f"{pad} | {' ' * _width(target[: column - 1])}{carets}")
    out.append(f"{pad} |")
    if fix:
        out.append(f"{pad} = help: {fix}")
    return "\n".join(out)


def render_text(diagnostics: Iterable[Diagnostic], read: SourceReader = read_source) -> str:
    """Every diagnostic with its code frame, separated by blank lines."""
    return "\n\n".join(render_one(d, read) for d in diagnostics)


def render_concise(diagnostics: Iterable[Diagnostic]) -> str:
    """One `FILE:LINE:COL: severity[CODE]: message` line per diagnostic."""
    return "\n".join(d.render() for d in diagnostics)


def as_json(diagnostic: Diagnostic) -> dict[str, object]:
    """A diagnostic as a JSON object (the message without its fix, the fix as `help`)."""
    message, fix = message_and_help(diagnostic)
    return {
        "file": diagnostic.file,
        "line": diagnostic.line,
        "column": diagnostic.column,
        "end_line": diagnostic.end_line,
        "end_column": diagnostic.end_column,
        "severity": diagnostic.severity,
        "code": diagnostic.code,
        "message": message,
        "help": fix,
    }


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    """A JSON list of diagnostic objects."""
    return json.dumps([as_json(d) for d in diagnostics], ensure_ascii=False, indent=2)


def render_sarif(diagnostics: Sequence[Diagnostic]) -> str:
    """A SARIF 2.1.0 log, as GitHub code scanning and other CI tools read it."""
    codes = sorted({d.code for d in diagnostics})
    results = []
    for d in diagnostics:
        message, fix = message_and_help(d)
        region: dict[str, int] = {"startLine": d.line, "startColumn": d.column}
        if d.end_line:
            region["endLine"] = d.end_line
        if d.end_column:
            region["endColumn"] = d.end_column
        results.append(
            {
                "ruleId": d.code,
                "level": "error" if d.severity == "error" else "warning",
                "message": {"text": f"{message}\nhelp: {fix}" if fix else message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": d.file.replace("\\", "/")},
                            "region": region,
                        }
                    }
                ],
            }
        )
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "clearline",
                        "version": ENGINE_VERSION,
                        "informationUri": "https://clearline.dev",
                        "rules": [{"id": code} for code in codes],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, ensure_ascii=False, indent=2)


def junit_case(name: str, classname: str, failures: Sequence[tuple[str, str]]) -> str:
    """One JUnit `<testcase>` with a `<failure>` per (message, details) pair."""
    attrs = f"name={quoteattr(name)} classname={quoteattr(classname)}"
    if not failures:
        return f"    <testcase {attrs}/>"
    body = "".join(
        f"\n      <failure message={quoteattr(message)}>{escape(details)}</failure>"
        for message, details in failures
    )
    return f"    <testcase {attrs}>{body}\n    </testcase>"


def junit_document(suite: str, cases: Sequence[str], failures: int) -> str:
    """A JUnit XML document of one test suite."""
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<testsuites name={quoteattr(suite)} tests="{len(cases)}" failures="{failures}">',
            f'  <testsuite name={quoteattr(suite)} tests="{len(cases)}" failures="{failures}">',
            *cases,
            "  </testsuite>",
            "</testsuites>",
        ]
    )


def render_junit(diagnostics: Sequence[Diagnostic], files: Sequence[str]) -> str:
    """A JUnit report: one test case per file checked, failing with that file's errors."""
    cases = []
    failed = 0
    by_file: dict[str, list[Diagnostic]] = {}
    for d in diagnostics:
        by_file.setdefault(d.file, []).append(d)
    for file in [*files, *(f for f in by_file if f not in files)]:
        problems = [
            (f"{d.line}:{d.column}: {d.severity}[{d.code}]: {d.message}", d.render())
            for d in by_file.get(file, [])
            if d.severity == "error"
        ]
        failed += bool(problems)
        cases.append(junit_case(file, "clearline.check", problems))
    return junit_document("clearline check", cases, failed)


def _github_escape(text: str, *, property_: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands: an annotation per diagnostic on the pull request."""
    lines = []
    for d in diagnostics:
        message, fix = message_and_help(d)
        level = "error" if d.severity == "error" else "warning"
        props = f"file={_github_escape(d.file, property_=True)},line={d.line},col={d.column}"
        if d.end_line:
            props += f",endLine={d.end_line}"
        props += f",title={_github_escape(f'clearline {d.code}', property_=True)}"
        text = f"{message}\nhelp: {fix}" if fix else message
        lines.append(f"::{level} {props}::{_github_escape(text)}")
    return "\n".join(lines)
