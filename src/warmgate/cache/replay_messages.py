"""Anthropic Messages: assemble a stream into the final message, judge it, synthesize a stream.

A clean stream ends in ``message_stop`` and has no ``error`` event. Blocks are rebuilt from
``content_block_start`` plus their deltas (``text_delta``, ``thinking_delta``, ``signature_delta``,
``input_json_delta`` parsed into ``input``, ``citations_delta``); an unknown delta type makes the
stream unassemblable (not cached) rather than cached wrong. Usage is ``message_start``'s, updated by
the non-null fields of ``message_delta``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from warmgate.cache.replay_common import JSON, json_event, load_object, nonempty_str, split_text
from warmgate.sse import Event

# `max_tokens` is kept for the reason chat keeps `length`; `refusal`, `pause_turn` (the turn is not
# over) and `model_context_window_exceeded` are not.
STORABLE_STOP = frozenset({"end_turn", "max_tokens", "stop_sequence", "tool_use"})
_DELTA_FIELD = {"text_delta": "text", "thinking_delta": "thinking"}
_JSON_INPUT = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def _apply(block: JSON, delta: JSON, partial: list[str]) -> bool:
    kind = delta.get("type")
    if kind in _DELTA_FIELD:
        field = _DELTA_FIELD[kind]
        block[field] = block.get(field, "") + delta.get(field, "")
    elif kind == "signature_delta":
        block["signature"] = delta.get("signature", "")
    elif kind == "input_json_delta":
        partial.append(delta.get("partial_json", ""))
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta.get("citation"))
    else:
        return False
    return True


def assemble(events: Sequence[Event]) -> JSON | None:
    """The message a clean stream amounts to, or None when it is not clean."""
    msg: JSON | None = None
    usage: JSON = {}
    blocks: dict[int, JSON] = {}
    partial: dict[int, list[str]] = {}
    stopped = False
    for ev in events:
        doc = load_object(ev.data)
        if doc is None or ev.event == "error":
            return None
        kind = doc.get("type")
        if kind == "message_start" and isinstance(doc.get("message"), dict):
            msg = dict(doc["message"])
            usage = dict(msg.get("usage") or {})
        elif kind == "content_block_start":
            blocks[doc.get("index", len(blocks))] = dict(doc.get("content_block") or {})
        elif kind == "content_block_delta":
            index = doc.get("index", -1)
            if index not in blocks or not _apply(
                blocks[index], doc.get("delta") or {}, partial.setdefault(index, [])
            ):
                return None
        elif kind == "message_delta":
            if msg is None:
                return None
            msg.update(doc.get("delta") or {})
            usage.update((k, v) for k, v in (doc.get("usage") or {}).items() if v is not None)
        elif kind == "message_stop":
            stopped = True
            break
        elif kind == "error":
            return None
    if not stopped or msg is None:
        return None
    for index, parts in partial.items():
        text = "".join(parts)
        if text:
            try:
                blocks[index]["input"] = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
    msg["content"] = [block for _, block in sorted(blocks.items())]
    msg["usage"] = usage
    return msg


def _is_output(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "text":
        return nonempty_str(block.get("text"))
    return kind not in ("thinking", "redacted_thinking")


def storable(body: JSON) -> bool:
    """A message (not an error) that stopped for a storable reason with text or a tool call in it."""
    content = body.get("content")
    return (
        body.get("type", "message") == "message"
        and body.get("stop_reason") in STORABLE_STOP
        and isinstance(content, list)
        and any(_is_output(block) for block in content)
    )


def synthesize(body: JSON) -> list[Event]:
    """The stream the API sends for ``body``: message_start, per block start / deltas / stop (a ping
    after the first start), message_delta with the final usage and stop reason, message_stop."""
    out: list[Event] = []

    def emit(kind: str, **fields: Any) -> None:
        out.append(json_event({"type": kind, **fields}, kind))

    usage: JSON = dict(body.get("usage") or {})
    start_usage = {**usage, "output_tokens": min(1, usage.get("output_tokens") or 0)}
    head = {k: v for k, v in body.items() if k not in ("content", "usage", "stop_reason", "stop_sequence")}
    emit(
        "message_start",
        message={**head, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage},
    )
    for index, block in enumerate(body.get("content") or ()):
        kind = block.get("type")
        deltas: list[JSON] = []
        if kind == "text":
            start = {k: v for k, v in block.items() if k != "citations"}
            start["text"] = ""
            deltas += [{"type": "citations_delta", "citation": c} for c in block.get("citations") or ()]
            deltas += [{"type": "text_delta", "text": p} for p in split_text(block.get("text") or "")]
        elif kind == "thinking":
            start = {**block, "thinking": "", "signature": ""}
            deltas += [
                {"type": "thinking_delta", "thinking": p} for p in split_text(block.get("thinking") or "")
            ]
            deltas.append({"type": "signature_delta", "signature": block.get("signature") or ""})
        elif kind in _JSON_INPUT:
            start = {**block, "input": {}}
            args = orjson.dumps(block.get("input") or {}).decode()
            deltas += [{"type": "input_json_delta", "partial_json": p} for p in split_text(args)]
        else:
            start = block
        emit("content_block_start", index=index, content_block=start)
        if index == 0:
            emit("ping")
        for delta in deltas:
            emit("content_block_delta", index=index, delta=delta)
        emit("content_block_stop", index=index)
    emit(
        "message_delta",
        delta={"stop_reason": body.get("stop_reason"), "stop_sequence": body.get("stop_sequence")},
        usage=usage,
    )
    emit("message_stop")
    return out


def mark(events: list[Event], marker: JSON) -> None:
    """Put ``marker`` into ``message_start``'s message (the SDK's accumulated message keeps it)."""
    for i, ev in enumerate(events):
        if ev.event == "message_start" or (ev.event is None and b'"message_start"' in ev.data):
            doc = load_object(ev.data)
            if doc is not None and isinstance(doc.get("message"), dict):
                doc["message"] = {**doc["message"], "warmgate": marker}
                events[i] = json_event(doc, ev.event)
            return
