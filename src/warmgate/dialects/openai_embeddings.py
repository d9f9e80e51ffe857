"""OpenAI `POST /v1/embeddings`."""

from __future__ import annotations

from typing import Any

from warmgate.dialects.base import Facts, require_model, type_name
from warmgate.errors import BadRequest


def facts(body: dict[str, Any]) -> Facts:
    model = require_model(body)
    inp = body.get("input")
    if inp is None:
        raise BadRequest("you must provide an input parameter", param="input", code="missing_required_parameter")
    if not isinstance(inp, str | list):
        raise BadRequest(f"input must be a string or an array, got {type_name(inp)}", param="input")
    return Facts(model, False)
