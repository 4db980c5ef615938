"""Policy versions in force: a registry of every version of every policy in a folder.

Each version is known by its policy id and semantic version, and by its content hash
(`canonical.policy_sha256`: stable under YAML layout and key order, changed by any semantic
change). The registry answers which version was in force at a moment, and refuses folders that
would make that answer ambiguous. Validity is `[effective_from, effective_until)`: the start is
inclusive, the end exclusive. A version without `effective_until` stays in force until the next
version (by semantic version) takes effect, so publishing 1.2.0 never requires editing the file
of 1.1.0 (which would change its hash and break the replay of every decision made under it).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from clearline.engine.canonical import policy_sha256
from clearline.engine.decisions.compile import CompiledPolicy, compile_policy
from clearline.engine.decisions.decide import Decision, decide, to_instant
from clearline.engine.errors import ClearlineError, Diagnostic, PolicyError
from clearline.engine.model import Policy
from clearline.engine.policy.calendars import CALENDAR_SUFFIX
from clearline.engine.policy.load import TESTS_SUFFIX, analyse_policy, display_path
from clearline.engine.policy.source import diagnostic_at


class NotInForce(ClearlineError):
    """No version of a policy is in force at the moment asked about."""


class UnknownPolicy(ClearlineError):
    """The registry has no policy with this id, version or hash."""


def version_key(version: str) -> tuple[int, ...]:
    """`1.10.0` sorts after `1.9.0` (the schema allows only MAJOR.MINOR.PATCH)."""
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True, eq=False)
class PolicyVersion:
    """One version of one policy, as loaded from one file."""

    policy: Policy
    file: str
    sha256: str
    effective_until: dt.datetime | None  # the declared end, or the next version's start
    _compiled: list[CompiledPolicy] = field(default_factory=list, repr=False)

    @property
    def id(self) -> str:
        """The policy id."""
        return self.policy.metadata.id

    @property
    def version(self) -> str:
        """The semantic version."""
        return self.policy.metadata.version

    @property
    def effective_from(self) -> dt.datetime:
        """The first moment this version is in force."""
        return self.policy.metadata.effective_from

    def in_force_at(self, at: dt.datetime) -> bool:
        """Whether `at` lies in `[effective_from, effective_until)`."""
        if at < self.effective_from:
            return False
        return self.effective_until is None or at < self.effective_until

    @property
    def compiled(self) -> CompiledPolicy:
        """The compiled policy, compiled on first use and kept."""
        if not self._compiled:
            self._compiled.append(compile_policy(self.policy))
        return self._compiled[0]


def _iso(moment: dt.datetime | None) -> str:
    return "open-ended" if moment is None else moment.isoformat()


class PolicyRegistry:
    """Every version of every policy of a folder, indexed by id, version and content hash."""

    def __init__(self, versions: Iterable[PolicyVersion]) -> None:
        self._by_id: dict[str, list[PolicyVersion]] = {}
        self._by_hash: dict[str, PolicyVersion] = {}
        for item in versions:
            self._by_id.setdefault(item.id, []).append(item)
            self._by_hash.setdefault(item.sha256, item)
        for items in self._by_id.values():
            items.sort(key=lambda item: version_key(item.version))

    @classmethod
    def load(cls, *paths: str | os.PathLike[str]) -> PolicyRegistry:
        """Load folders or files of policies; raise PolicyError with every problem found."""
        registry, diagnostics = cls.analyse(paths)
        if registry is None:
            raise PolicyError([d for d in diagnostics if d.severity == "error"])
        return registry

    @classmethod
    def analyse(
        cls, paths: Iterable[str | os.PathLike[str]]
    ) -> tuple[PolicyRegistry | None, tuple[Diagnostic, ...]]:
        """Every diagnostic of a set of policy files, and the registry when none is an error."""
        diagnostics: list[Diagnostic] = []
        loaded: list[tuple[Policy, str]] = []
        files = list(policy_files(paths))
        if not files:
            shown = ", ".join(display_path(p) for p in paths) or "."
            diagnostics.append(Diagnostic(shown, 1, 1, "V000", "no policy files found"))
        for file in files:
            result = analyse_policy(file)
            diagnostics.extend(result.diagnostics)
            if result.policy is not None:
                loaded.append((result.policy, display_path(file)))
        versions, problems = _versions(loaded)
        diagnostics.extend(problems)
        if any(d.severity == "error" for d in diagnostics):
            return None, tuple(diagnostics)
        return cls(versions), tuple(diagnostics)

    def policy_ids(self) -> tuple[str, ...]:
        """The ids of the policies in the registry, sorted."""
        return tuple(sorted(self._by_id))

    def versions(self, policy_id: str) -> tuple[PolicyVersion, ...]:
        """Every version of a policy, oldest first."""
        return tuple(self._by_id.get(policy_id, ()))

    def __iter__(self) -> Any:
        for policy_id in self.policy_ids():
            yield from self._by_id[policy_id]

    def by_hash(self, sha256: str) -> PolicyVersion | None:
        """The version with this content hash, if loaded."""
        return self._by_hash.get(sha256)

    def get(self, policy_id: str, version: str) -> PolicyVersion | None:
        """The version `version` of policy `policy_id`, if loaded."""
        for item in self._by_id.get(policy_id, ()):
            if item.version == version:
                return item
        return None

    def in_force(self, policy_id: str, at: dt.datetime | dt.date | str) -> PolicyVersion:
        """The version of `policy_id` in force at `at` (a bare date: the start of that day in
        the policy's time zone). Raises NotInForce or UnknownPolicy."""
        items = self._by_id.get(policy_id)
        if not items:
            known = ", ".join(self.policy_ids()) or "none"
            raise UnknownPolicy(f"no policy `{policy_id}` in the registry (known: {known})")
        instant = to_instant(at, items[-1].policy.metadata.timezone)
        for item in items:
            if item.in_force_at(instant):
                return item
        spans = "; ".join(
            f"{item.version}: {_iso(item.effective_from)} to {_iso(item.effective_until)}"
            for item in items
        )
        raise NotInForce(
            f"no version of `{policy_id}` is in force at {instant.isoformat()} ({spans})"
        )

    def decide(
        self,
        policy_id: str,
        facts: Mapping[str, Any],
        as_of: dt.datetime | dt.date | str,
        *,
        account_id: str | None = None,
        trace: bool = True,
    ) -> Decision:
        """Decide with the version of `policy_id` in force at `as_of`."""
        item = self.in_force(policy_id, as_of)
        instant = to_instant(as_of, item.policy.metadata.timezone)
        return decide(item.compiled, facts, instant, account_id=account_id, trace=trace)


def policy_files(paths: Iterable[str | os.PathLike[str]]) -> Iterable[Path]:
    """Policy files named directly, or every `*.yaml`/`*.yml` below a folder (tests and
    business-day calendars excluded)."""
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


def version_diagnostics(policies: Iterable[Policy]) -> list[Diagnostic]:
    """The registry's refusals (and warnings) for a set of loaded policies, located."""
    return _versions([(policy, policy.source) for policy in policies])[1]


def _versions(
    loaded: list[tuple[Policy, str]],
) -> tuple[list[PolicyVersion], list[Diagnostic]]:
    """Check the versions of each policy against each other; return them with their ends."""
    problems: list[Diagnostic] = []
    by_id: dict[str, list[tuple[Policy, str, str]]] = {}
    for policy, file in loaded:
        by_id.setdefault(policy.metadata.id, []).append((policy, file, policy_sha256(policy)))
    versions: list[PolicyVersion] = []
    for items in by_id.values():
        items.sort(key=lambda item: (version_key(item[0].metadata.version), item[1]))
        unique: list[tuple[Policy, str, str]] = []
        for policy, file, sha in items:
            if unique and unique[-1][0].metadata.version == policy.metadata.version:
                _, first_file, first_sha = unique[-1]
                if first_sha == sha:
                    duplicate = diagnostic_at(
                        file,
                        ("metadata", "version"),
                        "V001",
                        f"same policy and version as {first_file} (identical content); "
                        "this copy is ignored",
                    )
                    problems.append(replace(duplicate, severity="warning"))
                else:
                    problems.append(
                        diagnostic_at(
                            file,
                            ("metadata", "version"),
                            "V002",
                            f"`{policy.metadata.id}` version {policy.metadata.version} is also "
                            f"in {first_file} with different content (sha256 {first_sha[:12]} "
                            f"there, {sha[:12]} here); give changed content a new version",
                        )
                    )
                continue
            unique.append((policy, file, sha))
        for (prev, prev_file, _), (policy, file, _) in pairwise(unique):
            prev_meta, meta = prev.metadata, policy.metadata
            if meta.effective_from <= prev_meta.effective_from:
                problems.append(
                    diagnostic_at(
                        file,
                        ("metadata", "effective_from"),
                        "V003",
                        f"version {meta.version} takes effect {meta.effective_from.isoformat()}, "
                        f"not after version {prev_meta.version} ({prev_file}, from "
                        f"{prev_meta.effective_from.isoformat()}): versions must not go back in "
                        "time",
                    )
                )
            elif (
                prev_meta.effective_until is not None
                and prev_meta.effective_until > meta.effective_from
            ):
                problems.append(
                    diagnostic_at(
                        file,
                        ("metadata", "effective_from"),
                        "V004",
                        f"version {meta.version} takes effect {meta.effective_from.isoformat()}, "
                        f"while version {prev_meta.version} ({prev_file}) is in force until "
                        f"{prev_meta.effective_until.isoformat()}: effective ranges overlap",
                    )
                )
        for n, (policy, file, sha) in enumerate(unique):
            until = policy.metadata.effective_until
            if until is None and n + 1 < len(unique):
                until = unique[n + 1][0].metadata.effective_from
            versions.append(PolicyVersion(policy, file, sha, until))
    return versions, problems
