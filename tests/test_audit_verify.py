"""Verify on real SQLite files: every kind of tampering detected and located, templates
covered, and the chain hash and record contents as documented."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline.engine import (
    Decision,
)
from clearline.engine.audit import writer as audit_writer
from clearline.engine.audit.log import (
    AuditError,
    AuditLog,
    Entry,
)
from clearline.engine.audit.writer import (
    COLUMNS,
    chain_hash,
    contents,
)
from clearline.engine.canonical import canonical_json

from .audit_helpers import (
    tampered,
)

# -- verify: tampering is detected and located ------------------------------------------------


def _changed(column: str, value: object) -> str:
    if column == "inputs":
        return f"replace({column}, ':', ': ')"
    if column == "body":
        return "body || ' '"
    if value is None:
        return "'S9-0000000'"
    return f"{column} || 'x'"


@pytest.mark.parametrize("column", [c for c in COLUMNS if c != "seq"])
def test_tampering_any_column_of_any_record_is_located(
    pristine: Path, tmp_path: Path, column: str
) -> None:
    db = sqlite3.connect(pristine)
    values = dict(db.execute(f"SELECT seq, {column} FROM records").fetchall())
    db.close()
    for seq, value in values.items():
        with tampered(
            pristine,
            tmp_path / "t.db",
            f"UPDATE records SET {column} = {_changed(column, value)} WHERE seq = {seq}",
        ) as log:
            result = log.verify()
        assert result.problem is not None, (column, seq)
        assert result.problem.seq == seq, (column, seq, result.problem)
        assert result.problem.kind == "altered"


def test_renumbering_a_record_is_located(pristine: Path, tmp_path: Path) -> None:
    with tampered(pristine, tmp_path / "t.db", "UPDATE records SET seq = 99 WHERE seq = 4") as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 4


@pytest.mark.parametrize("seq", [1, 3, 4])
def test_deleting_a_record_is_located(pristine: Path, tmp_path: Path, seq: int) -> None:
    with tampered(pristine, tmp_path / "t.db", f"DELETE FROM records WHERE seq = {seq}") as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == seq and problem.kind == "deleted"


def test_deleting_and_renumbering_is_located(pristine: Path, tmp_path: Path) -> None:
    with tampered(
        pristine,
        tmp_path / "t.db",
        "DELETE FROM records WHERE seq = 3",
        "UPDATE records SET seq = seq - 1 WHERE seq > 3",
        "UPDATE meta SET value = '5 ' || (SELECT hash FROM records WHERE seq = 5) "
        "WHERE key = 'head'",
    ) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 3


def test_deleting_the_last_record_is_located(pristine: Path, tmp_path: Path) -> None:
    with tampered(pristine, tmp_path / "t.db", "DELETE FROM records WHERE seq = 6") as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 6 and problem.kind == "truncated"


def _shift_up_from(seq: int) -> list[str]:
    # Renumber from the top so the primary key never collides.
    return [
        f"UPDATE records SET seq = -seq - 1 WHERE seq >= {seq}",
        "UPDATE records SET seq = -seq WHERE seq < 0",
    ]


def test_inserting_a_copy_is_located(pristine: Path, tmp_path: Path) -> None:
    columns = ", ".join(c for c in COLUMNS if c != "seq")
    with tampered(
        pristine,
        tmp_path / "t.db",
        *_shift_up_from(3),
        f"INSERT INTO records (seq, {columns}) SELECT 3, {columns} FROM records WHERE seq = 6",
    ) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 3


def test_inserting_a_forged_record_with_a_valid_hash_is_located(
    pristine: Path, tmp_path: Path
) -> None:
    target = tmp_path / "t.db"
    with tampered(pristine, target, *_shift_up_from(3)) as log:
        before = log.at(2)
        template = log.at(4)  # what was record 3
        assert before is not None and template is not None
    forged = Entry(
        "decision",
        "f" * 32,
        "S9-0000009",
        "none",
        template.policy_id,
        template.policy_version,
        template.policy_sha256,
        template.as_of,
        template.document.replace('"action":', '"action": '),
        template.inputs,
    )
    stored = (*forged[:8], template.recorded_at, None, None, forged.body, forged.inputs)
    content = contents([stored])[0]
    row = (3, *stored, before.hash, chain_hash(3, before.hash, content))
    db = sqlite3.connect(target, isolation_level=None)
    db.execute(f"INSERT INTO records VALUES ({', '.join('?' * len(COLUMNS))})", row)
    db.close()
    with AuditLog(target) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 3 and problem.kind == "inserted"


def test_appending_behind_the_logs_back_is_located(pristine: Path, tmp_path: Path) -> None:
    target = tmp_path / "t.db"
    with tampered(pristine, target) as log:
        last = log.at(6)
        assert last is not None
    entry = Entry("decision", "e" * 32, "S9-1", "none", None, None, None, None, "{}", "{}")
    stored = (*entry[:8], last.recorded_at, None, None, "{}", "{}")
    row = (7, *stored, last.hash, chain_hash(7, last.hash, contents([stored])[0]))
    db = sqlite3.connect(target, isolation_level=None)
    db.execute(f"INSERT INTO records VALUES ({', '.join('?' * len(COLUMNS))})", row)
    db.close()
    with AuditLog(target) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 7 and problem.kind == "extended"


@pytest.mark.parametrize(("i", "j"), [(2, 5), (3, 4), (1, 6)])
def test_swapping_two_records_is_located(pristine: Path, tmp_path: Path, i: int, j: int) -> None:
    with tampered(
        pristine,
        tmp_path / "t.db",
        f"UPDATE records SET seq = -1 WHERE seq = {i}",
        f"UPDATE records SET seq = {i} WHERE seq = {j}",
        f"UPDATE records SET seq = {j} WHERE seq = -1",
    ) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == i


def test_changing_the_salt_is_located_at_the_first_record(pristine: Path, tmp_path: Path) -> None:
    with tampered(
        pristine,
        tmp_path / "t.db",
        "UPDATE meta SET value = 'ab' || substr(value, 3) WHERE key = 'salt'",
    ) as log:
        problem = log.verify().problem
    assert problem is not None and problem.seq == 1


def test_templates_are_covered_by_verify(pristine: Path, tmp_path: Path) -> None:
    db = sqlite3.connect(pristine)
    sha, first = db.execute(
        "SELECT template, min(seq) FROM records WHERE template IS NOT NULL "
        "GROUP BY template ORDER BY min(seq) DESC LIMIT 1"
    ).fetchone()
    db.close()
    altered = f"UPDATE templates SET text = text || ' ' WHERE sha256 = '{sha}'"
    with tampered(pristine, tmp_path / "t.db", altered) as log:
        problem = log.verify().problem
        assert problem is not None and problem.seq == first and problem.kind == "altered"
        assert "template" in problem.message and "does not match its hash" in problem.message
        record = log.at(first)
        assert record is not None
        with pytest.raises(AuditError, match="template"):
            _ = record.document
    deleted = f"DELETE FROM templates WHERE sha256 = '{sha}'"
    with tampered(pristine, tmp_path / "t.db", deleted) as log:
        problem = log.verify().problem
        assert problem is not None and problem.seq == first and "is missing" in problem.message


def test_the_chain_hash_is_the_documented_formula(
    tmp_path: Path, decisions: list[Decision]
) -> None:
    """hash = sha256("<seq>\\n<prev_hash>\\n" + content), content = canonical JSON of the header,
    then body and inputs, each after a newline; checked on every stored row."""
    with AuditLog(tmp_path / "a.db") as log:
        log.append(decisions[:20])
        log.append_entries(
            [
                Entry(
                    "case-transition", "c\u00e9-1", 'S\u4e2d"1', None, None, None, None, None, "{}"
                ),
                Entry("x", "y", None, None, None, None, None, None, '{"a": "\\n"}', "{}"),
            ]
        )
        rows = log._db.execute(f"SELECT {', '.join(COLUMNS)} FROM records ORDER BY seq")
        prev = log.genesis
        for row in rows:
            stored = dict(zip(COLUMNS, row, strict=True))
            header = [stored[c] for c in COLUMNS[1:12]]
            header += [len(stored["body"]), len(stored["inputs"])]
            content = canonical_json(header) + "\n" + stored["body"] + "\n" + stored["inputs"]
            expected = hashlib.sha256(f"{stored['seq']}\n{prev}\n{content}".encode()).hexdigest()
            assert stored["prev_hash"] == prev and stored["hash"] == expected
            prev = expected
        assert stored["seq"] == 22


# Any text, lone surrogates included (orjson refuses them: the standard library writes those).
any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12)


@given(
    rows=st.lists(
        st.tuples(*[st.none() | any_text] * 11, any_text, any_text),
        max_size=4,
    )
)
def test_contents_are_the_documented_formula_with_and_without_orjson(
    rows: list[tuple[str | None, ...]],
) -> None:
    def reference(row: tuple[str | None, ...]) -> str:
        header = [*row[:11], len(str(row[11])), len(str(row[12]))]
        # ensure_ascii=False, as canonical_json: json.dumps writes a lone surrogate as it is
        text = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
        return f"{text}\n{row[11]}\n{row[12]}"

    expected = [reference(row) for row in rows]
    assert audit_writer._orjson_dumps is not None  # the declared dependency is used
    assert contents(rows) == expected
    fast, audit_writer._orjson_dumps = audit_writer._orjson_dumps, None
    try:
        assert contents(rows) == expected  # the standard library's way: the same bytes
    finally:
        audit_writer._orjson_dumps = fast
