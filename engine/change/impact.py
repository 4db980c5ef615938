"""How a change affects customers, and which part of a rule's reach it moves."""

from __future__ import annotations

from enum import StrEnum


class Impact(StrEnum):
    """How a change affects customers."""

    ADVERSE = "adverse"
    FAVOURABLE = "favourable"
    NEUTRAL = "neutral"


class Scope(StrEnum):
    """Which part of a rule's reach a condition change moves."""

    WIDER = "wider"  # more accounts match
    NARROWER = "narrower"  # fewer accounts match
    MIXED = "mixed"  # some newly match, some no longer do
