"""Request/reply values shared by the route handlers, and the two providers' error bodies (pure).

Handlers are plain functions ``(Request, Account, SimConfig) -> Reply`` that do no I/O; the ASGI app
(app.py) reads requests, applies faults and latency and writes replies.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

Headers = list[tuple[bytes, bytes]]

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "invalid_request_error",
    429: "requests",
}
_OPENAI_CODES = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """An error answer; ``app.py`` renders it in the route's wire format."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


def new_id(prefix: str) -> str:
    """A unique id such as ``chatcmpl-<24 hex>``."""
    return prefix + os.urandom(12).hex()


def now_s() -> int:
    return int(time.time())


def error_body(
    dialect: str, status: int, message: str, param: str | None = None, code: str | None = None
) -> bytes:
    """An OpenAI- (``{"error": {...}}``) or Anthropic-shaped (``{"type": "error", ...}``) error body."""
    if dialect == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": kind,
                "param": param,
                "code": code or _OPENAI_CODES.get(status),
            }
        }
    )


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[bytes, bytes]
    body: bytes

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or ApiError 400."""
        try:
            doc = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"We could not parse the JSON body of your request: {exc}") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return doc

    def header_float(self, name: bytes) -> float | None:
        value = self.headers.get(name)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            raise ApiError(400, f"Invalid {name.decode()} header: {value.decode('latin-1')!r}") from None


@dataclass(slots=True)
class Usage:
    """What a reply cost, for stats and latency. ``uncached`` tokens drive the simulated TTFT."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    uncached: int = 0


@dataclass(slots=True)
class Reply:
    """A JSON reply (``body``) or an SSE stream (``events``: (bytes, is_a_token_event) pairs)."""

    status: int = 200
    body: bytes = b""
    events: list[tuple[bytes, bool]] | None = None
    headers: Headers = field(default_factory=list)
    usage: Usage | None = None
    content_type: bytes = b"application/json"


def json_reply(doc: Any, status: int = 200, usage: Usage | None = None) -> Reply:
    return Reply(status=status, body=orjson.dumps(doc), usage=usage)


def sse(doc: Any, event: str | None = None) -> bytes:
    """One server-sent event; with ``event`` an ``event:`` line precedes the data line."""
    data = orjson.dumps(doc)
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def output_budget(body: dict[str, Any], fields: tuple[str, ...], natural: int) -> tuple[int, bool]:
    """Output length: the natural length capped by the first present max-tokens field; (n, truncated)."""
    for name in fields:
        limit = body.get(name)
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ApiError(400, f"Invalid '{name}': expected a positive integer.", param=name)
            return (limit, True) if limit < natural else (natural, False)
    return natural, False


def natural_length(req: Request, default: int) -> int:
    """Output tokens a request would produce unbounded: ``x-sim-output-tokens`` header or the default."""
    value = req.header_float(b"x-sim-output-tokens")
    return max(1, int(value)) if value is not None else default


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "you must provide a model parameter", param="model")
    return model
