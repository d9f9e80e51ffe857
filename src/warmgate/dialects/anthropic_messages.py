"""Anthropic `POST /v1/messages` and `POST /v1/messages/count_tokens`."""

from __future__ import annotations

from typing import Any

from warmgate.dialects.base import Facts, check_messages, require_list, require_model, stream_flag


def facts(body: dict[str, Any]) -> Facts:
    model = require_model(body)
    check_messages(require_list(body, "messages"))
    return Facts(model, stream_flag(body))


def count_tokens_facts(body: dict[str, Any]) -> Facts:
    model = require_model(body)
    check_messages(require_list(body, "messages"))
    return Facts(model, False)
