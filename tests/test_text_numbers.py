"""Numbers as customers read them in rule texts: thousands separators, percentages, Chinese myriads."""

from __future__ import annotations

from decimal import Decimal

from clearline.engine.policy.text_numbers import numbers_in


def test_numbers_are_read_as_written() -> None:
    assert numbers_in("more than 90 days, 3,000 or 2.5") == {
        Decimal(90),
        Decimal(3000),
        Decimal("2.5"),
    }
    assert numbers_in("90% of your limit") == {Decimal(90), Decimal("0.9")}


def test_chinese_myriads_are_multiplied() -> None:
    assert numbers_in("大额转出合计达到20万元或以上") == {Decimal(200_000)}
    assert numbers_in("1.5亿") == {Decimal(150_000_000)}
    assert Decimal(20) not in numbers_in("20万")
