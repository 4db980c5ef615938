"""Record layouts: the static parts of a policy's decision records, rendered once per compiled
policy, so a record is the same bytes as `canonical_json(record_dict(decision))` at a fraction of
the cost.

The audit log writes tens of thousands of traced decisions a second, and building a nested dict
per decision and sorting its keys in `json.dumps` costs several times more than deciding. Most
of a record is static per policy version: rule ids, actions, fact names, operators and
thresholds of the trace, and the policy block. `RecordLayout` renders those once per compiled
policy, in canonical key order:

- every fact value is rendered once per decision (`encode`, generated per policy);
- the trace is a %-format "skeleton" per pattern of comparison and rule results (and missing
  facts), built on first sight and reused: accounts mostly share a few patterns, so a record
  is one `skeleton % values`;
- the inputs object is written by orjson when its values are all of the plain types
  (`plain_facts_json`: a few times faster than any Python rendering), else from each fact's
  encoded value.

Like the compiler, the generated code holds no policy text: fact names are the constants
`F0, F1, ...` of its namespace. A property test holds `to_json()` and
`canonical_json(to_dict())` together byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from typing import Any, Generic, TypeVar, overload

import orjson

from clearline.engine.canonical import canonical_json, jcs_number, sha256_hex, to_json_value
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.model import Comparison, FactRef, FactType
from clearline.engine.version import DECISION_SCHEMA, ENGINE_VERSION

T = TypeVar("T")


class lazy(Generic[T]):
    """A cached property without `functools.cached_property`'s lock.

    Python 3.11 takes a lock on every first access, which cost more than building most values.
    The values are pure, so two threads computing one at once store the same result.
    """

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> lazy[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> T | lazy[T]:
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


BOOL_JSON = {True: "true", False: "false", None: "null"}


def _date(value: dt.date) -> str:
    return '"' + value.isoformat() + '"'


# Fact values reaching a decision are checked (finite numbers, aware date-times); floats are
# written as RFC 8785 (JCS) writes them (`jcs_number`).
_ENCODERS: dict[type, Callable[[Any], str]] = {
    bool: lambda value: "true" if value else "false",
    int: int.__repr__,
    float: jcs_number,
    str: encode_basestring,
    dt.date: _date,
    dt.datetime: _date,
}


def encode_value(value: Any) -> str:
    """Canonical JSON of one fact value (what `canonical_json(to_json_value(v))` gives)."""
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        return canonical_json(to_json_value(value))
    return encoder(value)


def _generate(name: str, signature: str, expression: str, namespace: dict[str, Any]) -> Any:
    source = f"def {name}({signature}):\n    return {expression}\n"
    exec(compile(source, "<clearline record>", "exec"), namespace)
    return namespace[name]


def _encoder_expression(fact_type: FactType, i: int) -> str:
    """Render fact `i` of the generated `encode`; for subclasses of the builtin types this
    gives what json.dumps gives (it, too, uses int.__repr__ and float.__repr__)."""
    value = f"facts[F{i}]"
    if fact_type is FactType.BOOLEAN:
        return f'("true" if {value} else "false")'
    if fact_type is FactType.INTEGER:
        return f"IR({value})"
    if fact_type is FactType.NUMBER:
        return f"(IR(x{i}) if type(x{i} := {value}) is int else FR(x{i}))"
    if fact_type in (FactType.ENUM, FactType.STRING):
        return f"EB({value})"
    return f"'\"' + {value}.isoformat() + '\"'"


# orjson writes the canonical JSON of a facts object (sorted keys, no white space, UTF-8,
# float.__repr__'s digits, integers in full) several times faster than Python code can, with one
# spelling of its own: a non-zero float under 1e-4 in magnitude ("0.00001", "2.5e-7" for
# "1e-05", "2.5e-07"). Such values, NaN and infinities (which it would write as null; a
# decision's facts are finite, but a wrong null must never be written), values of any other
# type, and what orjson refuses (integers beyond 64 bits) take the Python path.
_SMALL_FLOAT = 1e-4
_JCS_PLAIN = 1e16  # repr (and orjson) write floats below this in plain decimals, as JCS does
_PLAIN_TYPES = frozenset({type(None), bool, int, str, dt.date, dt.datetime})
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_dumps = orjson.dumps


def _isoformat(value: Any) -> str:
    """orjson's `default`: dates and date-times as `isoformat()` writes them."""
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"no canonical JSON form for {type(value).__name__}")


def orjson_agrees() -> bool:
    """Whether the installed orjson spells these values as `canonical_json` does.

    Checked once per process: another orjson version may format numbers differently, and then
    every inputs object goes the Python way (slower, the same bytes).
    """
    probe = {
        "floats": [0.1, 2.5, 1e-4, 123456.789, 1234567890123456.8, -0.5],
        "ints": [0, -1, 2**53 + 1, 2**63 - 1, 2**64 - 1, -(2**63)],
        "strings": ["a\x7fb", "\u2028", "\x00\x1f", "é漢", '"\\', "\t\n\r\b\f"],
        "z": [True, False, None, dt.date(999, 1, 2)],
        "a": dt.datetime(2026, 1, 1, 1, 2, 3, 4567, dt.timezone(dt.timedelta(hours=5))),
    }
    try:
        text = _dumps(probe, _isoformat, _ORJSON_OPTIONS).decode()
    except TypeError:
        return False
    return text == canonical_json(to_json_value(probe))


_ORJSON_AGREES = orjson_agrees()


def plain_facts_json(facts: Mapping[str, Any]) -> str | None:
    """The canonical JSON of a facts object whose values are all of the plain types (None,
    bool, int, str, float, date, date-time), written by orjson; None for any other (then
    `canonical_json(inputs)` or the record layout's Python path gives it)."""
    if not _ORJSON_AGREES or type(facts) is not dict:
        return None
    for value in facts.values():
        kind = type(value)
        if kind is float:
            # orjson writes repr's form: JCS's too only for fractions within [1e-4, 1e16)
            if not _SMALL_FLOAT <= abs(value) < _JCS_PLAIN or value.is_integer():
                return None
        elif kind not in _PLAIN_TYPES:
            return None
    try:
        return _dumps(facts, _isoformat, _ORJSON_OPTIONS).decode()
    except TypeError:  # an integer beyond 64 bits
        return None


class RecordLayout:
    """The static parts of one compiled policy's decision records, rendered once."""

    def __init__(self, compiled: CompiledPolicy) -> None:
        policy = compiled.policy
        # The static text of every rule and comparison, rendered once; a skeleton for a new
        # pattern of results is then only concatenation.
        self._rule_text = tuple(
            (
                ('{"action":"' + rule.action.kind.value + '","checks":['),
                ',"rule":' + encode_basestring(rule.id) + "}",
                tuple(
                    _site_text(compiled.sites[index].comparison) for index in compiled.rule_sites[r]
                ),
                compiled.rule_sites[r],
            )
            for r, rule in enumerate(policy.rules)
        )
        self.names = tuple(sorted(fact.name for fact in policy.facts))
        position = {name: i for i, name in enumerate(self.names)}
        types = {fact.name: fact.type for fact in policy.facts}
        namespace: dict[str, Any] = {
            "IR": int.__repr__,
            "FR": jcs_number,
            "EB": encode_basestring,
        }
        parts = []
        for i, name in enumerate(self.names):
            namespace[f"F{i}"] = name
            parts.append(_encoder_expression(types[name], i))
        self._encode = _generate("encode", "facts", f"({', '.join(parts)},)", namespace)
        # Each fact's name and its key in the inputs object, in canonical order.
        self._named_keys = tuple((name, encode_basestring(name) + ":") for name in self.names)
        # The observed values of the trace, in the order they appear in it.
        self._slot_facts: list[int] = []
        for r in range(len(policy.rules)):
            for index in compiled.rule_sites[r]:
                cmp = compiled.sites[index].comparison
                if isinstance(cmp.operand, FactRef):
                    self._slot_facts.append(position[cmp.operand.fact])
                self._slot_facts.append(position[cmp.fact])
        # `render_trace(p, e)`: static chunks p of a skeleton around the observed values.
        joined = [f"p[{n}], e[{i}]" for n, i in enumerate(self._slot_facts)]
        joined.append(f"p[{len(self._slot_facts)}]")
        self._render_trace = _generate(
            "render_trace", "p, e", f"''.join(({', '.join(joined)},))", {}
        )
        self.policy_json = canonical_json(
            {
                "id": policy.metadata.id,
                "version": policy.metadata.version,
                "sha256": compiled.sha256,
            }
        )
        self._skeletons: dict[Any, tuple[str, ...]] = {}
        self._templates: dict[Any, RecordTemplate] = {}
        self.redacted = frozenset(fact.name for fact in policy.facts if fact.redact)
        # Derived values that repeat across a batch (as_of text, reasons, timelines).
        self.memo: dict[Any, Any] = {}
        self.last_as_of: tuple[dt.datetime | None, str] = (None, "")  # the latest as_of text

    def remember(self, key: Any, value: Any) -> Any:
        """Keep a derived value for reuse; the table is bounded so it cannot grow without end."""
        if len(self.memo) > 50_000:
            self.memo.clear()
        self.memo[key] = value
        return value

    def encode(self, facts: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Every fact rendered once (`null` when missing), in canonical order, and the missing."""
        if len(facts) == len(self.names):
            try:
                return self._encode(facts), ()
            except (KeyError, TypeError):  # an unusual value type: the general way
                pass
        encoded = tuple(
            encode_value(facts[name]) if name in facts else "null" for name in self.names
        )
        return encoded, tuple(name for name in self.names if name not in facts)

    def inputs_json(self, facts: Mapping[str, Any]) -> str:
        """The canonical inputs object of a decision's facts (missing ones left out), written
        in Python: the way for what `plain_facts_json` leaves (tiny floats, huge integers)."""
        return (
            "{"
            + ",".join(
                [key + encode_value(facts[name]) for name, key in self._named_keys if name in facts]
            )
            + "}"
        )

    def trace_json(
        self,
        checks: tuple[bool | None, ...],
        matches: tuple[bool | None, ...],
        encoded: tuple[str, ...],
        missing: tuple[str, ...],
    ) -> str:
        """The trace array of a traced decision."""
        key = (checks, matches, missing)
        skeleton = self._skeletons.get(key)
        if skeleton is None:
            if len(self._skeletons) > 4_096:
                self._skeletons.clear()
            skeleton = self._skeletons[key] = self._skeleton(checks, matches, frozenset(missing))
        return self._render_trace(skeleton, encoded)  # type: ignore[no-any-return]

    def template(
        self,
        checks: tuple[bool | None, ...] | None,
        matches: tuple[bool | None, ...] | None,
        missing: tuple[str, ...],
        head: tuple[str, str, str, str, str],
    ) -> RecordTemplate:
        """The template of every record with these results, missing facts and head parts.

        `head` is (action, limit factor, missing facts, reasons, timeline), each as the JSON
        text `Decision.to_json` writes; the template is built on first sight and reused.
        """
        key = (checks, matches, missing, head)
        template = self._templates.get(key)
        if template is not None:
            return template
        action, factor, missing_facts, reasons, timeline = head
        chunks = [
            '{"account_id":',
            ',"action":"' + action + '","as_of":',
            ',"decision_id":',
            ',"engine_version":' + canonical_json(ENGINE_VERSION) + ',"input_sha256":',
        ]
        slots = ["account_id", "as_of", "record_id", "input_sha256"]
        tail = (
            f',"limit_factor":{factor},"missing_facts":{missing_facts},"policy":'
            f'{self.policy_json},"reasons":{reasons},"schema":{canonical_json(DECISION_SCHEMA)}'
            f',"timeline":{timeline},"trace":'
        )
        if checks is None or matches is None:
            chunks.append(tail + "null}")
        else:
            skeleton = self._skeleton(checks, matches, frozenset(missing))
            chunks.append(tail + skeleton[0])
            chunks.extend(skeleton[1:-1])
            chunks.append(skeleton[-1] + "}")
            slots.extend(FACT_SLOT + self.names[i] for i in self._slot_facts)
        if len(self._templates) > 4_096:
            self._templates.clear()
        template = self._templates[key] = RecordTemplate.build(tuple(chunks), tuple(slots))
        return template

    def _skeleton(
        self,
        checks: tuple[bool | None, ...],
        matches: tuple[bool | None, ...],
        missing: frozenset[str],
    ) -> tuple[str, ...]:
        """The static chunks of the trace between its observed values, for one result pattern."""
        chunks: list[str] = []
        text = "["
        for r, (head, tail, sites, indices) in enumerate(self._rule_text):
            text += ("," if r else "") + head
            for n, (fact, facts, op, threshold, fact_ref) in enumerate(sites):
                text += ("," if n else "") + fact
                absent = [name for name in facts if name in missing]
                if absent:
                    text += ',"missing":' + canonical_json(absent)
                text += op + BOOL_JSON[checks[indices[n]]] + threshold
                if fact_ref:
                    chunks.append(text)
                    text = "}"
                chunks.append(text + ',"value":')
                text = "}"
            text += '],"matched":' + BOOL_JSON[matches[r]] + tail
        chunks.append(text + "]")
        return tuple(chunks)


FACT_SLOT = "fact:"


class RecordTemplate:
    """The fixed text of a decision record with slots for the values that vary per record.

    Records that share results, reasons and timeline differ only in their account, moment, ids
    and fact values; the audit log stores such a template once and, per record, only those
    values (its columns and inputs). `render` gives back the record byte for byte. A slot is
    `account_id`, `as_of`, `record_id`, `input_sha256` or `fact:<name>` (a fact of the inputs,
    `null` when absent); `chunks` has one more item than `slots`.
    """

    __slots__ = ("chunks", "sha256", "slots", "text")

    def __init__(self, text: str, chunks: tuple[str, ...], slots: tuple[str, ...]) -> None:
        self.text = text
        self.sha256 = sha256_hex(text)
        self.chunks = chunks
        self.slots = slots

    @classmethod
    def build(cls, chunks: tuple[str, ...], slots: tuple[str, ...]) -> RecordTemplate:
        """A template from its chunks and slots."""
        # canonical_json({"chunks": [...], "slots": [...]}), written out: lists of strings only.
        text = (
            '{"chunks":['
            + ",".join(map(encode_basestring, chunks))
            + '],"slots":['
            + ",".join(map(encode_basestring, slots))
            + "]}"
        )
        return cls(text, chunks, slots)

    @classmethod
    def parse(cls, text: str) -> RecordTemplate:
        """A template from its stored text; ValueError when it is not one."""
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) != {"chunks", "slots"}:
            raise ValueError("not a record template")
        chunks, slots = data["chunks"], data["slots"]
        if (
            not isinstance(chunks, list)
            or not isinstance(slots, list)
            or len(chunks) != len(slots) + 1
            or not all(isinstance(item, str) for item in (*chunks, *slots))
            or not all(slot in _NAMED_SLOTS or slot.startswith(FACT_SLOT) for slot in slots)
        ):
            raise ValueError("not a record template")
        return cls(text, tuple(chunks), tuple(slots))

    def render(self, values: Mapping[str, str | None], facts: Mapping[str, Any]) -> str:
        """The record: the chunks around each slot's JSON value.

        `values` holds the named slots (account_id, as_of, record_id, input_sha256); `facts`
        is the inputs object read back, each value written back canonically.
        """
        parts = [self.chunks[0]]
        for slot, chunk in zip(self.slots, self.chunks[1:], strict=True):
            if slot.startswith(FACT_SLOT):
                name = slot[len(FACT_SLOT) :]
                parts.append(canonical_json(facts[name]) if name in facts else "null")
            else:
                value = values[slot]
                parts.append("null" if value is None else encode_basestring(value))
            parts.append(chunk)
        return "".join(parts)


_NAMED_SLOTS = frozenset(("account_id", "as_of", "record_id", "input_sha256"))


def _site_text(cmp: Comparison) -> tuple[str, tuple[str, ...], str, str, bool]:
    """The static parts of one comparison of the trace, in canonical key order."""
    if isinstance(cmp.operand, FactRef):
        threshold = ',"threshold":{"fact":' + encode_basestring(cmp.operand.fact) + ',"value":'
    else:
        threshold = ',"threshold":' + canonical_json(to_json_value(cmp.operand))
    return (
        '{"fact":' + encode_basestring(cmp.fact),
        tuple(cmp.facts()),
        ',"op":"' + cmp.op.value + '","result":',
        threshold,
        isinstance(cmp.operand, FactRef),
    )


def layout_for(compiled: CompiledPolicy) -> RecordLayout:
    """The record layout of a compiled policy, built on first use and kept with it."""
    # Kept in the compiled policy's own __dict__ (the frozen dataclass allows no attribute
    # assignment, and a weak table lookup per record cost more than the rest of the lookup).
    layout = compiled.__dict__.get("_record_layout")
    if layout is None:  # first use only
        layout = compiled.__dict__["_record_layout"] = RecordLayout(compiled)
    return layout  # type: ignore[no-any-return]
