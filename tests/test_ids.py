"""Decision ids and content hashes are the same wherever they are made."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from clearline.engine.audit import writer
from clearline.engine.ids import decision_id, sha256_hex

HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(st.text())
def test_sha256_hex_is_the_standard_digest(text: str) -> None:
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate is not text any record can hold
        return
    assert sha256_hex(text) == hashlib.sha256(data).hexdigest()


@given(HEX64, st.none() | st.text(min_size=1).filter(str.isprintable), st.text(max_size=30), HEX64)
def test_the_writer_process_makes_the_same_decision_ids(
    policy_sha: str, account_id: str | None, as_of: str, input_sha: str
) -> None:
    made = decision_id(policy_sha, account_id, as_of, input_sha)
    assert made == writer.decision_id(policy_sha, account_id, as_of, input_sha)
    assert len(made) == 32 and int(made, 16) >= 0


def test_a_decision_id_changes_with_each_part() -> None:
    base = ("a" * 64, "A1", "2027-03-01T00:00:00Z", "b" * 64)
    ids = {decision_id(*base)}
    for i, other in enumerate(("c" * 64, "A2", "2027-03-01T00:00:01Z", "d" * 64)):
        parts = list(base)
        parts[i] = other
        ids.add(decision_id(*parts))
    assert len(ids) == 5
