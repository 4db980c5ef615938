"""The benchmark runner: peers' generated encodings decide like Clearline, and the agreement
check stops a run whose engines disagree. No timing is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import audit_append, audit_index_growth, audit_writer_ab, peers
from benchmarks.floor import floor
from benchmarks.run import (
    Engine,
    build_engines,
    check_agreement,
    complete_accounts,
    floor_engine,
    main,
)
from clearline.engine import load_policy, load_policy_text
from clearline.engine.audit import client as writer_client
from clearline.engine.audit import log as audit

from .conftest import ROOT, SHIPPED_V2, small_policy

pytest.importorskip("zen")
pytest.importorskip("regopy")

# Every operator and connective, nested, facts against facts: the generic paths of each encoder.
MIXED_RULES = """\
- {id: late, action: suspend, grace: standard, reason: {code: A}, when: {fact: dpd, between: [31, 90]}}
- {id: either, action: notify, reason: {code: B}, when: {any: [{fact: score, lt: 560}, {fact: tier, eq: bronze}]}}
- {id: neither, action: review, reason: {code: C}, when: {not: {any: [{fact: ratio, ge: 0.8}, {fact: flagged, eq: true}]}}}
- {id: outside, action: notify, reason: {code: D}, when: {all: [{fact: tier, not_in: [gold]}, {not: {fact: dpd, between: [1, 30]}}]}}
- {id: relative, action: notify, reason: {code: E}, when: {fact: dpd, gt: {fact: ratio}}}
- {id: flagged, action: close, grace: standard, reason: {code: F}, when: {all: [{fact: flagged, ne: false}, {fact: score, ge: 300}]}}
"""


PEER_NAMES = [
    "durable-rules",
    "durable-rules-core",
    "zen",
    "zen-precompiled",
    "zen-expressions",
    "zen-expression-list",
    "rego",
]


def test_peers_and_floor_fire_what_clearline_fires_on_the_shipped_policy() -> None:
    policy = load_policy(SHIPPED_V2)
    accounts, _ = complete_accounts(policy, 300, seed=11)
    engines = build_engines(policy)
    assert [e.name for e in engines if e.peer] == PEER_NAMES
    assert check_agreement(engines[0], engines[1:], accounts) == []
    # The sample is worth comparing: most rules fire on some account.
    fired = set().union(*(engines[0].fired(facts) for facts in accounts))
    assert len(fired) >= 10


def test_generated_encodings_cover_any_not_and_fact_references() -> None:
    policy = load_policy_text(small_policy(rules=MIXED_RULES), "mixed.yaml")
    accounts, _ = complete_accounts(policy, 400, seed=3)
    clearline, *others = [
        e for e in build_engines(policy) if e.name not in ("floor", "clearline-record")
    ]
    assert check_agreement(clearline, others, accounts) == []
    fired = set().union(*(clearline.fired(facts) for facts in accounts))
    assert fired == {rule.id for rule in policy.rules}


def test_a_disagreeing_engine_is_caught() -> None:
    policy = load_policy(SHIPPED_V2)
    accounts, _ = complete_accounts(policy, 300, seed=11)
    reference = build_engines(policy, ["clearline"])[0]

    def wrong_floor(facts: dict[str, object]) -> frozenset[str]:
        return frozenset(floor(facts)) - {"early-late-payment"}  # forgets one rule

    wrong = Engine("wrong-floor", "a floor that forgets a rule", wrong_floor, lambda _: None)
    found = check_agreement(reference, [floor_engine(), wrong], accounts)
    assert found, "the sample must contain an early late payment"
    assert {d.engine for d in found} == {"wrong-floor"}
    assert all(d.expected - d.got == {"early-late-payment"} for d in found)
    assert "wrong-floor disagrees on account" in str(found[0])


def test_rego_spells_between_as_two_tests_and_not_as_a_helper_rule() -> None:
    policy = load_policy_text(small_policy(rules=MIXED_RULES), "mixed.yaml")
    module = peers.rego_module(policy)
    assert 'input["dpd"] >= 31; input["dpd"] <= 90' in module
    assert 'fired contains "neither" if { c' in module


def test_the_durable_rules_core_keeps_no_account_between_two_decisions() -> None:
    policy = load_policy_text(small_policy(rules=MIXED_RULES), "mixed.yaml")
    accounts, _ = complete_accounts(policy, 200, seed=5)
    core = peers.DurableCore(policy)
    reference = build_engines(policy, ["clearline"])[0]
    for facts in accounts:
        assert core.fired(facts) == reference.fired(facts)
        assert core.stored_facts() == []  # retracted by sid and id alone
    # The C core reads the very ruleset durable.lang defines: rule r<i> per policy rule.
    definition = peers.durable_definition(policy)
    assert list(definition) == [f"r{r}" for r in range(len(policy.rules))]
    assert all("run" not in rule for rule in definition.values())


def test_zen_compiled_expressions_read_the_policy_once() -> None:
    policy = load_policy_text(small_policy(rules=MIXED_RULES), "mixed.yaml")
    listed = peers.zen_expression_list(policy)
    assert listed.startswith("[dpd >= 31 and dpd <= 90, ")
    assert listed.count(", (") >= 1 and listed.endswith("]")
    # Each per-rule expression gets only the facts it reads: a fact-to-fact rule gets both.
    fired = peers.zen_expressions_engine(policy)
    account = {"dpd": 45, "ratio": 0.5, "score": 700, "tier": "silver", "flagged": False}
    assert fired(account) == {"late", "neither", "outside", "relative"}
    assert peers.zen_expression_list_engine(policy)(account) == fired(account)


BATCH = {
    "title": "Batch engines",
    "when": "2026-12-07T18:22:34+00:00",
    "rows": [
        {"engine": "duckdb (batch, Parquet to Parquet)", "accounts": 1000000, "cpu_s": 2.0,
         "wall_s": 4.0, "cpu_s_per_million": 2.0, "note": ""},
        {"engine": "native (decide --no-trace, JSONL)", "accounts": 1000000, "cpu_s": 60.0,
         "wall_s": 120.0, "cpu_s_per_million": 60.0, "note": ""},
    ],
}  # fmt: skip


def test_the_runner_writes_its_results(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(BATCH))
    command = [sys.executable, "-m", "benchmarks.run", "--accounts", "60", "--repeats", "1"]
    command += ["--no-memory", "--output", str(output), "--batch-results", str(batch)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "| Clearline, full trace |" in done.stdout
    result = json.loads(output.read_text())
    assert [row["engine"] for row in result["engines"]] == [
        "clearline",
        "clearline-no-trace",
        "clearline-record",
        "floor",
        *PEER_NAMES,
    ]
    assert {row["vs_floor"] for row in result["engines"] if row["engine"] == "floor"} == {1.0}
    assert result["machine"]["python"].startswith("CPython")
    assert result["command"].startswith("python -m benchmarks.run --accounts 60")

    # One typical and one best configuration per peer; the best is the family's fastest.
    peer_rows = [row for row in result["engines"] if row["family"]]
    for family in ("durable_rules", "GoRules Zen", "Rego (regopy)"):
        rows = [row for row in peer_rows if row["family"] == family]
        assert sum("typical" in row["setup"] for row in rows) == 1
        (best,) = [row for row in rows if "best" in row["setup"]]
        assert best["us_per_decision"] == min(row["us_per_decision"] for row in rows)

    # The per-million table: in-process rows from this run, batch rows from the batch file.
    table = result["comparison"]["rows"]
    by_configuration = {row["configuration"]: row for row in table}
    duckdb = by_configuration["DuckDB, clearline batch (Parquet to Parquet)"]
    assert duckdb["CPU s per 1,000,000 accounts"] == 2.0
    assert "2026-12-07T18:22:34" in duckdb["measured"]
    spark = by_configuration["Spark local[2], clearline batch"]
    assert spark["CPU s per 1,000,000 accounts"] == ""
    assert spark["measured"] == "not measured: python -m benchmarks.batch --spark"
    for row in peer_rows:
        assert by_configuration[row["label"]]["µs CPU per account"] == round(
            row["us_per_decision"], 2
        )
    (target,) = [t for t in result["targets"] if t["target"].startswith("DuckDB")]
    fastest = min(row["us_per_decision"] for row in peer_rows if "best" in row["setup"])
    assert target["measured"] == round(round(fastest, 2) / 2.0, 1)
    assert target["met"] == (target["measured"] >= 10)
    assert len(result["targets"]) == 4

    # A new batch run: only the table and the DuckDB target are rebuilt.
    batch.write_text(json.dumps({**BATCH, "rows": BATCH["rows"][1:]}))
    assert (
        main(["--refresh-comparison", "--output", str(output), "--batch-results", str(batch)]) == 0
    )
    refreshed = json.loads(output.read_text())
    assert refreshed["engines"] == result["engines"]
    assert len(refreshed["targets"]) == 3
    duckdb = next(
        r for r in refreshed["comparison"]["rows"] if r["configuration"].startswith("DuckDB")
    )
    assert duckdb["measured"] == "not measured: python -m benchmarks.batch"


def test_memory_is_measured_in_a_child(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--memory-of", "floor", "--accounts", "50"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["peak_rss_mib"] > 0
    assert figures["rss_growth_mib"] >= 0


def test_the_append_benchmark_grows_one_log(capsys: pytest.CaptureFixture[str]) -> None:
    assert audit_append.main(["--grow", "12000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == [
        "appended",
        "records/s",
        "cpu",
        "µs/rec",
        "writer",
        "µs/rec",
        "ref",
        "µs",
        "file",
        "MB",
    ]
    holds, rate, cpu, writer, *_ = lines[2].split()
    assert holds == "12,000" and float(rate.replace(",", "")) > 0
    assert float(cpu) > 0 and float(writer) > 0  # the second batch, of 2,000, goes to the writer
    assert len(lines) == 3
    with pytest.raises(SystemExit) as refused:
        audit_append.main(["--grow", "0"])
    assert refused.value.code == 2
    assert "--grow needs a positive number" in capsys.readouterr().err


def test_the_index_growth_benchmark_counts_wal_pages_and_looks_up(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "INDEX_BLOCK", audit.INDEX_BLOCK)  # restored after the run
    assert audit_index_growth.main(["--records", "20000", "--every", "10000", "--block", "7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("lookup indexes per block of 7 or whole")
    rows = [line.rsplit(None, 4) for line in lines[2:6]]
    assert [(row[0], row[1]) for row in rows] == [
        ("per block", "10,000"),
        ("per block", "20,000"),
        ("whole log", "10,000"),
        ("whole log", "20,000"),
    ]
    assert all(int(row[2].replace(",", "")) > 0 and float(row[4]) > 0 for row in rows)
    assert lines[6].startswith("per block: a lookup by decision id takes ")
    assert lines[6].endswith(" ms over 2,858 blocks")
    assert lines[7].startswith("whole log: a lookup by decision id takes ")
    with pytest.raises(SystemExit):
        audit_index_growth.main(["--every", "15000"])
    assert "a multiple of 10,000" in capsys.readouterr().err


def test_the_writer_ab_benchmark_runs_two_scripts_in_turn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tmp_path / "before.py"
    before.write_text((ROOT / "engine" / "audit" / "writer.py").read_text())
    # The writer script loads the Merkle module from beside itself.
    (tmp_path / "merkle.py").write_text((ROOT / "engine" / "audit" / "merkle.py").read_text())
    started = writer_client.WRITER_SCRIPT
    argv = [str(before), str(ROOT / "engine" / "audit" / "writer.py"), "--rounds", "2"]
    assert audit_writer_ab.main([*argv, "--batch", "2000"]) == 0
    assert started == writer_client.WRITER_SCRIPT  # the engine's own writer again
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"A  {before}: ") and lines[1].startswith("B  ")
    assert all(" records/s (median round " in line for line in lines[:2])
    assert lines[2].startswith("B faster in ") and " of 2 rounds; " in lines[2]
    # A script that is not a writer: a clear error, not a traceback.
    broken = tmp_path / "broken.py"
    broken.write_text("import sys\nsys.exit('not a writer')\n")
    assert audit_writer_ab.main([str(broken), *argv[1:], "--batch", "2000"]) == 1
    assert "the audit writer process stopped (not a writer)" in capsys.readouterr().err
    assert started == writer_client.WRITER_SCRIPT
    with pytest.raises(SystemExit):
        audit_writer_ab.main([*argv, "--batch", "100"])
    assert "at least 2,000 records" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        audit_writer_ab.main([str(tmp_path / "missing.py"), *argv[1:]])
    assert "missing.py: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        audit_writer_ab.main([*argv[:2], "--rounds", "3"])
    assert "--rounds needs an even number" in capsys.readouterr().err
