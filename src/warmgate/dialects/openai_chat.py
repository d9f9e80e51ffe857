"""OpenAI `POST /v1/chat/completions`."""

from __future__ import annotations

from typing import Any

from warmgate.dialects.base import Facts, check_messages, require_list, require_model, stream_flag


def facts(body: dict[str, Any]) -> Facts:
    model = require_model(body)
    check_messages(require_list(body, "messages"))
    return Facts(model, stream_flag(body))
