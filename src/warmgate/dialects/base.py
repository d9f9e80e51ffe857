"""What the gateway reads from a request body, shared by every dialect. Pure: no I/O.

A dialect checks only the fields the gateway itself reads (`model`, `messages`/`input`, `stream`);
everything else, known or not, is the provider's business and passes through untouched.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import orjson

from warmgate.errors import BadRequest

Wire = Literal["openai", "anthropic"]


class Facts(NamedTuple):
    """What a dialect found in a request body (a NamedTuple: one is built per request, and it
    costs a third of a frozen dataclass)."""

    model: str | None
    stream: bool


def type_name(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(v), "null" if v is None else type(v).__name__
    )


def json_object(body: bytes) -> dict[str, Any]:
    """`body` parsed as the JSON object a request must be, or BadRequest (code invalid_json)."""
    if not body:
        raise BadRequest("the request body is empty; expected a JSON object", code="invalid_json")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"the request body is not valid JSON: {e}", code="invalid_json") from e
    if not isinstance(value, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type_name(value)}", code="invalid_json")
    return value


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise BadRequest("you must provide a model parameter", param="model", code="missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise BadRequest(f"model must be a non-empty string, got {type_name(model)}", param="model")
    return model


def stream_flag(body: dict[str, Any]) -> bool:
    stream = body.get("stream", False)
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise BadRequest(f"stream must be a boolean, got {type_name(stream)}", param="stream")
    return stream


def require_list(body: dict[str, Any], field: str) -> list[Any]:
    value = body.get(field)
    if value is None:
        raise BadRequest(f"you must provide a {field} parameter", param=field, code="missing_required_parameter")
    if not isinstance(value, list):
        raise BadRequest(f"{field} must be an array, got {type_name(value)}", param=field)
    return value


def check_messages(messages: list[Any], field: str = "messages") -> None:
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise BadRequest(f"{field}[{i}] must be an object, got {type_name(m)}", param=f"{field}[{i}]")
