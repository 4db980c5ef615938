"""Compile a policy model into one SQL expression tree (SQLGlot), printed for DuckDB or Spark.

The second back end of the typed model (beside `decisions.compile`): it reads the model, never
YAML, and builds SQLGlot nodes; every literal from the policy (thresholds, fact names, rule ids,
codes) is a literal node the library escapes, never text pasted into SQL. The fixed skeletons
are parsed once from constant text and their `:placeholders` filled with those nodes.

Semantics, held equal to the native engine by a differential test:
- a missing fact is SQL NULL; SQL's three-valued AND / OR / NOT is the engine's Kleene logic, so
  a comparison on a missing fact is unknown, `not unknown` is unknown and a rule fires only when
  its condition IS TRUE, exactly as `traced3`;
- the input is validated against the fact schema first: a value of the wrong type or out of
  bounds (F003), a missing required fact (F002) or a value in an undeclared column (F001) makes
  an errors row, and the account gets no decision (as `decide` raises FactError);
- exemptions lengthen notice or lighten the action of a fired rule; reasons are ranked by
  (precedence of the action, limit factor, file order), the missing-facts review among them;
- the timeline dates are constants per (deciding reason, extra notice days): the moment is one
  per batch, so they come from the native `timeline_for` (business calendars included).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from clearline.engine.batch import input_values
from clearline.engine.canonical import policy_sha256
from clearline.engine.decisions.grace import timeline_for
from clearline.engine.facts import EARLIEST_DATE, LATEST_DATE, coerce
from clearline.engine.model import (
    MISSING_FACTS_REASON,
    ActionKind,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Fact,
    FactRef,
    FactType,
    MissingMode,
    Not,
    Operator,
    Policy,
    comparisons,
)

DIALECTS = ("duckdb", "spark")
ACCOUNT_ID = "account_id"

# What an input column holds, as the runner reads it; `text` is a CSV cell (spelt as JSON would).
# `json` is a JSONL column of mixed JSON types, judged row by row (`input_values`).
SOURCE_KINDS = (
    "integer",
    "number",
    "boolean",
    "string",
    "date",
    "datetime",
    "text",
    "json",
    "other",
)

_SQL_TYPES = {
    FactType.INTEGER: "BIGINT",
    FactType.NUMBER: "DOUBLE",
    FactType.BOOLEAN: "BOOLEAN",
    FactType.ENUM: "VARCHAR",
    FactType.STRING: "VARCHAR",
    FactType.DATE: "DATE",
    FactType.DATETIME: "TIMESTAMPTZ",
}
_COMPARE = {
    Operator.EQ: exp.EQ,
    Operator.NE: exp.NEQ,
    Operator.LT: exp.LT,
    Operator.LE: exp.LTE,
    Operator.GT: exp.GT,
    Operator.GE: exp.GTE,
}


def _template(text: str) -> exp.Expr:
    return sqlglot.parse_one(text, read="duckdb")


# Skeletons: constant SQL text with placeholders, filled with nodes built from the model.
_SORTED = _template("LIST_SORT(LIST_FILTER(:entries, x -> x IS NOT NULL))")
_FIRED = _template("LIST_FILTER(:entries, x -> x IS NOT NULL)")
_FIRST = _template("LIST_MIN(:ranked)")
_REASONS = _template(
    "LIST_TRANSFORM(:sorted, x -> {'rule': x.rule, 'code': x.code, 'action': x.action, "
    "'limit_factor': x.limit_factor})"
)
_PRESENT = _template("LIST_FILTER(:names, x -> x IS NOT NULL)")


def _fill(template: exp.Expr, **nodes: exp.Expr) -> exp.Expr:
    return exp.replace_placeholders(template.copy(), **nodes)


def col(name: str, table: str | None = None) -> exp.Column:
    """A quoted column reference (fact names never reach SQL unquoted)."""
    return exp.column(exp.to_identifier(name, quoted=True), table=table)


def lit(value: Any) -> exp.Expr:
    """A literal node for a policy value; the dialect's printer escapes it."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.cast(exp.Literal.string(repr(value)), "DOUBLE")
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "TIMESTAMPTZ")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))


def _typed_literal(fact: Fact, value: Any) -> exp.Expr:
    typed = coerce(fact.type, value, fact.values)
    if fact.type is FactType.NUMBER:
        typed = float(typed)  # type: ignore[arg-type]
    return lit(typed)


def _struct(**fields: exp.Expr) -> exp.Struct:
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(name), expression=node)
            for name, node in fields.items()
        ]
    )


def _case(pairs: list[tuple[exp.Expr, exp.Expr]], default: exp.Expr) -> exp.Case:
    case = exp.Case()
    for when, then in pairs:
        case = case.when(when, then)
    return case.else_(default)


@dataclass(frozen=True)
class SqlPolicy:
    """The SQL of one policy version for one batch moment: a decisions and an errors query over
    a table (or view) named `accounts`."""

    policy: Policy
    sha256: str
    decisions: exp.Expr
    errors: exp.Expr
    sites: tuple[Comparison, ...]
    # account_id, `_v<i>` (each fact's typed value) and the raw fact columns, for every row
    typed: exp.Expr
    # input columns that are no fact of this policy (a value in one is an F001 error)
    extra_columns: tuple[str, ...] = ()

    def sql(self, dialect: str) -> tuple[str, str]:
        """(decisions SQL, errors SQL) in a dialect of `DIALECTS`."""
        return self.decisions.sql(dialect), self.errors.sql(dialect)


class _Builder:
    def __init__(self, policy: Policy, sources: Mapping[str, str], extra_columns: tuple[str, ...]):
        self.policy = policy
        self.sources = sources
        self.extra_columns = extra_columns
        self.index = {fact.name: i for i, fact in enumerate(policy.facts)}

    # -- validation ----------------------------------------------------------------------------

    def typed(self, fact: Fact) -> exp.Expr:
        """The input column as the fact's SQL type; NULL when absent or not convertible."""
        source = self.sources.get(fact.name, "absent")
        if source == "absent":
            return exp.cast(exp.null(), _SQL_TYPES[fact.type])
        raw = col(fact.name, "src")
        wanted = fact.type.value if fact.type is not FactType.ENUM else "string"
        if source == wanted:
            return raw
        if fact.type is FactType.INTEGER and source == "number":
            return _case([(exp.EQ(this=raw, expression=exp.Floor(this=raw)), exp.TryCast(this=raw, to=exp.DataType.build("BIGINT")))], exp.null())  # fmt: skip
        if fact.type is FactType.NUMBER and source == "integer":
            return exp.cast(raw, "DOUBLE")
        if fact.type in (FactType.DATE, FactType.DATETIME) and source == "string":
            return input_values.dated(fact, raw, _SQL_TYPES[fact.type])
        if source == "text":
            return input_values.from_text(fact, raw, _SQL_TYPES[fact.type])
        if source == "json":
            return input_values.from_json(fact, raw, _SQL_TYPES[fact.type])
        return exp.cast(exp.null(), _SQL_TYPES[fact.type])

    def problems(self, fact: Fact, value: exp.Expr) -> list[tuple[exp.Expr, str, str]]:
        """(condition, code, message) for each way the input can break this fact's schema."""
        source = self.sources.get(fact.name, "absent")
        name = fact.name
        found: list[tuple[exp.Expr, str, str]] = []
        if self.policy.missing_mode(fact) is MissingMode.ERROR:
            raw_missing: exp.Expr = (
                exp.true() if source == "absent" else input_values.missing(source, col(name, "t"))
            )  # fmt: skip
            found.append((raw_missing, "F002", f"required fact `{name}` is missing"))
        if source == "absent":
            return found
        present = exp.not_(exp.Paren(this=input_values.missing(source, col(name, "t"))))
        wrong = exp.and_(present, exp.Is(this=value.copy(), expression=exp.null()))
        found.append((wrong, "F003", f"fact `{name}`: not {_WORDS[fact.type]}"))
        if fact.type is FactType.NUMBER:
            infinity = exp.cast(exp.Literal.string("Infinity"), "DOUBLE")
            finite = exp.and_(
                exp.GT(this=value.copy(), expression=exp.Neg(this=infinity.copy())),
                exp.LT(this=value.copy(), expression=infinity),
            )
            found.append((exp.not_(finite), "F003", f"fact `{name}`: not a finite number"))
        if fact.type is FactType.ENUM:
            members = exp.In(this=value.copy(), expressions=[lit(v) for v in fact.values])
            found.append((exp.not_(members), "F003", f"fact `{name}`: not one of its values"))
        if fact.type is FactType.DATE:
            # the days `decide` reads (facts.EARLIEST_DATE .. LATEST_DATE); a later date would
            # overflow Python's calendar when its deadlines are computed
            outside = exp.not_(exp.Between(this=value.copy(), low=lit(EARLIEST_DATE), high=lit(LATEST_DATE)))  # fmt: skip
            found.append((outside, "F003", f"fact `{name}`: outside the dates Clearline reads"))
        if fact.type is FactType.DATETIME and source == "datetime":
            # a typed date-time has no offset of its own: its days are counted in UTC (a text
            # one is checked on the date it spells, `input_values.dated`)
            first = dt.datetime.combine(EARLIEST_DATE, dt.time(), dt.UTC)
            after = dt.datetime.combine(LATEST_DATE + dt.timedelta(days=1), dt.time(), dt.UTC)
            outside_utc = exp.or_(
                exp.LT(this=value.copy(), expression=lit(first)),
                exp.GTE(this=value.copy(), expression=lit(after)),
            )
            found.append((outside_utc, "F003", f"fact `{name}`: outside the dates Clearline reads"))
        if fact.minimum is not None:
            below = exp.LT(this=value.copy(), expression=_typed_literal(fact, fact.minimum))
            found.append((below, "F003", f"fact `{name}`: below the minimum {fact.minimum}"))
        if fact.maximum is not None:
            above = exp.GT(this=value.copy(), expression=_typed_literal(fact, fact.maximum))
            found.append((above, "F003", f"fact `{name}`: above the maximum {fact.maximum}"))
        return found

    # -- conditions ----------------------------------------------------------------------------

    def var(self, name: str) -> exp.Column:
        return col(f"_v{self.index[name]}")

    def comparison(self, cmp: Comparison) -> exp.Expr:
        fact = self.policy.fact(cmp.fact)
        assert fact is not None
        left = self.var(cmp.fact)
        operand = cmp.operand
        if isinstance(operand, FactRef):
            return _COMPARE[cmp.op](this=left, expression=self.var(operand.fact))
        if cmp.op is Operator.BETWEEN:
            assert isinstance(operand, tuple)
            low, high = (_typed_literal(fact, v) for v in operand)
            return exp.Paren(
                this=exp.and_(
                    exp.GTE(this=left, expression=low), exp.LTE(this=left.copy(), expression=high)
                )
            )
        if cmp.op in (Operator.IN, Operator.NOT_IN):
            assert isinstance(operand, tuple)
            found = exp.In(this=left, expressions=[_typed_literal(fact, v) for v in operand])
            return found if cmp.op is Operator.IN else exp.Paren(this=exp.not_(found))
        return _COMPARE[cmp.op](this=left, expression=_typed_literal(fact, operand))

    def condition(self, condition: Condition, leaf: Any) -> exp.Expr:
        if isinstance(condition, Comparison):
            node: exp.Expr = leaf(condition)
            return node
        if isinstance(condition, Not):
            return exp.Paren(this=exp.not_(self.condition(condition.part, leaf)))
        parts = [self.condition(part, leaf) for part in condition.parts]
        joined = exp.and_(*parts) if isinstance(condition, AllOf) else exp.or_(*parts)
        assert isinstance(condition, (AllOf, AnyOf))
        return exp.Paren(this=joined)


_WORDS = {
    FactType.INTEGER: "an integer",
    FactType.NUMBER: "a number",
    FactType.BOOLEAN: "true or false",
    FactType.ENUM: "one of its values",
    FactType.DATE: "a date (YYYY-MM-DD)",
    FactType.DATETIME: "a date-time with a UTC offset",
    FactType.STRING: "a string",
}


def _is_true(node: exp.Expr) -> exp.Expr:
    return exp.Is(this=exp.Paren(this=node), expression=exp.true())


def compile_sql(
    policy: Policy,
    as_of: dt.datetime,
    sources: Mapping[str, str] | None = None,
    extra_columns: tuple[str, ...] = (),
) -> SqlPolicy:
    """The decisions and errors queries of `policy` at the moment `as_of` (an aware date-time).

    `sources` maps each fact to what its input column holds (`SOURCE_KINDS`, or `absent`);
    by default every fact's column holds its own type. `extra_columns` are input columns that
    are not facts of this policy (besides `account_id`): a value in one is an F001 error.
    """
    sources = dict(sources) if sources is not None else {f.name: _own(f) for f in policy.facts}
    builder = _Builder(policy, sources, extra_columns)
    facts = policy.facts
    sha = policy_sha256(policy)
    account = col(ACCOUNT_ID, "src")
    # -- typed values and problems
    typed_columns = [exp.alias_(account, ACCOUNT_ID)]
    problem_rows: list[tuple[exp.Expr, str, str, str]] = []
    for i, fact in enumerate(facts):
        value = builder.typed(fact)
        typed_columns.append(exp.alias_(value, f"_v{i}", quoted=True))
        for condition, code, message in builder.problems(fact, col(f"_v{i}", "t")):
            problem_rows.append((condition, fact.name, code, message))
    for name in extra_columns:
        present = exp.not_(exp.Is(this=col(name, "t"), expression=exp.null()))
        problem_rows.append((present, name, "F001", f"unknown fact `{name}`"))
    typed_select = exp.select(*typed_columns, *(col(n, "src") for n in extra_columns)).from_(
        exp.alias_(exp.to_table("accounts"), "src")
    )
    # The raw columns stay reachable from the problem conditions through a join-free select.
    checked_src = exp.select(
        *(exp.alias_(c, f"_v{i}", quoted=True) for i, c in enumerate(typed_columns[1:])),
        exp.alias_(account.copy(), ACCOUNT_ID),
        *(col(n, "src") for n in extra_columns),
        *(exp.alias_(col(f.name, "src"), f.name, quoted=True) for f in facts if sources.get(f.name, "absent") != "absent"),
    ).from_(exp.alias_(exp.to_table("accounts"), "src"))  # fmt: skip
    del typed_select
    # For the native engine: a JSON or CSV column as the value `decide` would read (see
    # `input_values.decoded`); a typed column as it is.
    typed_rows = checked_src.copy()
    for i, fact in enumerate(facts):
        source = sources.get(fact.name, "absent")
        if source in ("json", "text"):
            raw = col(fact.name, "src")
            value = input_values.decoded(fact, source, raw, typed_columns[1 + i].this, _SQL_TYPES[fact.type])  # fmt: skip
            typed_rows.set("expressions", [
                exp.alias_(value, fact.name, quoted=True) if e.alias_or_name == fact.name else e
                for e in typed_rows.expressions
            ])  # fmt: skip
    any_problem = exp.or_(*(c for c, *_ in problem_rows)) if problem_rows else exp.false()
    # -- errors query: one row per problem
    error_selects = []
    for condition, name, code, message in problem_rows:
        error_selects.append(
            exp.select(
                exp.alias_(col(ACCOUNT_ID, "t"), ACCOUNT_ID),
                exp.alias_(lit(name), "fact"),
                exp.alias_(lit(code), "code"),
                exp.alias_(lit(message), "message"),
            )
            .from_(exp.alias_(exp.Subquery(this=checked_src.copy()), "t"))
            .where(_for_errors(condition))
        )
    if error_selects:
        errors: exp.Expr = error_selects[0]
        for select in error_selects[1:]:
            errors = exp.union(errors, select, distinct=False)
    else:
        errors = (
            exp.select(
                exp.alias_(exp.cast(exp.null(), "VARCHAR"), ACCOUNT_ID),
                exp.alias_(exp.cast(exp.null(), "VARCHAR"), "fact"),
                exp.alias_(exp.cast(exp.null(), "VARCHAR"), "code"),
                exp.alias_(exp.cast(exp.null(), "VARCHAR"), "message"),
            )
            .from_(exp.to_table("accounts"))
            .where(exp.false())
        )
    # -- decisions
    sites = tuple(cmp for rule in policy.rules for cmp in comparisons(rule.when))
    site_index = {id(cmp): i for i, cmp in enumerate(sites)}
    checks = [builder.comparison(cmp) for cmp in sites]
    check_cols = [col(f"_c{i}") for i in range(len(sites))]
    rule_conditions = [
        builder.condition(rule.when, lambda c: col(f"_c{site_index[id(c)]}"))
        for rule in policy.rules
    ]
    outcome = policy.outcome
    rank = outcome.rank
    tz = zoneinfo.ZoneInfo(policy.metadata.timezone)
    day = as_of.astimezone(tz).date()
    entries: list[exp.Expr] = []
    # Each entry's ranking key when it is fixed by the policy (no exemption changes the action):
    # with every key fixed, the entries are written in rank order and need no sort per row.
    fixed_keys: list[tuple[int, float, int] | None] = []
    timeline_cases: dict[str, list[tuple[exp.Expr, exp.Expr]]] = {
        "notice_date": [],
        "effective": [],
        "cure_until": [],
        "appeal_until": [],
    }
    actions_by_rank = {rank(kind): kind for kind in ActionKind if kind is not ActionKind.NONE}
    for r, rule in enumerate(policy.rules):
        grace = policy.grace_rule(rule.grace)
        exemptions = grace.exemptions if grace is not None else ()
        applies = [_is_true(builder.condition(e.when, builder.comparison)) for e in exemptions]
        own = rank(rule.action.kind)
        downgrades = [
            _case([(a, exp.Literal.number(rank(e.downgrade_to)))], exp.Literal.number(own))
            for a, e in zip(applies, exemptions, strict=True)
            if e.downgrade_to is not None and rank(e.downgrade_to) > own
        ]
        action_rank: exp.Expr = (
            exp.Greatest(this=exp.Literal.number(own), expressions=downgrades)
            if downgrades
            else exp.Literal.number(own)
        )
        extends = [
            _case([(a.copy(), exp.Literal.number(e.extend_notice_days))], exp.Literal.number(0))
            for a, e in zip(applies, exemptions, strict=True)
            if e.extend_notice_days
        ]
        extra: exp.Expr = (
            exp.Greatest(this=exp.Literal.number(0), expressions=extends)
            if extends
            else exp.Literal.number(0)
        )
        action_name = _case(
            [(exp.EQ(this=action_rank.copy(), expression=exp.Literal.number(k)), lit(kind.value))
             for k, kind in actions_by_rank.items()],
            lit(rule.action.kind.value),
        )  # fmt: skip
        factor = rule.action.limit_factor
        reduce_rank = exp.Literal.number(rank(ActionKind.REDUCE_LIMIT))
        is_reduce = exp.EQ(this=action_rank.copy(), expression=reduce_rank)
        factor_key = _case([(is_reduce, lit(float(factor or 1.0)))], lit(1.0))
        factor_out = _case(
            [(is_reduce.copy(), lit(float(factor)) if factor is not None else exp.cast(exp.null(), "DOUBLE"))],
            exp.cast(exp.null(), "DOUBLE"),
        )  # fmt: skip
        entry = _struct(
            k1=action_rank,
            k2=factor_key,
            k3=exp.Literal.number(r),
            rule=lit(rule.id),
            code=lit(rule.reason_code),
            action=action_name,
            limit_factor=factor_out,
            extra=extra,
        )
        entries.append(_case([(_is_true(col(f"_m{r}")), entry)], exp.null()))
        reduces = rule.action.kind is ActionKind.REDUCE_LIMIT
        fixed_keys.append(
            None if downgrades else (own, float(factor or 1.0) if reduces else 1.0, r)
        )
        extras = {0} | {e.extend_notice_days for e in exemptions}
        _timeline_whens(timeline_cases, policy, r, rule.grace, extras, day)
    review_facts = [f for f in facts if policy.missing_mode(f) is MissingMode.REVIEW]
    if review_facts:
        missing = outcome.missing_facts
        any_review_missing = exp.or_(
            *(exp.Is(this=col(f"_v{builder.index[f.name]}"), expression=exp.null()) for f in review_facts)
        )  # fmt: skip
        n = len(policy.rules)
        entry = _struct(
            k1=exp.Literal.number(rank(ActionKind.REVIEW)),
            k2=lit(1.0),
            k3=exp.Literal.number(n),
            rule=lit(MISSING_FACTS_REASON),
            code=lit(missing.review_code),
            action=lit(ActionKind.REVIEW.value),
            limit_factor=exp.cast(exp.null(), "DOUBLE"),
            extra=exp.Literal.number(0),
        )
        entries.append(_case([(any_review_missing, entry)], exp.null()))
        fixed_keys.append((rank(ActionKind.REVIEW), 1.0, n))
        _timeline_whens(timeline_cases, policy, n, missing.review_grace, {0}, day)
    if None not in fixed_keys:
        order = sorted(range(len(entries)), key=lambda i: fixed_keys[i] or (0, 0.0, 0))
        ranked_entries = _fill(_FIRED, entries=exp.Array(expressions=[entries[i] for i in order]))
    else:
        ranked_entries = _fill(_SORTED, entries=exp.Array(expressions=entries))
    # -- the inner select: checked values, checks, matches
    inner = (
        exp.select(
            col(ACCOUNT_ID, "t"),
            *(col(f"_v{i}", "t") for i in range(len(facts))),
        )
        .from_(exp.alias_(exp.Subquery(this=checked_src), "t"))
        .where(exp.not_(exp.Paren(this=_for_errors(any_problem))))
    )
    with_checks = exp.select(
        "*", *(exp.alias_(c, f"_c{i}", quoted=True) for i, c in enumerate(checks))
    ).from_(exp.alias_(exp.Subquery(this=inner), "a"))
    with_matches = exp.select(
        "*", *(exp.alias_(m, f"_m{r}", quoted=True) for r, m in enumerate(rule_conditions))
    ).from_(exp.alias_(exp.Subquery(this=with_checks), "b"))
    ranked = exp.select("*", exp.alias_(ranked_entries, "_ranked")).from_(
        exp.alias_(exp.Subquery(this=with_matches), "d")
    )
    # The deciding reason is the first ranked one, the least (NULL when nothing fired; no
    # index, which Spark's ANSI mode refuses on an empty list).
    ranked = exp.select("*", exp.alias_(_fill(_FIRST, ranked=col("_ranked")), "_top")).from_(
        exp.alias_(exp.Subquery(this=ranked), "r")
    )
    top = col("_top")

    def top_field(name: str) -> exp.Expr:
        return exp.Dot(this=top.copy(), expression=exp.to_identifier(name))

    missing_names = exp.Array(
        expressions=[
            _case([(exp.Is(this=col(f"_v{i}"), expression=exp.null()), lit(f.name))], exp.cast(exp.null(), "VARCHAR"))
            for i, f in enumerate(facts)
        ]
    )  # fmt: skip
    as_of_text = as_of.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    timeline_columns = []
    for name, whens in timeline_cases.items():
        timeline_columns.append(
            exp.alias_(_case(whens, exp.cast(exp.null(), "DATE")), name, quoted=True)
        )
    decisions = exp.select(
        col(ACCOUNT_ID),
        exp.alias_(lit(as_of_text), "as_of"),
        exp.alias_(lit(policy.metadata.id), "policy_id"),
        exp.alias_(lit(policy.metadata.version), "policy_version"),
        exp.alias_(lit(sha), "policy_sha256"),
        # the record's hash of the checked facts is RFC 8785 JSON, which SQL cannot spell
        # faithfully (number forms): NULL here, filled by a native pass (`--input-hashes`)
        exp.alias_(exp.cast(exp.null(), "VARCHAR"), "input_sha256"),
        exp.alias_(exp.Coalesce(this=top_field("action"), expressions=[lit("none")]), "action"),
        exp.alias_(top_field("limit_factor"), "limit_factor"),
        exp.alias_(_fill(_REASONS, sorted=col("_ranked")), "reasons"),
        exp.alias_(_fill(_PRESENT, names=missing_names), "missing_facts"),
        exp.alias_(exp.Array(expressions=[col(f"_m{r}") for r in range(len(policy.rules))]), "rule_matches"),
        exp.alias_(exp.Array(expressions=check_cols), "check_matches"),
        *timeline_columns,
    ).from_(exp.alias_(exp.Subquery(this=ranked), "e"))  # fmt: skip
    return SqlPolicy(policy, sha, decisions, errors, sites, typed_rows, extra_columns)


def _for_errors(condition: exp.Expr) -> exp.Expr:
    """A problem condition as a WHERE clause: unknown (NULL) counts as no problem."""
    return exp.Coalesce(this=exp.Paren(this=condition), expressions=[exp.false()])


def _timeline_whens(
    cases: dict[str, list[tuple[exp.Expr, exp.Expr]]],
    policy: Policy,
    key: int,
    grace_name: str | None,
    extras: set[int],
    day: dt.date,
) -> None:
    """Add the constant dates of one reason (for each extra notice it may carry)."""
    grace = policy.grace_rule(grace_name)
    for extra in sorted(extras):
        timeline = timeline_for(grace, day, extra, policy.metadata.calendar)
        when = exp.and_(
            exp.EQ(
                this=exp.Dot(this=col("_top"), expression=exp.to_identifier("k3")),
                expression=exp.Literal.number(key),
            ),
            exp.EQ(
                this=exp.Dot(this=col("_top"), expression=exp.to_identifier("extra")),
                expression=exp.Literal.number(extra),
            ),
        )
        values = {
            "notice_date": timeline.notice_date,
            "effective": timeline.effective,
            "cure_until": timeline.cure_until,
            "appeal_until": timeline.appeal_until,
        }
        for name, value in values.items():
            node = lit(value) if value is not None else exp.cast(exp.null(), "DATE")
            cases[name].append((when.copy(), node))


def _own(fact: Fact) -> str:
    return "string" if fact.type is FactType.ENUM else fact.type.value
