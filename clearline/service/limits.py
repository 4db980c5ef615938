"""Request limits: body size, JSON nesting depth, batch size, media type; refusals as problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from clearline.engine.decisions.requests import InputProblem, parse_request
from clearline.engine.decisions.requests import Request as AccountRequest
from clearline.engine.input_lines import LineProblem, read_line

from .problems import BATCH_TOO_LARGE, BODY_TOO_LARGE, TOO_DEEP, UNSUPPORTED_MEDIA, Problem


@dataclass(frozen=True)
class Limits:
    """What one request may carry."""

    max_body: int = 1 << 20  # bytes
    max_batch: int = 1000  # accounts per decide-batch call
    max_depth: int = 32  # nesting of JSON arrays and objects


async def read_json(request: Request, limits: Limits) -> Any:
    """The request's JSON body, within the limits; Problem otherwise."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise Problem(
            415,
            UNSUPPORTED_MEDIA,
            f"send the body as application/json, not {media or 'no content type'}",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body:
        raise _too_large(limits)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body:
            raise _too_large(limits)
    try:
        # The CLI's reader: UTF-8 checked, depth counted before parsing, duplicate keys, NaN,
        # Infinity and numbers a double cannot hold refused, with the CLI's codes.
        data = read_line(bytes(body), 1)
    except LineProblem as exc:
        raise Problem(400, exc.code, f"{exc.message} (at column {exc.column})") from None
    if _depth_over(data, limits.max_depth):
        raise Problem(
            400, TOO_DEEP, f"JSON nested deeper than {limits.max_depth} arrays and objects"
        )
    return data


def _too_large(limits: Limits) -> Problem:
    return Problem(413, BODY_TOO_LARGE, f"request body over {limits.max_body} bytes")


def _depth_over(data: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def account_request(data: Any, pointer: str = "") -> AccountRequest:
    """One account (`account_id`, `facts`, `as_of`), checked as `clearline decide` checks a
    line, with the same codes and messages."""
    if isinstance(data, dict) and "facts" not in data:
        raise Problem(
            422,
            "F004",
            'give the account as {"account_id": ..., "facts": {...}, "as_of": ...}',
            [{"code": "F004", "message": "`facts` is missing", "pointer": pointer or "/"}],
        )
    try:
        return parse_request(data, 1)
    except InputProblem as exc:
        message = str(exc)
        raise Problem(
            422, exc.code, message, [{"code": exc.code, "message": message, "pointer": pointer}]
        ) from None


def batch_requests(data: Any, limits: Limits) -> list[AccountRequest]:
    """The accounts of a decide-batch body `{"accounts": [...]}`, within the batch limit."""
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("accounts"), list)
        or set(data) != {"accounts"}
    ):
        raise Problem(422, "F000", 'give the accounts as {"accounts": [{...}, ...]}')
    accounts = data["accounts"]
    if len(accounts) > limits.max_batch:
        raise Problem(
            413,
            BATCH_TOO_LARGE,
            f"{len(accounts)} accounts in one call; at most {limits.max_batch}",
        )
    return [account_request(item, f"/accounts/{n}") for n, item in enumerate(accounts)]
