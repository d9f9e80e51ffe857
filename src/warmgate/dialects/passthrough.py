"""Any other `/v1/...` endpoint: the gateway reads at most a string `model`, and nothing is required."""

from __future__ import annotations

from typing import Any

from warmgate.dialects.base import Facts


def facts(body: dict[str, Any]) -> Facts:
    model = body.get("model")
    stream = body.get("stream")
    return Facts(model if isinstance(model, str) and model else None, stream is True)
