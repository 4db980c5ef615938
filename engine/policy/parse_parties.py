"""Parse the policy's regulators, credit bureaus and score key factors into the typed model.

Kept apart from parse.py (which reads the rest of the policy) so both stay short; the data is
schema-valid when it gets here, and what the schema cannot say is checked in
engine/policy/document_checks.py with located errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clearline.engine.model import Text
from clearline.engine.parties import Agency, BureauReporting, KeyFactors
from clearline.engine.policy.source import Path

TextOf = Callable[[Any], Text]


def agency(raw: Any, text: TextOf) -> Agency:
    """A regulator or credit bureau: `{name: {lang: ...}, contact: {lang: ...}}`."""
    raw = raw if isinstance(raw, dict) else {}
    return Agency(text(raw.get("name")), text(raw.get("contact")))


def agencies(raw: Any, text: TextOf) -> tuple[tuple[str, Agency], ...]:
    """A mapping of id (a bureau id, a jurisdiction code) to agency, sorted by id for the hash."""
    if not isinstance(raw, dict):
        return ()
    return tuple((str(key), agency(value, text)) for key, value in sorted(raw.items()))


def bureau_reporting(raw: Any) -> BureauReporting | None:
    """`metadata.reports_to_bureau: {bureau: ID, warning: true, notice_days: N}`."""
    if not isinstance(raw, dict) or "bureau" not in raw:
        return None
    return BureauReporting(
        bureau=str(raw["bureau"]),
        warning=bool(raw.get("warning", False)),
        notice_days=int(raw.get("notice_days", 0)),
    )


def key_factors(raw: Any, text: TextOf, path: Path) -> KeyFactors | None:
    """A score fact's `key_factors: {fact: NAME, texts: {CODE: {lang: ...}}}`."""
    if not isinstance(raw, dict) or "fact" not in raw:
        return None
    texts = raw.get("texts") or {}
    return KeyFactors(
        fact=str(raw["fact"]),
        texts=tuple(sorted((str(code), text(words)) for code, words in texts.items())),
        path=(*path, "key_factors"),
    )
