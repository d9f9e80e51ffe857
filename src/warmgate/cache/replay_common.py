"""Helpers shared by the per-endpoint replay modules (pure)."""

from __future__ import annotations

from typing import Any

import orjson

from warmgate.sse import Event

JSON = dict[str, Any]

# How many delta events a synthesized stream splits one text (or argument string) into, at most.
SYNTH_PIECES = 4


def json_event(doc: Any, name: str | None = None) -> Event:
    return Event(name, orjson.dumps(doc))


def load_object(data: bytes) -> JSON | None:
    """The JSON object in an event's data, or None when the data is not a JSON object."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def split_text(text: str, parts: int = SYNTH_PIECES) -> list[str]:
    """``text`` in at most ``parts`` non-empty pieces, cut after whitespace where possible.

    ``"".join(split_text(t)) == t``; an empty text gives ``[]``.
    """
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.find(" ", end)
            if space != -1 and space - end < size:
                end = space + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""
