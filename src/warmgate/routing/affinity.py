"""Which conversation a request belongs to: the affinity key. Pure, no I/O.

`affinity_keys` yields every key a request carries, strongest first (SPEC "Prompt-cache affinity
routing"); `affinity_key` is the first of them:

    kind              where it comes from
    conversation      header x-conversation-id (Zenlayer)
    session           body metadata.user_id (Claude Code: plain string, legacy
                      "user_<hex>_account_<uuid>_session_<uuid>", or a JSON string with "session_id"),
                      header x-claude-code-session-id
    session           body prompt_cache_key, header session-id (or session_id) (Codex)
    response          header x-response-id: the `id` of an earlier response (relay convention)
    request           header x-request-id: the x-warmgate-request-id of an earlier response
    stored_response   body previous_response_id, body conversation ("conv_..." or {"id": ...}) on
                      /v1/responses; the path of /v1/responses/{id}[/...]
    task              body task_id (relays' sub-task extensions); the path of /v1/videos/{id}[/remix|
                      /content] and /v1/video/generations/{id}; body video_id or video ("video_..." or
                      {"id": ...}) on /v1/videos/extensions and /v1/videos/edits; images[].file_id and
                      mask.file_id on /v1/images/edits; the last image_generation_call item named in a
                      /v1/responses input (multi-turn image editing)
    prefix            hash of the stable prompt prefix: model, system prompt (leading system/developer
                      messages, `instructions`, `system`), tools and the first user message, without
                      `cache_control` markers; only when the whole prompt is long enough for the
                      provider to cache it (characters / 4 >= min_prefix_tokens), else no key at all

The kinds response, request, stored_response and task are *pointers*: their value names an object
that exists on one account, so they mean something only through a binding written when that object
was created (`response_ids`). A router that finds no binding for a pointer should use the next key
of `affinity_keys` (a random `x-request-id` added by a proxy must not scatter a conversation).

A malformed value (metadata not an object, user_id a number, a JSON string that does not parse)
is skipped, never an error. Header names are expected lower-cased (as ASGI delivers them).
Explicit ids longer than `MAX_ID_CHARS` are replaced by their SHA-256, so binding keys stay small.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from warmgate.config import RoutingConfig

MAX_ID_CHARS = 256
CHARS_PER_TOKEN = 4

POINTER_KINDS = frozenset({"response", "request", "stored_response", "task"})

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"

_HEADERS = frozenset(
    {b"x-conversation-id", b"x-claude-code-session-id", b"session-id", b"session_id", b"x-response-id", b"x-request-id"}
)
# /v1/responses/<segment> that are operations, not response ids.
_RESPONSES_VERBS = frozenset({"compact", "input_tokens"})
_VIDEOS_VERBS = frozenset({"extensions", "edits", "characters"})
# Paths whose successful responses name objects that later requests may point at.
_ID_PATHS = (CHAT, RESPONSES, MESSAGES, "/v1/videos", "/v1/video/generations", "/v1/files", "/v1/conversations")
_STORED_PATHS = ("/v1/videos", "/v1/video/generations", "/v1/files", "/v1/conversations")


@dataclass(frozen=True, slots=True)
class AffinityKey:
    kind: str
    value: str

    @property
    def pointer(self) -> bool:
        """The value names an earlier object: meaningful only through a binding."""
        return self.kind in POINTER_KINDS

    def binding_key(self, scope: str) -> str:
        """The key of this affinity in a `Bindings` store. `scope` separates pools (and tenants, if
        they must not share bindings). Pointer kinds share one `id` namespace, so an id bound once
        after a response (`id_binding_key`) is found whichever header or field names it later. The
        value is hashed: conversation and session ids can identify a user, and bindings may live in
        a shared Redis."""
        if self.pointer:
            return id_binding_key(scope, self.value)
        value = self.value if self.kind == "prefix" else _opaque(self.value)  # a prefix key is a hash already
        return f"{scope}|{self.kind}|{value}"

    def digest(self) -> str:
        """A short, stable stand-in for logs and metrics (the value may identify a user)."""
        return hashlib.sha256(f"{self.kind}:{self.value}".encode()).hexdigest()[:16]


def id_binding_key(scope: str, object_id: str) -> str:
    """The binding key of an object id from `response_ids` or of an x-warmgate-request-id (hashed)."""
    return f"{scope}|id|{_opaque(object_id)}"


def _opaque(value: str) -> str:
    """A value as it may be stored outside the process: 128 bits of its SHA-256."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def affinity_key(
    endpoint: str, headers: list[tuple[bytes, bytes]], body: dict[str, Any] | None, *, min_prefix_tokens: int
) -> AffinityKey | None:
    """The strongest affinity key of a request, or None when it needs no affinity.

    `endpoint` is the request path without the query (e.g. "/v1/messages")."""
    return next(affinity_keys(endpoint, headers, body, min_prefix_tokens=min_prefix_tokens), None)


def affinity_keys(
    endpoint: str, headers: list[tuple[bytes, bytes]], body: dict[str, Any] | None, *, min_prefix_tokens: int
) -> Iterator[AffinityKey]:
    """Every affinity key of a request, strongest first; computed lazily, so taking only the first
    costs only what it needs (the prefix hash comes last)."""
    h: dict[bytes, bytes] = {}
    for name, raw in headers:
        if name in _HEADERS:
            h[name] = raw
    b = body if isinstance(body, dict) else {}

    if (v := _header(h, b"x-conversation-id")) is not None:
        yield AffinityKey("conversation", v)
    if (v := _claude_code_session(b)) is not None:
        yield AffinityKey("session", v)
    if (v := _header(h, b"x-claude-code-session-id")) is not None:
        yield AffinityKey("session", v)
    if (v := _text(b.get("prompt_cache_key"))) is not None:
        yield AffinityKey("session", v)
    if (v := _header(h, b"session-id") or _header(h, b"session_id")) is not None:
        yield AffinityKey("session", v)
    if (v := _header(h, b"x-response-id")) is not None:
        yield AffinityKey("response", v)
    if (v := _header(h, b"x-request-id")) is not None:
        yield AffinityKey("request", v)
    for v in _stored_response_ids(endpoint, b):
        yield AffinityKey("stored_response", v)
    for v in _task_ids(endpoint, b):
        yield AffinityKey("task", v)
    if b and (v := prefix_hash(endpoint, b, min_prefix_tokens=min_prefix_tokens)) is not None:
        yield AffinityKey("prefix", v)


# ---------------------------------------------------------------------------------------------
# Explicit ids


def _bounded(value: str) -> str:
    return value if len(value) <= MAX_ID_CHARS else hashlib.sha256(value.encode()).hexdigest()


def _text(value: Any) -> str | None:
    """A usable id: a non-blank string."""
    if isinstance(value, str):
        value = value.strip()
        return _bounded(value) if value else None
    return None


def _task_text(value: Any) -> str | None:
    """A task id: a string, or an integer (some relays number their tasks)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _header(h: dict[bytes, bytes], name: bytes) -> str | None:
    raw = h.get(name)
    return None if raw is None else _text(raw.decode("latin-1"))


def _claude_code_session(body: dict[str, Any]) -> str | None:
    """The session in Claude Code's metadata.user_id, in any of its three forms."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return None
    user_id = metadata.get("user_id")
    if not isinstance(user_id, str):
        return None
    user_id = user_id.strip()
    if user_id[:1] in ("{", "["):  # JSON (Claude Code 2.x); never a plain id
        try:
            parsed = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return None
        return _text(parsed.get("session_id")) if isinstance(parsed, dict) else None
    _, sep, session = user_id.partition("_session_")
    if sep and user_id.startswith("user_"):
        return _text(session)
    return _text(user_id)


def _is_image_call(item: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(item, dict) and item.get("type") == "image_generation_call"


def _object_id(value: Any) -> str | None:
    """An object named as "id" or {"id": "id"}."""
    if isinstance(value, dict):
        value = value.get("id")
    return _text(value)


def _path_id(endpoint: str, base: str, verbs: frozenset[str]) -> str | None:
    """The id in `base/{id}[/...]`, unless that segment is an operation name."""
    if not endpoint.startswith(base + "/"):
        return None
    segment = endpoint[len(base) + 1 :].split("/", 1)[0]
    return segment if segment and segment not in verbs else None


def _stored_response_ids(endpoint: str, body: dict[str, Any]) -> Iterator[str]:
    if (v := _text(body.get("previous_response_id"))) is not None:
        yield v
    if endpoint == RESPONSES and (v := _object_id(body.get("conversation"))) is not None:
        yield v
    if (v := _path_id(endpoint, RESPONSES, _RESPONSES_VERBS)) is not None:
        yield v


def _task_ids(endpoint: str, body: dict[str, Any]) -> Iterator[str]:
    if (v := _task_text(body.get("task_id"))) is not None:
        yield v
    if endpoint.startswith("/v1/video"):
        for v in (
            _path_id(endpoint, "/v1/videos", _VIDEOS_VERBS),
            _path_id(endpoint, "/v1/video/generations", frozenset()),
            _text(body.get("video_id")),
            _object_id(body.get("video")),
        ):
            if v is not None:
                yield v
    elif endpoint == "/v1/images/edits":
        images = body.get("images")
        for ref in [*(images if isinstance(images, list) else ()), body.get("mask")]:
            if isinstance(ref, dict) and (v := _text(ref.get("file_id"))) is not None:
                yield v
    elif endpoint == RESPONSES:
        items = body.get("input")
        if isinstance(items, list):
            image = next((item for item in reversed(items) if _is_image_call(item)), None)
            if image is not None and (v := _text(image.get("id"))) is not None:
                yield v


# ---------------------------------------------------------------------------------------------
# The stable prefix


def prefix_hash(endpoint: str, body: dict[str, Any], *, min_prefix_tokens: int) -> str | None:
    """A hash of the prompt's stable prefix (model, system prompt, tools, first user message), or
    None when the endpoint has no prompt cache or the prompt is too short to be cached.

    Only the prefix parts are serialized (orjson, sorted keys); the rest of the conversation is
    only measured, and only until it is known to be long enough."""
    parts = _prefix_parts(endpoint, body)
    if parts is None:
        return None
    model, system, tools, first_user, rest = parts
    try:
        blob = orjson.dumps([model, system, tools, first_user], option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    need = min_prefix_tokens * CHARS_PER_TOKEN
    if len(blob) < need and len(blob) + _chars(rest, need - len(blob)) < need:
        return None
    return hashlib.sha256(blob).hexdigest()[:32]  # SHA-256: the fastest hashlib digest on large input


def shared_prefix_hash(endpoint: str, body: dict[str, Any], *, min_prefix_tokens: int) -> str | None:
    """A hash of the part of the prompt that many conversations share (model, system prompt, tools:
    the first user message left out), or None when that part alone is too short to be cached.

    The router places a new conversation by this hash's rendezvous order, so conversations that
    start from the same long system prompt meet on the same accounts (as far as the load bound lets
    them) and find it in the provider's prompt cache, instead of warming it on every account."""
    parts = _prefix_parts(endpoint, body)
    if parts is None:
        return None
    model, system, tools, _, _ = parts
    need = min_prefix_tokens * CHARS_PER_TOKEN
    if _chars([system, tools], need) < need:  # measured before anything is serialized
        return None
    try:
        blob = orjson.dumps([model, system, tools], option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    return hashlib.sha256(blob).hexdigest()[:32]


def _prefix_parts(endpoint: str, body: dict[str, Any]) -> tuple[Any, Any, Any, Any, Any] | None:
    """(model, system prompt, tools, first user message, the rest) of a prompt, cache markers
    removed; None when the endpoint has no prompt cache or the body no prompt."""
    model = body.get("model")
    tools = _strip_all(body.get("tools"))
    rest: Any
    if endpoint in (CHAT, MESSAGES):
        messages = body.get("messages")
        if not isinstance(messages, list):
            return None
        head = 0
        if endpoint == CHAT:
            while head < len(messages) and _role(messages[head]) in ("system", "developer"):
                head += 1
            system: Any = [_clean_message(m) for m in messages[:head]]
        else:
            system = _strip_all(body.get("system"))
        first = _first_user(messages, head)
        rest = messages[first + 1 :] if first is not None else messages[head:]
        first_user = _clean_message(messages[first]) if first is not None else None
    elif endpoint == RESPONSES:
        items = body.get("input")
        if isinstance(items, str):
            system, first_user, rest = [body.get("instructions")], items, None
        elif isinstance(items, list):
            head = 0
            while head < len(items) and _role(items[head]) in ("system", "developer"):
                head += 1
            system = [body.get("instructions"), *(_clean_message(m) for m in items[:head])]
            first = _first_user(items, head)
            rest = items[first + 1 :] if first is not None else items[head:]
            first_user = _clean_message(items[first]) if first is not None else None
        else:
            return None
    else:
        return None
    return model, system, tools, first_user, rest


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, dict) else None


def _first_user(messages: list[Any], start: int) -> int | None:
    for i in range(start, len(messages)):
        if _role(messages[i]) == "user":
            return i
    return None


def _strip(block: Any) -> Any:
    """A content block or tool without its `cache_control` marker (the marker moves between turns
    and does not change the prompt)."""
    if isinstance(block, dict) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _strip_all(blocks: Any) -> Any:
    return [_strip(b) for b in blocks] if isinstance(blocks, list) else blocks


def _clean_message(message: Any) -> Any:
    message = _strip(message)
    if isinstance(message, dict) and isinstance(message.get("content"), list):
        return {**message, "content": _strip_all(message["content"])}
    return message


def _chars(node: Any, limit: int) -> int:
    """Characters of the strings in `node`, counted until `limit` is reached."""
    total = 0
    stack = [node]
    while stack and total < limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


# ---------------------------------------------------------------------------------------------
# Ids that later requests may name


def response_ids(endpoint: str, body: dict[str, Any]) -> list[str]:
    """The ids of objects a successful response created, which later requests may point at (see the
    pointer kinds above). `body` is a whole JSON response or one parsed stream event: chat chunks,
    Anthropic `message_start` ({"message": {"id"}}), Responses `response.created` ({"response":
    {"id"}}) and `response.output_item.done` ({"item": image_generation_call}) all work. Bind each
    with `id_binding_key` and `id_binding_ttl`."""
    if not endpoint.startswith(_ID_PATHS):
        return []
    ids: list[str] = []
    if (v := _text(body.get("id"))) is not None:
        ids.append(v)
    if (v := _task_text(body.get("task_id"))) is not None:
        ids.append(v)
    message = body.get("message")
    if isinstance(message, dict) and (v := _text(message.get("id"))) is not None:
        ids.append(v)
    response = body.get("response")
    if isinstance(response, dict):
        if (v := _text(response.get("id"))) is not None:
            ids.append(v)
        body = response
    output = body.get("output")
    for item in output if isinstance(output, list) else [body.get("item")]:
        if _is_image_call(item) and (v := _text(item.get("id"))) is not None:
            ids.append(v)
    return ids


def id_binding_ttl(endpoint: str, request_body: dict[str, Any] | None, cfg: RoutingConfig) -> float:
    """How long the ids of `response_ids` stay bound: objects the provider keeps (stored responses,
    videos, files, conversations) for `stored_response_ttl`; everything else for
    `response_binding_ttl` (the X-Response-Id convention)."""
    if endpoint.startswith(_STORED_PATHS):
        return cfg.stored_response_ttl
    if endpoint.startswith(RESPONSES) and (request_body is None or request_body.get("store") is not False):
        return cfg.stored_response_ttl
    return cfg.response_binding_ttl
