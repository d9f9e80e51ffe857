"""OpenAI `POST /v1/responses`."""

from __future__ import annotations

from typing import Any

from warmgate.dialects.base import Facts, require_model, stream_flag, type_name
from warmgate.errors import BadRequest


def facts(body: dict[str, Any]) -> Facts:
    model = require_model(body)
    inp = body.get("input")
    if inp is not None and not isinstance(inp, str | list):
        raise BadRequest(f"input must be a string or an array, got {type_name(inp)}", param="input")
    return Facts(model, stream_flag(body))
