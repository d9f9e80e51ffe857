"""Wire formats: which endpoint a path is, and what the gateway reads from its body. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from warmgate.dialects import (
    anthropic_messages,
    openai_chat,
    openai_embeddings,
    openai_responses,
    passthrough,
)
from warmgate.dialects.base import Facts, Wire


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A route the gateway understands.

    `wire` is the format of the gateway's own error bodies on this route; `known` endpoints need a
    JSON object body naming a configured model, passthrough ones accept any body; `cacheable` ones
    go through the response cache.
    """

    name: str
    wire: Wire
    facts: Callable[[dict[str, Any]], Facts]
    known: bool = True
    cacheable: bool = False


CHAT = Endpoint("chat.completions", "openai", openai_chat.facts, cacheable=True)
RESPONSES = Endpoint("responses", "openai", openai_responses.facts, cacheable=True)
EMBEDDINGS = Endpoint("embeddings", "openai", openai_embeddings.facts, cacheable=True)
MESSAGES = Endpoint("messages", "anthropic", anthropic_messages.facts, cacheable=True)
COUNT_TOKENS = Endpoint("messages.count_tokens", "anthropic", anthropic_messages.count_tokens_facts)
PASSTHROUGH = Endpoint("passthrough", "openai", passthrough.facts, known=False)
ANTHROPIC_PASSTHROUGH = Endpoint("passthrough", "anthropic", passthrough.facts, known=False)

_POST_ROUTES = {
    "/v1/chat/completions": CHAT,
    "/v1/responses": RESPONSES,
    "/v1/embeddings": EMBEDDINGS,
    "/v1/messages": MESSAGES,
    "/v1/messages/count_tokens": COUNT_TOKENS,
}


def endpoint_for(method: str, path: str) -> Endpoint:
    """The endpoint of a `/v1/...` request (the caller checked the prefix)."""
    if method == "POST":
        ep = _POST_ROUTES.get(path)
        if ep is not None:
            return ep
    if path.startswith("/v1/messages"):
        return ANTHROPIC_PASSTHROUGH
    return PASSTHROUGH


__all__ = ["Endpoint", "Facts", "Wire", "endpoint_for"]
