"""The exact response cache end to end: real SDKs, the simulator's counters as proof of what reached
the provider, every control dialect, streams recorded and replayed, coalescing, tenant isolation,
purge and metrics."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import GATEWAY_KEYS, Clients, GatewayFactory
from tests.http import request
from tests.servers import Gateway, Sim, sim_provider

ADMIN = "sk-admin-secret"
_ids = itertools.count()


def cache_config(sim_url: str, **cache: Any) -> dict[str, Any]:
    return {
        "keys": GATEWAY_KEYS,
        "admin_key": ADMIN,
        "providers": [
            sim_provider(sim_url, name="openai", keys=("sk-c-oa",)),
            sim_provider(sim_url, name="anthropic", api="anthropic", keys=("sk-c-an",)),
        ],
        "models": {"gpt-sim": "openai", "claude-sim": "anthropic", "embed-sim": "openai"},
        "cache": {"enabled": True, "ttl": 600, "shared_namespaces": {"common": ["team-a", "team-b"]}, **cache},
    }


@pytest.fixture(scope="module")
def cgw(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("cache"), cache_config(sim.url, stale=30))
    yield gw
    gw.stop()


def uid() -> str:
    return f"question {next(_ids)} at {time.monotonic_ns()}"


def upstream_calls(sim: Sim) -> int:
    return sum(sim.requests_by_key().values())


def chat(client: openai.OpenAI, text: str, **kw: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="gpt-sim", messages=[{"role": "user", "content": text}], **kw
    )


def test_miss_then_hit_with_headers_and_usage(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    first = chat(client, q)
    assert first.headers["x-warmgate-cache"] == "MISS" and first.headers["cf-aig-cache-status"] == "MISS"
    second = chat(client, q)
    assert second.headers["x-warmgate-cache"] == "HIT"
    assert second.headers["cf-aig-cache-status"] == "HIT" and second.headers["helicone-cache"] == "HIT"
    assert int(second.headers["age"]) >= 0
    a, b = first.parse(), second.parse()
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.usage.prompt_tokens == b.usage.prompt_tokens  # original token counts kept
    assert upstream_calls(clean_sim) == 1
    # key order and whitespace do not matter; stream_options / metadata / user are not in the key
    chat(client, q, user="someone", metadata={"x": "y"})
    assert upstream_calls(clean_sim) == 1


def test_parameters_are_part_of_the_key(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    chat(client, q, temperature=0)
    assert chat(client, q, temperature=0.5).headers["x-warmgate-cache"] == "MISS"
    assert chat(client, q, temperature=0, max_tokens=5).headers["x-warmgate-cache"] == "MISS"
    assert upstream_calls(clean_sim) == 3


@pytest.mark.parametrize(
    ("headers", "expect_second"),
    [
        ({"cf-skip-cache": "true"}, "BYPASS"),
        ({"cf-aig-skip-cache": "true"}, "BYPASS"),
        ({"x-cache-control": "no-cache"}, "BYPASS"),
        ({"Cache-Control": "no-cache"}, "BYPASS"),
        ({"Helicone-Cache-Enabled": "false"}, "BYPASS"),
    ],
)
def test_skip_lookup_dialects(cgw: Gateway, clean_sim: Sim, sdk: Clients, headers: dict[str, str], expect_second: str) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    chat(client, q)
    assert chat(client, q, extra_headers=headers).headers["x-warmgate-cache"] == expect_second
    assert upstream_calls(clean_sim) == 2


@pytest.mark.parametrize("headers", [{"x-cache-control": "no-store"}, {"Cache-Control": "no-store"}])
def test_no_store_dialects(cgw: Gateway, clean_sim: Sim, sdk: Clients, headers: dict[str, str]) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    chat(client, q, extra_headers=headers)
    assert chat(client, q).headers["x-warmgate-cache"] == "MISS"  # nothing was stored
    assert upstream_calls(clean_sim) == 2


def test_litellm_body_cache_object(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    chat(client, q, extra_body={"cache": {"no-store": True}})
    assert chat(client, q, extra_body={"cache": {"namespace": "lite"}}).headers["x-warmgate-cache"] == "MISS"
    assert chat(client, q, extra_body={"cache": {"namespace": "lite"}}).headers["x-warmgate-cache"] == "HIT"
    assert chat(client, q, extra_body={"cache": {"no-cache": True}}).headers["x-warmgate-cache"] == "BYPASS"
    assert upstream_calls(clean_sim) == 3  # and the provider never saw a `cache` field (the sim would not mind; see unit tests)


@pytest.mark.parametrize(
    "ttl_headers",
    [{"cf-aig-cache-ttl": "1000"}, {"cf-cache-ttl": "1000"}, {"Cache-Control": "max-age=1"}, {"x-cache-control": "max-age=1"}],
)
def test_ttl_dialects_expire(sim: Sim, gateway_factory: GatewayFactory, sdk: Clients, ttl_headers: dict[str, str]) -> None:
    sim.reset()
    gw = gateway_factory(cache_config(sim.url))  # no stale allowance
    client = sdk.openai(gw.url)
    q = uid()
    chat(client, q, extra_headers=ttl_headers)
    assert chat(client, q, extra_headers=ttl_headers).headers["x-warmgate-cache"] == "HIT"
    time.sleep(1.2)
    assert chat(client, q, extra_headers=ttl_headers).headers["x-warmgate-cache"] == "MISS"
    assert upstream_calls(sim) == 2


def test_stale_served_while_one_refresh_runs(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    ttl = {"cf-aig-cache-ttl": "1000"}
    chat(client, q, extra_headers=ttl)
    time.sleep(1.2)
    stale = [chat(client, q, extra_headers=ttl).headers["x-warmgate-cache"] for _ in range(3)]
    assert stale[0] == "STALE"
    deadline = time.monotonic() + 5
    while upstream_calls(clean_sim) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert upstream_calls(clean_sim) == 2  # one background refresh, however many stale serves
    assert chat(client, q, extra_headers=ttl).headers["x-warmgate-cache"] == "HIT"


def test_buckets(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    bucket = {"Helicone-Cache-Bucket-Max-Size": "3"}
    results = [chat(client, q, extra_headers=bucket).headers for _ in range(8)]
    assert [h["x-warmgate-cache"] for h in results[:3]] == ["MISS"] * 3
    assert all(h["x-warmgate-cache"] == "HIT" for h in results[3:])
    assert {h["helicone-cache-bucket-idx"] for h in results[3:]} <= {"0", "1", "2"}
    assert upstream_calls(clean_sim) == 3


def test_namespaces_and_custom_keys(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    chat(client, q, extra_headers={"Helicone-Cache-Seed": "one"})
    assert chat(client, q, extra_headers={"Helicone-Cache-Seed": "two"}).headers["x-warmgate-cache"] == "MISS"
    assert chat(client, q, extra_headers={"Helicone-Cache-Seed": "one"}).headers["x-warmgate-cache"] == "HIT"
    key = {"cf-aig-cache-key": f"custom-{uid()}"}
    chat(client, uid(), extra_headers=key)
    other_prompt = chat(client, uid(), extra_headers=key)
    assert other_prompt.headers["x-warmgate-cache"] == "HIT"  # the custom key replaces the computed one
    assert upstream_calls(clean_sim) == 3


def test_tenants_are_isolated_unless_they_share_a_namespace(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    a, b = sdk.openai(cgw.url, "sk-team-a"), sdk.openai(cgw.url, "sk-team-b")
    q = uid()
    chat(a, q)
    assert chat(b, q).headers["x-warmgate-cache"] == "MISS"
    assert chat(b, q, extra_headers={"Helicone-Cache-Seed": "mine"}).headers["x-warmgate-cache"] == "MISS"
    shared = {"Helicone-Cache-Seed": "common"}
    chat(a, q, extra_headers=shared)
    assert chat(b, q, extra_headers=shared).headers["x-warmgate-cache"] == "HIT"
    assert upstream_calls(clean_sim) == 4


def test_streams_are_recorded_and_replayed_both_ways(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    msgs = [{"role": "user", "content": q}]
    first = list(client.chat.completions.create(model="gpt-sim", messages=msgs, stream=True,  # type: ignore[arg-type]
                                                stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in first if c.choices)
    raw = client.chat.completions.with_raw_response.create(model="gpt-sim", messages=msgs, stream=True)  # type: ignore[arg-type]
    assert raw.headers["x-warmgate-cache"] == "HIT"
    replay = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in replay if c.choices) == text
    plain = chat(client, q)  # a non-streamed request is answered from the recorded stream
    assert plain.headers["x-warmgate-cache"] == "HIT" and plain.parse().choices[0].message.content == text
    # and the other way: a plain answer replayed as a stream
    q2 = uid()
    body = chat(client, q2).parse().choices[0].message.content
    streamed = list(client.chat.completions.create(model="gpt-sim", messages=[{"role": "user", "content": q2}], stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == body
    assert upstream_calls(clean_sim) == 2


def test_tool_calls_and_reasoning_survive_replay(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    an = sdk.anthropic(cgw.url)
    kw: dict[str, Any] = {
        "model": "claude-sim", "max_tokens": 2048, "messages": [{"role": "user", "content": uid()}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "lookup", "description": "look up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
        "tool_choice": {"type": "any"},
    }
    with an.messages.stream(**kw) as s:
        original = s.get_final_message()
    with an.messages.stream(**kw) as s:
        replayed = s.get_final_message()
    assert [b.type for b in replayed.content] == [b.type for b in original.content]
    assert "tool_use" in [b.type for b in original.content] and "thinking" in [b.type for b in original.content]
    assert replayed.content[-1].input == original.content[-1].input  # type: ignore[union-attr]
    oa = sdk.openai(cgw.url)
    rkw: dict[str, Any] = {"model": "gpt-sim", "input": uid(), "reasoning": {"effort": "low"}}
    first = [e.type for e in oa.responses.create(stream=True, **rkw)]
    second = [e.type for e in oa.responses.create(stream=True, **rkw)]
    assert second == first and any("reasoning" in t for t in first)
    assert upstream_calls(clean_sim) == 2


def test_errors_and_cut_streams_are_not_stored(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    clean_sim.fault(account="sk-c-oa", status=400, count=1)
    with pytest.raises(openai.BadRequestError):
        chat(client, q)
    assert chat(client, q).headers["x-warmgate-cache"] == "MISS"
    q = uid()
    clean_sim.fault(account="sk-c-oa", mode="cut", count=1)
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="gpt-sim", messages=[{"role": "user", "content": q}], stream=True))  # type: ignore[arg-type]
    assert chat(client, q).headers["x-warmgate-cache"] == "MISS"


def test_fifty_concurrent_identical_misses_make_one_upstream_call(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    slow = {"x-sim-ttft-ms": "500"}
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: chat(client, q, extra_headers=slow), range(50)))
    assert upstream_calls(clean_sim) == 1
    assert {r.parse().choices[0].message.content for r in results} == {results[0].parse().choices[0].message.content}
    q = uid()  # streamed too
    with ThreadPoolExecutor(20) as pool:
        streams = list(pool.map(lambda _: list(client.chat.completions.create(
            model="gpt-sim", messages=[{"role": "user", "content": q}], stream=True, extra_headers=slow)), range(20)))  # type: ignore[arg-type]
    assert upstream_calls(clean_sim) == 2
    assert all(s for s in streams)


def test_invalid_controls_are_400s_in_the_callers_format(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    for headers in ({"cf-aig-cache-ttl": "-5"}, {"cf-cache-ttl": "soon"}, {"x-cache-control": "max-age=-1"},
                    {"x-cache-control": "sometimes"}, {"Helicone-Cache-Bucket-Max-Size": "0"}, {"cf-skip-cache": "maybe"},
                    {"x-warmgate-semantic-threshold": "high"}):
        with pytest.raises(openai.BadRequestError):
            chat(client, uid(), extra_headers=headers)
    with pytest.raises(openai.BadRequestError):
        chat(client, uid(), extra_body={"cache": {"ttl": "long"}})
    with pytest.raises(anthropic.BadRequestError):
        sdk.anthropic(cgw.url).messages.create(model="claude-sim", max_tokens=8, messages=[{"role": "user", "content": "x"}],
                                               extra_headers={"cf-aig-cache-ttl": "-1"})
    assert upstream_calls(clean_sim) == 0
    # a malformed control is refused on a hit too (here: a semantic threshold on an exact-only gateway)
    q = uid()
    chat(client, q)
    with pytest.raises(openai.BadRequestError, match="x-warmgate-semantic-threshold"):
        chat(client, q, extra_headers={"x-warmgate-semantic-threshold": "1.5"})
    assert chat(client, q, extra_headers={"x-warmgate-semantic-threshold": "off"}).headers["x-warmgate-cache"] == "HIT"


def test_embeddings_and_messages_are_cached(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    oa = sdk.openai(cgw.url)
    text = uid()
    oa.embeddings.create(model="embed-sim", input=text)
    assert oa.embeddings.with_raw_response.create(model="embed-sim", input=text).headers["x-warmgate-cache"] == "HIT"
    an = sdk.anthropic(cgw.url)
    kw: dict[str, Any] = {"model": "claude-sim", "max_tokens": 16, "messages": [{"role": "user", "content": uid()}]}
    an.messages.create(**kw)
    assert an.messages.with_raw_response.create(**kw).headers["x-warmgate-cache"] == "HIT"
    assert upstream_calls(clean_sim) == 2


def test_purge_needs_the_admin_key_and_works(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(cgw.url)
    q = uid()
    chat(client, q)
    assert request("DELETE", cgw.url + "/admin/cache?tenant=team-a").status == 401
    assert request("DELETE", cgw.url + "/admin/cache?tenant=team-a", headers={"authorization": "Bearer sk-team-a"}).status == 401
    key = chat(client, q).headers["x-warmgate-cache-key"]
    ok = request("DELETE", cgw.url + "/admin/cache/keys/" + key, headers={"authorization": f"Bearer {ADMIN}"}).ok().json()
    assert ok["keys"] == 1
    assert chat(client, q).headers["x-warmgate-cache"] == "MISS"
    assert chat(client, q).headers["x-warmgate-cache"] == "HIT"
    request("DELETE", cgw.url + "/admin/cache?tenant=team-a", headers={"x-api-key": ADMIN}).ok()
    assert chat(client, q).headers["x-warmgate-cache"] == "MISS"
    request("DELETE", cgw.url + "/admin/cache", headers={"x-api-key": ADMIN}).ok()
    assert chat(client, q).headers["x-warmgate-cache"] == "MISS"


def test_metrics_count_hits_misses_and_tokens_saved(cgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    def metric(text: str, name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name) and 'tenant="team-b"' in line)

    before = request("GET", cgw.url + "/metrics", headers={"x-api-key": ADMIN}).ok().body.decode()
    client = sdk.openai(cgw.url, "sk-team-b")
    q = uid()
    chat(client, q)
    chat(client, q)
    chat(client, q)
    after = request("GET", cgw.url + "/metrics", headers={"x-api-key": ADMIN}).ok().body.decode()
    hits = 'warmgate_cache_requests_total{tenant="team-b",model="gpt-sim",result="hit"}'
    assert metric(after, hits) - metric(before, hits) == 2
    saved = "warmgate_cache_tokens_saved_total"
    assert metric(after, saved) > metric(before, saved)
    assert request("GET", cgw.url + "/metrics").status == 401  # the admin key guards metrics when configured


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_persistent_and_shared_stores(store: str, sim: Sim, gateway_factory: GatewayFactory, sdk: Clients,
                                      tmp_path: Path, request_fixture: pytest.FixtureRequest) -> None:
    sim.reset()
    extra: dict[str, Any] = {"store": store}
    if store == "sqlite":
        extra["sqlite"] = {"path": str(tmp_path / "cache.sqlite3")}
    else:
        extra["redis"] = {"url": request_fixture.getfixturevalue("redis_server").url}
    first = gateway_factory(cache_config(sim.url, **extra))
    q = uid()
    chat(sdk.openai(first.url), q)
    if store == "sqlite":
        first.stop()  # survives a restart
    second = gateway_factory(cache_config(sim.url, **extra))
    assert chat(sdk.openai(second.url), q).headers["x-warmgate-cache"] == "HIT"
    assert upstream_calls(sim) == 1


def test_redis_killed_during_load_every_request_answered(sim: Sim, gateway_factory: GatewayFactory, sdk: Clients,
                                                       redis_server: Any) -> None:
    sim.reset()
    gw = gateway_factory(cache_config(sim.url, store="redis", redis={"url": redis_server.url}))
    client = sdk.openai(gw.url)
    prompts = [uid() for _ in range(5)]
    statuses: list[int] = []
    try:
        with ThreadPoolExecutor(8) as pool:
            def one(i: int) -> int:
                if i == 40:
                    redis_server.kill()
                return chat(client, prompts[i % 5]).http_response.status_code

            statuses = list(pool.map(one, range(120)))
    finally:
        redis_server.start()
    assert statuses == [200] * 120


@pytest.fixture
def request_fixture(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    return request
