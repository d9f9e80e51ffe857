"""``POST /v1/responses``: plain and streamed (the real event sequence), function calls, reasoning.

A response stored by an account (``store`` not false) can be continued there with
``previous_response_id``; on another account that id is unknown (400), as with the real API.
"""

from __future__ import annotations

from typing import Any

from warmgate.sim.accounts import Account
from warmgate.sim.config import SimConfig
from warmgate.sim.openai_chat import pick_function
from warmgate.sim.textgen import answer_tokens, arguments_json, chunk_text, signature, wants_tool
from warmgate.sim.tokens import responses_head_tokens, responses_input_tokens, tokenize
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


def _last_user_text(inp: Any) -> str:
    if isinstance(inp, str):
        return inp
    for item in reversed(inp or ()):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def responses(req: Request, acct: Account, cfg: SimConfig) -> Reply:
    body = req.json_object()
    model = require_model(body)
    inp = body.get("input")
    if not isinstance(inp, str | list):
        raise ApiError(400, "'input' must be a string or an array of input items.", param="input")
    prev_id = body.get("previous_response_id")
    history: list[str] = []
    if prev_id is not None:
        stored = acct.responses.get(prev_id) if isinstance(prev_id, str) else None
        if stored is None:
            raise ApiError(
                400,
                f"Previous response with id '{prev_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        history = stored
    input_tokens = responses_input_tokens(body)
    prompt = responses_head_tokens(body) + history + input_tokens
    cached = acct.openai_cache.lookup_and_insert(prompt, cfg.clock())
    last_user = _last_user_text(inp)
    n_out, truncated = output_budget(body, ("max_output_tokens",), natural_length(req, cfg.output_tokens))
    force, forced_name = wants_tool(body.get("tool_choice"), last_user)
    call = pick_function(body.get("tools"), forced_name, nested=False) if force else None
    reasoning_param = body.get("reasoning")
    output: list[dict[str, Any]] = []
    reasoning_tokens = 0
    if isinstance(reasoning_param, dict) and reasoning_param.get("effort") != "none":
        summary = "".join(answer_tokens(last_user, cfg.reasoning_tokens, "Simulated reasoning about:"))
        reasoning_tokens = cfg.reasoning_tokens
        include = body.get("include") or ()
        output.append(
            {
                "id": new_id("rs_"),
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": summary}],
                "encrypted_content": signature(summary) if "reasoning.encrypted_content" in include else None,
            }
        )
    out_tokens: list[str]
    if call is not None:
        args = arguments_json(call[1])
        out_tokens = tokenize(f"{call[0]} {args}")
        item: dict[str, Any] = {
            "id": new_id("fc_"),
            "type": "function_call",
            "status": "completed",
            "call_id": new_id("call_"),
            "name": call[0],
            "arguments": args,
        }
        truncated = False
    else:
        out_tokens = answer_tokens(last_user, n_out)
        part = {"type": "output_text", "text": "".join(out_tokens), "annotations": [], "logprobs": []}
        item = {
            "id": new_id("msg_"),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
    output.append(item)
    n_output = len(out_tokens) + reasoning_tokens
    usage = {
        "input_tokens": len(prompt),
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": n_output,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": len(prompt) + n_output,
    }
    resp_id = new_id("resp_")
    if body.get("store", True) is not False:
        acct.remember_response(resp_id, history + input_tokens + out_tokens, cfg.stored_responses_per_account)
    resp: dict[str, Any] = {
        "id": resp_id,
        "object": "response",
        "created_at": now_s(),
        "status": "incomplete" if truncated else "completed",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": prev_id,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": reasoning_param
        if isinstance(reasoning_param, dict)
        else {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage,
        "user": None,
    }
    stats = Usage(len(prompt), cached, 0, n_output, len(prompt) - cached)
    if not body.get("stream"):
        return json_reply(resp, usage=stats)
    return Reply(events=_stream_events(resp), usage=stats)


def _stream_events(resp: dict[str, Any]) -> list[tuple[bytes, bool]]:
    events: list[tuple[bytes, bool]] = []
    seq = 0

    def emit(kind: str, is_token: bool = False, **fields: Any) -> None:
        nonlocal seq
        events.append((sse({"type": kind, "sequence_number": seq, **fields}, kind), is_token))
        seq += 1

    pending = {**resp, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    emit("response.created", response=pending)
    emit("response.in_progress", response=pending)
    for index, item in enumerate(resp["output"]):
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            text = item["summary"][0]["text"]
            emit(
                "response.reasoning_summary_part.added",
                **ids,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
            for piece in tokenize(text):
                emit("response.reasoning_summary_text.delta", True, **ids, summary_index=0, delta=piece)
            emit("response.reasoning_summary_text.done", **ids, summary_index=0, text=text)
            emit(
                "response.reasoning_summary_part.done",
                **ids,
                summary_index=0,
                part={"type": "summary_text", "text": text},
            )
        elif item["type"] == "function_call":
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for piece in chunk_text(item["arguments"], 4):
                emit("response.function_call_arguments.delta", True, **ids, delta=piece)
            emit(
                "response.function_call_arguments.done", **ids, name=item["name"], arguments=item["arguments"]
            )
        else:
            part = item["content"][0]
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            emit("response.content_part.added", **ids, content_index=0, part={**part, "text": ""})
            for piece in tokenize(part["text"]) or [""]:
                emit("response.output_text.delta", True, **ids, content_index=0, delta=piece, logprobs=[])
            emit("response.output_text.done", **ids, content_index=0, text=part["text"], logprobs=[])
            emit("response.content_part.done", **ids, content_index=0, part=part)
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.incomplete" if resp["status"] == "incomplete" else "response.completed", response=resp)
    return events
