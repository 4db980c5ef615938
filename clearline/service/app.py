"""The routes of `clearline serve`: a thin list of endpoints over the registry, decide() and the
audit log. No decision logic lives here: a route reads the request, asks the public API and
writes what it answered."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clearline.disclosures import (
    CatalogueError,
    NoticeError,
    decision_notice,
    markdown_to_html,
    policy_disclosure,
)
from clearline.engine import FactError, decide
from clearline.engine.audit.checkpoint import CheckpointError, parse_note
from clearline.engine.audit.log import KIND_DECISION, AuditError, AuditLog
from clearline.engine.audit.proofs import (
    AfterCheckpoint,
    inclusion_proof,
    latest_checkpoint,
    stored_leaves,
)
from clearline.engine.decisions.decide import AsOfError, Decision, to_instant
from clearline.engine.decisions.requests import Request as AccountRequest
from clearline.engine.policy.facts_schema import facts_schema
from clearline.engine.versions import NotInForce, PolicyRegistry, PolicyVersion, UnknownPolicy

from .keys import KeyRing
from .limits import Limits, account_request, batch_requests, read_json
from .metrics import CONTENT_TYPE, ServiceMetrics
from .openapi import openapi_document
from .problems import (
    BAD_QUERY,
    FORBIDDEN,
    INTERNAL,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    NOT_IN_FORCE,
    NOT_READY,
    NOT_RECORDED,
    UNAUTHORIZED,
    UNKNOWN_POLICY,
    Problem,
    diagnostics_problem,
    fact_problem,
)
from .recorder import GroupCommitRecorder, NotRecorded

JSON = "application/json"


class Service:
    """What the routes share: the registry in use (swapped whole on reload), the audit writer,
    the keys, the limits and the metrics."""

    def __init__(
        self,
        registry: PolicyRegistry,
        policies: str,
        recorder: GroupCommitRecorder | None,
        keys: KeyRing | None = None,
        limits: Limits | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.registry = registry
        self.policies = policies
        self.recorder = recorder
        self.keys = keys
        self.limits = limits or Limits()
        self.metrics = metrics or ServiceMetrics()
        self._openapi: tuple[PolicyRegistry, bytes] | None = None
        self._reloading = anyio.Lock()

    def authorize(self, request: Request, scope: str) -> None:
        """Refuse a request without a key that has `scope` (no keys file: loopback, all in)."""
        if self.keys is None:
            return
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        key = self.keys.find(presented.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            raise Problem(
                401,
                UNAUTHORIZED,
                "send an API key as `Authorization: Bearer KEY`",
                headers={"WWW-Authenticate": 'Bearer realm="clearline"'},
            )
        if scope not in key.scopes:
            raise Problem(403, FORBIDDEN, f"key `{key.name}` lacks the `{scope}` scope")

    def decide(
        self,
        registry: PolicyRegistry,
        policy_id: str,
        account: AccountRequest,
        trace: bool,
        pointer: str = "",
    ) -> Decision:
        """Decide one account with the version in force at its `as_of` (default: now)."""
        as_of: str | dt.datetime = account.as_of or dt.datetime.now(dt.UTC).replace(microsecond=0)
        try:
            version = registry.in_force(policy_id, as_of)
            instant = to_instant(as_of, version.policy.metadata.timezone)
            return decide(
                version.compiled,
                account.facts,
                instant,
                account_id=account.account_id,
                trace=trace,
            )
        except UnknownPolicy as exc:
            raise Problem(404, UNKNOWN_POLICY, str(exc)) from None
        except NotInForce as exc:
            raise Problem(422, NOT_IN_FORCE, str(exc)) from None
        except AsOfError as exc:
            raise Problem(
                422,
                "F006",
                str(exc),
                [{"code": "F006", "message": str(exc), "pointer": f"{pointer}/as_of"}],
            ) from None
        except FactError as exc:
            raise fact_problem(exc, f"{pointer}/facts") from None

    async def record(self, decisions: list[Decision]) -> None:
        """Return once the decisions are in the audit log; 503 when they could not be."""
        if self.recorder is not None:
            try:
                await self.recorder.record(decisions)
            except NotRecorded as exc:
                raise Problem(503, NOT_RECORDED, str(exc), headers={"Retry-After": "1"}) from None
        for decision in decisions:
            policy = decision.compiled.policy.metadata
            self.metrics.decisions.labels(policy.id, policy.version, decision.action.value).inc()

    async def read_log(self, call: Callable[[AuditLog], Any]) -> Any:
        """Run a lookup on the audit log, between the writer's batches."""
        if self.recorder is None:
            raise Problem(404, NOT_FOUND, "this service keeps no audit log")
        try:
            return await self.recorder.read(call)
        except NotRecorded as exc:
            raise Problem(503, NOT_READY, str(exc)) from None

    def openapi(self) -> bytes:
        """The OpenAPI document of the registry in use (made again after a reload)."""
        registry = self.registry
        if self._openapi is None or self._openapi[0] is not registry:
            document = openapi_document(registry, self.limits, secured=self.keys is not None)
            self._openapi = (registry, orjson.dumps(document))
        return self._openapi[1]


Handler = Callable[[Service, Request], Awaitable[Response]]


def endpoint(
    route: str, scope: str | None
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A route: the key's scope checked, the time measured, a Problem rendered as RFC 9457."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            service: Service = request.app.state.service
            started = time.perf_counter()
            try:
                if scope is not None:
                    service.authorize(request, scope)
                response = await handler(service, request)
            except Problem as problem:
                service.metrics.errors.labels(problem.code).inc()
                response = problem.response()
            service.metrics.latency.labels(route).observe(time.perf_counter() - started)
            return response

        return run

    return wrap


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise Problem(400, BAD_QUERY, f"`{name}` must be true or false, not `{value}`")


def _choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name, default)
    if value not in allowed:
        raise Problem(400, BAD_QUERY, f"`{name}` must be one of {', '.join(allowed)}")
    return value


@endpoint("decide", "decide")
async def decide_one(service: Service, request: Request) -> Response:
    """POST /v1/policies/{id}/decide: one account, answered once recorded."""
    trace = _flag(request, "trace", True)
    account = account_request(await read_json(request, service.limits))
    decision = service.decide(service.registry, request.path_params["policy_id"], account, trace)
    await service.record([decision])
    return Response(decision.to_json().encode(), media_type=JSON)


@endpoint("decide-batch", "decide")
async def decide_batch(service: Service, request: Request) -> Response:
    """POST /v1/policies/{id}/decide-batch: all accounts decided and recorded, or none."""
    trace = _flag(request, "trace", True)
    accounts = batch_requests(await read_json(request, service.limits), service.limits)
    registry, policy_id = service.registry, request.path_params["policy_id"]
    decisions: list[Decision] = []
    errors: list[dict[str, Any]] = []
    for n, account in enumerate(accounts):
        try:
            decisions.append(service.decide(registry, policy_id, account, trace, f"/accounts/{n}"))
        except Problem as problem:
            if problem.status == 404:
                raise
            errors.extend(
                problem.errors
                or [{"code": problem.code, "message": problem.detail, "pointer": f"/accounts/{n}"}]
            )
    if errors:
        raise Problem(
            422, errors[0]["code"], f"{len(errors)} problems; nothing was decided", errors
        )
    await service.record(decisions)
    body = b'{"decisions":[' + b",".join(d.to_json().encode() for d in decisions) + b"]}"
    return Response(body, media_type=JSON)


def _recorded(decision_id: str) -> Callable[[AuditLog], tuple[str, str] | None]:
    """The stored document and inputs of a decision, read in the log's thread."""

    def find(log: AuditLog) -> tuple[str, str] | None:
        for record in log.get(decision_id):
            if record.record_id == decision_id and record.kind == KIND_DECISION:
                return record.document, record.inputs
        return None

    return find


async def _recorded_decision(service: Service, request: Request) -> tuple[str, str]:
    decision_id = request.path_params["decision_id"]
    found: tuple[str, str] | None = await service.read_log(_recorded(decision_id))
    if found is None:
        raise Problem(404, "A002", f"no decision `{decision_id}` in the audit log")
    return found


async def _record_document(service: Service, request: Request) -> str:
    return (await _recorded_decision(service, request))[0]


@endpoint("decision", "read")
async def get_decision(service: Service, request: Request) -> Response:
    """GET /v1/decisions/{decision_id}: the record as the audit log holds it."""
    return Response((await _record_document(service, request)).encode(), media_type=JSON)


def _latest_checkpoint(log: AuditLog) -> str | None:
    return latest_checkpoint(log._db)


@endpoint("checkpoint", "read")
async def get_checkpoint(service: Service, request: Request) -> Response:
    """GET /v1/audit/checkpoint: the latest signed checkpoint of the log (C2SP signed note)."""
    if service.recorder is None or service.recorder.signer is None:
        raise Problem(404, NOT_FOUND, "this service signs no checkpoints (serve --audit-key)")
    note: str | None = await service.read_log(_latest_checkpoint)
    if note is None:
        raise Problem(404, NOT_FOUND, "no checkpoint signed yet: none until the first decision")
    return Response(note.encode(), media_type="text/plain; charset=utf-8")


def _proof_of(decision_id: str) -> Callable[[AuditLog], dict[str, Any]]:
    def build(log: AuditLog) -> dict[str, Any]:
        # Runs in the writer thread, between batches: the checkpoint and the leaves agree.
        text = latest_checkpoint(log._db)
        if text is None:
            raise Problem(404, NOT_FOUND, "no checkpoint signed yet")
        found = [
            r
            for r in log.get(decision_id)
            if r.record_id == decision_id and r.kind == KIND_DECISION
        ]
        if len(found) != 1:
            raise Problem(404, "A002", f"no decision `{decision_id}` in the audit log")
        try:
            note = parse_note(text)
        except CheckpointError as exc:
            raise Problem(500, "A101", f"the log's latest checkpoint is damaged: {exc}") from None
        leaves = stored_leaves(log._db, note.checkpoint.size)
        try:
            return inclusion_proof(found[0], leaves, note, text)
        except AfterCheckpoint as exc:  # appended before the service had its key
            raise Problem(404, "A105", str(exc)) from None
        except AuditError as exc:
            raise Problem(500, "A101", str(exc)) from None

    return build


@endpoint("proof", "read")
async def get_proof(service: Service, request: Request) -> Response:
    """GET /v1/decisions/{decision_id}/proof: its inclusion proof in the latest checkpoint."""
    if service.recorder is None or service.recorder.signer is None:
        raise Problem(404, NOT_FOUND, "this service signs no checkpoints (serve --audit-key)")
    proof = await service.read_log(_proof_of(request.path_params["decision_id"]))
    return Response(orjson.dumps(proof), media_type=JSON)


def _language(version: PolicyVersion, request: Request) -> str:
    languages = version.policy.metadata.languages
    lang = request.query_params.get("lang") or languages[0]
    if lang not in languages:
        raise Problem(400, "D102", f"the policy is written in {', '.join(languages)}, not `{lang}`")
    return lang


def _document(markdown: str, lang: str, fmt: str) -> Response:
    if fmt == "html":
        return Response(markdown_to_html(markdown, lang), media_type="text/html")
    return Response(markdown, media_type="text/markdown")


@endpoint("notice", "read")
async def get_notice(service: Service, request: Request) -> Response:
    """GET /v1/decisions/{decision_id}/notice: the customer notice, from the recorded decision."""
    fmt = _choice(request, "format", ("md", "html"), "md")
    document, stored_inputs = await _recorded_decision(service, request)
    record = orjson.loads(document)
    inputs = orjson.loads(stored_inputs)
    ref = record.get("policy") or {}
    version = service.registry.by_hash(str(ref.get("sha256")))
    if version is None:
        raise Problem(
            404,
            "N102",
            f"no policy {ref.get('id')} version {ref.get('version')} "
            "with the decision's hash is loaded",
        )
    lang = _language(version, request)
    try:
        markdown = decision_notice(version.compiled, record, lang, inputs=inputs)
    except (NoticeError, CatalogueError) as exc:
        raise Problem(422, "N103", str(exc)) from None
    return _document(markdown, lang, fmt)


def _version_summary(version: PolicyVersion) -> dict[str, Any]:
    until = version.effective_until
    return {
        "version": version.version,
        "sha256": version.sha256,
        "effective_from": version.effective_from.isoformat(),
        "effective_until": until.isoformat() if until else None,
    }


@endpoint("policies", "read")
async def list_policies(service: Service, request: Request) -> Response:
    """GET /v1/policies: every policy id with its versions."""
    registry = service.registry
    body = {
        "policies": [
            {
                "id": policy_id,
                "versions": [_version_summary(v) for v in registry.versions(policy_id)],
            }
            for policy_id in registry.policy_ids()
        ]
    }
    return Response(orjson.dumps(body), media_type=JSON)


def _version(service: Service, request: Request) -> PolicyVersion:
    policy_id, wanted = request.path_params["policy_id"], request.path_params["version"]
    version = service.registry.get(policy_id, wanted)
    if version is None:
        raise Problem(404, UNKNOWN_POLICY, f"no policy `{policy_id}` version {wanted} is loaded")
    return version


@endpoint("version", "read")
async def get_version(service: Service, request: Request) -> Response:
    """GET /v1/policies/{id}/versions/{v}: a version's metadata and facts schema."""
    version = _version(service, request)
    meta = version.policy.metadata
    body = {
        "id": meta.id,
        **_version_summary(version),
        "languages": list(meta.languages),
        "facts": facts_schema(version.policy),
    }
    return Response(orjson.dumps(body), media_type=JSON)


@endpoint("disclosure", "read")
async def get_disclosure(service: Service, request: Request) -> Response:
    """GET /v1/policies/{id}/versions/{v}/disclosure: the policy disclosure."""
    fmt = _choice(request, "format", ("md", "html"), "md")
    version = _version(service, request)
    lang = _language(version, request)
    try:
        markdown = policy_disclosure(version.compiled, lang)
    except (NoticeError, CatalogueError) as exc:
        raise Problem(422, "D200", str(exc)) from None
    return _document(markdown, lang, fmt)


def _compile_all(registry: PolicyRegistry) -> None:
    for version in registry:
        _ = version.compiled  # compiled before the swap: no request pays for it


@endpoint("reload", "admin")
async def reload(service: Service, request: Request) -> Response:
    """POST /v1/admin/reload: re-read the folder; swap the registry whole only if it checks."""
    async with service._reloading:
        registry, diagnostics = await anyio.to_thread.run_sync(
            PolicyRegistry.analyse, [service.policies]
        )
        if registry is None:
            raise diagnostics_problem(
                diagnostics, f"{service.policies} does not check; the running policies stay"
            )
        await anyio.to_thread.run_sync(_compile_all, registry)
        # One reference assignment: a request already running keeps the registry it read.
        service.registry = registry
    warnings = [d.render() for d in diagnostics if d.severity != "error"]
    body = {
        "reloaded": True,
        "versions": [f"{v.id} {v.version}" for v in registry],
        "warnings": warnings,
    }
    return Response(orjson.dumps(body), media_type=JSON)


@endpoint("healthz", None)
async def healthz(service: Service, request: Request) -> Response:
    """GET /healthz: the process answers."""
    return Response(b'{"status":"ok"}', media_type=JSON)


@endpoint("readyz", None)
async def readyz(service: Service, request: Request) -> Response:
    """GET /readyz: the registry is loaded and the audit log takes records."""
    recorder = service.recorder
    if recorder is not None:
        if not recorder.alive:
            raise Problem(503, NOT_READY, "the audit writer is stopped")
        if recorder.last_error is not None:
            raise Problem(503, NOT_READY, f"the last audit batch failed: {recorder.last_error}")
        if not os.access(recorder.path, os.W_OK):
            raise Problem(503, NOT_READY, f"the audit log {recorder.path} is not writable")
    count = sum(1 for _ in service.registry)
    return Response(orjson.dumps({"status": "ready", "versions": count}), media_type=JSON)


@endpoint("metrics", "read")
async def metrics(service: Service, request: Request) -> Response:
    """GET /metrics: Prometheus text."""
    return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)


@endpoint("openapi", None)
async def openapi(service: Service, request: Request) -> Response:
    """GET /v1/openapi.json: the OpenAPI 3.1 document of the policies served now."""
    return Response(service.openapi(), media_type=JSON)


async def _http_problem(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        return Problem(405, METHOD_NOT_ALLOWED, f"{request.method} is not allowed here").response()
    return Problem(404, NOT_FOUND, f"no such resource: {request.url.path}").response()


async def _internal(request: Request, exc: Exception) -> Response:
    # The client hears that something broke, never a stack trace; the server log has it.
    return Problem(500, INTERNAL, f"internal error ({type(exc).__name__})").response()


ROUTES = [
    Route("/v1/policies/{policy_id}/decide", decide_one, methods=["POST"]),
    Route("/v1/policies/{policy_id}/decide-batch", decide_batch, methods=["POST"]),
    Route("/v1/decisions/{decision_id}", get_decision, methods=["GET"]),
    Route("/v1/decisions/{decision_id}/notice", get_notice, methods=["GET"]),
    Route("/v1/decisions/{decision_id}/proof", get_proof, methods=["GET"]),
    Route("/v1/audit/checkpoint", get_checkpoint, methods=["GET"]),
    Route("/v1/policies", list_policies, methods=["GET"]),
    Route("/v1/policies/{policy_id}/versions/{version}", get_version, methods=["GET"]),
    Route(
        "/v1/policies/{policy_id}/versions/{version}/disclosure", get_disclosure, methods=["GET"]
    ),
    Route("/v1/admin/reload", reload, methods=["POST"]),
    Route("/v1/openapi.json", openapi, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]


def create_app(service: Service) -> Starlette:
    """The ASGI application; on shutdown it commits what it accepted and closes the log."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if service.recorder is not None:
            # uvicorn has finished every request it accepted; the writer drains and closes.
            await anyio.to_thread.run_sync(service.recorder.close)

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_problem, Exception: _internal},
    )
    app.state.service = service
    return app
