"""Accounting, metrics, stats, access log and `warmgate stats` after a scripted workload through a
real gateway and the simulator, with the official SDKs as clients."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Clients, GatewayFactory
from tests.http import request
from tests.servers import Gateway, Sim, sim_provider
from warmgate.accounting.cost import prompt_cache_saving, usage_cost
from warmgate.accounting.prices import PriceTable
from warmgate.dialects.usage import Usage, read_usage

ADMIN = "sk-admin-observe"
SYSTEM = " ".join(f"rule{i}: answer precisely and cite the section." for i in range(300))  # ~2 000 tokens
PRICES = PriceTable.default()


def observed_config(sim_url: str, log_path: Path) -> dict[str, Any]:
    return {
        "keys": [{"key": "sk-team-a", "tenant": "team-a"}, {"key": "sk-team-b", "tenant": "team-b"}],
        "admin_key": ADMIN,
        "providers": [
            sim_provider(sim_url, name="openai", keys=("sk-obs-oa-1", "sk-obs-oa-2")),
            sim_provider(sim_url, name="anthropic", api="anthropic", keys=("sk-obs-an-1",)),
        ],
        "models": {"gpt-4o-mini": "openai", "claude-sonnet-4-5": "anthropic", "text-embedding-3-small": "openai"},
        "routing": {"strategy": "affinity"},
        "cache": {"enabled": True, "ttl": 600},
        "observability": {"interval": 1, "access_log": {"enabled": True, "path": str(log_path)}},
    }


class Workload:
    """What the clients saw: the usage of every answer the provider gave, and of every hit's original."""

    def __init__(self) -> None:
        self.misses: list[tuple[str, Usage]] = []  # (model, usage)
        self.hits: list[tuple[str, Usage]] = []  # (model, the original's usage)


def chat_usage(resp: Any) -> Usage:
    return read_usage("chat.completions", {"usage": resp.usage.model_dump()})


def run_workload(gw: Gateway, sdk: Clients) -> Workload:
    w = Workload()
    oa = sdk.openai(gw.url, "sk-team-a")
    an = sdk.anthropic(gw.url, "sk-team-b")
    first: dict[int, Usage] = {}
    for i in range(3):  # misses on one long system prompt: the provider's prompt cache warms up
        r = oa.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"q{i}"}]
        )
        first[i] = chat_usage(r)
        w.misses.append(("gpt-4o-mini", first[i]))
    stream = oa.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "q3"}],
        stream=True, stream_options={"include_usage": True},
    )
    last = [c for c in stream][-1]
    w.misses.append(("gpt-4o-mini", read_usage("chat.completions", {"usage": last.usage.model_dump()})))
    for i in range(3):  # the same questions again: gateway cache hits (the last one streamed)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"q{i}"}]
        if i < 2:
            oa.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        else:
            list(oa.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))  # type: ignore[arg-type]
        w.hits.append(("gpt-4o-mini", first[i]))
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    an_first = None
    for q in ("a0", "a1"):  # the first writes the provider's prompt cache, the second reads it
        m = an.messages.create(model="claude-sonnet-4-5", max_tokens=64, system=system,  # type: ignore[arg-type]
                               messages=[{"role": "user", "content": q}])
        u = read_usage("messages", {"usage": m.usage.model_dump()})
        an_first = an_first or u
        w.misses.append(("claude-sonnet-4-5", u))
    an.messages.create(model="claude-sonnet-4-5", max_tokens=64, system=system,  # type: ignore[arg-type]
                       messages=[{"role": "user", "content": "a0"}])
    assert an_first is not None
    w.hits.append(("claude-sonnet-4-5", an_first))
    # a gateway error: a model it does not serve
    r404 = request("POST", gw.url + "/v1/chat/completions", json={"model": "nope", "messages": []},
                   headers={"authorization": "Bearer sk-team-a"})
    assert r404.status == 404
    return w


@pytest.fixture(scope="module")
def observed(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Path]]:
    tmp = tmp_path_factory.mktemp("observe")
    log_path = tmp / "access.log"
    gw = Gateway(tmp, observed_config(sim.url, log_path))
    yield gw, log_path
    gw.stop()


def read_log(path: Path, at_least: int) -> list[dict[str, Any]]:
    """The access log's records, once `at_least` were written (it is flushed every 50 ms)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def admin_get(gw: Gateway, path: str, key: str = ADMIN) -> Any:
    return request("GET", gw.url + path, headers={"authorization": f"Bearer {key}"})


def metric(text: str, name: str, **labels: str) -> float:
    want = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith(name + want + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_workload_moves_metrics_stats_and_access_log(observed: tuple[Gateway, Path], clean_sim: Sim,
                                                     sdk: Clients) -> None:
    gw, log_path = observed
    w = run_workload(gw, sdk)
    expected_cost = sum(usage_cost(PRICES.get(m), u) for m, u in w.misses)  # type: ignore[arg-type]
    expected_pc = sum(prompt_cache_saving(PRICES.get(m), u) for m, u in w.misses)  # type: ignore[arg-type]
    expected_saved = sum(usage_cost(PRICES.get(m), u) for m, u in w.hits)  # type: ignore[arg-type]
    cached = sum(u.cached for _, u in w.misses)
    assert cached > 0 and expected_pc > 0  # the workload did reach the providers' prompt caches

    stats = admin_get(gw, "/admin/stats").ok().json()
    t = stats["totals"]
    assert t["requests"] == len(w.misses) + len(w.hits) == 10
    assert t["by_cache"] == {"miss": 6, "hit": 4}
    assert t["hits_by_kind"] == {"exact": 4}
    assert t["hit_rate"] == 0.4
    assert t["tokens_saved"] == sum(u.total for _, u in w.hits)
    assert math.isclose(t["cost"], expected_cost, rel_tol=1e-9)
    assert math.isclose(t["saved_cache"], expected_saved, rel_tol=1e-9)
    assert math.isclose(t["saved_prompt_cache"], expected_pc, rel_tol=1e-9)
    assert t["provider_cached_tokens"] == cached
    assert t["provider_prompt_tokens"] == sum(u.prompt for _, u in w.misses)
    assert t["errors"] == 1
    assert t["hit_latency_avg"] > 0 and t["miss_latency_avg"] > 0
    assert {r["name"]: (r["requests"], r["hits"]) for r in stats["top_models"]} == {
        "gpt-4o-mini": (7, 3), "claude-sonnet-4-5": (3, 1)}
    assert {r["name"]: r["requests"] for r in stats["top_tenants"]} == {"team-a": 7, "team-b": 3}
    accounts = {(a["provider"], a["account"]): a for a in stats["accounts"]}
    assert set(accounts) == {("openai", "acct-1"), ("openai", "acct-2"), ("anthropic", "acct-1")}
    assert sum(a["cached_tokens"] for a in accounts.values()) == cached
    assert all(a["healthy"] for a in accounts.values())
    assert stats["store"] == {"name": "memory", "state": "closed", "errors": 0}
    points = stats["series"]
    assert sum(p["requests"] for p in points) == 10 and sum(p["exact"] for p in points) == 4

    text = admin_get(gw, "/metrics").ok().body.decode()
    a = {"tenant": "team-a", "gateway": "default", "model": "gpt-4o-mini"}
    b = {"tenant": "team-b", "gateway": "default", "model": "claude-sonnet-4-5"}
    assert metric(text, "warmgate_requests_total", **a, cache="hit") == 3
    assert metric(text, "warmgate_requests_total", **a, cache="miss") == 4
    assert metric(text, "warmgate_requests_total", **b, cache="hit") == 1
    assert metric(text, "warmgate_cache_hits_total", **a, kind="exact") == 3
    assert metric(text, "warmgate_tokens_saved_total", **a, type="prompt") == sum(u.prompt for _, u in w.hits[:3])
    assert metric(text, "warmgate_request_seconds_count", gateway="default", cache="hit") == 4
    assert metric(text, "warmgate_gateway_errors_total", gateway="default", status="404") == 1
    assert metric(text, "warmgate_account_healthy", provider="openai", account="acct-1") == 1
    assert metric(text, "warmgate_provider_cache_write_tokens_total", provider="anthropic", account="acct-1",
                  model="claude-sonnet-4-5") == sum(u.cache_write for m, u in w.misses if m.startswith("claude"))
    assert sum(metric(text, "warmgate_upstream_seconds_count", provider="openai", account=f"acct-{i}")
               for i in (1, 2)) == 4

    lines = read_log(log_path, 11)
    assert len(lines) == 11 and len({x["request_id"] for x in lines}) == 11
    served = [x for x in lines if "cache" in x]
    assert sorted(x["cache"] for x in served) == ["hit"] * 4 + ["miss"] * 6
    assert [x["status"] for x in lines if "error" in x] == [404]
    assert {x["affinity"] for x in served if x["cache"] == "miss"} <= {"prefix", "system", "conversation", None}
    assert math.isclose(sum(x["cost_usd"] for x in served), expected_cost, rel_tol=1e-4)
    raw = log_path.read_text()
    assert "sk-obs-" not in raw and "sk-team" not in raw  # no provider or gateway key
    assert "rule1:" not in raw and '"q0"' not in raw  # no prompt (debug_bodies is off)


def test_embeddings_are_costed_too(observed: tuple[Gateway, Path], clean_sim: Sim, sdk: Clients) -> None:
    gw, _ = observed
    before = admin_get(gw, "/admin/stats").ok().json()["totals"]
    client = sdk.openai(gw.url)
    first = client.embeddings.create(model="text-embedding-3-small", input=["warm caches save money"])
    client.embeddings.create(model="text-embedding-3-small", input=["warm caches save money"])
    # $0.02 per million input tokens
    cost = first.usage.prompt_tokens * 0.02 / 1e6
    after = admin_get(gw, "/admin/stats").ok().json()["totals"]
    assert first.usage.prompt_tokens > 0
    assert math.isclose(after["cost"] - before["cost"], cost, rel_tol=1e-6)
    assert math.isclose(after["saved_cache"] - before["saved_cache"], cost, rel_tol=1e-6)


def test_stats_cli_and_admin_auth(observed: tuple[Gateway, Path], clean_sim: Sim, sdk: Clients) -> None:
    gw, _ = observed
    sdk.openai(gw.url).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "cli"}])
    out = subprocess.run([sys.executable, "-m", "warmgate", "stats", "--url", gw.url, "--admin-key", ADMIN],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "cache hit rate" in out.stdout and "openai/acct-1" in out.stdout and "gpt-4o-mini" in out.stdout
    assert "store              memory: ok, 0 errors" in out.stdout  # the circuit state in words
    as_json = subprocess.run([sys.executable, "-m", "warmgate", "stats", "--url", gw.url, "--admin-key", ADMIN, "--json"],
                             capture_output=True, text=True, timeout=30)
    assert orjson.loads(as_json.stdout)["totals"]["requests"] >= 1
    bad = subprocess.run([sys.executable, "-m", "warmgate", "stats", "--url", gw.url, "--admin-key", "sk-team-a"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "401" in bad.stderr

    assert admin_get(gw, "/admin/stats", "sk-team-a").status == 401  # a tenant key never opens it
    assert request("GET", gw.url + "/admin/stats").status == 401
    login = request("GET", gw.url + "/dashboard")
    assert login.status == 200 and b'action="/dashboard/login"' in login.body and b"kpi-requests" not in login.body
    wrong = request("POST", gw.url + "/dashboard/login", body=b"key=sk-team-a",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert wrong.status == 401 and "set-cookie" not in wrong.headers
    ok = request("POST", gw.url + "/dashboard/login", body=f"key={ADMIN}".encode(),
                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert ok.status == 303 and ok.headers["location"] == "/dashboard"
    cookie = ok.headers["set-cookie"].split(";", 1)[0]
    assert ADMIN not in cookie and "HttpOnly" in ok.headers["set-cookie"]
    page = request("GET", gw.url + "/dashboard", headers={"cookie": cookie})
    assert page.status == 200 and b"kpi-requests" in page.body
    assert request("GET", gw.url + "/admin/stats", headers={"cookie": cookie}).ok().json()["totals"]["requests"] >= 1
    assert request("GET", gw.url + "/admin/stats", headers={"cookie": "warmgate_admin=forged"}).status == 401
    assert b"svg" in request("GET", gw.url + "/dashboard/app.js").ok().body


def test_a_stale_entrys_background_refresh_is_costed(gateway_factory: GatewayFactory, tmp_path: Path,
                                                     clean_sim: Sim, sdk: Clients) -> None:
    config = observed_config(clean_sim.url, tmp_path / "access.log")
    config["cache"] = {"enabled": True, "ttl": 600, "stale": 30}
    gw = gateway_factory(config)
    client = sdk.openai(gw.url)
    ttl = {"cf-aig-cache-ttl": "1000"}
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "refresh me"}], extra_headers=ttl)
    one_call = usage_cost(PRICES.get("gpt-4o-mini"), chat_usage(first.parse()))  # type: ignore[arg-type]
    time.sleep(1.2)
    stale = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "refresh me"}], extra_headers=ttl)
    assert stale.headers["x-warmgate-cache"] == "STALE"
    deadline = time.monotonic() + 10
    while sum(clean_sim.requests_by_key().values()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    totals = admin_get(gw, "/admin/stats").ok().json()["totals"]
    for _ in range(100):  # the refresh's reply is accounted for right after the simulator answered it
        if totals["cost"] > one_call * 1.5:
            break
        time.sleep(0.05)
        totals = admin_get(gw, "/admin/stats").ok().json()["totals"]
    assert totals["by_cache"] == {"miss": 1, "stale": 1}  # the refresh is no request
    assert math.isclose(totals["cost"], 2 * one_call, rel_tol=1e-9)  # the refresh's call is
    assert math.isclose(totals["saved_cache"], one_call, rel_tol=1e-9)
