"""A batch input column as a fact's typed value, judged row by row as `clearline decide` judges
the same value in a JSON line.

What a column holds (its source) decides how:
- a typed column (Parquet, or a JSONL column whose values all have one JSON type) is read as
  that type by `sql._Builder.typed`;
- `json`: a JSONL column whose rows differ in JSON type (3 beside "ten", an object beside a
  number). It is read as JSON and each row's own JSON type is checked, so the number 3 is an
  integer and "ten" is refused, exactly as `decide` would judge each line;
- `text`: a CSV cell. CSV has no types, so a cell must be spelt as the JSON literal would be
  (3, 2.5, true, 2027-03-01; text without quotes): `3.5` is not an integer (never rounded),
  `yes` or `0x10` is not a boolean or a number, even where SQL casts would take them.

`decoded` is the value the native engine reads for such a column (`SqlPolicy.typed`): the JSON
value itself for `json`, the typed value for `text`, or, for a value the SQL refused, a value
the native engine refuses too, so both engines reject the same rows with the same code.
"""

from __future__ import annotations

from sqlglot import exp

from clearline.engine.facts import EARLIEST_DATE, LATEST_DATE
from clearline.engine.model import Fact, FactType

# A JSON number as RFC 8259 spells it, and one without fraction or exponent.
NUMBER_SHAPE = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
INTEGER_SHAPE = r"^-?(0|[1-9][0-9]*)$"
# A zero spelt as zero: any other number the cast makes 0.0 is an underflow (1e-400), which
# `decide` refuses rather than read as 0.
ZERO_SHAPE = r"^-?0(\.0+)?([eE][+-]?[0-9]+)?$"
DATE_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# The date-times both DuckDB's cast and Python's `fromisoformat` read alike: hours 00-23,
# minutes and seconds 00-59, at most microseconds, an offset of `Z` or +HH:MM. Other spellings
# `decide` may take (week dates, +0800, hour 24 which DuckDB moves to the next day) are refused
# here rather than read differently.
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
DATETIME_SHAPE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]" + _CLOCK + r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
# The days `decide` reads (facts.EARLIEST_DATE .. LATEST_DATE), compared as the text of the date
# in the value's own offset, as `facts.check_calendar_range` compares them.
FIRST_DAY, LAST_DAY = EARLIEST_DATE.isoformat(), LATEST_DATE.isoformat()

# What DuckDB's json_type names a JSON number.
_JSON_INTEGERS = ("BIGINT", "UBIGINT")
_JSON_NUMBERS = ("BIGINT", "UBIGINT", "DOUBLE")


def _type(name: str) -> exp.DataType:
    return exp.DataType.build(name, dialect="duckdb")


def _cast(value: exp.Expr, sql_type: str) -> exp.Expr:
    """TRY_CAST: NULL, never an error, for a value the type cannot hold."""
    return exp.TryCast(this=value.copy(), to=_type(sql_type))


def _matches(value: exp.Expr, pattern: str) -> exp.Expr:
    return exp.RegexpLike(this=value.copy(), expression=exp.Literal.string(pattern))


def _when(pairs: list[tuple[exp.Expr, exp.Expr]], default: exp.Expr | None = None) -> exp.Expr:
    case = exp.Case()
    for condition, then in pairs:
        case = case.when(condition, then)
    return case.else_(default if default is not None else exp.null())


def json_type(raw: exp.Expr) -> exp.Expr:
    """DuckDB's name of a JSON value's type (BIGINT, DOUBLE, VARCHAR, NULL, OBJECT, ...)."""
    return exp.Anonymous(this="JSON_TYPE", expressions=[raw.copy()])


def _json_text(raw: exp.Expr) -> exp.Expr:
    """A JSON string's text (without quotes)."""
    return exp.Anonymous(this="JSON_EXTRACT_STRING", expressions=[raw.copy(), exp.Literal.string("$")])  # fmt: skip


def _is(kind: exp.Expr, names: tuple[str, ...]) -> exp.Expr:
    return exp.In(this=kind.copy(), expressions=[exp.Literal.string(n) for n in names])


def _whole(number: exp.Expr) -> exp.Expr:
    """A DOUBLE that is whole as a BIGINT (3.0 is 3, as `decide` reads it); else NULL."""
    return _when(
        [
            (
                exp.EQ(this=number, expression=exp.Floor(this=number.copy())),
                _cast(number, "BIGINT"),
            )
        ]
    )


def dated(fact: Fact, text: exp.Expr, sql_type: str) -> exp.Expr:
    """A date or date-time text as `decide` reads it (shape and calendar range); else NULL."""
    shape = DATE_SHAPE if fact.type is FactType.DATE else DATETIME_SHAPE
    day = exp.Substring(this=text.copy(), start=exp.Literal.number(1), length=exp.Literal.number(10))  # fmt: skip
    within = exp.Between(
        this=day, low=exp.Literal.string(FIRST_DAY), high=exp.Literal.string(LAST_DAY)
    )
    return _when([(exp.and_(_matches(text.copy(), shape), within), _cast(text, sql_type))])


def _representable(raw: exp.Expr, double: exp.Expr) -> exp.Expr:
    """A number's text that casts to a finite DOUBLE without underflowing to 0 (1e400 and
    1e-400 are no numbers for `decide`, never infinity or 0)."""
    infinity = exp.cast(exp.Literal.string("Infinity"), "DOUBLE")
    finite = exp.LT(this=exp.Abs(this=double.copy()), expression=infinity)
    not_underflow = exp.or_(
        exp.NEQ(this=double.copy(), expression=exp.Literal.number(0)),
        _matches(raw.copy(), ZERO_SHAPE),
    )
    return exp.and_(finite, exp.Paren(this=not_underflow))


def from_json(fact: Fact, raw: exp.Expr, sql_type: str) -> exp.Expr:
    """A JSON column's value as the fact's SQL type, by each row's JSON type; else NULL."""
    kind = json_type(raw)
    t = fact.type
    if t is FactType.INTEGER:
        double = _cast(raw, "DOUBLE")
        return _when(
            [
                (_is(kind, _JSON_INTEGERS), _cast(raw, "BIGINT")),
                (_is(kind, ("DOUBLE",)), _whole(double)),
            ]
        )
    if t is FactType.NUMBER:
        return _when([(_is(kind, _JSON_NUMBERS), _cast(raw, "DOUBLE"))])  # fmt: skip
    if t is FactType.BOOLEAN:
        return _when([(_is(kind, ("BOOLEAN",)), _cast(raw, "BOOLEAN"))])  # fmt: skip
    if t in (FactType.STRING, FactType.ENUM):
        return _when([(_is(kind, ("VARCHAR",)), _json_text(raw))])
    return _when([(_is(kind, ("VARCHAR",)), dated(fact, _json_text(raw), sql_type))])


def from_text(fact: Fact, raw: exp.Expr, sql_type: str) -> exp.Expr:
    """A CSV cell as the fact's SQL type when it is spelt as the JSON literal; else NULL."""
    t = fact.type
    if t is FactType.INTEGER:
        double = _cast(raw, "DOUBLE")
        return _when(
            [
                (_matches(raw, INTEGER_SHAPE), _cast(raw, "BIGINT")),
                (
                    exp.and_(_matches(raw, NUMBER_SHAPE), _representable(raw, double)),
                    _whole(double),
                ),
            ]
        )
    if t is FactType.NUMBER:
        double = _cast(raw, "DOUBLE")
        spelt = exp.and_(_matches(raw, NUMBER_SHAPE), _representable(raw, double))
        return _when([(spelt, double.copy())])
    if t is FactType.BOOLEAN:
        spelt = exp.In(this=raw.copy(), expressions=[exp.Literal.string("true"), exp.Literal.string("false")])  # fmt: skip
        return _when([(spelt, exp.EQ(this=raw.copy(), expression=exp.Literal.string("true")))])
    if t in (FactType.STRING, FactType.ENUM):
        return raw.copy()
    return dated(fact, raw, sql_type)


def missing(source: str, raw: exp.Expr) -> exp.Expr:
    """The raw value is missing: SQL NULL, or a JSON null (which `decide` reads as missing)."""
    is_null = exp.Is(this=raw.copy(), expression=exp.null())
    if source != "json":
        return is_null
    return exp.or_(is_null, exp.EQ(this=json_type(raw), expression=exp.Literal.string("NULL")))


def _union(member: str, value: exp.Expr, layout: exp.DataType) -> exp.Expr:
    assigned = exp.PropertyEQ(this=exp.to_identifier(member), expression=value)
    return exp.cast(exp.Anonymous(this="UNION_VALUE", expressions=[assigned]), layout.copy())


def decoded(fact: Fact, source: str, raw: exp.Expr, value: exp.Expr, sql_type: str) -> exp.Expr:
    """The value the native engine reads for a `json` or `text` column (DuckDB only)."""
    if source == "json":
        # The JSON value itself; an object or array as a one-item list, which no fact type
        # takes, so the native engine refuses it as `decide` refuses the object.
        layout = _type("UNION(i HUGEINT, d DOUBLE, b BOOLEAN, s VARCHAR, other VARCHAR[])")
        kind = json_type(raw)
        return _when(
            [
                (missing(source, raw), exp.null()),
                (
                    _is(kind, _JSON_INTEGERS),
                    _union("i", _cast(raw, "HUGEINT"), layout),
                ),
                (
                    _is(kind, ("DOUBLE",)),
                    _union("d", _cast(raw, "DOUBLE"), layout),
                ),
                (
                    _is(kind, ("BOOLEAN",)),
                    _union("b", _cast(raw, "BOOLEAN"), layout),
                ),
                (_is(kind, ("VARCHAR",)), _union("s", _json_text(raw), layout)),
            ],
            _union("other", exp.Array(expressions=[exp.cast(raw.copy(), "VARCHAR")]), layout),
        )
    if fact.type in (FactType.STRING, FactType.ENUM):
        return raw.copy()
    # A CSV cell: its typed value, or its text when refused (text is no integer, number or
    # boolean, and the refused date spellings are no dates for `decide` either).
    layout = _type(f"UNION(v {sql_type}, refused VARCHAR)")
    return _when(
        [
            (exp.Is(this=raw.copy(), expression=exp.null()), exp.null()),
            (
                exp.not_(exp.Is(this=value.copy(), expression=exp.null())),
                _union("v", value.copy(), layout),
            ),
        ],
        _union("refused", raw.copy(), layout),
    )
