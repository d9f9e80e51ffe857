"""``POST /v1/messages`` (plain and streamed) and ``/v1/messages/count_tokens`` (pure handlers)."""

from __future__ import annotations

from typing import Any

import orjson

from warmgate.sim.accounts import Account
from warmgate.sim.config import SimConfig
from warmgate.sim.prompt_cache import TooManyBreakpoints
from warmgate.sim.textgen import (
    answer_tokens,
    arguments_json,
    chunk_text,
    signature,
    tool_arguments,
    wants_tool,
)
from warmgate.sim.tokens import anthropic_blocks, count_tokens, tokenize
from warmgate.sim.wire import (
    ApiError,
    Reply,
    Request,
    Usage,
    json_reply,
    natural_length,
    new_id,
    output_budget,
    require_model,
    sse,
)


def _messages_of(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages: Field required (a non-empty array)")
    return messages


def _last_user_text(messages: list[Any]) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
                )
    return ""


def _pick_tool(tools: Any, name: str | None) -> dict[str, Any] | None:
    for tool in tools or ():
        if isinstance(tool, dict) and "input_schema" in tool and (name is None or tool.get("name") == name):
            return tool
    return None


def count_tokens_route(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    body = req.json_object()
    require_model(body)
    _messages_of(body)
    total = sum(b.tokens for b in anthropic_blocks(body))
    return json_reply({"input_tokens": total})


def messages(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    body = req.json_object()
    model = require_model(body)
    msgs = _messages_of(body)
    if not isinstance(body.get("max_tokens"), int):
        raise ApiError(400, "max_tokens: Field required")
    try:
        usage_in = acct.anthropic_cache.process(anthropic_blocks(body), cfg.clock())
    except TooManyBreakpoints as exc:
        raise ApiError(400, str(exc)) from None
    last_user = _last_user_text(msgs)
    n_out, truncated = output_budget(body, ("max_tokens",), natural_length(req, cfg.output_tokens))
    force, forced_name = wants_tool(body.get("tool_choice"), last_user)
    tool = _pick_tool(body.get("tools"), forced_name) if force else None
    content: list[dict[str, Any]] = []
    thinking = body.get("thinking")
    n_thinking = 0
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        text = "".join(answer_tokens(last_user, cfg.reasoning_tokens, "Simulated thinking about:"))
        n_thinking = cfg.reasoning_tokens
        content.append({"type": "thinking", "thinking": text, "signature": signature(text)})
    if tool is not None:
        args = tool_arguments(tool.get("input_schema"))
        content.append({"type": "tool_use", "id": new_id("toolu_"), "name": tool.get("name"), "input": args})
        n_out = count_tokens(arguments_json(tool.get("input_schema"))) + 1
        stop = "tool_use"
    else:
        pieces = answer_tokens(last_user, n_out)
        content.append({"type": "text", "text": "".join(pieces)})
        stop = "max_tokens" if truncated else "end_turn"
    n_output = n_out + n_thinking
    usage: dict[str, Any] = {
        "input_tokens": usage_in.input_tokens,
        "cache_creation_input_tokens": usage_in.cache_creation,
        "cache_read_input_tokens": usage_in.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage_in.creation_5m,
            "ephemeral_1h_input_tokens": usage_in.creation_1h,
        },
        "output_tokens": n_output,
        "service_tier": "standard",
    }
    msg = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    stats = Usage(
        usage_in.total,
        usage_in.cache_read,
        usage_in.cache_creation,
        n_output,
        usage_in.input_tokens + usage_in.cache_creation,
    )
    if not body.get("stream"):
        return json_reply(msg, usage=stats)
    return Reply(events=_stream_events(msg), usage=stats)


def _stream_events(msg: dict[str, Any]) -> list[tuple[bytes, bool]]:
    events: list[tuple[bytes, bool]] = []

    def emit(kind: str, is_token: bool = False, **fields: Any) -> None:
        events.append((sse({"type": kind, **fields}, kind), is_token))

    usage = msg["usage"]
    start_usage = {**usage, "output_tokens": 1}
    emit("message_start", message={**msg, "content": [], "stop_reason": None, "usage": start_usage})
    for index, block in enumerate(msg["content"]):
        kind = block["type"]
        if kind == "thinking":
            emit(
                "content_block_start",
                index=index,
                content_block={"type": "thinking", "thinking": "", "signature": ""},
            )
        elif kind == "tool_use":
            emit("content_block_start", index=index, content_block={**block, "input": {}})
        else:
            emit("content_block_start", index=index, content_block={"type": "text", "text": ""})
        if index == 0:
            emit("ping")
        if kind == "thinking":
            for piece in chunk_text(block["thinking"], 4):
                emit(
                    "content_block_delta",
                    True,
                    index=index,
                    delta={"type": "thinking_delta", "thinking": piece},
                )
            emit(
                "content_block_delta",
                index=index,
                delta={"type": "signature_delta", "signature": block["signature"]},
            )
        elif kind == "tool_use":
            args = arguments_json_of(block["input"])
            for piece in chunk_text(args, 4):
                emit(
                    "content_block_delta",
                    True,
                    index=index,
                    delta={"type": "input_json_delta", "partial_json": piece},
                )
        else:
            for piece in tokenize(block["text"]) or [""]:
                emit("content_block_delta", True, index=index, delta={"type": "text_delta", "text": piece})
        emit("content_block_stop", index=index)
    delta_usage = {
        k: usage[k]
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    }
    emit("message_delta", delta={"stop_reason": msg["stop_reason"], "stop_sequence": None}, usage=delta_usage)
    emit("message_stop")
    return events


def arguments_json_of(value: Any) -> str:
    return orjson.dumps(value).decode()
