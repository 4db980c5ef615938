"""Walking the audit log's hash chain: the first record altered, deleted, inserted or moved."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from clearline.engine.audit.entries import AuditRecord, content_text, foreign_value
from clearline.engine.audit.lookups import LogReader
from clearline.engine.audit.merkle import Frontier, leaf_hash
from clearline.engine.audit.schema import AuditError, foreign_objects
from clearline.engine.audit.writer import COLUMNS, chain_hash
from clearline.engine.canonical import sha256_hex


@dataclass(frozen=True)
class Problem:
    """The first place the chain breaks."""

    seq: int
    kind: str  # altered, deleted, inserted, reordered, truncated, extended
    message: str


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain."""

    count: int
    head: str
    problem: Problem | None
    # the Merkle tree's leaves: the hashes of the records walked, valid or not
    leaves: list[bytes] = field(default_factory=list, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the whole chain holds."""
        return self.problem is None


class ChainVerifier(LogReader):
    """Verification of an open audit log's chain and head."""

    def verify(self) -> Verification:
        """Check the file (SQLite's integrity check, schema objects, `meta`), walk the chain
        from the first record, then the Merkle tree and the lookups: the first that fails."""
        damage = self._db.execute("PRAGMA integrity_check(20)").fetchall()
        if [row[0] for row in damage] != ["ok"]:
            lines = "; ".join(str(row[0]) for row in damage)
            return Verification(
                0, self.genesis, Problem(0, "damaged", f"the file is damaged: {lines}")
            )
        foreign = foreign_objects(self._db)
        if foreign:
            message = f"the log holds schema objects Clearline did not make: {', '.join(foreign)}"
            return Verification(0, self.genesis, Problem(0, "foreign", message))
        leaves: list[bytes] = []
        result = self._walk(leaves)
        result = Verification(result.count, result.head, result.problem, leaves)
        if result.problem is None:
            problem = self._check_tree(leaves) or self._check_lookups(result.count)
            if problem is not None:
                return Verification(result.count, result.head, problem, leaves)
        return result

    def _check_tree(self, leaves: list[bytes]) -> Problem | None:
        """The tree's right edge the log keeps (meta `tree`) against its records."""
        found = self._db.execute("SELECT value FROM meta WHERE key = 'tree'").fetchone()
        if found is None:
            return None  # a log of format 2, not upgraded yet: it has no tree
        try:
            kept = Frontier.from_text(str(found[0]))
        except ValueError:
            return Problem(0, "altered", "table meta, key 'tree': not a tree edge")
        tree = Frontier()
        for leaf in leaves:
            tree.append(leaf)
        if kept.size != tree.size or kept.root() != tree.root():
            return Problem(
                min(kept.size, tree.size) + 1 if kept.size != tree.size else tree.size,
                "altered",
                f"the log's Merkle tree (table meta, key 'tree': {kept.size} records) does not "
                f"match its {tree.size} records",
            )
        return None

    def _check_lookups(self, count: int) -> Problem | None:
        """Whether lookups by id find the records the chain holds (up to 1,000 spread over the
        log: a damaged index answers 'no record' for a record that is there)."""
        step = max(1, count // 1000)
        # through the id index itself (an id may repeat: the same decision recorded again)
        block = self.index_block
        where = (
            f"seq / {block} = ? AND record_id = ?" if block else "? IS NOT NULL AND record_id = ?"
        )
        lookup = f"SELECT seq FROM records INDEXED BY records_record_id WHERE {where}"
        for seq in range(1, count + 1, step):
            record = self.at(seq)
            try:
                rows = (
                    self._db.execute(lookup, (seq // (block or 1), record.record_id))
                    if record is not None
                    else ()
                )
                hit = any(row[0] == seq for row in rows)
            except sqlite3.OperationalError:  # the index is gone
                hit = False
            if not hit:
                return Problem(
                    seq,
                    "index",
                    f"record {seq} is not found by its id: the lookup index is damaged "
                    "(`clearline audit reindex` rebuilds it)",
                )
        return None

    def _walk(self, leaves: list[bytes]) -> Verification:
        """Walk the chain from the first record; report the first that does not hold."""
        expected = 1
        prev = self.genesis
        count = 0
        intact = {
            sha
            for sha, text in self._db.execute("SELECT sha256, text FROM templates")
            if sha256_hex(str(text)) == sha
        }
        cursor = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM records ORDER BY seq")
        for row in cursor:
            foreign = foreign_value(row)
            if foreign is not None:
                return Verification(count, prev, Problem(int(row[0]), "altered", foreign))
            record = AuditRecord(*row)
            try:
                leaves.append(leaf_hash(bytes.fromhex(record.hash)))
            except ValueError:
                leaves.append(leaf_hash(record.hash.encode()))
            problem = self._check(record, expected, prev)
            if problem is None and record.template is not None and record.template not in intact:
                problem = self._broken_template(record)
            if problem is not None:
                return Verification(count, prev, problem)
            prev = record.hash
            expected += 1
            count += 1
        try:
            head_seq, head_hash = self.head()
        except AuditError as exc:
            message = str(exc).removeprefix(f"{self.path}: ")
            return Verification(count, prev, Problem(count + 1, "altered", message))
        if head_seq > count:
            problem = Problem(
                count + 1,
                "truncated",
                f"records {count + 1} to {head_seq} were deleted: the log's head says "
                f"{head_seq} records, the chain ends at {count}",
            )
            return Verification(count, prev, problem)
        if head_seq < count or (count and head_hash != prev):
            problem = Problem(
                head_seq + 1 if head_seq < count else count,
                "extended" if head_seq < count else "altered",
                f"the chain ends at record {count} with hash {prev[:16]}…, but the log's head "
                f"says record {head_seq} with hash {head_hash[:16]}…: records were added or "
                "rewritten after the last append",
            )
            return Verification(count, prev, problem)
        return Verification(count, prev, None)

    def _broken_template(self, record: AuditRecord) -> Problem:
        """The record template a record names is missing, or was altered."""
        sha = str(record.template)
        found = self._db.execute("SELECT 1 FROM templates WHERE sha256 = ?", (sha,)).fetchone()
        what = "was altered: its text does not match its hash" if found else "is missing"
        return Problem(
            record.seq,
            "altered",
            f"record {record.seq} (id {record.record_id}): its record template {sha[:16]}… {what}",
        )

    def _check(self, record: AuditRecord, expected: int, prev: str) -> Problem | None:
        seq = record.seq
        if seq != expected:
            return Problem(
                expected,
                "deleted",
                f"record {expected} is missing"
                + (f" (and up to {seq - 1})" if seq - 1 > expected else "")
                + f": the next record is {seq}",
            )
        content = content_text(record)
        if chain_hash(seq, record.prev_hash, content) != record.hash:
            return self._misplaced(record, content, prev)
        if record.prev_hash != prev and seq == 1:
            return Problem(
                1,
                "altered",
                "record 1 does not chain to this log's genesis: the log's id or redaction "
                "salt (table meta) was altered",
            )
        if record.prev_hash != prev:
            return Problem(
                seq - 1,
                "altered",
                f"record {seq - 1} was altered: record {seq} chains to a different hash "
                f"({record.prev_hash[:16]}…) than record {seq - 1} now has ({prev[:16]}…)",
            )
        return None

    def _misplaced(self, record: AuditRecord, content: str, prev: str) -> Problem:
        """A row whose hash does not match: altered in place, or moved from elsewhere."""
        seq = record.seq
        where = f"record {seq} (id {record.record_id})"
        altered = Problem(
            seq, "altered", f"{where} was altered: its content does not match its hash"
        )
        if record.prev_hash == prev:
            return altered
        # The row does not follow its predecessor: find the position its hash was made for.
        candidates = [seq + 1, seq - 1]
        if record.prev_hash == self.genesis:
            candidates.insert(0, 1)
        found = self._db.execute(
            "SELECT seq FROM records WHERE hash = ? LIMIT 1", (record.prev_hash,)
        ).fetchone()
        if found:
            candidates.insert(0, found[0] + 1)
        origin = next(
            (
                s
                for s in candidates
                if s > 0 and chain_hash(s, record.prev_hash, content) == record.hash
            ),
            None,
        )
        if origin is None:
            return altered
        if origin == seq - 1:
            return Problem(
                seq - 1,
                "inserted",
                f"record {seq - 1} was inserted: {where} holds what was record {origin}",
            )
        if origin > seq:
            return Problem(
                seq,
                "moved",
                f"{where} holds what was record {origin}: a record was deleted before it, or "
                "records were reordered",
            )
        return Problem(
            seq,
            "moved",
            f"{where} holds what was record {origin}: records were inserted before it, or "
            "reordered",
        )
