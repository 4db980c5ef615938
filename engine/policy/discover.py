"""Which files below a folder are policies: those that say so (`apiVersion: clearline/...`).

A repository holds other YAML (CI workflows, editor settings, tests files), so `check DIR` reads
a file as a policy only when its top level names the Clearline format, skips what `.gitignore`
ignores, and names a tests file that is misnamed (`1.0.0.test.yaml`) instead of reporting it as
a policy without `apiVersion`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from clearline.engine.errors import Diagnostic

TESTS_SUFFIX = ".tests.yaml"
CALENDAR_SUFFIX = ".calendar.yaml"
# `apiVersion: clearline/v1` in block style, or `"apiVersion": "clearline/v1"` in a policy
# written as JSON (YAML's flow style, which `check` reads too).
_API_VERSION = re.compile(
    r"""^\s*[{,]?\s*["']?apiVersion["']?\s*:\s*["']?clearline/""", re.MULTILINE
)
_TESTS_KEY = re.compile(r"^tests:\s*$", re.MULTILINE)
# Enough of a file to find its top-level keys; policies put apiVersion near the top.
_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class _Ignore:
    """The patterns of one `.gitignore`, relative to its folder."""

    base: Path
    patterns: tuple[tuple[str, bool, bool, bool], ...]  # pattern, negated, dir only, anchored

    @classmethod
    def read(cls, folder: Path) -> _Ignore | None:
        try:
            text = (folder / ".gitignore").read_text("utf-8", errors="replace")
        except OSError:
            return None
        patterns = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line.removeprefix("!")
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            patterns.append((line.lstrip("/"), negated, dir_only, anchored))
        return cls(folder, tuple(patterns))

    def verdict(self, path: Path, is_dir: bool) -> bool | None:
        """True when ignored, False when re-included (`!`), None when no pattern speaks."""
        try:
            relative = path.absolute().relative_to(self.base.absolute()).as_posix()
        except ValueError:
            return None
        result = None
        for pattern, negated, dir_only, anchored in self.patterns:
            if dir_only and not is_dir:
                continue
            subject = relative if anchored else path.name
            if fnmatch.fnmatchcase(subject, pattern) or fnmatch.fnmatchcase(
                subject, pattern.replace("**/", "")
            ):
                result = not negated
        return result


@dataclass
class Discovery:
    """Policy files found, and problems with files that look like policies' companions."""

    files: list[Path] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _ancestor_ignores(folder: Path) -> list[_Ignore]:
    found = []
    for parent in [folder.absolute(), *folder.absolute().parents]:
        ignore = _Ignore.read(parent)
        if ignore is not None:
            found.append(ignore)
        if (parent / ".git").exists():
            break
    return found[::-1]


def _ignored(path: Path, is_dir: bool, ignores: list[_Ignore]) -> bool:
    result = False
    for ignore in ignores:
        verdict = ignore.verdict(path, is_dir)
        if verdict is not None:
            result = verdict
    return result


def _head(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _misnamed_tests(path: Path, shown: str) -> Diagnostic:
    stem = re.sub(r"\.(tests?|spec)$", "", path.stem.removesuffix(".yaml"))
    return Diagnostic(
        shown,
        1,
        1,
        "E102",
        f"`{path.name}` looks like a tests file (a `tests:` list, no `apiVersion`), but tests "
        f"files are found by name",
        help=f"rename it to `{stem}{TESTS_SUFFIX}`, beside `{stem}.yaml`",
    )


def discover(paths: Iterable[str | os.PathLike[str]]) -> Discovery:
    """Policy files named directly, or found below folders by their `apiVersion`."""
    found = Discovery()
    for name in paths:
        root = Path(name)
        if not root.is_dir():
            found.files.append(root)
            continue
        scopes: dict[Path, list[_Ignore]] = {root: _ancestor_ignores(root)}
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            scoped = scopes.pop(here, [])
            local = _Ignore.read(here) if here != root else None
            if local is not None:
                scoped = [*scoped, local]
            dirs[:] = sorted(
                d for d in dirs if d != ".git" and not _ignored(here / d, True, scoped)
            )
            for d in dirs:
                scopes[here / d] = scoped
            for file in sorted(files):
                path = here / file
                if not file.endswith((".yaml", ".yml")) or file.endswith(
                    (TESTS_SUFFIX, CALENDAR_SUFFIX)
                ):
                    continue
                if _ignored(path, False, scoped):
                    continue
                head = _head(path)
                if _API_VERSION.search(head):
                    found.files.append(path)
                elif _TESTS_KEY.search(head):
                    found.diagnostics.append(_misnamed_tests(path, os.fspath(path)))
    return found
