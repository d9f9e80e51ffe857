"""The router's choice of account over time, with an injected clock (no server): a conversation
that failed over returns to its first choice only when staying is not cheaper, and placement counts
recent request starts, not only requests in flight."""

from __future__ import annotations

from typing import Any

import pytest

from warmgate.config import Config
from warmgate.dialects import endpoint_for, openai_chat
from warmgate.exchange import Reply, Request
from warmgate.metrics import Metrics
from warmgate.routing.bindings import MemoryBindings
from warmgate.routing.pool import Pool
from warmgate.routing.router import Router
from warmgate.upstream.client import Upstream

CACHE_TTL = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_router(clock: Clock, accounts: int = 4) -> tuple[Router, Pool]:
    config = Config.model_validate({
        "routing": {"strategy": "affinity", "binding_ttl": 3600},
        "providers": [{
            "name": "p", "api": "openai", "base_url": "http://127.0.0.1:9/v1", "cache_ttl": CACHE_TTL,
            "accounts": [{"name": f"a{i}", "api_key": f"sk-{i}"} for i in range(accounts)],
        }],
        "models": {"m": "p"},
    })
    router = Router(config, Upstream(), MemoryBindings(clock=clock), Metrics(), clock=clock)
    return router, router.pools["p"]


_ids = iter(range(10**6))


def chat_request(conversation: str) -> Request:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    path = "/v1/chat/completions"
    return Request("POST", path, b"", [(b"x-conversation-id", conversation.encode())], b"", body,
                   endpoint_for("POST", path), openai_chat.facts(body), "t", f"req-{next(_ids)}")


async def turn(router: Router, pool: Pool, conversation: str) -> str:
    """Route one turn of `conversation` and let it succeed on the chosen account; its name."""
    req = chat_request(conversation)
    scope = "p|t"
    choice = await router._choose(req, pool, scope)
    assert choice is not None
    acct = choice.next(pool, [])
    assert acct is not None
    pool.started(acct, choice.binding_key)
    await router._after_success(req, Reply(200, [], body=b"{}"), acct, scope, choice)
    return acct.name


async def test_returns_home_only_once_the_cache_where_it_stays_is_cold() -> None:
    clock = Clock()
    router, pool = make_router(clock)
    home = await turn(router, pool, "conv")
    assert home == (await router._choose(chat_request("conv"), pool, "p|t")).order[0]  # type: ignore[union-attr]

    pool.cool_down(pool.account(home), 30)  # type: ignore[arg-type]
    clock.now += 1
    away = await turn(router, pool, "conv")
    assert away != home

    clock.now += 60  # home is healthy again, but the conversation's cache is warm where it is
    assert pool.healthy(pool.account(home))
    assert await turn(router, pool, "conv") == away
    for _ in range(3):
        clock.now += CACHE_TTL - 1  # never idle for a whole cache lifetime: stays
        assert await turn(router, pool, "conv") == away

    clock.now += CACHE_TTL  # idle for the provider's cache lifetime: cold there, back home
    assert await turn(router, pool, "conv") == home
    clock.now += CACHE_TTL + 1  # and home is where it stays (its own first choice)
    assert await turn(router, pool, "conv") == home


async def test_stays_when_cold_but_home_still_unhealthy() -> None:
    clock = Clock()
    router, pool = make_router(clock)
    home = await turn(router, pool, "conv2")
    pool.cool_down(pool.account(home), 30)  # type: ignore[arg-type]
    clock.now += 1
    away = await turn(router, pool, "conv2")
    clock.now += CACHE_TTL + 1
    pool.cool_down(pool.account(home), 30)  # type: ignore[arg-type]  # failing again
    assert not pool.healthy(pool.account(home))
    assert await turn(router, pool, "conv2") == away


@pytest.mark.parametrize("conversations", [64, 200])
async def test_placement_counts_warm_conversations_not_only_in_flight(conversations: int) -> None:
    """Requests complete at once here (nothing stays in flight), so only the warm conversations of
    each account can spread new ones: every account ends within the load bound of the mean."""
    clock = Clock()
    router, pool = make_router(clock, accounts=8)
    placed: dict[str, int] = {}
    for c in range(conversations):
        clock.now += 0.5
        name = await turn(router, pool, f"c{c}")
        placed[name] = placed.get(name, 0) + 1
    mean = conversations / 8
    assert max(placed.values()) <= 1.1 * mean + 1, placed


def test_a_conversation_is_warm_on_one_account_until_its_cache_ttl_passes() -> None:
    clock = Clock()
    _, pool = make_router(clock, accounts=2)
    a0, a1 = pool.accounts
    pool.started(a0, "x")
    pool.started(a0, "y")
    clock.now += 100
    pool.started(a1, "x")  # x moved: warm on a1 only
    assert pool.loads() == {"a0": 1, "a1": 1}
    a1.in_flight = 2
    assert pool.loads() == {"a0": 1, "a1": 3}
    clock.now += CACHE_TTL - 50  # y idle for a whole cache lifetime: cold, no longer a load
    assert pool.loads() == {"a0": 0, "a1": 3}
    clock.now += 50
    assert pool.loads() == {"a0": 0, "a1": 2}
