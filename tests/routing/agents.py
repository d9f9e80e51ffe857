"""Requests as Claude Code 2.1 and Codex CLI 0.169 send them (SPEC "What real coding agents send"):
header lists as the ASGI edge delivers them (lower-case names, bytes) and parsed JSON bodies."""

from __future__ import annotations

import json
from typing import Any

CC_SESSION = "3f9c1e2a-7b4d-4e8f-9a61-0c2d5b7e8f13"
CC_DEVICE = "8e1f4b0c9d2a7e6f5b3c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a"
CC_ACCOUNT = "b7a3c2d1-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
CODEX_SESSION = "0199a8f2-5c3e-7d41-b8a9-6e2f4c1d0b37"

_LOREM = (
    "You are an interactive CLI tool that helps users with software engineering tasks. Use the "
    "instructions below and the tools available to you to assist the user. "
)


def _tool(name: str, i: int) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name}: " + "Performs an operation in the user's workspace. " * 12 + str(i),
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "The absolute path"},
                "limit": {"type": "number", "description": "How many lines to read"},
            },
            "required": ["path"],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


CC_TOOLS = [
    _tool(n, i)
    for i, n in enumerate(
        ["Task", "Bash", "Glob", "Grep", "ExitPlanMode", "Read", "Edit", "Write", "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "Skill", "SlashCommand", "AskUserQuestion", "EnterPlanMode", "mcp__ide__getDiagnostics", "mcp__ide__executeCode", "ListMcpResourcesTool", "ReadMcpResourceTool", "LSP", "TaskOutput"]
    )
]


def claude_code(
    turn_messages: list[dict[str, Any]] | None = None, *, session: str = CC_SESSION
) -> tuple[str, list[tuple[bytes, bytes]], dict[str, Any]]:
    """(path, headers, body) of a Claude Code 2.1 turn (path without its `?beta=true` query)."""
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"connection", b"keep-alive"),
        (b"accept", b"application/json"),
        (b"x-stainless-retry-count", b"0"),
        (b"x-stainless-timeout", b"600"),
        (b"x-stainless-lang", b"js"),
        (b"x-stainless-package-version", b"0.70.0"),
        (b"x-stainless-os", b"Linux"),
        (b"x-stainless-arch", b"x64"),
        (b"x-stainless-runtime", b"node"),
        (b"x-stainless-runtime-version", b"v22.17.0"),
        (b"anthropic-dangerous-direct-browser-access", b"true"),
        (b"anthropic-version", b"2023-06-01"),
        (b"x-app", b"cli"),
        (b"user-agent", b"claude-cli/2.1.14 (external, cli)"),
        (b"x-claude-code-session-id", session.encode()),
        (b"content-type", b"application/json"),
        (
            b"anthropic-beta",
            b"claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
        ),
        (b"x-api-key", b"sk-team-a"),
        (b"accept-language", b"*"),
        (b"sec-fetch-mode", b"cors"),
        (b"accept-encoding", b"gzip, deflate"),
    ]
    first_user: dict[str, Any] = {
        "role": "user",
        "content": [
            {"type": "text", "text": "<system-reminder>\nAs you answer the user's questions, you can use the "
             "following context:\n# claudeMd\nUse ruff and mypy.\n</system-reminder>"},
            {"type": "text", "text": "Fix the failing test in tests/test_pool.py", "cache_control": {"type": "ephemeral"}},
        ],
    }
    messages = [first_user, *(turn_messages or [])]
    if turn_messages:  # the marker moves to the newest message on later turns
        messages[0] = {"role": "user", "content": [{k: v for k, v in b.items() if k != "cache_control"}
                                                  for b in first_user["content"]]}
    body = {
        "model": "claude-opus-4-6",
        "messages": messages,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": (_LOREM * 200)[:26_000], "cache_control": {"type": "ephemeral"}},
        ],
        "tools": CC_TOOLS,
        "metadata": {
            "user_id": json.dumps(
                {"device_id": CC_DEVICE, "account_uuid": CC_ACCOUNT, "session_id": session}, separators=(",", ":")
            )
        },
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "stream": True,
    }
    return "/v1/messages", headers, body


def _fn(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "description": f"Runs {name}. " + "Use it to inspect or change the workspace. " * 10,
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "array", "items": {"type": "string"}}},
            "required": ["command"],
            "additionalProperties": False,
        },
    }


def codex(
    later_items: list[dict[str, Any]] | None = None, *, session: str = CODEX_SESSION
) -> tuple[str, list[tuple[bytes, bytes]], dict[str, Any]]:
    """(path, headers, body) of a Codex CLI 0.169 turn."""
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"authorization", b"Bearer sk-team-a"),
        (b"content-type", b"application/json"),
        (b"accept", b"text/event-stream"),
        (b"openai-beta", b"responses=experimental"),
        (b"originator", b"codex_cli_rs"),
        (b"version", b"0.169.0"),
        (b"session-id", session.encode()),
        (b"thread-id", session.encode()),
        (b"user-agent", b"codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) xterm-256color (codex-tui; 0.169.0)"),
    ]

    def msg(role: str, text: str) -> dict[str, Any]:
        return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}

    body = {
        "model": "gpt-5.5",
        "instructions": "You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI. " * 150,
        "input": [
            msg("developer", "<permissions instructions>Filesystem sandboxing: workspace-write.</permissions instructions>"),
            msg("user", "# AGENTS.md instructions for /work/main\n<INSTRUCTIONS>Run the tests.</INSTRUCTIONS>"),
            msg("user", "<environment_context>\n  <cwd>/work/main</cwd>\n  <shell>bash</shell>\n</environment_context>"),
            msg("user", "Make the pool skip accounts that are cooling down."),
            *(later_items or []),
        ],
        "tools": [_fn(n) for n in ("shell", "apply_patch", "update_plan", "view_image", "list_mcp_resources")],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": session,
        "text": {"verbosity": "low"},
        "client_metadata": {"x-codex-installation-id": "6c1f0e2d-9a8b-4c7d-8e6f-5a4b3c2d1e0f"},
    }
    return "/v1/responses", headers, body
