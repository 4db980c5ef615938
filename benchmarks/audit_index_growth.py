"""Pages an append writes as an audit log grows, with its lookup indexes per block or whole.

    python -m benchmarks.audit_index_growth [--records N] [--every N] [--block N]

SQLite and the writer's own code, in this one process: batches of 10,000 records are chained
and inserted by `BatchWriter` (as the writer process does) into a log whose lookup indexes are
kept per block of records (`INDEX_BLOCK`, what Clearline makes) or, for comparison, cover the
whole log (what it made before). The rows are those of real decisions of the shipped policy
with full trace, each batch given new random decision ids and its own accounts. After each
batch a PASSIVE checkpoint reports how many pages of the write-ahead log the batch wrote: a
count that does not move with the machine's speed, unlike the CPU time shown beside it. At the
end, the time `AuditLog.get` takes to find a record by its decision id in each log (`--block`
sets the records per block, to see lookups over as many blocks as a far larger log has).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from clearline.engine import AuditLog
from clearline.engine.audit import log as audit
from clearline.engine.audit.log import decision_rows
from clearline.engine.audit.writer import BatchWriter, WireRow, with_ids
from clearline.engine.decisions.record_layout import RecordTemplate

from .audit_append import fresh_decisions

BATCH = 10_000
LAYOUTS = ("per block", "whole log")


def base_rows() -> tuple[list[WireRow], list[tuple[str, str]]]:
    """A batch of real decision rows (with their ids) and the record templates they name."""
    templates: dict[str, RecordTemplate] = {}
    rows = decision_rows(fresh_decisions(BATCH, 1), "salt", "2027-02-01T00:00:00Z", templates)
    return with_ids(rows), [(sha, template.text) for sha, template in templates.items()]


def grow(layout: str, records: int, every: int, folder: Path) -> tuple[Path, list[str]]:
    """Append batches into a new log of this index layout; print a line every `every` records.
    The log's path and the first decision id of each batch."""
    path = folder / f"{layout.replace(' ', '-')}.db"
    with AuditLog(path) as log:
        genesis = log.genesis
    db = sqlite3.connect(path, isolation_level=None)
    if layout == "whole log":
        for column in ("record_id", "account_id"):
            db.execute(f"DROP INDEX records_{column}")
            db.execute(f"CREATE INDEX records_{column} ON records ({column})")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -65536")  # as the writer process
    db.execute("PRAGMA wal_autocheckpoint = 0")
    writer = BatchWriter(db, genesis)
    rows, templates = base_rows()
    ids = random.Random(1)
    pages: list[int] = []
    probes: list[str] = []
    cpu = 0.0
    for start in range(0, records, BATCH):
        batch = [
            (row[0], ids.randbytes(16).hex(), f"B{start // BATCH}-{n:07d}", *row[3:])
            for n, row in enumerate(rows[: min(BATCH, records - start)])
        ]
        probes.append(batch[0][1])
        began = time.thread_time()
        writer.begin()
        writer.write(batch, templates if start == 0 else [])
        writer.commit()
        cpu += time.thread_time() - began
        pages.append(int(db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]))
        done = start + len(batch)
        if done % every == 0 or done >= records:
            span = (done - 1) % every + 1
            per_batch = sum(pages) / len(pages)
            print(
                f"{layout:<11}{done:>11,}{per_batch:>12,.0f}{per_batch * 65_536 / 1e6:>10,.1f}"
                f"{cpu / span * 1e6:>11.1f}"
            )
            sys.stdout.flush()
            pages, cpu = [], 0.0
    db.close()
    return path, probes


def lookup_ms(path: Path, probes: list[str]) -> tuple[float, int | None]:
    """Milliseconds per `AuditLog.get` of a decision id, and the log's records per block."""
    with AuditLog(path) as log:
        began = time.perf_counter()
        for record_id in probes:
            if len(log.get(record_id)) != 1:
                raise AssertionError(f"{path.name}: {record_id} not found once")
        return (time.perf_counter() - began) / len(probes) * 1e3, log.index_block


def main(argv: list[str] | None = None) -> int:
    """Print the pages per batch and CPU per record of both index layouts as a log grows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records per log")
    parser.add_argument("--every", type=int, default=100_000, help="records per line")
    parser.add_argument(
        "--block", type=int, default=audit.INDEX_BLOCK, help="records per index block"
    )
    args = parser.parse_args(argv)
    if args.records < 1 or args.every < BATCH or args.every % BATCH or args.block < 1:
        parser.error(f"--records and --block must be positive and --every a multiple of {BATCH:,}")
    audit.INDEX_BLOCK = args.block  # the per-block log is made with it
    print(f"batches of {BATCH:,} into one log; lookup indexes per block of {args.block:,} or whole")
    print(f"{'indexes':<11}{'log holds':>11}{'WAL pages':>12}{'MB/batch':>10}{'µs/record':>11}")
    with tempfile.TemporaryDirectory() as folder:
        logs = {layout: grow(layout, args.records, args.every, Path(folder)) for layout in LAYOUTS}
        for layout, (path, probes) in logs.items():
            ms, block = lookup_ms(path, probes)
            blocks = "" if block is None else f" over {args.records // block + 1:,} blocks"
            print(f"{layout}: a lookup by decision id takes {ms:.2f} ms{blocks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
