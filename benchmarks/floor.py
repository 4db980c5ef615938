"""The CPython floor: the shipped policy's rules written by hand as one straight-line function.

This is what a team would write without an engine: read each fact once, test each rule, collect
the ids of the rules that fire. It checks no input types and builds no record, so it is the
least work CPython can do for these decisions. It is written for
`policies/credit-line-closure/1.1.0.yaml`; the runner fails if it ever disagrees with Clearline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

POLICY = "credit-line-closure"
VERSION = "1.1.0"


def floor(facts: Mapping[str, Any]) -> list[str]:
    """The ids of the rules that fire for one account with every fact present."""
    days_past_due = facts["days_past_due"]
    credit_score = facts["credit_score"]
    applications = facts["high_apr_applications_7d"]
    since_first_loan = facts["days_since_first_loan"]
    outflow = facts["outflow_to_income_30d"]
    segment = facts["segment"]
    fired = []
    if facts["confirmed_fraud"]:
        fired.append("confirmed-fraud")
    if days_past_due > 90:
        fired.append("severe-delinquency")
    if facts["delinquencies_12m"] >= 3 and days_past_due > 30:
        fired.append("repeated-delinquency")
    if credit_score < 500:
        fired.append("very-low-score")
    if applications >= 2 and since_first_loan <= 60:
        fired.append("credit-seeking-spree")
    if outflow >= 3:
        fired.append("large-abnormal-outflow")
    if facts["high_apr_after_loan"]:
        fired.append("high-apr-after-loan")
    if facts["large_transfers_out_30d"] >= 200000:
        fired.append("large-transfers-out")
    if 31 <= days_past_due <= 90:
        fired.append("serious-delinquency")
    if facts["credit_score_drop_90d"] >= 100:
        fired.append("score-drop")
    if facts["utilisation"] >= 0.9 and days_past_due > 0:
        fired.append("high-utilisation-late")
    if (segment == "gig_worker" or segment == "new_to_credit") and credit_score < 620:
        fired.append("segment-tightening")
    if segment == "new_to_credit" and credit_score < 580:
        fired.append("thin-file-low-score")
    if 2 <= outflow < 3:
        fired.append("outflow-watch")
    if 1 <= days_past_due <= 30:
        fired.append("early-late-payment")
    if facts["days_since_last_draw"] >= 365:
        fired.append("dormant-line")
    if applications == 1 and since_first_loan <= 60:
        fired.append("approaching-spree")
    return fired


# The floor for the same output volume as `clearline decide --audit DB` (run as
# `python -m benchmarks.floor IN.jsonl OUT.jsonl DB TRACE_BYTES`): read each line with orjson,
# decide with `floor`, write a line of the record's fields with the inputs and as many trace
# bytes as Clearline writes (fixed text: the floor computes no trace), and append a hash-chained
# row of the same columns to SQLite, 10,000 rows a transaction. Accounts missing a fact are
# counted, not decided (less work still). What no engine can avoid for this output is here.

ACTIONS = {
    "confirmed-fraud": "close",
    "severe-delinquency": "close",
    "repeated-delinquency": "close",
    "very-low-score": "suspend",
    "credit-seeking-spree": "suspend",
    "large-abnormal-outflow": "suspend",
    "high-apr-after-loan": "suspend",
    "large-transfers-out": "suspend",
    "serious-delinquency": "reduce_limit",
    "score-drop": "reduce_limit",
    "high-utilisation-late": "reduce_limit",
    "segment-tightening": "reduce_limit",
    "thin-file-low-score": "review",
    "outflow-watch": "review",
    "early-late-payment": "notify",
    "dormant-line": "notify",
    "approaching-spree": "notify",
}
BATCH = 10_000


def floor_run(source: str, output: str, database: str, trace_bytes: int, as_of: str) -> int:
    """Decide every account of `source` the floor's way, writing records and audit rows."""
    import hashlib
    import sqlite3

    import orjson

    trace = "[" + "x" * max(trace_bytes - 2, 0) + "]"  # the volume of Clearline's trace
    db = sqlite3.connect(database)
    db.execute(
        "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, record_id TEXT UNIQUE,"
        " account_id TEXT, action TEXT, as_of TEXT, input_sha256 TEXT, inputs TEXT,"
        " prev_hash TEXT, hash TEXT)"
    )
    prev, seq, rows = "0" * 64, 0, []
    sha256, loads, dumps = hashlib.sha256, orjson.loads, orjson.dumps
    with open(source, "rb") as lines, open(output, "w", encoding="utf-8") as out:
        for line in lines:
            account = loads(line)
            facts = account["facts"]
            try:
                fired = floor(facts)
            except KeyError:
                fired = []
            action = ACTIONS[fired[0]] if fired else "none"
            inputs = dumps(facts, option=orjson.OPT_SORT_KEYS).decode()
            input_sha = sha256(inputs.encode()).hexdigest()
            account_id = account.get("account_id")
            record_id = sha256(f"{POLICY}\n{account_id}\n{as_of}\n{input_sha}".encode())
            decision_id = record_id.hexdigest()[:32]
            out.write(
                f'{{"account_id":"{account_id}","action":"{action}","as_of":"{as_of}",'
                f'"decision_id":"{decision_id}","input_sha256":"{input_sha}",'
                f'"inputs":{inputs},"reasons":{dumps(fired).decode()},"trace":{trace}}}\n'
            )
            seq += 1
            content = f"{seq}\n{decision_id}\n{account_id}\n{action}\n{as_of}\n{inputs}"
            chained = sha256((prev + content).encode()).hexdigest()
            rows.append(
                (seq, decision_id, account_id, action, as_of, input_sha, inputs, prev, chained)
            )
            prev = chained
            if len(rows) >= BATCH:
                _insert(db, rows)
                rows = []
        _insert(db, rows)
    db.close()
    return seq


def _insert(db: Any, rows: list[tuple[Any, ...]]) -> None:
    with db:
        db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


if __name__ == "__main__":
    import sys

    floor_run(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
