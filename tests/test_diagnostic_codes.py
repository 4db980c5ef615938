"""The registry of diagnostic codes is complete: every code Clearline reports is listed and documented."""

from __future__ import annotations

import re
from pathlib import Path

from clearline.engine.codes import code_families, diagnostic_codes, help_for

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("engine", "disclosures", "clearline")
# A code as a string literal ("C130") or inside a rendered message (error[C130]).
CODE_LITERAL = re.compile(r"""["']([A-Z]\d{3})["']|\[([A-Z]\d{3})\]""")


def source_codes() -> dict[str, Path]:
    """Every code written as a string literal in Clearline's source, with one file that has it."""
    found: dict[str, Path] = {}
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            for quoted, bracketed in CODE_LITERAL.findall(path.read_text("utf-8")):
                found.setdefault(quoted or bracketed, path)
    return found


def test_every_code_in_the_source_is_registered() -> None:
    registered = diagnostic_codes()
    unknown = {code: str(path.relative_to(ROOT)) for code, path in source_codes().items()}
    unknown = {code: path for code, path in unknown.items() if code not in registered}
    assert not unknown, f"codes raised but not in engine/diagnostic_codes.yaml: {unknown}"


def test_every_registered_code_is_raised_somewhere() -> None:
    unused = set(diagnostic_codes()) - set(source_codes())
    assert not unused, f"registered codes no source raises: {sorted(unused)}"


def test_every_code_has_a_family_a_title_and_help() -> None:
    families = code_families()
    for code, entry in diagnostic_codes().items():
        assert entry.family in families, code
        assert entry.severity in ("error", "warning"), code
        assert entry.title and not entry.title.endswith("."), code
        assert entry.help.strip() and help_for(code) == entry.help, code
    assert help_for("Z999") is None


def test_every_registered_code_is_raised_by_a_test() -> None:
    """Each code appears in some test file (a test module, a tests/invalid or tests/hostile
    policy), so a code nobody can trigger any more, or one no test exercises, is noticed."""
    mentioned: set[str] = set()
    for path in (ROOT / "tests").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".yaml", ".yml", ".json", ".jsonl", ".txt"):
            mentioned.update(re.findall(r"\b[A-Z]\d{3}\b", path.read_text("utf-8", "replace")))
    untested = sorted(set(diagnostic_codes()) - mentioned - set(BUG_ONLY))
    assert not untested, f"registered codes no test mentions: {untested}"


# Codes that only a fault in Clearline itself can raise: no input reaches them, so no test can
# make them appear without injecting the fault. Each stays registered so the reader is told
# what happened; the list is short on purpose, and each entry says why it is here.
BUG_ONLY = {
    "H500": "the service's handler of an unexpected exception (answered as a problem document "
    "instead of a traceback)",
    "N200": "`notice --check` finding a claim the engine does not back in a notice Clearline "
    "itself generated; the check's logic is tested on tampered notices through "
    "disclosures.verify.notice_problems (tests/test_notice_claims.py)",
}


def test_the_bug_only_codes_are_registered_and_few() -> None:
    assert set(BUG_ONLY) <= set(diagnostic_codes())
    assert len(BUG_ONLY) <= 3
