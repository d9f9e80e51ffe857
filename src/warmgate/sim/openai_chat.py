"""``POST /v1/chat/completions``: plain and streamed answers, tool calls, reasoning usage (pure)."""

from __future__ import annotations

from typing import Any

from warmgate.sim.accounts import Account
from warmgate.sim.config import SimConfig
from warmgate.sim.textgen import answer_tokens, arguments_json, chunk_text, wants_tool
from warmgate.sim.tokens import chat_prompt_tokens, count_tokens
from warmgate.sim.wire import (
    ApiError,
    Reply,
    Request,
    Usage,
    json_reply,
    natural_length,
    new_id,
    now_s,
    output_budget,
    require_model,
    sse,
)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _last_user_text(messages: list[Any]) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return _text_of(msg.get("content"))
    return ""


def pick_function(tools: Any, name: str | None, nested: bool) -> tuple[str, Any] | None:
    """(name, parameters schema) of the tool to call: the named one or the first function tool."""
    for tool in tools or ():
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        fn = tool.get("function") if nested else tool
        if not isinstance(fn, dict):
            continue
        if name is None or fn.get("name") == name:
            return str(fn.get("name", "tool")), fn.get("parameters")
    return None


def chat_completions(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    body = req.json_object()
    model = require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array.", param="messages")
    prompt = chat_prompt_tokens(body)
    cached = acct.openai_cache.lookup_and_insert(prompt, cfg.clock())
    last_user = _last_user_text(messages)
    n_out, truncated = output_budget(
        body, ("max_completion_tokens", "max_tokens"), natural_length(req, cfg.output_tokens)
    )
    force, forced_name = wants_tool(body.get("tool_choice"), last_user)
    call = pick_function(body.get("tools"), forced_name, nested=True) if force else None
    effort = body.get("reasoning_effort")
    reasoning = cfg.reasoning_tokens if effort not in (None, "none") else 0
    text = ""
    args = ""
    pieces: list[str] = []
    if call is not None:
        args = arguments_json(call[1])
        n_out = count_tokens(args) + 1
        finish = "tool_calls"
    else:
        pieces = answer_tokens(last_user, n_out)
        text = "".join(pieces)
        finish = "length" if truncated else "stop"
    completion = n_out + reasoning
    usage = {
        "prompt_tokens": len(prompt),
        "completion_tokens": completion,
        "total_tokens": len(prompt) + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    stats = Usage(len(prompt), cached, 0, completion, len(prompt) - cached)
    cid = new_id("chatcmpl-")
    created = now_s()
    call_id = new_id("call_")
    if not body.get("stream"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text or None,
            "refusal": None,
            "annotations": [],
        }
        if call is not None:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": call[0], "arguments": args}}
            ]
        doc = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_warmgate_sim",
        }
        return json_reply(doc, usage=stats)

    opts = body.get("stream_options")
    include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
    base: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_warmgate_sim",
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse({**base, "choices": [choice]})

    events: list[tuple[bytes, bool]] = []
    if call is not None:
        head = {"index": 0, "id": call_id, "type": "function", "function": {"name": call[0], "arguments": ""}}
        events.append((chunk({"role": "assistant", "content": None, "tool_calls": [head]}), False))
        for piece in chunk_text(args, 4):
            events.append((chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), True))
    else:
        events.append((chunk({"role": "assistant", "content": "", "refusal": None}), False))
        events.extend((chunk({"content": piece}), True) for piece in pieces)
    events.append((chunk({}, finish), False))
    if include_usage:
        events.append((sse({**base, "choices": [], "usage": usage}), False))
    events.append((b"data: [DONE]\n\n", False))
    return Reply(events=events, usage=stats)
