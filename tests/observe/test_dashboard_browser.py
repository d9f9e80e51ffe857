"""The dashboard in a real browser: gateway + simulator, a workload through the SDKs, then headless
Chromium signs in with the admin key, waits for the page to fetch `/admin/stats` and checks that the
charts were drawn with the gateway's numbers. The screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Clients, GatewayFactory
from tests.http import request
from tests.observe.cdp import Browser, chromium_path
from tests.servers import Sim, sim_provider

ADMIN = "sk-admin-browser"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


async def test_dashboard_renders_the_gateways_numbers(gateway_factory: GatewayFactory, clean_sim: Sim,
                                                      sdk: Clients) -> None:
    binary = chromium_path()
    if binary is None:
        if os.environ.get("CI"):  # scripts/test.sh installs it: in CI a missing browser is a failure
            pytest.fail("chromium is not installed")
        pytest.skip("chromium is not installed (scripts/test.sh installs Debian's chromium package)")
    gw = gateway_factory({
        "keys": [{"key": "sk-team-a", "tenant": "team-a"}, {"key": "sk-team-b", "tenant": "team-b"}],
        "admin_key": ADMIN,
        "providers": [sim_provider(clean_sim.url, name="openai", keys=("sk-br-1", "sk-br-2")),
                      sim_provider(clean_sim.url, name="anthropic", api="anthropic", keys=("sk-br-3",))],
        "models": {"gpt-4o-mini": "openai", "claude-haiku-4-5": "anthropic"},
        "cache": {"enabled": True},
        "gateways": {"support": {"models": ["gpt-4o-mini"], "cache": {"enabled": True}}},
        "observability": {"interval": 1},
    })
    oa, an = sdk.openai(gw.url, "sk-team-a"), sdk.anthropic(gw.url, "sk-team-b")
    for i in range(6):  # 6 misses, 6 hits, then 2 Anthropic misses and a hit
        for _ in range(2):
            oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"question {i}"}])
    for q in ("x", "y", "x"):
        an.messages.create(model="claude-haiku-4-5", max_tokens=32, messages=[{"role": "user", "content": q}])
    support = sdk.openai(gw.url + "/g/support", "sk-team-a")
    for _ in range(2):  # a miss and a hit through the named gateway
        support.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "support question"}])
    stats = request("GET", gw.url + "/admin/stats", headers={"authorization": f"Bearer {ADMIN}"}).ok().json()
    assert stats["totals"]["requests"] == 17

    browser = Browser(binary)
    try:
        await browser.open()
        await browser.call("Page.enable")
        await browser.call("Page.navigate", url=gw.url + "/dashboard")
        assert await browser.wait_for("document.getElementById('login') !== null")
        await browser.evaluate(f"document.getElementById('key').value = {ADMIN!r}; document.getElementById('login').submit()")
        assert await browser.wait_for("Number(document.body.dataset.updates || 0) >= 1"), "the dashboard never rendered"
        seen = await browser.evaluate("""(() => {
            const chart = n => document.querySelector(`svg[data-chart="${n}"]`);
            const bars = n => [...chart(n).querySelectorAll("g[data-label]")].map(
                g => [g.dataset.label, Number(g.dataset.value)]);
            return {
              requests: document.getElementById("kpi-requests").textContent,
              hitRateKpi: document.getElementById("kpi-hit-rate").textContent,
              hitRate: Number(chart("hit-rate").dataset.hitRate),
              hitPoints: chart("hit-rate").querySelectorAll("circle").length,
              savedCache: Number(chart("saved").dataset.savedCache),
              tokensSaved: Number(chart("saved").dataset.tokensSaved),
              latencyLines: [...chart("latency").querySelectorAll("g[data-series]")]
                .filter(g => Number(g.dataset.points) > 0).map(g => g.dataset.series),
              models: bars("models"),
              tenants: bars("tenants"),
              gateways: bars("gateways"),
              accounts: bars("accounts").map(b => b[0]),
              health: [...document.querySelectorAll("#health .pill")].map(p => p.textContent),
            };
        })()""")
        ARTIFACTS.mkdir(exist_ok=True)
        await browser.screenshot(ARTIFACTS / "dashboard.png")
    finally:
        await browser.close()

    t = stats["totals"]
    assert seen["requests"] == "17"
    assert t["hit_rate"] == 8 / 17 and seen["hitRate"] == t["hit_rate"] and seen["hitRateKpi"] == "47.1 %"
    assert seen["hitPoints"] >= 1
    assert seen["savedCache"] == t["saved_cache"] > 0 and seen["tokensSaved"] == t["tokens_saved"] > 0
    assert {"cache hit", "miss (through the gateway)"} <= set(seen["latencyLines"])
    assert seen["models"] == [["gpt-4o-mini", 14], ["claude-haiku-4-5", 3]]
    assert seen["tenants"] == [["team-a", 14], ["team-b", 3]]
    assert seen["gateways"] == [["default", 15], ["support", 2]]
    assert sorted(seen["accounts"]) == ["anthropic/acct-1", "openai/acct-1", "openai/acct-2"]
    assert seen["health"][0].startswith("store memory: ok")
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
