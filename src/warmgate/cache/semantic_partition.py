"""Semantic partitions: what must match exactly before two requests are compared by meaning. Pure.

A request is semantically cacheable when its last turn is a user turn made of text only
(`chat.completions`, `responses`, `messages`; the `embeddings` endpoint never is). Then:
- `text` is that turn's text (parts joined by a newline, stripped): the only thing compared by meaning;
- `partition` is a SHA-256 over `SEMANTIC_VERSION`, the tenant scope, the namespace, the embedder name
  and the exact cache's canonical encoding (`cache.keys.canonical_request`) of the body with the last
  turn's text replaced by a placeholder. So the endpoint, the resolved model, the system prompt
  (`system`, `instructions`, system/developer messages), tools, response format, sampling
  parameters, every earlier turn and every non-text attribute of the last turn (its role, `name`,
  `cache_control`) must all match exactly; canonicalization (key order, defaults, integral floats)
  is the exact cache's, so the two caches never disagree about what "the same request" is.

Not eligible (None): the last turn is not a user turn (a tool result, an assistant prefill), carries
anything but text (images, files, audio), is empty, or is longer than `max_chars` (an embedder
truncates its input, so a long text could differ after the part it looks at).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import orjson

from warmgate.cache.keys import canonical_request

SEMANTIC_VERSION: Final = 1
_PLACEHOLDER: Final = "\x00warmgate:last-user-turn\x00"
_TEXT_PART_TYPES: Final = {
    "chat.completions": frozenset({"text"}),
    "responses": frozenset({"input_text"}),
    "messages": frozenset({"text"}),
}
_TEXT_PART_KEYS: Final = frozenset({"type", "text", "cache_control"})


class SemanticRequest(NamedTuple):
    partition: str
    text: str


def last_user_text(endpoint: str, body: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(text of the last user turn, the body with that text replaced by a placeholder), or None when
    the request is not semantically cacheable (see the module docstring)."""
    if endpoint == "responses":
        inp = body.get("input")
        if isinstance(inp, str):
            return inp, {**body, "input": _PLACEHOLDER}
        if not isinstance(inp, list) or not inp:
            return None
        last = inp[-1]
        if not isinstance(last, dict) or last.get("role") != "user" or last.get("type", "message") != "message":
            return None
        found = _content_text(endpoint, last.get("content"))
        if found is None:
            return None
        text, content = found
        return text, {**body, "input": [*inp[:-1], {**last, "content": content}]}
    if endpoint in ("chat.completions", "messages"):
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return None
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "user":
            return None
        found = _content_text(endpoint, last.get("content"))
        if found is None:
            return None
        text, content = found
        return text, {**body, "messages": [*messages[:-1], {**last, "content": content}]}
    return None


def _content_text(endpoint: str, content: Any) -> tuple[str, Any] | None:
    """(text, the content with the text replaced) of a user turn's content, None if not text only."""
    if isinstance(content, str):
        return content, _PLACEHOLDER
    if not isinstance(content, list) or not content:
        return None
    types = _TEXT_PART_TYPES[endpoint]
    texts: list[str] = []
    parts: list[Any] = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in types or not part.keys() <= _TEXT_PART_KEYS:
            return None
        text = part.get("text")
        if not isinstance(text, str):
            return None
        texts.append(text)
        parts.append({**part, "text": _PLACEHOLDER})
    return "\n".join(texts), parts


def semantic_request(
    *, scope: str, namespace: str, endpoint: str, model: str, body: Mapping[str, Any], embedder: str,
    max_chars: int,
) -> SemanticRequest | None:
    """The partition and compared text of a request (see the module docstring), or None."""
    found = last_user_text(endpoint, body)
    if found is None:
        return None
    text, rest = found
    text = text.strip()
    if not text or len(text) > max_chars:
        return None
    canonical = canonical_request(endpoint=endpoint, model=model, body=rest)
    material = orjson.dumps((SEMANTIC_VERSION, scope, namespace, embedder)) + canonical
    return SemanticRequest(hashlib.sha256(material).hexdigest(), text)


def has_tool_calls(endpoint: str, body: Mapping[str, Any]) -> bool:
    """Whether a provider's answer asks the client to call a tool (such answers depend on the exact
    wording of the prompt: their arguments are taken from it)."""
    if endpoint == "chat.completions":
        choices = body.get("choices")
        if isinstance(choices, list):
            for c in choices:
                if isinstance(c, dict):
                    msg = c.get("message")
                    if c.get("finish_reason") in ("tool_calls", "function_call") or (
                        isinstance(msg, dict) and (msg.get("tool_calls") or msg.get("function_call"))
                    ):
                        return True
        return False
    if endpoint == "responses":
        output = body.get("output")
        return isinstance(output, list) and any(
            isinstance(o, dict) and o.get("type") not in ("message", "reasoning") for o in output
        )
    if endpoint == "messages":
        content = body.get("content")
        return body.get("stop_reason") == "tool_use" or (
            isinstance(content, list)
            and any(isinstance(b, dict) and b.get("type") in ("tool_use", "server_tool_use") for b in content)
        )
    return False


def is_deterministic(endpoint: str, body: Mapping[str, Any]) -> bool:
    """Whether the request asks for (near-)greedy decoding: `temperature` 0, or `top_k` 1 on
    /v1/messages, and at most one choice. Absent temperature means the provider default (1): random."""
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        return False
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature == 0:
        return True
    top_k = body.get("top_k")
    return endpoint == "messages" and isinstance(top_k, int) and not isinstance(top_k, bool) and top_k == 1
