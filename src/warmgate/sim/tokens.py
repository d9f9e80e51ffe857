"""The simulator's tokenizer and prompt serializations (pure, no I/O).

Tokenizer: a token is a run of word characters or a run of other non-space characters, each with the
whitespace that follows it (regex ``\\w+\\s*|[^\\w\\s]+\\s*``). So ``"word " * n`` is ``n`` tokens, and
``"Hello, world!"`` is 4. Deterministic and cheap; it only has to be stable, not match a real model.

Prompts are serialized piece by piece (each piece tokenized on its own, then concatenated), so a prompt
that extends another one serializes to a token sequence that extends the other's: that is what prefix
caching needs. Role markers such as ``<|user|>`` are single tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

_TOKEN_RE = re.compile(r"\w+\s*|[^\w\s]+\s*")
IMAGE_TOKENS = 85


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens (see the module docstring)."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    return len(_TOKEN_RE.findall(text))


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys, used to serialize structured prompt parts."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _image_tokens(ref: Any) -> list[str]:
    return ["<|image|>", f"<|img:{hash(canonical(ref)) & 0xFFFFFFFF:x}|>"] + ["<|px|>"] * (IMAGE_TOKENS - 2)


def _part_tokens(part: Any) -> list[str]:
    """Tokens of one content part of any OpenAI shape (chat parts or Responses items)."""
    if isinstance(part, str):
        return tokenize(part)
    if not isinstance(part, dict):
        return tokenize(canonical(part))
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text", "summary_text", "refusal"):
        return tokenize(str(part.get("text", part.get("refusal", ""))))
    if kind in ("image_url", "input_image", "image"):
        return _image_tokens(part)
    return tokenize(canonical(part))


def _content_tokens(content: Any) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return tokenize(content)
    if isinstance(content, list):
        out: list[str] = []
        for part in content:
            out.extend(_part_tokens(part))
        return out
    return tokenize(canonical(content))


def _tools_tokens(tools: Any) -> list[str]:
    out: list[str] = []
    if isinstance(tools, list):
        for tool in tools:
            out.append("<|tool|>")
            out.extend(tokenize(canonical(tool)))
    return out


def chat_prompt_tokens(body: dict[str, Any]) -> list[str]:
    """Token sequence of a chat completions prompt: tools, then messages with role markers."""
    out = _tools_tokens(body.get("tools"))
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        out.append(f"<|{msg.get('role', 'user')}|>")
        out.extend(_content_tokens(msg.get("content")))
        if msg.get("tool_calls"):
            out.extend(tokenize(canonical(msg["tool_calls"])))
        if msg.get("tool_call_id"):
            out.append(f"<|call:{msg['tool_call_id']}|>")
    return out


def responses_head_tokens(body: dict[str, Any]) -> list[str]:
    """Tools and instructions of a Responses request (they come before the conversation)."""
    out = _tools_tokens(body.get("tools"))
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        out.append("<|system|>")
        out.extend(tokenize(instructions))
    return out


def responses_input_tokens(body: dict[str, Any]) -> list[str]:
    """Tokens of a Responses ``input`` (a string or a list of items)."""
    inp = body.get("input")
    if isinstance(inp, str):
        return ["<|user|>", *tokenize(inp)]
    out: list[str] = []
    for item in inp or ():
        if not isinstance(item, dict):
            continue
        if "role" in item:
            out.append(f"<|{item['role']}|>")
            out.extend(_content_tokens(item.get("content")))
        elif item.get("type") == "function_call":
            out.append("<|function_call|>")
            out.extend(tokenize(f"{item.get('name', '')} {item.get('arguments', '')}"))
        elif item.get("type") == "function_call_output":
            out.append("<|function_call_output|>")
            output = item.get("output")
            out.extend(tokenize(output) if isinstance(output, str) else _content_tokens(output))
        else:
            out.append(f"<|{item.get('type', 'item')}|>")
            out.extend(tokenize(canonical(item)))
    return out


@dataclass(frozen=True, slots=True)
class Block:
    """One Anthropic prompt block: its identity hash, token count and cache breakpoint (if any)."""

    ident: int
    tokens: int
    ttl: str | None  # None: no breakpoint; "5m" or "1h": cache_control on this block


def _ttl_of(cc: Any) -> str | None:
    if isinstance(cc, dict) and cc.get("type") == "ephemeral":
        return "1h" if cc.get("ttl") == "1h" else "5m"
    return None


def _block_tokens(block: dict[str, Any]) -> int:
    kind = block.get("type")
    if kind == "text":
        return count_tokens(str(block.get("text", "")))
    if kind in ("image", "document"):
        return IMAGE_TOKENS
    if kind == "thinking":
        return count_tokens(str(block.get("thinking", "")))
    if kind == "tool_use":
        return 2 + count_tokens(canonical(block.get("input", {})))
    if kind == "tool_result":
        return 2 + len(_content_tokens(block.get("content")))
    return count_tokens(canonical(block))


def _block(role: str, raw: Any) -> Block:
    if isinstance(raw, str):
        return Block(hash((role, raw)), count_tokens(raw), None)
    if not isinstance(raw, dict):
        text = canonical(raw)
        return Block(hash((role, text)), count_tokens(text), None)
    stripped = {k: v for k, v in raw.items() if k != "cache_control"}
    return Block(
        hash((role, canonical(stripped))), _block_tokens(stripped), _ttl_of(raw.get("cache_control"))
    )


def anthropic_blocks(body: dict[str, Any]) -> list[Block]:
    """The prompt of a Messages request as blocks in cache order: tools, system, messages.

    The first block of each message also carries one role-marker token. A top-level ``cache_control``
    (automatic caching) puts a breakpoint on the last block unless it already has one.
    """
    blocks: list[Block] = []
    for tool in body.get("tools") or ():
        if isinstance(tool, dict):
            stripped = {k: v for k, v in tool.items() if k != "cache_control"}
            text = canonical(stripped)
            blocks.append(
                Block(hash(("tool", text)), 1 + count_tokens(text), _ttl_of(tool.get("cache_control")))
            )
    system = body.get("system")
    if isinstance(system, str) and system:
        blocks.append(Block(hash(("system", system)), 1 + count_tokens(system), None))
    elif isinstance(system, list):
        blocks.extend(_block("system", b) for b in system)
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        role = str(msg.get("role", "user"))
        content = msg.get("content")
        items = content if isinstance(content, list) else [content if content is not None else ""]
        for i, raw in enumerate(items):
            b = _block(role, raw)
            blocks.append(Block(b.ident, b.tokens + 1, b.ttl) if i == 0 else b)
    auto = _ttl_of(body.get("cache_control"))
    if auto and blocks and blocks[-1].ttl is None:
        last = blocks[-1]
        blocks[-1] = Block(last.ident, last.tokens, auto)
    return blocks
