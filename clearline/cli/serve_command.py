"""`clearline serve` and `clearline keys`: the decision service over HTTP, and its API keys."""

from __future__ import annotations

import ipaddress
import signal
import socket

import click

from clearline.engine.audit.checkpoint import CheckpointError, SignerKey, read_key_file
from clearline.engine.audit.log import AuditError
from clearline.engine.versions import PolicyRegistry

from .common import Failed, error, report, signing_options


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--policies", required=True, type=click.Path(), help="Folder of policy versions.")
@click.option("--audit", "audit_path", required=True, type=click.Path(), help="Audit log.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="0: any free port (the one taken is printed).",
)
@click.option("--keys", "keys_path", type=click.Path(), help="Keys file (hashed API keys).")
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    default=1 << 20,
    show_default=True,
    help="Largest request body, bytes.",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Most accounts in one decide-batch call.",
)
@click.option(
    "--max-depth",
    type=click.IntRange(min=2),
    default=32,
    show_default=True,
    help="Deepest JSON nesting of a request.",
)
@click.option(
    "--commit-window",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Milliseconds a group commit waits for more decisions.",
)
@click.option(
    "--commit-max",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Most decisions in one audit transaction.",
)
@click.option(
    "--audit-timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the audit log's write lock before answering 503.",
)
@signing_options
def serve(
    policies: str,
    audit_path: str,
    host: str,
    port: int,
    keys_path: str | None,
    max_body: int,
    max_batch: int,
    max_depth: int,
    commit_window: float,
    commit_max: int,
    audit_timeout: float,
    audit_key: str | None,
    checkpoints: str | None,
) -> None:
    """Serve decisions over HTTP; every answer is in the audit log before it is sent."""
    import uvicorn

    from clearline.service.app import Service, create_app
    from clearline.service.keys import KeyRing, KeysError
    from clearline.service.limits import Limits
    from clearline.service.metrics import ServiceMetrics
    from clearline.service.recorder import GroupCommitRecorder

    if keys_path is None and not _loopback(host):
        raise click.UsageError(
            f"without --keys the service listens on loopback only, not on {host}"
        )
    try:
        keys = KeyRing.load(keys_path) if keys_path else None
    except KeysError as exc:
        error(str(exc), code="H100")
        raise Failed() from None
    registry, diagnostics = PolicyRegistry.analyse([policies])
    if registry is None:
        report(diagnostics)
        raise Failed()
    for version in registry:
        _ = version.compiled  # compile before the first request, not during it
    try:
        signer = read_key_file(audit_key, private=True) if audit_key else None
    except CheckpointError as exc:
        error(str(exc), where=audit_key or "clearline", code="A103")
        raise Failed() from None
    assert signer is None or isinstance(signer, SignerKey)
    metrics = ServiceMetrics()
    recorder = GroupCommitRecorder(
        audit_path,
        window=commit_window / 1000,
        max_batch=commit_max,
        timeout=audit_timeout,
        on_batch=metrics.audit_batch.observe,
        signer=signer,
        checkpoints=checkpoints,
    )
    try:
        recorder.start()
    except AuditError as exc:
        error(str(exc), code="A001")
        raise Failed() from None
    limits = Limits(max_body=max_body, max_batch=max_batch, max_depth=max_depth)
    service = Service(registry, policies, recorder, keys, limits, metrics)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # a keep-alive client waits 40 ms (delayed ACK) for each response's second segment.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        recorder.close()
        error(f"cannot listen on {host}:{port}: {exc.strerror}", code="E009")
        raise Failed() from None
    bound = sock.getsockname()[1]
    versions = sum(1 for _ in registry)
    access = (
        f"API keys from {keys_path} ({len(keys)} keys)"
        if keys is not None
        else "no keys file: loopback only, no authentication"
    )
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    click.echo(
        f"clearline: serving {versions} policy versions from {policies} on "
        f"http://{shown}:{bound} ({access}); audit log {audit_path}",
        err=True,
    )
    config = uvicorn.Config(
        create_app(service), log_level="warning", lifespan="on", access_log=False
    )
    # uvicorn re-raises the SIGTERM it caught once it has drained; with this handler in place
    # that re-raise is a no-op and the process exits 0 after a clean shutdown.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.Server(config).run(sockets=[sock])
    recorder.close()
    click.echo("clearline: stopped; every answered decision is in the audit log", err=True)


@click.group()
def keys() -> None:
    """API keys of `clearline serve` (only their SHA-256 is kept)."""


@keys.command(name="add")
@click.option("--file", "keys_path", required=True, type=click.Path(), help="Keys file.")
@click.option("--name", required=True, help="Who the key is for (e.g. collections-prod).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["decide", "read", "admin"]),
    help="Repeat for several.",
)
def add_key_command(keys_path: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create a key; print it once (the file keeps only its hash)."""
    from clearline.service.keys import KeysError, add_key

    try:
        key = add_key(keys_path, name, list(scopes))
    except (KeysError, ValueError) as exc:
        error(str(exc), code="H100")
        raise Failed() from None
    click.echo(key)
