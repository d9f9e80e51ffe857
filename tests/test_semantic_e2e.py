"""The semantic cache end to end: the real gateway with the offline embedder and the in-process
index, the simulator as the provider (its counters prove which requests reached it), the official
openai and anthropic SDKs as clients."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import GATEWAY_KEYS, Clients, require_module
from tests.http import request
from tests.servers import Gateway, Sim, sim_provider

require_module("onnxruntime", "the offline embedder needs the `semantic` extra")

ADMIN = "sk-admin-secret"
_ids = itertools.count()


def semantic_config(sim_url: str, **semantic: Any) -> dict[str, Any]:
    return {
        "keys": GATEWAY_KEYS,
        "admin_key": ADMIN,
        "providers": [
            sim_provider(sim_url, name="openai", keys=("sk-s-oa",)),
            sim_provider(sim_url, name="anthropic", api="anthropic", keys=("sk-s-an",)),
        ],
        "models": {"gpt-sim": "openai", "claude-sim": "anthropic"},
        "cache": {"enabled": True, "ttl": 600},
        # a generous timeout: the test machine is shared; production keeps the tight default
        "semantic": {"mode": "both", "timeout": 10.0, **semantic},
    }


@pytest.fixture(scope="module")
def sgw(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("semantic"), semantic_config(sim.url))
    yield gw
    gw.stop()


def calls(sim: Sim) -> int:
    return sum(sim.requests_by_key().values())


def indexed(gw: Gateway) -> float:
    text = request("GET", gw.url + "/metrics", headers={"authorization": f"Bearer {ADMIN}"}).ok().body.decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("warmgate_semantic_stores_total{"))


def wait_indexed(gw: Gateway, at_least: float) -> None:
    """The index add runs right after the reply; wait until the gateway counted it."""
    deadline = time.monotonic() + 30
    while indexed(gw) < at_least:
        assert time.monotonic() < deadline, "the answer was never added to the semantic index"
        time.sleep(0.02)


def ask(client: openai.OpenAI, text: str, system: str = "You are terse.", **kw: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="gpt-sim", messages=[{"role": "system", "content": system}, {"role": "user", "content": text}], **kw
    )


def topic() -> str:
    """A system prompt unique to one test, so tests never share a partition."""
    return f"You are terse (test {next(_ids)}, {time.monotonic_ns()})."


def test_paraphrase_is_served_as_semantic_and_traps_are_not(sgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(sgw.url)
    system = topic()
    before = indexed(sgw)
    first = ask(client, "How do I reverse a list in Python?", system)
    assert first.headers["x-warmgate-cache"] == "MISS"
    wait_indexed(sgw, before + 1)
    second = ask(client, "What's the best way to reverse a list in Python?", system)
    assert second.headers["x-warmgate-cache"] == "SEMANTIC"
    assert second.headers["cf-aig-cache-status"] == "HIT" and second.headers["helicone-cache"] == "HIT"
    assert 0.0 < float(second.headers["x-warmgate-similarity"]) <= 1.0
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert calls(clean_sim) == 1  # the paraphrase never reached the provider
    # traps: another language (entity), a negation, a number; each goes to the provider
    for trap in ("How do I reverse a list in Java?", "How do I reverse a list in Python without a loop?",
                 "How do I reverse 2 lists in Python?"):
        assert ask(client, trap, system).headers["x-warmgate-cache"] == "MISS", trap
    assert calls(clean_sim) == 4
    # the same paraphrase under another system prompt is another partition
    assert ask(client, "What's the best way to reverse a list in Python?", topic()).headers["x-warmgate-cache"] == "MISS"


def test_tenants_are_isolated(sgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    system = topic()
    before = indexed(sgw)
    ask(sdk.openai(sgw.url, key="sk-team-a"), "What is the capital of France?", system)
    wait_indexed(sgw, before + 1)
    other = ask(sdk.openai(sgw.url, key="sk-team-b"), "Tell me the capital of France.", system)
    assert other.headers["x-warmgate-cache"] == "MISS"
    same = ask(sdk.openai(sgw.url, key="sk-team-a"), "Tell me the capital of France.", system)
    assert same.headers["x-warmgate-cache"] == "SEMANTIC"
    assert calls(clean_sim) == 2


def test_threshold_header_only_tightens(sgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(sgw.url)
    system = topic()
    before = indexed(sgw)
    ask(client, "Give me five tips for sleeping better.", system)
    wait_indexed(sgw, before + 1)
    paraphrase = "Share five tips for sleeping better."
    strict = ask(client, paraphrase, system, extra_headers={"x-warmgate-semantic-threshold": "0.9999"})
    assert strict.headers["x-warmgate-cache"] == "MISS"
    loose = ask(client, paraphrase + " ", system, extra_headers={"x-warmgate-semantic-threshold": "0.01"})
    assert loose.headers["x-warmgate-cache"] == "SEMANTIC"  # a looser value is ignored, not applied ...
    assert float(loose.headers["x-warmgate-similarity"]) >= 0.5  # ... the configured threshold still holds
    with pytest.raises(openai.BadRequestError) as bad:
        ask(client, "Something else entirely", system, extra_headers={"x-warmgate-semantic-threshold": "high"})
    assert "x-warmgate-semantic-threshold" in str(bad.value)


def test_streamed_paraphrase_and_anthropic_messages(sgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(sgw.url)
    system = topic()
    before = indexed(sgw)
    ask(client, "Explain photosynthesis in simple terms.", system)
    wait_indexed(sgw, before + 1)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-sim", stream=True,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": "Can you explain photosynthesis simply?"}],
    ) as streamed:
        assert streamed.headers["x-warmgate-cache"] == "SEMANTIC"
        text = "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
    assert text
    claude = sdk.anthropic(sgw.url)
    first = claude.messages.with_raw_response.create(
        model="claude-sim", max_tokens=50, system=system, messages=[{"role": "user", "content": "What causes inflation?"}]
    )
    assert first.headers["x-warmgate-cache"] == "MISS"
    wait_indexed(sgw, before + 2)
    again = claude.messages.with_raw_response.create(
        model="claude-sim", max_tokens=50, system=system,
        messages=[{"role": "user", "content": "What are the causes of inflation?"}],
    )
    assert again.headers["x-warmgate-cache"] == "SEMANTIC"
    assert again.parse().content[0].text == first.parse().content[0].text  # type: ignore[union-attr]
    assert calls(clean_sim) == 2


def test_purge_drops_semantic_entries(sgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(sgw.url, key="sk-team-b")
    system = topic()
    before = indexed(sgw)
    ask(client, "How do I center a div in CSS?", system)
    wait_indexed(sgw, before + 1)
    request("DELETE", sgw.url + "/admin/cache?tenant=team-b", headers={"authorization": f"Bearer {ADMIN}"}).ok()
    assert ask(client, "What's the way to center a div with CSS?", system).headers["x-warmgate-cache"] == "MISS"
    assert calls(clean_sim) == 2


def test_two_gateways_share_entries_through_postgres(
    sim: Sim, clean_sim: Sim, gateway_factory: Any, sdk: Clients, redis_server: Any
) -> None:
    """Two instances with a shared response store (Redis) and a shared index (PostgreSQL + pgvector):
    an answer one of them stored is served by meaning by the other."""
    require_module("asyncpg", "pgvector needs the `pgvector` extra")
    from tests.pg_server import PgServer

    pg = PgServer()
    try:
        config = semantic_config(sim.url, index={"kind": "pgvector", "pgvector": {"dsn": pg.dsn, "timeout": 5.0}})
        config["cache"] = {"enabled": True, "ttl": 600, "store": "redis", "store_timeout": 2.0,
                           "redis": {"url": redis_server.url, "key_prefix": f"sem{time.monotonic_ns()}:"}}
        one, two = gateway_factory(config), gateway_factory(config)
        system = topic()
        first = ask(sdk.openai(one.url), "How do I read a CSV file in Python?", system)
        assert first.headers["x-warmgate-cache"] == "MISS"
        wait_indexed(one, 1)
        second = ask(sdk.openai(two.url), "What's the way to read a CSV file in Python?", system)
        assert second.headers["x-warmgate-cache"] == "SEMANTIC"
        assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
        trap = ask(sdk.openai(two.url), "How do I write a CSV file in Python?", system)
        assert trap.headers["x-warmgate-cache"] == "MISS"
        assert calls(clean_sim) == 2
    finally:
        pg.close()


def test_a_semantic_only_caching_configuration(sim: Sim, clean_sim: Sim, gateway_factory: Any, sdk: Clients,
                                               tmp_path: Any) -> None:
    """A caching configuration of type semantic only (management API), with its own threshold, on a
    gateway whose file merely declares `semantic: {}`: answers are served by meaning, never exactly."""
    config = semantic_config(sim.url)
    config["semantic"] = {"timeout": 10.0}  # declared, mode left at exact: only the configuration turns it on
    config["cache"] = {"enabled": False}
    config["management"] = {"store": "sqlite", "sqlite": {"path": str(tmp_path / "admin.sqlite3")}}
    gw = gateway_factory(config)
    auth = {"authorization": f"Bearer {ADMIN}"}
    body = {"name": "sem-only", "types": ["semantic"], "semantic_threshold": 0.8, "ttl": 600}
    request("POST", gw.url + "/admin/cache-configs", json=body, headers=auth).ok()
    request("POST", gw.url + "/admin/cache-configs/sem-only/assign", json={"gateway": "default", "models": ["gpt-sim"]},
            headers=auth).ok()
    client = sdk.openai(gw.url)
    system = topic()
    assert ask(client, "Is it safe to eat raw cookie dough?", system).headers["x-warmgate-cache"] == "MISS"
    wait_indexed(gw, 1)
    again = ask(client, "Is it safe to eat raw cookie dough?", system)
    assert again.headers["x-warmgate-cache"] == "SEMANTIC"  # no exact lookup: the same text is found by meaning
    para = ask(client, "Is eating raw cookie dough safe?", system)
    assert para.headers["x-warmgate-cache"] == "SEMANTIC"
    assert calls(clean_sim) == 1


def test_a_streamed_miss_is_indexed_too(sgw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(sgw.url)
    system = topic()
    before = indexed(sgw)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-sim", stream=True,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": "What causes the seasons on Earth?"}],
    ) as streamed:
        assert streamed.headers["x-warmgate-cache"] == "MISS"
        text = "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
    wait_indexed(sgw, before + 1)
    again = ask(client, "What are the causes of the seasons on Earth?", system)
    assert again.headers["x-warmgate-cache"] == "SEMANTIC"
    assert again.parse().choices[0].message.content == text
    assert calls(clean_sim) == 1


def test_a_refreshed_stale_entry_is_found_by_meaning_again(sim: Sim, sdk: Clients, tmp_path: Any) -> None:
    """The index item of an answer expires with the answer's TTL; the background refresh of a stale
    entry stores the answer again and must index it again, or paraphrases stop hitting."""
    config = semantic_config(sim.url)
    config["cache"] = {"enabled": True, "ttl": 2, "stale": 60}
    gw = Gateway(tmp_path, config)
    try:
        client = sdk.openai(gw.url)
        system = topic()
        before = indexed(gw)
        assert ask(client, "How do I reverse a list in Python?", system).headers["x-warmgate-cache"] == "MISS"
        wait_indexed(gw, before + 1)
        time.sleep(2.3)  # past the TTL, within the stale allowance (the index item has expired now)
        assert ask(client, "How do I reverse a list in Python?", system).headers["x-warmgate-cache"] == "STALE"
        wait_indexed(gw, before + 2)  # the refresh stored the answer and indexed it again
        paraphrase = ask(client, "What's the best way to reverse a list in Python?", system)
        assert paraphrase.headers["x-warmgate-cache"] == "SEMANTIC"
    finally:
        gw.stop()
