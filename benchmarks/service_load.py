"""Load on `clearline serve`, side by side in one run (loopback only, bounded; not in make test).

Three servers, each in its own process on the same stack (Starlette on uvicorn, same options):

- floor:   one trivial POST endpoint that reads and parses the JSON body (the stack's own cost);
- decide:  the service's decide endpoint with no audit log (decide() and the HTTP layer);
- durable: the service with its durable audit log (group commit, synchronous=FULL).

Each is driven by 1, 8 and 64 concurrent keep-alive clients for `--seconds` each (after a short
warm-up); throughput and p50/p99 latency are printed as one table.

    .venv/bin/python -m benchmarks.service_load [--seconds 3] [--levels 1,8,64]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
PATH = "/v1/policies/credit-line-closure/decide"
MODES = ("floor", "decide", "durable")


# --- the servers -----------------------------------------------------------------------------


def _floor_app() -> Any:
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def floor(request: Request) -> Response:
        data = orjson.loads(await request.body())
        return Response(orjson.dumps({"ok": len(data)}), media_type="application/json")

    return Starlette(routes=[Route(PATH, floor, methods=["POST"])])


def _service_app(audit: str | None) -> Any:
    from clearline.engine.versions import PolicyRegistry
    from clearline.service.app import Service, create_app
    from clearline.service.metrics import ServiceMetrics
    from clearline.service.recorder import GroupCommitRecorder

    registry = PolicyRegistry.load(POLICIES)
    for version in registry:
        _ = version.compiled
    metrics = ServiceMetrics()
    recorder = None
    if audit is not None:
        recorder = GroupCommitRecorder(audit, on_batch=metrics.audit_batch.observe)
        recorder.start()
    return create_app(Service(registry, str(POLICIES), recorder, metrics=metrics))


def serve(mode: str, audit: str | None) -> None:
    """Run one server (in a child process); print its port, serve until SIGTERM."""
    import signal

    import uvicorn

    app = _floor_app() if mode == "floor" else _service_app(audit if mode == "durable" else None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


# --- the clients -----------------------------------------------------------------------------


def _requests(port: int, count: int = 256) -> list[bytes]:
    """Distinct accounts (so every decision is a new record), as raw HTTP/1.1 requests."""
    from clearline.engine import load_policy, sample_accounts

    policy = load_policy(POLICIES / "credit-line-closure" / "1.1.0.yaml")
    out = []
    for account in sample_accounts(policy, count, 1):
        body = json.dumps({**account, "as_of": "2027-03-01"}).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _client(
    port: int, requests: list[bytes], offset: int, until: float, start: float, out: list[float]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    n = offset
    while time.perf_counter() < until:
        began = time.perf_counter()
        writer.write(requests[n % len(requests)])
        n += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        ended = time.perf_counter()
        if not head.startswith(b"HTTP/1.1 200"):
            errors += 1
        elif began >= start:
            out.append(ended - began)
    writer.close()
    return errors


async def _drive(port: int, requests: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    start = time.perf_counter() + min(0.5, seconds / 4)  # warm-up not counted
    until = start + seconds
    errors = await asyncio.gather(
        *(_client(port, requests, n * 7, until, start, latencies) for n in range(clients))
    )
    latencies.sort()
    cut = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "rps": len(latencies) / seconds,
        "p50": cut[49] * 1000,
        "p99": cut[98] * 1000,
        "errors": sum(errors),
    }


def measure(levels: list[int], seconds: float) -> dict[str, dict[int, dict[str, Any]]]:
    """Start each server in turn, drive it at each level, stop it."""
    results: dict[str, dict[int, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            audit = os.path.join(tmp, f"{mode}.db")
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.service_load",
                    "--serve",
                    mode,
                    "--audit",
                    audit,
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if not line.strip():
                    raise SystemExit(f"the {mode} server did not start (exit {proc.wait()})")
                port = int(line)
                requests = _requests(port)
                results[mode] = {
                    level: asyncio.run(_drive(port, requests, level, seconds)) for level in levels
                }
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            if mode == "durable":
                from clearline.engine import AuditLog

                with AuditLog(audit, create=False) as log:
                    results[mode][0] = {"records": len(log), "ok": log.verify().problem is None}
    return results


def table(results: dict[str, dict[int, dict[str, Any]]], levels: list[int]) -> str:
    """One Markdown table: each server's throughput and latency at each level."""
    lines = [
        "| clients | " + " | ".join(f"{m} req/s | {m} p50 ms | {m} p99 ms" for m in MODES) + " |",
        "|---:|" + "---:|" * 3 * len(MODES),
    ]
    for level in levels:
        cells = []
        for mode in MODES:
            r = results[mode][level]
            cells += [f"{r['rps']:,.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}"]
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    top = levels[-1]
    floor, durable = results["floor"][top], results["durable"][top]
    lines.append("")
    lines.append(
        f"At {top} clients durable/floor: throughput {durable['rps'] / floor['rps']:.0%} "
        f"(target >= 50%), p99 {durable['p99'] / floor['p99']:.1f}x (target <= 3x)."
    )
    errors = {m: sum(r.get("errors", 0) for r in results[m].values()) for m in MODES}
    stored = results["durable"].get(0, {})
    lines.append(
        f"Non-200 answers: {errors}. Durable log: {stored.get('records')} records, "
        f"chain {'verifies' if stored.get('ok') else 'FAILED'}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--audit", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--levels", default="1,8,64")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.audit)
        return
    levels = [int(x) for x in args.levels.split(",")]
    started = dt.datetime.now(dt.UTC)
    results = measure(levels, args.seconds)
    print(f"service load, {args.seconds:g}s per level, {os.cpu_count()} cores, {started:%Y-%m-%d}")
    print(table(results, levels))


if __name__ == "__main__":
    main()
