"""Who a customer can turn to besides the lender, and the factors behind a score.

Part of the typed model (re-exported by `clearline.engine.model`): regulators and credit
bureaus with their contacts, the lender's duty to warn before it reports to a bureau, and a
score fact's key factors, all read from the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clearline.engine.errors import Path

if TYPE_CHECKING:  # model.py imports this module; Text is only needed for annotations
    from clearline.engine.model import Text


@dataclass(frozen=True)
class KeyFactors:
    """A score's key factors: the input fact listing the provider's factor codes, and their words.

    The fact is a string of codes separated by commas, most important first, as the score
    provider sends them (Reg B 1002.9(b)(2): an insufficient score needs the factors behind it).
    """

    fact: str
    texts: tuple[tuple[str, Text], ...] = ()
    path: Path = field(default=(), compare=False, repr=False)

    def text(self, code: str) -> Text | None:
        """The words of one factor code, if declared."""
        for key, text in self.texts:
            if key == code:
                return text
        return None


def factor_codes(value: object) -> tuple[str, ...]:
    """The factor codes of a key-factors fact's value ("K01, K07" -> ("K01", "K07"))."""
    if not isinstance(value, str):
        return ()
    return tuple(code.strip() for code in value.split(",") if code.strip())


@dataclass(frozen=True)
class Agency:
    """A regulator or a credit bureau a customer can contact: its name and how to reach it."""

    name: Text
    contact: Text


@dataclass(frozen=True)
class BureauReporting:
    """The lender reports adverse actions to a credit bureau, with or without warning first.

    征信业管理条例 art. 15: the person is told before adverse information is reported.
    """

    bureau: str
    warning: bool = False
    notice_days: int = 0  # reported at the earliest this many days after the decision
