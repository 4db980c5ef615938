"""Jurisdiction packs: the minimums of a rule book as data, applied by `check`.

A policy lists the packs it must meet in `metadata.jurisdictions`. A pack is one YAML file:
the shipped ones sit in this folder (CN, EU, US); a lender's own pack `XX.jurisdiction.yaml`
next to the policy file is used first, so it can add a jurisdiction or tighten a shipped one.
Each requirement names its rule book, which every finding quotes. Requirement kinds:

- `minimum_notice: {actions: [...], days: N}` or `{..., months: N}`: the least notice before
  those actions take effect (months are calendar months);
- `review_channel: true`: the lender names a human review channel in every language (every
  adverse grace rule already has an appeal window, by C118);
- `distinct_reasons: N`: every adverse rule has a reason code of its own, so each of the at
  most N principal reasons on a notice is a specific factor;
- `complaint_route: true`: the lender names where to complain (`owner.complaints`) in every
  language (C175);
- `regulator_contact: always` or `when_bureau`: the owner names the regulator of this
  jurisdiction (`owner.regulators.<pack id>`), always or when a fact comes from a credit
  bureau (C176).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import yaml

from clearline.engine.model import ADVERSE_ACTIONS, ActionKind, Policy
from clearline.engine.policy.grace_checks import Finding, Minimum

SHIPPED = FsPath(__file__).resolve().parent
LENDER_SUFFIX = ".jurisdiction.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PackError(ValueError):
    """A jurisdiction pack that cannot be found or read."""


@dataclass(frozen=True)
class Requirement:
    """One requirement of a pack, with the rule book it stands for."""

    book: str
    what: str
    minimum: Minimum | None = None
    actions: tuple[ActionKind, ...] = ()
    review_channel: bool = False
    distinct_reasons: int | None = None
    complaint_route: bool = False
    regulator_contact: str | None = None  # "always" or "when_bureau"


@dataclass(frozen=True)
class Pack:
    """A jurisdiction's requirements, read from its file."""

    id: str
    name: str
    requirements: tuple[Requirement, ...]
    file: str


def shipped_packs() -> tuple[str, ...]:
    """The codes of the packs shipped with Clearline."""
    return tuple(sorted(path.stem for path in SHIPPED.glob("*.yaml")))


def find_pack(code: str, policy_dir: FsPath | None = None) -> FsPath:
    """The file of pack `code`: the lender's next to the policy first, then the shipped one."""
    if policy_dir is not None:
        own = policy_dir / f"{code}{LENDER_SUFFIX}"
        if own.is_file():
            return own
    shipped = SHIPPED / f"{code}.yaml"
    if code in shipped_packs():
        return shipped
    raise PackError(
        f"unknown jurisdiction `{code}`; the shipped packs are {', '.join(shipped_packs())}, "
        f"or add your own as `{code}{LENDER_SUFFIX}` next to the policy"
    )


def load_pack(path: FsPath) -> Pack:
    """Read and check one pack file."""
    try:
        data = yaml.load(path.read_text("utf-8"), Loader=_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PackError(f"cannot read jurisdiction pack {path.name}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise PackError(f"jurisdiction pack {path.name} needs `id`, `name` and `requirements`")
    items = tuple(_requirement(path.name, i, raw) for i, raw in enumerate(data["requirements"]))
    return Pack(str(data.get("id", path.stem)), str(data.get("name", "")), items, path.name)


def _requirement(file: str, index: int, raw: Any) -> Requirement:
    where = f"jurisdiction pack {file}, requirement {index + 1}"
    if not isinstance(raw, dict) or not isinstance(raw.get("book"), str):
        raise PackError(f"{where}: needs a `book` naming the rule book")
    book, what = raw["book"], str(raw.get("what", ""))
    try:
        if "minimum_notice" in raw:
            notice = raw["minimum_notice"]
            actions = tuple(ActionKind(a) for a in notice["actions"])
            if not set(actions) <= ADVERSE_ACTIONS:
                raise PackError(f"{where}: minimum notice is for close, suspend, reduce_limit")
            minimum = Minimum(int(notice.get("days", 0)), int(notice.get("months", 0)), book)
            return Requirement(book, what, minimum=minimum, actions=actions)
        if raw.get("review_channel") is True:
            return Requirement(book, what, review_channel=True)
        if "distinct_reasons" in raw:
            return Requirement(book, what, distinct_reasons=int(raw["distinct_reasons"]))
        if raw.get("complaint_route") is True:
            return Requirement(book, what, complaint_route=True)
        if raw.get("regulator_contact") in ("always", "when_bureau"):
            return Requirement(book, what, regulator_contact=str(raw["regulator_contact"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PackError(f"{where}: {exc}") from exc
    raise PackError(
        f"{where}: unknown requirement; use minimum_notice, review_channel, distinct_reasons, "
        "complaint_route or regulator_contact (always or when_bureau)"
    )


def pack_minimums(packs: list[Pack]) -> dict[ActionKind, list[Minimum]]:
    """The minimum notice each pack asks for, per adverse action."""
    found: dict[ActionKind, list[Minimum]] = {}
    for pack in packs:
        for item in pack.requirements:
            if item.minimum is not None:
                for kind in item.actions:
                    found.setdefault(kind, []).append(item.minimum)
    return found


def pack_findings(policy: Policy, packs: list[Pack]) -> Iterator[Finding]:
    """What the packs ask beyond minimum notice, and where the policy falls short."""
    for pack in packs:
        for item in pack.requirements:
            if item.review_channel:
                owner = policy.metadata.owner
                channel = owner.review_channel if owner is not None else None
                for lang in policy.metadata.languages:
                    if channel is None or channel.get(lang) is None:
                        yield (
                            ("metadata", "owner"),
                            "C173",
                            f"{item.book} asks for a human review channel: give "
                            f"`metadata.owner.review_channel` in {lang}",
                        )
                        break
            yield from _owner_findings(policy, pack, item)
            if item.distinct_reasons is not None:
                seen: dict[str, str] = {}
                for rule in policy.rules:
                    if rule.action.kind not in ADVERSE_ACTIONS:
                        continue
                    other = seen.setdefault(rule.reason_code, rule.id)
                    if other != rule.id:
                        yield (
                            (*rule.path, "reason", "code"),
                            "C174",
                            f"{item.book} asks for specific principal reasons (at most "
                            f"{item.distinct_reasons}): rules `{other}` and `{rule.id}` share "
                            f"reason code {rule.reason_code}; give each its own code",
                        )


def _owner_findings(policy: Policy, pack: Pack, item: Requirement) -> Iterator[Finding]:
    """A complaint route or the regulator's contact the pack asks of the owner block."""
    owner = policy.metadata.owner
    langs = policy.metadata.languages
    if item.complaint_route:
        route = owner.complaints if owner is not None else None
        missing = [lang for lang in langs if route is None or not route.get(lang)]
        if missing:
            yield (
                ("metadata", "owner"),
                "C175",
                f"{item.book} asks for a complaint route: give `metadata.owner.complaints` "
                f"in {', '.join(missing)}",
            )
    if item.regulator_contact is None:
        return
    if item.regulator_contact == "when_bureau" and not any(f.source for f in policy.facts):
        return
    found = owner.regulator(pack.id) if owner is not None else None
    if found is None:
        because = " (facts come from a credit bureau)" if item.regulator_contact != "always" else ""
        yield (
            ("metadata", "owner"),
            "C176",
            f"{item.book} asks for the regulator's contact{because}: give "
            f"`metadata.owner.regulators.{pack.id}` with its name and contact",
        )
