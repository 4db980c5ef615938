"""RFC 9457 problem documents: every refusal the service answers, with the CLI's error codes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from clearline.engine.errors import Diagnostic, FactError

PROBLEM_TYPE = "application/problem+json"

# Codes of the HTTP layer itself; the codes of the input (F..., V..., A..., N...) are the CLI's.
UNAUTHORIZED = "H001"
FORBIDDEN = "H002"
BODY_TOO_LARGE = "H003"
UNSUPPORTED_MEDIA = "H004"
TOO_DEEP = "H005"
BATCH_TOO_LARGE = "H006"
NOT_FOUND = "H007"
METHOD_NOT_ALLOWED = "H008"
NOT_RECORDED = "H009"
BAD_QUERY = "H010"
NOT_READY = "H011"
INTERNAL = "H500"
UNKNOWN_POLICY = "V010"
NOT_IN_FORCE = "V011"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """A refusal to answer, raised anywhere below a route and rendered as a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}

    def document(self) -> dict[str, Any]:
        """The problem as RFC 9457 members plus `code` and `errors` extension members."""
        body: dict[str, Any] = {
            "type": f"https://clearline.dev/problems/{self.code}",
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        return body

    def response(self) -> Response:
        """The problem as an HTTP response."""
        return Response(
            orjson.dumps(self.document()),
            status_code=self.status,
            media_type=PROBLEM_TYPE,
            headers=self.headers,
        )


def fact_problem(exc: FactError, pointer: str = "/facts") -> Problem:
    """The facts of a request do not fit the policy: one entry per problem, as the CLI prints."""
    errors = [
        {
            "code": p.code,
            "message": p.message,
            "pointer": f"{pointer}/{p.fact}" if p.fact else pointer,
        }
        for p in exc.problems
    ]
    return Problem(422, exc.problems[0].code, str(exc), errors)


def diagnostics_problem(diagnostics: Iterable[Diagnostic], detail: str) -> Problem:
    """Located policy errors (a reload that does not check), rendered as `check` prints them."""
    errors = [
        {"code": d.code, "message": d.message, "location": d.render()}
        for d in diagnostics
        if d.severity == "error"
    ]
    code = errors[0]["code"] if errors else "V000"
    return Problem(422, code, detail, errors)
