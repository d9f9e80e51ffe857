"""OpenAI chat completions: assemble a stream into a ``chat.completion``, judge it, synthesize a stream.

A clean stream has ``data: [DONE]`` after every choice got a ``finish_reason``, and no error chunk.
String delta fields are concatenated per choice (``content``, ``refusal`` and the ``reasoning_content``
/ ``reasoning`` of OpenAI-compatible servers alike), ``tool_calls`` are merged by ``index``, and
``usage`` comes from the chunk that carried it (``stream_options.include_usage``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from warmgate.cache.replay_common import JSON, json_event, load_object, nonempty_str, split_text
from warmgate.sse import DONE, Event

# `length` is kept: max_tokens is part of the cache key, so the same request is cut at the same place.
# `content_filter` (and anything unknown) is not: a filtered answer is not the model's answer.
STORABLE_FINISH = frozenset({"stop", "length", "tool_calls", "function_call"})
_TOP_SKIP = frozenset({"choices", "usage", "object", "obfuscation"})


class _Choice:
    __slots__ = ("finish", "logprobs", "role", "strings", "tool_calls", "values")

    def __init__(self) -> None:
        self.role = "assistant"
        self.strings: dict[str, str] = {}
        self.tool_calls: dict[int, JSON] = {}
        self.values: JSON = {}
        self.logprobs: dict[str, list[Any]] | None = None
        self.finish: str | None = None

    def add(self, choice: JSON) -> None:
        delta = choice.get("delta")
        for key, value in (delta if isinstance(delta, dict) else {}).items():
            if key == "role":
                self.role = value or self.role
            elif key == "tool_calls":
                for call in value or ():
                    self._add_call(call)
            elif isinstance(value, str):
                self.strings[key] = self.strings.get(key, "") + value
            elif isinstance(value, list):
                self.values.setdefault(key, []).extend(value)
            elif isinstance(value, dict) and key == "function_call":
                old = self.values.setdefault(key, {"name": "", "arguments": ""})
                for part in ("name", "arguments"):
                    old[part] += value.get(part) or ""
            elif value is not None:
                self.values[key] = value
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            acc = self.logprobs if self.logprobs is not None else {}
            for key, items in logprobs.items():
                acc.setdefault(key, []).extend(items or ())
            self.logprobs = acc
        if choice.get("finish_reason"):
            self.finish = choice["finish_reason"]

    def _add_call(self, call: JSON) -> None:
        index = call.get("index", len(self.tool_calls))
        acc = self.tool_calls.setdefault(index, {"id": None, "type": "function", "name": "", "arguments": ""})
        if call.get("id"):
            acc["id"] = call["id"]
        if call.get("type"):
            acc["type"] = call["type"]
        fn = call.get("function") or {}
        acc["name"] += fn.get("name") or ""
        acc["arguments"] += fn.get("arguments") or ""

    def message(self) -> JSON:
        msg: JSON = {
            "role": self.role,
            "content": self.strings.pop("content", "") or None,
            "refusal": self.strings.pop("refusal", "") or None,
        }
        msg.update((k, v) for k, v in self.strings.items() if v)
        msg.update(self.values)
        msg.setdefault("annotations", [])
        if self.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": c["type"],
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for _, c in sorted(self.tool_calls.items())
            ]
        return msg


def assemble(events: Sequence[Event]) -> JSON | None:
    """The ``chat.completion`` a clean stream amounts to, or None when it is not clean."""
    top: JSON = {}
    choices: dict[int, _Choice] = {}
    usage: Any = None
    done = False
    for ev in events:
        if ev.data == DONE:
            done = True
            break
        doc = load_object(ev.data)
        if doc is None or ev.event == "error" or doc.get("error") is not None:
            return None
        top.update((k, v) for k, v in doc.items() if k not in _TOP_SKIP and v is not None)
        if doc.get("usage"):
            usage = doc["usage"]
        for choice in doc.get("choices") or ():
            choices.setdefault(choice.get("index", 0), _Choice()).add(choice)
    if not done or not choices or any(c.finish is None for c in choices.values()):
        return None
    body: JSON = {"id": top.pop("id", None), "object": "chat.completion", "created": top.pop("created", None)}
    body["model"] = top.pop("model", None)
    body["choices"] = [
        {"index": i, "message": c.message(), "logprobs": c.logprobs, "finish_reason": c.finish}
        for i, c in sorted(choices.items())
    ]
    if usage is not None:
        body["usage"] = usage
    body.update(top)
    return body


def _has_output(msg: JSON) -> bool:
    content = msg.get("content")
    return bool(
        nonempty_str(content)
        or (isinstance(content, list) and content)
        or msg.get("tool_calls")
        or msg.get("function_call")
        or msg.get("audio")
    )


def storable(body: JSON) -> bool:
    """Every choice finished for a storable reason with content or tool calls; no error."""
    choices = body.get("choices")  # (`type(...) is`: parsed JSON holds plain lists and dicts)
    if type(choices) is not list or not choices or body.get("error") is not None:
        return False
    for choice in choices:
        if type(choice) is not dict or choice.get("finish_reason") not in STORABLE_FINISH:
            return False
        msg = choice.get("message")
        if type(msg) is not dict:
            return False
        content = msg.get("content")
        if not (type(content) is str and content) and not _has_output(msg):  # text: the common case
            return False
    return True


def synthesize(body: JSON, include_usage: bool) -> list[Event]:
    """A stream the API could have sent for ``body``: per choice a role chunk, deltas, a finish chunk;
    then the usage chunk (when asked for and known) and ``[DONE]``."""
    base: JSON = {k: body.get(k) for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    base.update((k, body[k]) for k in ("service_tier", "system_fingerprint") if k in body)
    if include_usage:
        base["usage"] = None
    out: list[Event] = []

    def chunk(index: int, delta: JSON, finish: str | None = None, logprobs: Any = None) -> None:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        out.append(json_event({**base, "choices": [choice]}))

    for choice in body.get("choices") or ():
        index = choice.get("index", 0)
        msg: JSON = choice.get("message") or {}
        content, calls = msg.get("content"), msg.get("tool_calls") or []
        role: JSON = {"role": msg.get("role") or "assistant", "content": "" if content else None}
        if not calls:
            role["refusal"] = None
        chunk(index, role)
        known = {"role", "content", "refusal", "tool_calls", "function_call", "annotations"}
        for key, value in msg.items():
            if key in known or value is None or value == []:
                continue
            if isinstance(value, str):
                for piece in split_text(value):
                    chunk(index, {key: piece})
            else:
                chunk(index, {key: value})
        logprobs = choice.get("logprobs")
        for n, piece in enumerate(split_text(content) if isinstance(content, str) else []):
            chunk(index, {"content": piece}, logprobs=logprobs if n == 0 else None)
        if msg.get("annotations"):
            chunk(index, {"annotations": msg["annotations"]})
        for piece in split_text(msg.get("refusal") or ""):
            chunk(index, {"refusal": piece})
        for n, call in enumerate(calls):
            fn = call.get("function") or {}
            head = {"index": n, "id": call.get("id"), "type": call.get("type", "function")}
            chunk(index, {"tool_calls": [{**head, "function": {"name": fn.get("name"), "arguments": ""}}]})
            for piece in split_text(fn.get("arguments") or ""):
                chunk(index, {"tool_calls": [{"index": n, "function": {"arguments": piece}}]})
        legacy = msg.get("function_call")
        if isinstance(legacy, dict):
            chunk(index, {"function_call": {"name": legacy.get("name"), "arguments": ""}})
            for piece in split_text(legacy.get("arguments") or ""):
                chunk(index, {"function_call": {"arguments": piece}})
        chunk(index, {}, choice.get("finish_reason") or "stop")
    if include_usage and body.get("usage") is not None:
        out.append(json_event({**base, "choices": [], "usage": body["usage"]}))
    out.append(Event(None, DONE))
    return out


def adapt_raw(events: Sequence[Event], body: JSON, include_usage: bool) -> list[Event]:
    """A recorded stream with its usage chunk removed, or added from ``body``, to match ``include_usage``.

    Only the last data event before ``[DONE]`` is parsed.
    """
    out = list(events)
    done = next((i for i in range(len(out) - 1, -1, -1) if out[i].data == DONE), len(out))
    last = load_object(out[done - 1].data) if done > 0 else None
    has_usage_chunk = last is not None and not last.get("choices") and last.get("usage") is not None
    if has_usage_chunk and not include_usage:
        del out[done - 1]
    elif include_usage and not has_usage_chunk and last is not None and body.get("usage") is not None:
        head = {k: v for k, v in last.items() if k not in ("choices", "obfuscation")}
        out.insert(done, json_event({**head, "choices": [], "usage": body["usage"]}))
    return out


def mark(events: list[Event], marker: JSON) -> None:
    """Put ``marker`` at the top level of the first chunk (the SDK's accumulated snapshot keeps it)."""
    first = load_object(events[0].data) if events else None
    if first is not None:
        events[0] = json_event({**first, "warmgate": marker}, events[0].event)
