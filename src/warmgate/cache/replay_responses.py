"""OpenAI Responses: take a stream's final response, judge it, synthesize the full event sequence.

A clean stream ends in ``response.completed``, or in ``response.incomplete`` because the answer
reached ``max_output_tokens`` (as deterministic an answer to the request as a complete one, since
the limit is part of the cache key; chat's ``length`` and messages' ``max_tokens`` are stored
alike). ``error``, ``response.failed`` and any other ``response.incomplete`` (content filter) make
it unclean. The assembled body is the ``response`` object of that final event (its ``output``
filled from the ``response.output_item.done`` events when a provider leaves it empty). Only those
events are parsed; others are recognized by their name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from warmgate.cache.replay_common import JSON, json_event, load_object, nonempty_str, split_text
from warmgate.sse import Event

_BAD = frozenset({"error", "response.failed"})
_FINAL = frozenset({"response.completed", "response.incomplete"})
_NEEDED = _FINAL | {"response.output_item.done"}


def _finished(response: JSON) -> bool:
    """Completed, or cut by the request's own output limit."""
    status = response.get("status")
    if status == "completed":
        return True
    details = response.get("incomplete_details")
    return status == "incomplete" and isinstance(details, dict) and details.get("reason") == "max_output_tokens"


def assemble(events: Sequence[Event]) -> JSON | None:
    """The response a clean stream amounts to, or None when it is not clean."""
    items: dict[int, Any] = {}
    final: JSON | None = None
    for ev in events:
        kind = ev.event
        doc = load_object(ev.data) if kind is None or kind in _NEEDED else None
        if kind is None:
            if doc is None:
                return None
            kind = doc.get("type")
        if kind in _BAD:
            return None
        if kind not in _NEEDED:
            continue
        if doc is None:
            return None
        if kind == "response.output_item.done":
            items[doc.get("output_index", len(items))] = doc.get("item")
        elif isinstance(doc.get("response"), dict):
            final = doc["response"]
            break
    if final is None or not _finished(final):
        return None
    if not final.get("output") and items:
        final = {**final, "output": [item for _, item in sorted(items.items())]}
    return final


def _is_output(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if item.get("type") == "message":
        return any(
            isinstance(p, dict) and p.get("type") == "output_text" and nonempty_str(p.get("text"))
            for p in item.get("content") or ()
        )
    return item.get("type") != "reasoning"


def storable(body: JSON) -> bool:
    """Completed (or cut at ``max_output_tokens``), no error, and output beyond reasoning (text or
    a tool call)."""
    output = body.get("output")
    return (
        _finished(body)
        and body.get("error") is None
        and isinstance(output, list)
        and any(_is_output(item) for item in output)
    )


class _Emitter:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, kind: str, **fields: Any) -> None:
        doc = {"type": kind, "sequence_number": len(self.events), **fields}
        self.events.append(json_event(doc, kind))


def _message(emit: _Emitter, ids: JSON, item: JSON) -> None:
    for n, part in enumerate(item.get("content") or ()):
        at = {**ids, "content_index": n}
        kind = part.get("type")
        if kind == "output_text":
            text = part.get("text") or ""
            emit("response.content_part.added", **at, part={**part, "text": "", "annotations": []})
            for piece in split_text(text) or [""]:
                emit("response.output_text.delta", **at, delta=piece, logprobs=[])
            for a, note in enumerate(part.get("annotations") or ()):
                emit("response.output_text.annotation.added", **at, annotation_index=a, annotation=note)
            emit("response.output_text.done", **at, text=text, logprobs=part.get("logprobs") or [])
        elif kind == "refusal":
            emit("response.content_part.added", **at, part={**part, "refusal": ""})
            for piece in split_text(part.get("refusal") or ""):
                emit("response.refusal.delta", **at, delta=piece)
            emit("response.refusal.done", **at, refusal=part.get("refusal") or "")
        else:
            emit("response.content_part.added", **at, part=part)
        emit("response.content_part.done", **at, part=part)


def _reasoning(emit: _Emitter, ids: JSON, item: JSON) -> None:
    for n, part in enumerate(item.get("summary") or ()):
        at = {**ids, "summary_index": n}
        text = part.get("text") or ""
        emit("response.reasoning_summary_part.added", **at, part={**part, "text": ""})
        for piece in split_text(text):
            emit("response.reasoning_summary_text.delta", **at, delta=piece)
        emit("response.reasoning_summary_text.done", **at, text=text)
        emit("response.reasoning_summary_part.done", **at, part=part)
    for n, part in enumerate(item.get("content") or ()):
        if part.get("type") == "reasoning_text":
            at = {**ids, "content_index": n}
            for piece in split_text(part.get("text") or ""):
                emit("response.reasoning_text.delta", **at, delta=piece)
            emit("response.reasoning_text.done", **at, text=part.get("text") or "")


def _added_form(item: JSON) -> JSON:
    """The item as ``response.output_item.added`` shows it: in progress, its streamed parts empty."""
    kind = item.get("type")
    if kind == "message":
        return {**item, "status": "in_progress", "content": []}
    if kind == "reasoning":
        return {**item, "summary": [], **({"content": []} if item.get("content") else {})}
    if kind == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    return {**item, "status": "in_progress"} if "status" in item else item


def synthesize(body: JSON) -> list[Event]:
    """The event sequence the API sends for ``body``: created, in_progress, per output item added /
    parts / deltas / done, completed (or incomplete); numbered by ``sequence_number``."""
    emit = _Emitter()
    pending = {**body, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    emit("response.created", response=pending)
    emit("response.in_progress", response=pending)
    for index, item in enumerate(body.get("output") or ()):
        emit("response.output_item.added", output_index=index, item=_added_form(item))
        ids = {"item_id": item.get("id"), "output_index": index}
        kind = item.get("type")
        if kind == "message":
            _message(emit, ids, item)
        elif kind == "reasoning":
            _reasoning(emit, ids, item)
        elif kind == "function_call":
            args = item.get("arguments") or ""
            for piece in split_text(args):
                emit("response.function_call_arguments.delta", **ids, delta=piece)
            emit("response.function_call_arguments.done", **ids, name=item.get("name"), arguments=args)
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.incomplete" if body.get("status") == "incomplete" else "response.completed", response=body)
    return emit.events


def mark(events: list[Event], marker: JSON) -> None:
    """Put ``marker`` into the response of the final event (what ``get_final_response`` returns)."""
    for i in range(len(events) - 1, -1, -1):
        ev = events[i]
        if ev.event in _FINAL or (
            ev.event is None and (b'"response.completed"' in ev.data or b'"response.incomplete"' in ev.data)
        ):
            doc = load_object(ev.data)
            if doc is not None and isinstance(doc.get("response"), dict):
                doc["response"] = {**doc["response"], "warmgate": marker}
                events[i] = json_event(doc, ev.event)
            return
