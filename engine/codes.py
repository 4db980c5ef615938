"""The registry of diagnostic codes: each code's severity, title and help text, read from data."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

REGISTRY_RESOURCE = "diagnostic_codes.yaml"


@dataclass(frozen=True, slots=True)
class DiagnosticCode:
    """One code of the registry: what it means and how to fix what it reports."""

    code: str
    severity: str
    title: str
    help: str

    @property
    def family(self) -> str:
        """The code's letter, which names the stage that reports it."""
        return self.code[0]


@functools.cache
def _registry() -> tuple[dict[str, str], dict[str, DiagnosticCode]]:
    text = resources.files("clearline.engine").joinpath(REGISTRY_RESOURCE).read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    codes = {
        code: DiagnosticCode(code, entry["severity"], entry["title"], entry["help"])
        for code, entry in data["codes"].items()
    }
    return dict(data["families"]), codes


def diagnostic_codes() -> dict[str, DiagnosticCode]:
    """Every registered code, by code."""
    return dict(_registry()[1])


def code_families() -> dict[str, str]:
    """The code letters and the stage each names."""
    return dict(_registry()[0])


def help_for(code: str) -> str | None:
    """The help text of a code, or None for a code the registry does not know."""
    entry = _registry()[1].get(code)
    return entry.help if entry else None
