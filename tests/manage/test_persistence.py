"""The management state survives a restart (SQLite, the default) and is shared by instances that
point at one Redis; an edit on one instance reaches the other within the poll interval."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai

from tests.conftest import Clients, GatewayFactory
from tests.manage.helpers import TENANT, admin, exact, gateway_config
from tests.redis_server import RedisServer
from tests.servers import Gateway, Sim


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for `check()` (a state another process reaches by polling); bounded, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def cache_status(client: openai.OpenAI, text: str) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-sim", messages=[{"role": "user", "content": text}], max_tokens=8
    )
    return raw.headers.get("x-warmgate-cache", "")


def test_restart_and_crash_keep_configurations(sim: Sim, tmp_path: Path) -> None:
    cfg = gateway_config(sim.url)
    first = Gateway(tmp_path, cfg)
    try:
        assert admin(first.url, "POST", "/admin/cache-configs", exact("survives-restart", ttl=99)).status == 201
        assert admin(first.url, "POST", "/admin/cache-configs/survives-restart/assign",
                     {"gateway": "support", "models": ["gpt-sim"]}).status == 200
        assert admin(first.url, "POST", "/admin/gateways", {"name": "made-at-runtime"}).status == 201
        first.kill()  # SIGKILL right after the acknowledgement: nothing acknowledged may be lost
    finally:
        first.stop()
    assert (tmp_path / "warmgate-admin.sqlite3").exists()  # beside the configuration file
    second = Gateway(tmp_path, cfg)
    try:
        got = admin(second.url, "GET", "/admin/cache-configs/survives-restart").json()
        assert got["ttl"] == 99 and got["assignments"] == [{"gateway": "support", "models": ["gpt-sim"]}]
        assert admin(second.url, "GET", "/admin/gateways/made-at-runtime").status == 200
        eff = admin(second.url, "GET", "/admin/effective?gateway=support&model=gpt-sim").json()
        assert eff["configuration"] == "survives-restart" and eff["ttl"] == 99
    finally:
        second.stop()


def test_two_instances_share_redis(
    sim: Sim, redis_server: RedisServer, gateway_factory: GatewayFactory, sdk: Clients
) -> None:
    shared: dict[str, Any] = {"store": "redis", "poll_interval": 0.1,
                              "redis": {"url": redis_server.url, "key_prefix": f"wg:admin:{time.time_ns()}:"}}
    a = gateway_factory(gateway_config(sim.url, management=shared))
    b = gateway_factory(gateway_config(sim.url, management=shared))
    assert admin(a.url, "POST", "/admin/cache-configs", exact("shared-config", ttl=300)).status == 201
    assert admin(a.url, "POST", "/admin/cache-configs/shared-config/assign",
                 {"gateway": "support", "models": ["gpt-sim"]}).status == 200

    def ttl_on_b() -> Any:
        return admin(b.url, "GET", "/admin/effective?gateway=support&model=gpt-sim").json()["ttl"]

    eventually(lambda: ttl_on_b() == 300)
    # B writes, with A's state: a conflicting assignment made on B names A's configuration
    assert admin(b.url, "POST", "/admin/cache-configs", exact("from-b-side")).status == 201
    clash = admin(b.url, "POST", "/admin/cache-configs/from-b-side/assign", {"gateway": "support", "models": ["gpt-sim"]})
    assert clash.status == 409 and "shared-config" in clash.json()["error"]["message"]
    # an edit on A reaches B's requests
    assert admin(a.url, "PATCH", "/admin/cache-configs/shared-config", {"ttl": 42}).status == 200
    eventually(lambda: ttl_on_b() == 42)
    client_b = openai.OpenAI(api_key=TENANT, base_url=b.url + "/g/support/v1", max_retries=0, timeout=20)
    sdk.opened.append(client_b)
    assert cache_status(client_b, "shared store") == "MISS"
    assert cache_status(client_b, "shared store") == "HIT"
    # a detach on B turns B's and A's caching off for that model
    assert admin(b.url, "POST", "/admin/cache-configs/shared-config/detach", {"gateway": "support"}).status == 200
    eventually(lambda: admin(a.url, "GET", "/admin/effective?gateway=support&model=gpt-sim").json()["configuration"] is None)
    # both instances' audit trails are the one trail
    actions = [r["action"] for r in admin(a.url, "GET", "/admin/audit").json()["data"]]
    assert actions[:3] == ["detach", "edit", "create"]
    # two conflicting assignments at the same moment on two instances: exactly one wins
    assert admin(a.url, "POST", "/admin/cache-configs", exact("race-one")).status == 201
    assert admin(b.url, "POST", "/admin/cache-configs", exact("race-two")).status == 201
    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(
            lambda pair: admin(pair[0], "POST", f"/admin/cache-configs/{pair[1]}/assign",
                               {"gateway": "support", "models": ["claude-sim"]}).status,
            [(a.url, "race-one"), (b.url, "race-two")],
        ))
    assert statuses == [200, 409]
