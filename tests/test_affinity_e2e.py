"""Prompt-cache affinity routing end to end: every id form keeps a conversation on one account of the
simulator (its per-account counters are the proof), failing accounts are routed around, and two
gateway instances sharing Redis agree."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Clients, GatewayFactory
from tests.http import request
from tests.servers import Gateway, Sim, sim_provider

KEYS = ("sk-af-1", "sk-af-2", "sk-af-3", "sk-af-4")
_n = itertools.count()


def affinity_config(sim_url: str, **routing: Any) -> dict[str, Any]:
    return {
        "routing": {"strategy": "affinity", "min_prefix_tokens": 200, **routing},
        "providers": [
            sim_provider(sim_url, name="openai", keys=KEYS),
            sim_provider(sim_url, name="anthropic", api="anthropic", keys=KEYS),
        ],
        "models": {"gpt-sim": "openai", "claude-sim": "anthropic"},
    }


@pytest.fixture(scope="module")
def agw(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("affinity"), affinity_config(sim.url))
    yield gw
    gw.stop()


def used_accounts(sim: Sim) -> dict[str, int]:
    return {k: n for k, n in sim.requests_by_key().items() if n}


def turns(n: int = 6) -> Iterator[str]:
    for i in range(n):
        yield f"turn {i} of conversation {next(_n)}"


def test_x_conversation_id(agw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(agw.url)
    for conv in ("conv-a", "conv-b", "conv-c"):
        clean_sim.reset()
        for text in turns():
            client.chat.completions.create(model="gpt-sim", messages=[{"role": "user", "content": text}],
                                           extra_headers={"X-Conversation-Id": conv})
        assert len(used_accounts(clean_sim)) == 1, used_accounts(clean_sim)


@pytest.mark.parametrize("form", ["plain", "json", "header"])
def test_claude_code_session(agw: Gateway, clean_sim: Sim, sdk: Clients, form: str) -> None:
    client = sdk.anthropic(agw.url)
    session = str(uuid.uuid4())
    for text in turns():
        kw: dict[str, Any] = {"model": "claude-sim", "max_tokens": 8, "messages": [{"role": "user", "content": text}]}
        if form == "plain":
            kw["metadata"] = {"user_id": session}
        elif form == "json":
            kw["metadata"] = {"user_id": json.dumps({"device_id": "d1", "account_uuid": "a1", "session_id": session})}
        else:
            kw["extra_headers"] = {"X-Claude-Code-Session-Id": session}
        client.beta.messages.create(**kw)
    assert len(used_accounts(clean_sim)) == 1


@pytest.mark.parametrize("form", ["prompt_cache_key", "session-id"])
def test_codex_session(agw: Gateway, clean_sim: Sim, sdk: Clients, form: str) -> None:
    client = sdk.openai(agw.url)
    session = str(uuid.uuid4())
    for text in turns():
        if form == "prompt_cache_key":
            client.responses.create(model="gpt-sim", input=text, prompt_cache_key=session, store=False)
        else:
            client.responses.create(model="gpt-sim", input=text, extra_headers={"session-id": session})
    assert len(used_accounts(clean_sim)) == 1


def test_response_and_request_id_chains(agw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.anthropic(agw.url)
    first = client.messages.with_raw_response.create(model="claude-sim", max_tokens=8,
                                                     messages=[{"role": "user", "content": "start"}])
    served_by = first.headers["x-warmgate-account"]
    msg_id, req_id = first.parse().id, first.headers["x-warmgate-request-id"]
    for text in turns(4):
        r = client.messages.with_raw_response.create(model="claude-sim", max_tokens=8, messages=[{"role": "user", "content": text}],
                                                     extra_headers={"X-Response-Id": msg_id})
        assert r.headers["x-warmgate-account"] == served_by
    for text in turns(4):
        r = client.messages.with_raw_response.create(model="claude-sim", max_tokens=8, messages=[{"role": "user", "content": text}],
                                                     extra_headers={"X-Request-Id": req_id})
        assert r.headers["x-warmgate-account"] == served_by
    assert len(used_accounts(clean_sim)) == 1


def test_previous_response_id_goes_to_the_account_that_stored_it(agw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(agw.url)
    # the simulator answers 400 previous_response_not_found on any other account, as OpenAI does
    prev = client.responses.create(model="gpt-sim", input="remember 42")
    for text in turns(6):
        prev = client.responses.create(model="gpt-sim", input=text, previous_response_id=prev.id)
    assert len(used_accounts(clean_sim)) == 1


def test_video_task_ids_follow_their_account(agw: Gateway, clean_sim: Sim) -> None:
    created = request("POST", agw.url + "/v1/videos", json={"model": "gpt-sim", "prompt": "a spoon"}).ok()
    video_id = created.json()["id"]
    for _ in range(5):  # the simulator answers 404 for a video of another account
        request("GET", agw.url + f"/v1/videos/{video_id}").ok()
    assert len(used_accounts(clean_sim)) == 1


def test_long_shared_prefix_without_an_id(agw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(agw.url)
    system = " ".join(f"policy{i} applies." for i in range(400))
    for text in turns():
        client.chat.completions.create(model="gpt-sim", messages=[{"role": "system", "content": system},
                                                                  {"role": "user", "content": "the same opening question"},
                                                                  {"role": "assistant", "content": "ok"},
                                                                  {"role": "user", "content": text}])
    assert len(used_accounts(clean_sim)) == 1
    stats = clean_sim.stats()["accounts"]
    assert sum(a["cached_tokens"] for a in stats.values()) > 0  # the provider's prompt cache stayed warm


def test_failing_account_is_routed_around_and_the_binding_follows(
    clean_sim: Sim, gateway_factory: GatewayFactory, sdk: Clients
) -> None:
    gw = gateway_factory(affinity_config(clean_sim.url))
    client = sdk.openai(gw.url)
    conv = {"X-Conversation-Id": "failover-conv"}
    home = client.chat.completions.with_raw_response.create(
        model="gpt-sim", messages=[{"role": "user", "content": "hi"}], extra_headers=conv).headers["x-warmgate-account"]
    home_key = KEYS[int(home.rsplit("-", 1)[1]) - 1]
    clean_sim.fault(account=home_key, status=500)
    served = [client.chat.completions.with_raw_response.create(
        model="gpt-sim", messages=[{"role": "user", "content": t}], extra_headers=conv).headers["x-warmgate-account"]
        for t in turns(5)]
    assert home not in served and len(set(served)) == 1  # no client error, one new home
    metrics = request("GET", gw.url + "/metrics").ok().body.decode()
    assert f'warmgate_upstream_requests_total{{provider="openai",account="{home}",outcome="500"}}' in metrics


def test_two_instances_sharing_redis_agree(clean_sim: Sim, gateway_factory: GatewayFactory, sdk: Clients,
                                           redis_server: Any) -> None:
    cfg = affinity_config(clean_sim.url, bindings="redis", redis_url=redis_server.url, redis_timeout=1)
    a, b = gateway_factory(cfg), gateway_factory(cfg)
    ca, cb = sdk.anthropic(a.url), sdk.anthropic(b.url)
    first = ca.messages.with_raw_response.create(model="claude-sim", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    msg_id = first.parse().id
    home = first.headers["x-warmgate-account"]
    for i, text in enumerate(turns(6)):
        client = cb if i % 2 == 0 else ca
        r = client.messages.with_raw_response.create(model="claude-sim", max_tokens=8, messages=[{"role": "user", "content": text}],
                                                     extra_headers={"X-Response-Id": msg_id})
        assert r.headers["x-warmgate-account"] == home  # instance b learned the binding from Redis
    # A chain: each turn names the response the *other* instance has just returned. Its binding is
    # written before that reply is sent, so it is there when the next request arrives.
    for i, text in enumerate(turns(8)):
        client = cb if i % 2 == 0 else ca
        r = client.messages.with_raw_response.create(model="claude-sim", max_tokens=8, messages=[{"role": "user", "content": text}],
                                                     extra_headers={"X-Response-Id": msg_id})
        assert r.headers["x-warmgate-account"] == home
        msg_id = r.parse().id
    metrics = request("GET", a.url + "/metrics").ok().body.decode()
    assert "warmgate_provider_prompt_tokens_total" in metrics


def test_provider_cache_use_is_measured_from_plain_and_streamed_usage(
    clean_sim: Sim, gateway_factory: GatewayFactory, sdk: Clients
) -> None:
    gw = gateway_factory(affinity_config(clean_sim.url))
    system = " ".join(f"rule{i} holds." for i in range(700))  # ~2 100 tokens: cacheable
    oa, an = sdk.openai(gw.url), sdk.anthropic(gw.url)
    for i in range(3):
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": f"q{i}"}]
        list(oa.chat.completions.create(model="gpt-sim", messages=msgs, stream=True,  # type: ignore[arg-type]
                                        stream_options={"include_usage": True}))
        with an.messages.stream(model="claude-sim", max_tokens=8, messages=[{"role": "user", "content": f"q{i}"}],
                                system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]) as s:
            s.get_final_message()
        oa.responses.create(model="gpt-sim", instructions=system, input=f"q{i}")

    def total(text: str, name: str, model: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "{") and f'model="{model}"' in line)

    metrics = request("GET", gw.url + "/metrics").ok().body.decode()
    sim_accounts = clean_sim.stats()["accounts"].values()
    sim_cached = sum(a["cached_tokens"] for a in sim_accounts)
    gw_cached = sum(total(metrics, "warmgate_provider_cached_tokens_total", m) for m in ("gpt-sim", "claude-sim"))
    assert sim_cached > 0 and gw_cached == sim_cached  # every cached token the provider reported, counted
    assert total(metrics, "warmgate_provider_prompt_tokens_total", "claude-sim") > 0


def test_conversation_returns_to_its_recovered_account_only_once_its_cache_there_is_cold(
    clean_sim: Sim, gateway_factory: GatewayFactory, sdk: Clients
) -> None:
    cache_ttl = 2.0  # the provider's prompt-cache lifetime, as configured for the gateway
    provider = sim_provider(clean_sim.url, name="openai", keys=KEYS, cache_ttl=cache_ttl,
                            cooldowns={"server_error": 0.2})
    gw = gateway_factory({"routing": {"strategy": "affinity", "min_prefix_tokens": 200, "binding_ttl": 60},
                          "providers": [provider], "models": {"gpt-sim": "openai"}})
    client = sdk.openai(gw.url)
    conv = {"X-Conversation-Id": "returning-conv"}

    def turn(text: str) -> str:
        r = client.chat.completions.with_raw_response.create(
            model="gpt-sim", messages=[{"role": "user", "content": text}], extra_headers=conv)
        return r.headers["x-warmgate-account"]

    home = turn("first")
    clean_sim.fault(account=KEYS[int(home.rsplit("-", 1)[1]) - 1], status=500, count=1)  # fails once, then recovers
    away = turn("second")
    assert away != home
    served = []
    for i in range(2):  # home is healthy again (cooldown 0.2 s), but the cache is warm where it is
        time.sleep(0.4)
        served.append(turn(f"warm {i}"))
    assert served == [away, away]
    time.sleep(cache_ttl + 0.3)  # idle for a whole cache lifetime: cold on `away` too, so back home
    assert [turn("back"), turn("again")] == [home, home]
    assert clean_sim.requests_by_key()[KEYS[int(home.rsplit("-", 1)[1]) - 1]] == 1 + 1 + 2  # ok, 500, back, again
