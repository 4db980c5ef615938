"""The OpenAPI 3.1 document of a running service, made from its registry.

Request bodies use each policy's facts schema (JSON Schema 2020-12, which OpenAPI 3.1 takes as
it is), made from the same typed fact model `decide` checks inputs against; responses use the
decision record schema. No second model of the JSON is written by hand in Python classes.
"""

from __future__ import annotations

from typing import Any

from clearline.engine.decisions.record_schema import embeddable_decision_schema
from clearline.engine.policy.facts_schema import facts_schema
from clearline.engine.version import ENGINE_VERSION
from clearline.engine.versions import PolicyRegistry

from .keys import SCOPES
from .limits import Limits

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `code` is the error code the CLI prints.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^[A-Z][0-9]{3}$"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


# What `clearline audit prove` writes and `clearline audit verify-proof` checks.
_INCLUSION_PROOF: dict[str, Any] = {
    "type": "object",
    "required": [
        "format",
        "record_id",
        "seq",
        "prev_hash",
        "content",
        "record_hash",
        "leaf_index",
        "tree_size",
        "audit_path",
        "checkpoint",
    ],
    "properties": {
        "format": {"const": "clearline-inclusion-proof/1"},
        "record_id": {"type": "string"},
        "seq": {"type": "integer", "minimum": 1},
        "prev_hash": {"type": "string"},
        "content": {"type": "string", "description": "the bytes the record's hash covers"},
        "record_hash": {"type": "string"},
        "leaf_index": {"type": "integer", "minimum": 0},
        "tree_size": {"type": "integer", "minimum": 1},
        "audit_path": {"type": "array", "items": {"type": "string"}},
        "checkpoint": {"type": "string", "description": "the signed note the proof leads to"},
    },
}


def _json(schema: Any, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*statuses: int) -> dict[str, Any]:
    problem = {"$ref": "#/components/schemas/Problem"}
    return {
        str(status): {
            "description": "A problem document",
            "content": {"application/problem+json": {"schema": problem}},
        }
        for status in statuses
    }


def _text(*media: str) -> dict[str, Any]:
    return {"description": "OK", "content": {m: {"schema": {"type": "string"}} for m in media}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def openapi_document(registry: PolicyRegistry, limits: Limits, secured: bool) -> dict[str, Any]:
    """The service's OpenAPI 3.1 document for the registry it serves now."""
    schemas: dict[str, Any] = {
        "DecisionRecord": embeddable_decision_schema(),
        "Problem": PROBLEM_SCHEMA,
    }
    paths: dict[str, Any] = {}
    common = (400, 401, 403, 413, 415, 422, 503)
    for policy_id in registry.policy_ids():
        versions = registry.versions(policy_id)
        languages = sorted({lang for v in versions for lang in v.policy.metadata.languages})
        names = []
        for item in versions:
            name = f"Facts-{policy_id}-{item.version}"
            schemas[name] = facts_schema(item.policy)
            names.append({"$ref": f"#/components/schemas/{name}"})
        facts = names[0] if len(names) == 1 else {"anyOf": names}
        account = {
            "type": "object",
            "required": ["facts"],
            "additionalProperties": False,
            "properties": {
                "account_id": {"type": "string"},
                "as_of": {"type": "string", "format": "date"},
                "facts": facts,
            },
        }
        schemas[f"Account-{policy_id}"] = account
        ref = {"$ref": f"#/components/schemas/Account-{policy_id}"}
        trace = _query("trace", {"type": "boolean", "default": True})
        base = f"/v1/policies/{policy_id}"
        paths[f"{base}/decide"] = {
            "post": {
                "summary": f"Decide one account with the version of {policy_id} in force",
                "parameters": [trace],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/DecisionRecord"}),
                    **_problems(*common),
                },
                "security": [{"apiKey": ["decide"]}] if secured else [],
            }
        }
        batch = {
            "type": "object",
            "required": ["accounts"],
            "additionalProperties": False,
            "properties": {
                "accounts": {"type": "array", "maxItems": limits.max_batch, "items": ref}
            },
        }
        paths[f"{base}/decide-batch"] = {
            "post": {
                "summary": f"Decide up to {limits.max_batch} accounts in one call",
                "parameters": [trace],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": batch}},
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "decisions": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/DecisionRecord"},
                                }
                            },
                        }
                    ),
                    **_problems(*common),
                },
            }
        }
        for item in versions:
            at = f"{base}/versions/{item.version}"
            paths[at] = {
                "get": {
                    "summary": "One policy version",
                    "responses": {"200": _json({"type": "object"}), **_problems(401, 403, 404)},
                }
            }
            paths[f"{at}/disclosure"] = {
                "get": {
                    "summary": "The policy disclosure, in plain language",
                    "parameters": [
                        _query("lang", {"enum": languages}),
                        _query("format", {"enum": ["md", "html"]}),
                    ],
                    "responses": {
                        "200": _text("text/markdown", "text/html"),
                        **_problems(400, 401, 403, 404),
                    },
                }
            }
    decision_id = {
        "name": "decision_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    paths["/v1/policies"] = {
        "get": {
            "summary": "Policies and their versions",
            "responses": {"200": _json({"type": "object"}), **_problems(401, 403)},
        }
    }
    paths["/v1/decisions/{decision_id}"] = {
        "get": {
            "summary": "A recorded decision, byte for byte as answered",
            "parameters": [decision_id],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/DecisionRecord"}),
                **_problems(401, 403, 404, 503),
            },
        }
    }
    paths["/v1/decisions/{decision_id}/notice"] = {
        "get": {
            "summary": "The customer notice of a recorded decision",
            "parameters": [
                decision_id,
                _query("lang", {"type": "string"}),
                _query("format", {"enum": ["md", "html"]}),
            ],
            "responses": {
                "200": _text("text/markdown", "text/html"),
                **_problems(400, 401, 403, 404, 503),
            },
        }
    }
    paths["/v1/decisions/{decision_id}/proof"] = {
        "get": {
            "summary": "The decision's inclusion proof in the latest signed checkpoint "
            "(checked offline by `clearline audit verify-proof`)",
            "parameters": [decision_id],
            "responses": {
                "200": _json(_INCLUSION_PROOF),
                **_problems(401, 403, 404, 503),
            },
        }
    }
    paths["/v1/audit/checkpoint"] = {
        "get": {
            "summary": "The audit log's latest signed checkpoint (C2SP signed note); "
            "404 when the service signs none",
            "responses": {
                "200": _text("text/plain"),
                **_problems(401, 403, 404, 503),
            },
        }
    }
    paths["/v1/admin/reload"] = {
        "post": {
            "summary": "Re-read the policy folder; swap only if it checks",
            "responses": {"200": _json({"type": "object"}), **_problems(401, 403, 422)},
        }
    }
    paths["/healthz"] = {
        "get": {
            "summary": "The process is alive",
            "security": [],
            "responses": {"200": _json({"type": "object"})},
        }
    }
    paths["/readyz"] = {
        "get": {
            "summary": "Registry loaded and audit log writable",
            "security": [],
            "responses": {"200": _json({"type": "object"}), **_problems(503)},
        }
    }
    paths["/metrics"] = {
        "get": {"summary": "Prometheus metrics", "responses": {"200": _text("text/plain")}}
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Clearline decision service", "version": ENGINE_VERSION},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if secured:
        document["components"]["securitySchemes"] = {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": f"scopes: {', '.join(SCOPES)}",
            }
        }
        document["security"] = [{"apiKey": []}]
    return document
