"""Resolve every comparison of one numeric fact at once, by locating its value among thresholds.

A traced decision needs the result of every comparison. When a fact is compared with several
literals (`days_past_due > 90`, `> 30`, `between 31 and 90`, `> 0`, `between 1 and 30`), its
thresholds cut the number line into cells, and inside one cell every one of those comparisons
has a fixed result. The compiler therefore emits a small binary search over the cells (two tests
for the five comparisons above, instead of seven) whose leaves assign the results as constants.
Cells that hold no valid value (below the fact's minimum, or between two consecutive integers)
are dropped and neighbouring cells with the same results merged, so the search only tells apart
what matters. Only results are precomputed here; the policy's literals still reach the generated
code as constants of the namespace, never as source text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from clearline.engine.conditions import literals, threshold_cuts
from clearline.engine.model import Comparison, Fact, FactType, Operator

_TESTS: dict[Operator, Callable[[Any, Any], bool]] = {
    Operator.EQ: lambda v, t: bool(v == t),
    Operator.NE: lambda v, t: bool(v != t),
    Operator.LT: lambda v, t: bool(v < t),
    Operator.LE: lambda v, t: bool(v <= t),
    Operator.GT: lambda v, t: bool(v > t),
    Operator.GE: lambda v, t: bool(v >= t),
    Operator.BETWEEN: lambda v, t: bool(t[0] <= v <= t[1]),
}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def resolvable(fact: Fact, cmp: Comparison) -> bool:
    """Whether a comparison can be resolved by locating the fact's value among thresholds."""
    if fact.type not in (FactType.INTEGER, FactType.NUMBER) or cmp.op not in _TESTS:
        return False
    values = literals(cmp)
    return bool(values) and all(_number(value) for value in values)


@dataclass(frozen=True)
class _Cell:
    """A run of the number line: from cell `first` to cell `last` (indices, see `_cells`)."""

    first: int
    last: int
    results: tuple[bool, ...]


def _cells(fact: Fact, thresholds: list[Any], sites: Sequence[Comparison]) -> list[_Cell]:
    """The cells that can hold a valid value, neighbours with equal results merged.

    Cell 2i is the open interval just below thresholds[i], cell 2i+1 the point thresholds[i],
    and cell 2n everything above the last threshold.
    """
    n = len(thresholds)
    low, high = fact.minimum, fact.maximum
    integer = fact.type is FactType.INTEGER
    merged: list[_Cell] = []
    for index in range(2 * n + 1):
        if index % 2:
            point = thresholds[index // 2]
            if (low is not None and point < low) or (high is not None and point > high):
                continue
            if integer and point != int(point):
                continue
            sample = Fraction(point)
        else:
            below: Any = thresholds[index // 2 - 1] if index else None
            above: Any = thresholds[index // 2] if index < 2 * n else None
            if above is not None and low is not None and above <= low:
                continue
            if below is not None and high is not None and below >= high:
                continue
            # Every value of an open interval gives the same results; the sample is an exact
            # rational inside it (a float midpoint could round onto a threshold).
            if below is None:
                sample = Fraction(above) - 1
            elif above is None:
                sample = Fraction(below) + 1
            elif integer and math.floor(below) + 1 >= above:
                continue  # no integer lies strictly between the two thresholds
            else:
                sample = (Fraction(below) + Fraction(above)) / 2
        results = tuple(_TESTS[cmp.op](sample, cmp.operand) for cmp in sites)
        if merged and merged[-1].results == results:
            merged[-1] = _Cell(merged[-1].first, index, results)
        else:
            merged.append(_Cell(index, index, results))
    return merged


def locate(
    fact: Fact,
    var: str,
    sites: Sequence[tuple[str, Comparison]],
    constant: Callable[[Any], str],
    indent: str = "    ",
) -> list[str]:
    """Lines that assign every site's local (`c<i>`) the result of its comparison on `var`.

    `constant` names a literal in the generated namespace. The value in `var` must already be
    checked: of the fact's type, within its range, not NaN.
    """
    thresholds: list[Any] = [
        cut.value for cut in threshold_cuts([cmp for _, cmp in sites], fact.name)
    ]
    cells = _cells(fact, thresholds, [cmp for _, cmp in sites])
    if not cells:
        return []  # no valid value at all: let the caller compare as usual
    names = [name for name, _ in sites]
    lines: list[str] = []

    def emit(first: int, last: int, depth: str) -> None:
        if first == last:
            for name, result in zip(names, cells[first].results, strict=True):
                lines.append(f"{depth}{name} = {result}")
            return
        middle = (first + last) // 2
        split = cells[middle].last  # the last cell index on the left of the test
        threshold = constant(thresholds[split // 2])
        test = f"{var} <= {threshold}" if split % 2 else f"{var} < {threshold}"
        lines.append(f"{depth}if {test}:")
        emit(first, middle, depth + "    ")
        lines.append(f"{depth}else:")
        emit(middle + 1, last, depth + "    ")

    emit(0, len(cells) - 1, indent)
    return lines
