"""Canonical JSON and content hashes: the same meaning always gives the same bytes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from enum import Enum
from json.encoder import encode_basestring
from typing import Any

# The one SHA-256 helper lives in the writer module (standard library only), which the audit
# log's writer process runs on its own; re-exported here for the rest of the engine.
from clearline.engine.ids import sha256_hex as sha256_hex
from clearline.engine.model import FactRef, Policy, Text


def to_json_value(value: Any) -> Any:
    """Turn a fact value or a model value into plain JSON data."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite numbers have no canonical JSON form")
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Text):
        return dict(sorted(value.values))
    if isinstance(value, FactRef):
        return {"fact": value.fact}
    if isinstance(value, (tuple, list)):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json_value(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.compare
        }
    raise TypeError(f"no canonical JSON form for {type(value).__name__}")


def is_text(value: str) -> bool:
    """Whether a string can be written as UTF-8 (in JSON, in a record): no lone surrogate."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def jcs_number(value: float) -> str:
    """A float as RFC 8785 (JCS) writes it: ECMAScript's Number.prototype.toString.

    The same shortest round-trip digits as `repr`, laid out by ECMAScript's rules: integers
    without ".0", plain decimals from 1e-6 up to 1e21, "e+N" / "e-N" exponents otherwise.
    """
    if not math.isfinite(value):
        raise ValueError("non-finite numbers have no canonical JSON form")
    if value == 0:
        return "0"  # -0 too
    text = repr(value)
    if 1e-4 <= abs(value) < 1e16:  # repr writes these as plain decimals already
        return text[:-2] if text.endswith(".0") else text
    sign = "-" if text[0] == "-" else ""
    mantissa, _, exponent = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # value = 0.DIGITS × 10^n (ECMAScript's k digits and n)
    if whole != "0":
        n = int(exponent or 0) + len(whole)
    else:  # 0.000DIGITS
        n = int(exponent or 0) - (len(fraction) - len(fraction.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    exp = ("+" if e >= 0 else "-") + str(abs(e))
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + exp


def _jcs(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None or value is True or value is False:
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(jcs_number(value))
    elif isinstance(value, dict):
        keys = [(_key(key), item) for key, item in value.items()]
        # JCS orders keys by their UTF-16 code units; code point order differs only when
        # characters above U+FFFF meet ones from U+E000 to U+FFFF
        if all(key.isascii() for key, _ in keys):
            keys.sort(key=lambda pair: pair[0])
        else:
            keys.sort(key=lambda pair: pair[0].encode("utf-16-be", "surrogatepass"))
        out.append("{")
        for n, (key, item) in enumerate(keys):
            if n:
                out.append(",")
            out.append(encode_basestring(key))
            out.append(":")
            _jcs(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(",")
            _jcs(item, out)
        out.append("]")
    else:
        raise TypeError(f"no canonical JSON form for {type(value).__name__}")


def _key(key: Any) -> str:
    """A mapping key as JSON text names it (as json.dumps does for the scalar types)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return "null" if key is None else "true" if key else "false"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return jcs_number(key)
    raise TypeError(f"keys must be text, not {type(key).__name__}")


def canonical_json(data: Any) -> str:
    """RFC 8785 (JCS) canonical JSON: keys sorted by UTF-16 code units, no insignificant white
    space, ECMAScript number form, no NaN: one spelling per value, which an auditor's own JCS
    implementation recomputes byte for byte (held equal to the `rfc8785` package by a test).

    Integers are written in full; JCS (I-JSON) promises exactness only within ±2**53.
    """
    out: list[str] = []
    _jcs(data, out)
    return "".join(out)


def policy_data(policy: Policy) -> dict[str, Any]:
    """The canonical form of a policy: YAML layout, comments and mapping order do not count.

    Mappings of the source (facts, grace rules, labels, test facts) are sorted by name; lists whose order
    means something (rules rank reasons, precedence, tests) keep their order.
    """
    data = to_json_value(policy)
    data["facts"] = sorted(data["facts"], key=lambda fact: fact["name"])
    data["grace"] = sorted(data["grace"], key=lambda rule: rule["name"])
    data["events"] = sorted(data["events"], key=lambda event: event["name"])
    data["signals"] = sorted(data["signals"], key=lambda signal: signal["name"])
    for fact in data["facts"]:
        fact["value_labels"] = sorted(fact["value_labels"], key=lambda pair: pair[0])
    for test in data["tests"]:
        test["facts"] = sorted(test["facts"], key=lambda pair: pair[0])
    return data  # type: ignore[no-any-return]


def policy_sha256(policy: Policy) -> str:
    """The content hash of a policy version."""
    return sha256_hex(canonical_json(policy_data(policy)))
