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

from clearline.engine.model import Fact, FactType

# A JSON number as RFC 8259 spells it, and one without fraction or exponent.
NUMBER_SHAPE = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
INTEGER_SHAPE = r"^-?(0|[1-9][0-9]*)$"
DATE_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATETIME_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+([Zz]|[+-][0-9]{2}:[0-9]{2})$"

# What DuckDB's json_type names a JSON number.
_JSON_INTEGERS = ("BIGINT", "UBIGINT")
_JSON_NUMBERS = ("BIGINT", "UBIGINT", "DOUBLE")


def _type(name: str) -> exp.DataType:
    return exp.DataType.build(name, dialect="duckdb")


def _cast(value: exp.Expr, sql_type: str) -> exp.Expr:
    """TRY_CAST: NULL, never an error, for a value the type cannot hold."""
    return exp.TryCast(this=value.copy(), to=_type(sql_type))


def _matches(value: exp.Expr, pattern: str) -> exp.Expr:
    return exp.RegexpLike(this=value, expression=exp.Literal.string(pattern))


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


def _dated(fact: Fact, text: exp.Expr, sql_type: str) -> exp.Expr:
    shape = DATE_SHAPE if fact.type is FactType.DATE else DATETIME_SHAPE
    return _when([(_matches(text, shape), _cast(text, sql_type))])


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
    return _when([(_is(kind, ("VARCHAR",)), _dated(fact, _json_text(raw), sql_type))])


def from_text(fact: Fact, raw: exp.Expr, sql_type: str) -> exp.Expr:
    """A CSV cell as the fact's SQL type when it is spelt as the JSON literal; else NULL."""
    t = fact.type
    if t is FactType.INTEGER:
        double = _cast(raw, "DOUBLE")
        return _when(
            [
                (_matches(raw, INTEGER_SHAPE), _cast(raw, "BIGINT")),
                (_matches(raw, NUMBER_SHAPE), _whole(double)),
            ]
        )
    if t is FactType.NUMBER:
        return _when([(_matches(raw, NUMBER_SHAPE), _cast(raw, "DOUBLE"))])  # fmt: skip
    if t is FactType.BOOLEAN:
        spelt = exp.In(this=raw.copy(), expressions=[exp.Literal.string("true"), exp.Literal.string("false")])  # fmt: skip
        return _when([(spelt, exp.EQ(this=raw.copy(), expression=exp.Literal.string("true")))])
    if t in (FactType.STRING, FactType.ENUM):
        return raw.copy()
    return _dated(fact, raw, sql_type)


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
