"""`cells.locate`: resolving a fact's comparisons by locating its value among the thresholds
gives exactly the results of evaluating each comparison, for every valid value."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.engine.decisions.cells import locate
from clearline.engine.model import Comparison, Fact, FactType, Operator, Text

SIMPLE = [Operator.EQ, Operator.NE, Operator.LT, Operator.LE, Operator.GT, Operator.GE]


def direct(op: Operator, value: Any, operand: Any) -> bool:
    if op is Operator.BETWEEN:
        return bool(operand[0] <= value <= operand[1])
    return bool(
        {
            Operator.EQ: value == operand,
            Operator.NE: value != operand,
            Operator.LT: value < operand,
            Operator.LE: value <= operand,
            Operator.GT: value > operand,
            Operator.GE: value >= operand,
        }[op]
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Fact, list[Comparison], list[Any]]:
    integer = draw(st.booleans())
    literal = (
        st.one_of(st.integers(-5, 15), st.sampled_from([2**60, 2**60 + 3]))
        if integer
        else st.sampled_from([-1, 0, 0.5, 1, 2.5, 3, 7.25, 1e300, 1.7e308])
    )
    minimum = draw(st.one_of(st.none(), st.integers(-3, 3)))
    maximum = draw(st.one_of(st.none(), st.integers(8, 12)))
    fact = Fact(
        "x",
        FactType.INTEGER if integer else FactType.NUMBER,
        Text(),
        minimum=minimum,
        maximum=maximum,
    )
    comparisons = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 4)) == 0:
            low, high = sorted((draw(literal), draw(literal)))
            comparisons.append(Comparison("x", Operator.BETWEEN, (low, high)))
        else:
            comparisons.append(Comparison("x", draw(st.sampled_from(SIMPLE)), draw(literal)))
    low = -10 if minimum is None else minimum
    high = 20 if maximum is None else maximum
    values = st.integers(low, high) if integer else st.floats(low, high, allow_nan=False)
    if maximum is None:  # values beyond float precision, near the huge thresholds
        huge = [2**60 + d for d in range(-1, 5)] if integer else [1e300, 1.7e308, 1.79e308]
        values = st.one_of(values, st.sampled_from(huge))
    return fact, comparisons, draw(st.lists(values, min_size=1, max_size=20))


@settings(max_examples=200, deadline=None)
@given(cases())
def test_located_results_equal_direct_comparisons(
    case: tuple[Fact, list[Comparison], list[Any]],
) -> None:
    fact, comparisons, values = case
    namespace: dict[str, Any] = {}

    def constant(value: Any) -> str:
        name = f"L{len(namespace)}"
        namespace[name] = value
        return name

    sites = [(f"c{i}", cmp) for i, cmp in enumerate(comparisons)]
    lines = locate(fact, "v", sites, constant)
    source = "def resolve(v):\n" + "\n".join(lines) + "\n    return ("
    source += "".join(f"c{i}, " for i in range(len(sites))) + ")\n"
    exec(compile(source, "<cells test>", "exec"), namespace)
    for value in values:
        expected = tuple(direct(cmp.op, value, cmp.operand) for cmp in comparisons)
        assert namespace["resolve"](value) == expected, (value, source)


def test_thresholds_beyond_float_precision_are_located_exactly() -> None:
    fact = Fact("x", FactType.INTEGER, Text(), minimum=0)
    big = 2**60  # (big + big + 3) / 2 in floats rounds back onto `big`
    comparisons = [Comparison("x", Operator.GT, big), Comparison("x", Operator.GE, big + 3)]
    namespace: dict[str, Any] = {}

    def constant(value: Any) -> str:
        namespace[f"L{len(namespace)}"] = value
        return f"L{len(namespace) - 1}"

    lines = locate(fact, "v", [(f"c{i}", c) for i, c in enumerate(comparisons)], constant)
    exec("def resolve(v):\n" + "\n".join(lines) + "\n    return c0, c1\n", namespace)
    for value in range(big - 1, big + 5):
        assert namespace["resolve"](value) == (value > big, value >= big + 3)
