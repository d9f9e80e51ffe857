"""Faults, latency, stats and reset, against a simulator served on the test's own event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from sim_helpers import FakeClock, words

from warmgate.sim import SimConfig, SimHandle, serve

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def asim() -> AsyncIterator[SimHandle]:
    async with serve(SimConfig()) as handle:
        yield handle


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def set_fault(session: aiohttp.ClientSession, sim: SimHandle, **fault: Any) -> None:
    async with session.post(sim.url + "/sim/faults", json=fault) as resp:
        assert resp.status == 200, await resp.text()


async def stats(session: aiohttp.ClientSession, sim: SimHandle) -> dict[str, Any]:
    async with session.get(sim.url + "/sim/stats") as resp:
        doc: dict[str, Any] = await resp.json()
        return doc


async def test_429_with_retry_after_until_count_exhausts(
    asim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await set_fault(session, asim, account="k429", status=429, count=2, retry_after=3)
    client = openai.AsyncOpenAI(base_url=asim.url + "/v1", api_key="k429", max_retries=0)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert info.value.response.headers["retry-after"] == "3"
        assert info.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
    assert (await client.chat.completions.create(**CHAT)).choices  # type: ignore[call-overload]
    unaffected = openai.AsyncOpenAI(base_url=asim.url + "/v1", api_key="other", max_retries=0)
    assert (await unaffected.chat.completions.create(**CHAT)).choices  # type: ignore[call-overload]
    await client.close()
    await unaffected.close()
    doc = await stats(session, asim)
    k429 = next(a for a in doc["accounts"].values() if a["key"] == "k429")
    assert (k429["requests"], k429["errors"], k429["in_flight"], k429["max_in_flight"]) == (3, 2, 0, 1)
    assert doc["totals"]["requests"] == 4
    await client.close()
    await unaffected.close()


async def test_wildcard_status_fault_in_anthropic_format_and_clear(
    asim: SimHandle, session: aiohttp.ClientSession
) -> None:
    await set_fault(session, asim, account="*", status=529)
    body = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    async with session.post(asim.url + "/v1/messages", json=body, headers={"x-api-key": "a"}) as resp:
        assert resp.status == 529
        assert (await resp.json())["error"]["type"] == "overloaded_error"
    async with session.delete(asim.url + "/sim/faults") as resp:
        assert resp.status == 200
    async with session.post(asim.url + "/v1/messages", json=body, headers={"x-api-key": "a"}) as resp:
        assert resp.status == 200
    async with session.post(
        asim.url + "/v1/chat/completions", json=CHAT, headers={**auth("a"), "x-sim-fail": "503"}
    ) as resp:
        assert resp.status == 503 and (await resp.json())["error"]["type"] == "server_error"


async def test_stall_times_the_client_out(asim: SimHandle) -> None:
    await _post_fault(asim, account="kstall", mode="stall")
    client = openai.AsyncOpenAI(base_url=asim.url + "/v1", api_key="kstall", max_retries=0, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert time.monotonic() - started < 2
    await client.close()


async def _post_fault(sim: SimHandle, **fault: Any) -> None:
    async with aiohttp.ClientSession() as s:
        await set_fault(s, sim, **fault)


async def test_close_drops_the_connection(asim: SimHandle, session: aiohttp.ClientSession) -> None:
    await set_fault(session, asim, account="kclose", mode="close", count=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with session.post(asim.url + "/v1/chat/completions", json=CHAT, headers=auth("kclose")) as resp:
            await resp.read()
    client = openai.AsyncOpenAI(base_url=asim.url + "/v1", api_key="kclose2", max_retries=0)
    await set_fault(session, asim, account="kclose2", mode="close", count=1)
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert (await client.chat.completions.create(**CHAT)).choices  # type: ignore[call-overload]
    await client.close()
    await client.close()


async def test_cut_aborts_mid_body(asim: SimHandle, session: aiohttp.ClientSession) -> None:
    await set_fault(session, asim, account="kcut", mode="cut", count=2)
    stream = {**CHAT, "stream": True}
    async with session.post(asim.url + "/v1/chat/completions", json=stream, headers=auth("kcut")) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    async with session.post(asim.url + "/v1/chat/completions", json=CHAT, headers=auth("kcut")) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    doc = await stats(session, asim)
    assert next(a for a in doc["accounts"].values() if a["key"] == "kcut")["errors"] == 2


async def test_latency_knobs_and_in_flight(session: aiohttp.ClientSession) -> None:
    config = SimConfig(ttft_base_ms=50, ttft_per_1k_uncached_ms=100, per_token_ms=5)
    async with serve(config) as sim:
        long = {"model": "gpt-4o", "messages": [{"role": "user", "content": words(2000)}], "max_tokens": 4}
        started = time.monotonic()
        async with session.post(sim.url + "/v1/chat/completions", json=long, headers=auth("lat")) as resp:
            await resp.read()
        cold = time.monotonic() - started  # 50 + 200 + 4 * 5 ms
        started = time.monotonic()
        async with session.post(sim.url + "/v1/chat/completions", json=long, headers=auth("lat")) as resp:
            await resp.read()
        warm = time.monotonic() - started  # 1920 tokens cached: 50 + 8.1 + 20 ms
        assert cold >= 0.27 and warm < cold - 0.1

        async def slow() -> None:
            headers = {**auth("conc"), "x-sim-ttft-ms": "200"}
            async with session.post(
                sim.url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=headers
            ) as r:
                body = await r.read()
                assert body.endswith(b"data: [DONE]\n\n")

        await asyncio.gather(*(slow() for _ in range(5)))
        conc = next(a for a in (await stats(session, sim))["accounts"].values() if a["key"] == "conc")
        assert conc["max_in_flight"] == 5 and conc["in_flight"] == 0 and conc["output_tokens"] == 80


async def test_ttl_expiry_with_injected_clock_and_reset(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with serve(SimConfig(clock=clock)) as sim:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": words(2000)}]}

        async def cached() -> int:
            async with session.post(sim.url + "/v1/chat/completions", json=body, headers=auth("ttl")) as resp:
                return int((await resp.json())["usage"]["prompt_tokens_details"]["cached_tokens"])

        assert await cached() == 0
        clock.advance(299)
        assert await cached() == 1920
        clock.advance(301)
        assert await cached() == 0
        doc = await stats(session, sim)
        assert doc["totals"]["cached_tokens"] == 1920 and doc["totals"]["prompt_tokens"] == 3 * 2001
        async with session.post(sim.url + "/sim/reset") as resp:
            assert resp.status == 200
        assert (await stats(session, sim))["accounts"] == {}
        assert await cached() == 0  # caches were cleared too
