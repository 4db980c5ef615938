"""Run Clearline and its peers on the same synthetic accounts and compare them.

    python -m benchmarks.run [--quick] [--accounts N] [--output FILE]
    python -m benchmarks.run --refresh-comparison   # the per-million table again, after a new
                                                    # `python -m benchmarks.batch`

Every engine first decides every account of the run and must fire exactly the rules Clearline
fires (the run fails otherwise, so the comparison is of the same work). Then each engine decides
all accounts several times, passes of the engines interleaved, with the garbage collector paused
as `timeit` does; the median pass gives the time per decision. Passes are timed in CPU time of
this process (all its threads), so that other processes on a shared machine count less.
Peak memory is measured per engine in a fresh child process. Results are printed as a table and
written as JSON (`benchmarks/results/latest.json`), with a second table that puts each peer's
typical and best configuration beside the batch engines per 1,000,000 accounts
(`benchmarks/per_million.py`, from `benchmarks/results/batch.json`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearline.engine import CompiledPolicy, compile_policy, decide, load_policy, sample_accounts
from clearline.engine.decisions.decide import to_instant
from clearline.engine.model import Policy

from . import peers, per_million
from .floor import floor

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
AS_OF = "2027-02-01"

Facts = Mapping[str, Any]
FiredFn = Callable[[Facts], frozenset[str]]


@dataclass(frozen=True)
class Engine:
    """One way of deciding the accounts: what it fires, and a loop over accounts to time."""

    name: str
    label: str
    fired: FiredFn
    run: Callable[[Sequence[Facts]], None]
    peer: bool = False
    target: bool = True  # False: shown for information, not part of the speed targets
    family: str = ""  # the peer engine this is a configuration of
    typical: bool = False  # the configuration a typical user of the peer writes


@dataclass(frozen=True)
class Disagreement:
    """An account on which an engine fired other rules than Clearline."""

    engine: str
    account: int
    expected: frozenset[str]
    got: frozenset[str]

    def __str__(self) -> str:
        return (
            f"{self.engine} disagrees on account {self.account}: "
            f"Clearline fired {sorted(self.expected)}, {self.engine} fired {sorted(self.got)}"
        )


class DisagreementError(Exception):
    """At least one engine decided differently from Clearline."""

    def __init__(self, disagreements: list[Disagreement]) -> None:
        super().__init__("\n".join(str(d) for d in disagreements[:10]))
        self.disagreements = disagreements


def clearline_engines(compiled: CompiledPolicy, as_of: dt.datetime) -> list[Engine]:
    """Clearline with full trace, without trace, and with the canonical JSON record."""
    ids = [rule.id for rule in compiled.rules]

    def fired(trace: bool) -> FiredFn:
        return lambda facts: frozenset(
            ids[r] for r in decide(compiled, facts, as_of, trace=trace).fired
        )

    def traced(accounts: Sequence[Facts]) -> None:
        for facts in accounts:
            decide(compiled, facts, as_of)

    def untraced(accounts: Sequence[Facts]) -> None:
        for facts in accounts:
            decide(compiled, facts, as_of, trace=False)

    def recorded(accounts: Sequence[Facts]) -> None:
        for facts in accounts:
            decide(compiled, facts, as_of).to_json()

    return [
        Engine("clearline", "Clearline, full trace", fired(True), traced),
        Engine("clearline-no-trace", "Clearline, trace=False", fired(False), untraced),
        Engine(
            "clearline-record",
            "Clearline, full trace + JSON record",
            fired(True),
            recorded,
            target=False,
        ),
    ]


def floor_engine() -> Engine:
    """The hand-written straight-line function (`benchmarks/floor.py`)."""

    def run(accounts: Sequence[Facts]) -> None:
        for facts in accounts:
            floor(facts)

    return Engine("floor", "CPython floor", lambda facts: frozenset(floor(facts)), run)


@dataclass(frozen=True)
class Peer:
    """One configuration of a peer engine."""

    label: str
    family: str
    typical: bool
    make: Callable[[Policy], FiredFn]


def peer_engine(name: str, peer: Peer, fired: FiredFn) -> Engine:
    """A peer engine deciding one account per call."""

    def run(accounts: Sequence[Facts]) -> None:
        for facts in accounts:
            fired(facts)

    return Engine(name, peer.label, fired, run, peer=True, family=peer.family, typical=peer.typical)


DURABLE, ZEN, REGO = "durable_rules", "GoRules Zen", "Rego (regopy)"
PEERS: dict[str, Peer] = {
    "durable-rules": Peer("durable_rules, durable.lang", DURABLE, True, peers.durable_engine),
    "durable-rules-core": Peer(
        "durable_rules, C core (durable_rules_engine)", DURABLE, False, peers.durable_core_engine
    ),
    "zen": Peer("GoRules Zen, collect table from JSON", ZEN, True, peers.zen_engine),
    "zen-precompiled": Peer(
        "GoRules Zen, collect table, precompiled content", ZEN, False, peers.zen_precompiled_engine
    ),
    "zen-expressions": Peer(
        "GoRules Zen, compiled expression per rule", ZEN, False, peers.zen_expressions_engine
    ),
    "zen-expression-list": Peer(
        "GoRules Zen, one compiled expression for all rules",
        ZEN,
        False,
        peers.zen_expression_list_engine,
    ),
    "rego": Peer("Rego via regopy, bundle", REGO, True, peers.rego_engine),
}


def build_engines(policy: Policy, names: Sequence[str] | None = None) -> list[Engine]:
    """Every engine of the comparison (or only those named), Clearline first."""
    compiled = compile_policy(policy)
    as_of = to_instant(AS_OF, policy.metadata.timezone)
    engines = [*clearline_engines(compiled, as_of), floor_engine()]
    for name, peer in PEERS.items():
        if names is None or name in names:
            engines.append(peer_engine(name, peer, peer.make(policy)))
    return [engine for engine in engines if names is None or engine.name in names]


def complete_accounts(policy: Policy, n: int, seed: int) -> tuple[list[dict[str, Any]], int]:
    """`n` sampled accounts with every fact present, and how many were drawn to get them.

    Accounts with a missing fact are left out: Clearline decides them with three-valued logic,
    which the peers do not have, and the floor would need the same.
    """
    names = [fact.name for fact in policy.facts]
    chosen: list[dict[str, Any]] = []
    drawn = 0
    for account in sample_accounts(policy, n * 2 + 100, seed):
        drawn += 1
        facts = account["facts"]
        if all(facts.get(name) is not None for name in names):
            chosen.append(facts)
            if len(chosen) == n:
                break
    return chosen, drawn


def check_agreement(
    reference: Engine, engines: Sequence[Engine], accounts: Sequence[Facts]
) -> list[Disagreement]:
    """Every account on which an engine fires other rules than the reference engine."""
    expected = [reference.fired(facts) for facts in accounts]
    found = []
    for engine in engines:
        for i, facts in enumerate(accounts):
            got = engine.fired(facts)
            if got != expected[i]:
                found.append(Disagreement(engine.name, i, expected[i], got))
    return found


def time_engines(
    engines: Sequence[Engine], accounts: Sequence[Facts], repeats: int, peer_repeats: int
) -> dict[str, list[float]]:
    """Seconds per decision of every pass, passes of the engines interleaved."""
    passes: dict[str, list[float]] = {engine.name: [] for engine in engines}
    enabled = gc.isenabled()
    for rep in range(repeats):
        for engine in engines:
            if (engine.peer or not engine.target) and rep >= peer_repeats:
                continue
            gc.collect()
            gc.disable()
            try:
                started = time.process_time()
                engine.run(accounts)
                elapsed = time.process_time() - started
            finally:
                if enabled:
                    gc.enable()
            passes[engine.name].append(elapsed / len(accounts))
    return passes


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def measure_memory(policy_path: Path, engine: str, n: int, seed: int) -> dict[str, float]:
    """In this process: build one engine, decide `n` accounts, report peak and growth of RSS.

    The peak is reset (Linux `clear_refs`) once the policy is loaded and the accounts drawn, so
    it is the peak while the engine is built and decides, not while YAML and schemas load.
    """
    policy = load_policy(policy_path)
    accounts, _ = complete_accounts(policy, n, seed)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset the peak resident set size to the current one
    before = _status_kib("VmRSS")
    (chosen,) = build_engines(policy, [engine])
    chosen.run(accounts)
    peak = _status_kib("VmHWM")
    return {"peak_rss_mib": peak / 1024, "rss_growth_mib": max(0, peak - before) / 1024}


def memory_in_child(policy_path: Path, engine: str, n: int, seed: int) -> dict[str, float]:
    """Run `measure_memory` in a fresh interpreter so engines do not share a peak."""
    command = [sys.executable, "-m", "benchmarks.run", "--memory-of", engine]
    command += ["--policy", str(policy_path), "--accounts", str(n), "--seed", str(seed)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def machine() -> dict[str, Any]:
    """What the run happened on."""
    cpu = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_implementation() + " " + platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


TARGETS = (
    ("clearline-no-trace", "floor", 1.6, "Clearline trace=False <= 1.6 x floor"),
    ("clearline", "floor", 4.0, "Clearline full trace <= 4 x floor"),
)
PEER_SPEEDUP = 40.0


def summarise(
    engines: Sequence[Engine], passes: Mapping[str, list[float]], memory: Mapping[str, Any]
) -> dict[str, Any]:
    """Per-engine figures, ratios and the speed targets."""
    median = {name: statistics.median(times) for name, times in passes.items()}
    best_of: dict[str, str] = {}  # the best configuration of each peer: its fastest here
    for engine in engines:
        known = best_of.get(engine.family)
        if engine.family and (known is None or median[engine.name] < median[known]):
            best_of[engine.family] = engine.name
    rows = []
    for engine in engines:
        seconds = median[engine.name]
        setup = ["typical"] if engine.typical else []
        setup += ["best"] if best_of.get(engine.family) == engine.name else []
        rows.append(
            {
                "engine": engine.name,
                "label": engine.label,
                "family": engine.family,
                "setup": ", ".join(setup) or ("other" if engine.family else ""),
                "us_per_decision": round(seconds * 1e6, 3),
                "us_best_pass": round(min(passes[engine.name]) * 1e6, 3),
                "decisions_per_s": round(1 / seconds),
                "passes": len(passes[engine.name]),
                "vs_floor": round(seconds / median["floor"], 2),
                "vs_clearline": round(seconds / median["clearline"], 2),
                **memory.get(engine.name, {}),
            }
        )
    targets = []
    for measured, base, limit, text in TARGETS:
        ratio = median[measured] / median[base]
        targets.append(
            {"target": text, "measured": round(ratio, 2), "limit": limit, "met": ratio <= limit}
        )
    peer_times = {e.name: median[e.name] for e in engines if e.peer}
    if peer_times:
        fastest = min(peer_times, key=lambda name: peer_times[name])
        speedup = peer_times[fastest] / median["clearline"]
        targets.append(
            {
                "target": f"Clearline full trace >= {PEER_SPEEDUP:g} x faster than the fastest "
                f"peer ({fastest})",
                "measured": round(speedup, 1),
                "limit": PEER_SPEEDUP,
                "met": speedup >= PEER_SPEEDUP,
            }
        )
    return {"engines": rows, "targets": targets}


def render(summary: Mapping[str, Any]) -> str:
    """The results as a Markdown table, then the targets."""
    lines = [
        "| engine | µs / decision | decisions / s | × floor | × Clearline | peak RSS MiB "
        "| RSS growth MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["engines"]:
        peak = row.get("peak_rss_mib")
        growth = row.get("rss_growth_mib")
        lines.append(
            f"| {row['label']} | {row['us_per_decision']:.2f} | {row['decisions_per_s']:,} "
            f"| {row['vs_floor']:.2f} | {row['vs_clearline']:.2f} "
            f"| {'' if peak is None else f'{peak:.1f}'} "
            f"| {'' if growth is None else f'{growth:.1f}'} |"
        )
    lines.append("")
    for target in summary["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        lines.append(f"- {target['target']}: {target['measured']} ({verdict})")
    return "\n".join(lines)


def add_comparison(summary: dict[str, Any], batch: Mapping[str, Any] | None) -> None:
    """Put the per-million table and DuckDB's target against the best peer into a summary."""
    table = per_million.comparison(summary["engines"], batch)
    summary["comparison"] = table
    targets = [t for t in summary["targets"] if not t["target"].startswith("DuckDB")]
    target = per_million.duckdb_target(table)
    summary["targets"] = targets if target is None else [*targets, target]


def refresh_comparison(output: Path, batch_results: Path) -> int:
    """Rebuild the per-million table of a results file from its engines and the batch figures."""
    result = json.loads(output.read_text("utf-8"))
    add_comparison(result, per_million.read_batch(batch_results))
    output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(per_million.render(result["comparison"]))
    print(f"\nwritten to {output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: run the comparison, print the table, write the JSON results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer accounts and passes")
    parser.add_argument("--accounts", type=int, help="complete accounts to decide")
    parser.add_argument("--repeats", type=int, help="timed passes of the Python engines")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--policy", type=Path, default=POLICY)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory children")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    parser.add_argument(
        "--batch-results",
        type=Path,
        default=per_million.BATCH,
        help="the batch engines' figures per million accounts (from `benchmarks.batch`)",
    )
    parser.add_argument(
        "--refresh-comparison",
        action="store_true",
        help="only rebuild the per-million table of --output from its engines and --batch-results",
    )
    args = parser.parse_args(argv)
    if args.refresh_comparison:
        return refresh_comparison(args.output, args.batch_results)
    n = args.accounts or (3_000 if args.quick else 20_000)
    if args.memory_of:
        print(json.dumps(measure_memory(args.policy, args.memory_of, n, args.seed)))
        return 0
    repeats = args.repeats or (5 if args.quick else 9)
    peer_repeats = 2 if args.quick else 5

    policy = load_policy(args.policy)
    accounts, drawn = complete_accounts(policy, n, args.seed)
    print(
        f"{policy.metadata.id} {policy.metadata.version}: {len(policy.rules)} rules; "
        f"{len(accounts)} complete accounts of {drawn} sampled (seed {args.seed})",
        flush=True,
    )
    engines = build_engines(policy)
    started = time.perf_counter()
    disagreements = check_agreement(engines[0], engines[1:], accounts)
    if disagreements:
        print(DisagreementError(disagreements), file=sys.stderr)
        print(f"{len(disagreements)} disagreements: no timing of different work", file=sys.stderr)
        return 1
    print(
        f"all {len(engines)} engines fire the same rules on every account "
        f"({time.perf_counter() - started:.1f}s)",
        flush=True,
    )
    passes = time_engines(engines, accounts, repeats, peer_repeats)
    memory = {}
    if not args.no_memory:
        for engine in engines:
            memory[engine.name] = memory_in_child(args.policy, engine.name, n, args.seed)
    summary = summarise(engines, passes, memory)
    add_comparison(summary, per_million.read_batch(args.batch_results))
    print()
    print(render(summary))
    print()
    print(per_million.render(summary["comparison"]))
    result = {
        "when": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": " ".join(["python -m benchmarks.run", *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "machine": machine(),
        "policy": {"id": policy.metadata.id, "version": policy.metadata.version},
        "as_of": AS_OF,
        "accounts": len(accounts),
        "accounts_sampled": drawn,
        "seed": args.seed,
        "repeats": repeats,
        "peer_repeats": peer_repeats,
        **summary,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
