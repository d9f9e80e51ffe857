"""Exact-cache keys: a SHA-256 of a canonical, versioned encoding of what changes the answer. Pure.

A key is `<scope>|<namespace>|<digest>`. Stores purge by prefix (`scope_prefix`), so `%` and `|` in
scope and namespace are percent-encoded: an escaped part never contains `|`, hence no scope or
namespace can produce another one's prefix.

The digest covers `KEY_VERSION`, the endpoint, the resolved model, the `vary` request headers the
caller names (e.g. `anthropic-beta`) and the request body, canonicalized:
- the body's `model` is replaced by the resolved model, and `EXCLUDED_FIELDS` are left out;
- JSON key order and whitespace never matter: the parsed body is re-encoded with sorted keys;
- top-level `null` fields are left out (the APIs treat null as "not given");
- top-level integral floats become integers (`"temperature": 1.0` == `1`). Nested numbers are kept as
  sent: a full recursive walk costs 20-90 µs on a 2-20 KB chat body, several times the hash itself,
  and a client repeating a request spells its numbers the same way;
- a top-level field equal to its documented provider default (`DEFAULTS`) is left out, so spelling
  the default out does not split the cache. (An OpenAI-compatible backend whose own default differs,
  e.g. a vLLM model's generation_config, then shares entries between "absent" and "explicit default".)

A custom key (`cf-aig-cache-key`) replaces the body digest but stays within scope, namespace and
endpoint (a cached chat completion must never answer a `/v1/messages` request), and is hashed too.
Streamed and non-streamed requests share one key (`stream` is excluded).

Changing anything in the encoding means bumping `KEY_VERSION`: old entries are then never read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

KEY_VERSION: Final = 1

EXCLUDED_FIELDS: Final = frozenset(
    {
        "model",  # replaced by the resolved model, passed in separately
        "stream",  # a streamed and a non-streamed request share one entry (the edge re-frames it)
        "stream_options",  # framing of a stream only (include_usage)
        "metadata",  # client bookkeeping: OpenAI stored-completion tags, Anthropic metadata.user_id
        "client_metadata",  # Codex's client bookkeeping
        "litellm_metadata",  # LiteLLM SDK bookkeeping
        "user",  # end-user id for the provider's abuse monitoring
        "safety_identifier",  # the successor of `user`, same purpose
        "prompt_cache_key",  # a routing hint for the provider's prompt cache
        "prompt_cache_retention",  # how long the provider keeps its prompt cache
        "store",  # whether the provider keeps the response; not what it says
        "service_tier",  # latency/price class of the same model; a cache hit costs nothing anyway
        "cache",  # LiteLLM's per-request cache controls (parse_controls strips them first)
    }
)
"""Top-level body fields that never change the answer. Everything else is in the key
(`parallel_tool_calls`, `include`, `reasoning`, `previous_response_id`, `background`... do)."""

DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    # platform.openai.com/docs/api-reference/chat/create
    "chat.completions": {
        "temperature": 1,
        "top_p": 1,
        "n": 1,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "logprobs": False,
        "parallel_tool_calls": True,
        "response_format": {"type": "text"},
    },
    # platform.openai.com/docs/api-reference/responses/create
    "responses": {
        "temperature": 1,
        "top_p": 1,
        "parallel_tool_calls": True,
        "truncation": "disabled",
        "background": False,
        "text": {"format": {"type": "text"}},
    },
    # docs.anthropic.com/en/api/messages (top_p and top_k have no documented default value)
    "messages": {
        "temperature": 1,
    },
    # platform.openai.com/docs/api-reference/embeddings/create
    "embeddings": {
        "encoding_format": "float",
    },
}
"""Per endpoint (`Endpoint.name`): top-level fields whose documented default value is left out of the
key when sent explicitly. Values are compared with their type (`"n": true` is not `1`)."""

_NO_DEFAULTS: Final[Mapping[str, Any]] = {}
_EXACT_FLOAT: Final = 2.0**53  # integral floats beyond this are not exactly an int; keep them floats


def _escape(part: str) -> str:
    if "%" in part or "|" in part:
        return part.replace("%", "%25").replace("|", "%7C")
    return part


def scope_prefix(scope: str, namespace: str | None = None) -> str:
    """The prefix of every key in `scope` (and `namespace`, if given): for purging by prefix."""
    if namespace is None:
        return _escape(scope) + "|"
    return f"{_escape(scope)}|{_escape(namespace)}|"


def canonical_request(
    *, endpoint: str, model: str, body: Mapping[str, Any], vary: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The exact bytes that are hashed into a key's digest (also useful to show why two requests miss)."""
    return orjson.dumps((KEY_VERSION, endpoint, model, sorted(vary) if vary else (), _fields(endpoint, body)),
                        option=orjson.OPT_SORT_KEYS)


def _fields(endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's top-level fields as the key sees them (see the module docstring). A Python step
    per field is the cheapest way found: whole-body set and dict operations (`keys() & ...`,
    `None in values()`) cost more for bodies of a few fields."""
    defaults = DEFAULTS.get(endpoint, _NO_DEFAULTS)
    fields: dict[str, Any] = {}
    for k, v in body.items():
        if k in EXCLUDED_FIELDS or v is None:
            continue
        if type(v) is float and v.is_integer() and -_EXACT_FLOAT < v < _EXACT_FLOAT:
            v = int(v)
        if k in defaults:
            d = defaults[k]
            if type(v) is type(d) and v == d:
                continue
        fields[k] = v
    return fields


def cache_key(
    *,
    scope: str,
    namespace: str,
    endpoint: str,
    model: str,
    body: Mapping[str, Any],
    custom_key: str | None = None,
    vary: Sequence[tuple[str, str]] = (),
) -> str:
    """`<scope>|<namespace>|<sha256 hex>` of the request (see the module docstring).

    `endpoint` is the dialect's `Endpoint.name` (`chat.completions`, `responses`, `messages`,
    `embeddings`); `model` the resolved model; `body` the parsed JSON object as forwarded (without
    LiteLLM's `cache` field); `vary` the (lower-cased name, value) pairs of request headers that
    change the answer, if any.
    """
    if custom_key is None:
        material = canonical_request(endpoint=endpoint, model=model, body=body, vary=vary)
    else:
        material = orjson.dumps((KEY_VERSION, "custom-key", endpoint, custom_key))
    return scope_prefix(scope, namespace) + hashlib.sha256(material).hexdigest()


def body_key(prefix: str, endpoint: str, model: str, body: Mapping[str, Any]) -> str:
    """`cache_key` without a custom key or `vary` headers, given the scope and namespace as their
    `scope_prefix` (which a caller may memoise), in one call with positional arguments: every
    request with caching on computes one."""
    material = orjson.dumps((KEY_VERSION, endpoint, model, (), _fields(endpoint, body)), option=orjson.OPT_SORT_KEYS)
    return prefix + hashlib.sha256(material).hexdigest()
