"""Shared bits of the management tests: the admin key, a JSON client, a gateway configuration."""

from __future__ import annotations

from typing import Any

from tests.conftest import GATEWAY_KEYS
from tests.http import Response, request
from tests.servers import sim_provider

ADMIN = "sk-admin-secret"
TENANT = "sk-team-a"


def admin(url: str, method: str, path: str, json: Any = None, key: str | None = ADMIN) -> Response:
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    return request(method, url + path, json=json, headers=headers)


def gateway_config(sim_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "keys": GATEWAY_KEYS,
        "admin_key": ADMIN,
        "providers": [
            sim_provider(sim_url, name="openai", keys=("sk-oa-1",)),
            sim_provider(sim_url, name="anthropic", api="anthropic", keys=("sk-an-1",)),
        ],
        "models": {"gpt-sim": "openai", "gpt-other": "openai", "claude-sim": "anthropic"},
        "gateways": {"support": {"models": ["gpt-sim", "claude-sim"], "cache": {"ttl": 600, "stale": 5}}},
        **extra,
    }


def exact(name: str, ttl: int = 3600, **extra: Any) -> dict[str, Any]:
    return {"name": name, "types": ["exact"], "ttl": ttl, **extra}
