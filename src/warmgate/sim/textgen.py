"""Deterministic simulated outputs: answer text, reasoning text and tool-call arguments (pure)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from warmgate.sim.tokens import tokenize

_FILLER = tokenize(
    "The simulator produces this deterministic filler text so that outputs have the requested length "
    "without any model behind them. "
)
TOOL_MARKER = "[[tool]]"


def answer_tokens(prompt_text: str, n: int, lead: str = "Simulated answer to:") -> list[str]:
    """``n`` tokens: ``"<lead> <first words of prompt_text>. "`` then filler, cut or padded to ``n``."""
    words = " ".join(prompt_text.split()[:8]).replace(TOOL_MARKER, "").strip()
    out = tokenize(f"{lead} {words}. " if words else f"{lead} your request. ")[:n]
    while len(out) < n:
        out.extend(_FILLER[: n - len(out)])
    return out


def chunk_text(text: str, parts: int) -> list[str]:
    """Split ``text`` into at most ``parts`` non-empty pieces (for streamed argument deltas)."""
    if not text:
        return [""]
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _value_for(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return "sim"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return tool_arguments(schema)
    return "sim"


def tool_arguments(schema: Any) -> dict[str, Any]:
    """Arguments satisfying a JSON schema's required properties (all properties if none required)."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    required = schema.get("required")
    names = [n for n in required if n in props] if isinstance(required, list) and required else list(props)
    return {name: _value_for(props[name]) for name in names}


def arguments_json(schema: Any) -> str:
    return orjson.dumps(tool_arguments(schema)).decode()


def signature(text: str) -> str:
    """A stable opaque signature for a thinking block."""
    return "simsig_" + hashlib.sha256(text.encode()).hexdigest()[:48]


def wants_tool(tool_choice: Any, last_user: str) -> tuple[bool, str | None]:
    """Whether to answer with a tool call, and the forced tool name if one is named.

    OpenAI ``"required"``, Anthropic ``{"type": "any"}`` and a named tool force a call; ``"none"``
    forbids one; otherwise the last user text containing ``[[tool]]`` asks for one.
    """
    if tool_choice == "none" or (isinstance(tool_choice, dict) and tool_choice.get("type") == "none"):
        return False, None
    if tool_choice == "required":
        return True, None
    if isinstance(tool_choice, dict):
        kind = tool_choice.get("type")
        if kind == "any":
            return True, None
        if kind == "tool":
            return True, tool_choice.get("name")
        if kind == "function":
            fn = tool_choice.get("function")
            return True, fn.get("name") if isinstance(fn, dict) else tool_choice.get("name")
    return TOOL_MARKER in last_user, None
