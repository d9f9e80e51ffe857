"""Gateway-made errors and their wire-format bodies.

    GatewayError                      (status, kind, message, param)
    ├── BadRequest                    400  malformed JSON, wrong content type or field types
    ├── Unauthorized                  401  missing or unknown gateway key
    ├── Forbidden                     403  a route the key may not use (or that is switched off)
    ├── NotFound                      404  unknown model or route
    ├── MethodNotAllowed              405
    ├── Conflict                      409  a management change that clashes with the state
    ├── RequestTimeout                408  the client was too slow to send its request
    ├── PayloadTooLarge               413  body or headers over the configured limits
    ├── Unprocessable                 422  a well-formed management body that breaks a rule
    ├── UpstreamUnavailable           502  no account of the pool could be reached
    ├── ShuttingDown                  503  cut off by the end of the shutdown grace period
    └── UpstreamTimeout               504  the provider did not answer in time

Errors that come *from* a provider are never turned into these: they pass through unchanged.
`render(err, wire)` gives the body in the caller's own format: OpenAI-shaped on OpenAI routes,
Anthropic-shaped on `/v1/messages`.
"""

from __future__ import annotations

from typing import Literal

import orjson

Wire = Literal["openai", "anthropic"]


class GatewayError(Exception):
    status = 500
    openai_type = "server_error"
    anthropic_type = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class BadRequest(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class Unauthorized(GatewayError):
    status = 401
    openai_type = "invalid_request_error"
    anthropic_type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(GatewayError):
    status = 403
    openai_type = "invalid_request_error"
    anthropic_type = "permission_error"


class NotFound(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"


class MethodNotAllowed(GatewayError):
    status = 405
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class Conflict(GatewayError):
    status = 409
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    code = "conflict"


class Unprocessable(GatewayError):
    status = 422
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    code = "invalid_value"


class PayloadTooLarge(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"


class RequestTimeout(GatewayError):
    status = 408
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    code = "request_timeout"


class UpstreamUnavailable(GatewayError):
    status = 502
    openai_type = "upstream_error"
    anthropic_type = "api_error"
    code = "upstream_unavailable"


class ShuttingDown(GatewayError):
    status = 503
    openai_type = "server_error"
    anthropic_type = "api_error"
    code = "shutting_down"


class UpstreamTimeout(GatewayError):
    status = 504
    openai_type = "upstream_error"
    anthropic_type = "timeout_error"
    code = "upstream_timeout"


class InternalError(GatewayError):
    """Only ever raised by the HTTP edge for an exception nobody expected (a bug)."""


def render(err: GatewayError, wire: Wire, request_id: str) -> bytes:
    """The error body in the caller's wire format."""
    if wire == "anthropic":
        return orjson.dumps(
            {
                "type": "error",
                "error": {"type": err.anthropic_type, "message": err.message},
                "request_id": request_id,
            }
        )
    return orjson.dumps(
        {
            "error": {
                "message": err.message,
                "type": err.openai_type,
                "param": err.param,
                "code": err.code,
            }
        }
    )
