"""The router's choice of account over time, with an injected clock (no server): a conversation
that failed over returns to its first choice only when staying is not cheaper, and placement's load
counts warm conversations and recent request starts, not only requests in flight."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmgate.config import Config
from warmgate.dialects import endpoint_for, openai_chat
from warmgate.exchange import Reply, Request
from warmgate.metrics import Metrics
from warmgate.routing.bindings import MemoryBindings
from warmgate.routing.pool import CONVERSATION_SHARE, RECENT_TTLS, Pool
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


def chat_request(conversation: str, system: str | None = None) -> Request:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if system is not None:
        body["messages"].insert(0, {"role": "system", "content": system})
    path = "/v1/chat/completions"
    return Request("POST", path, b"", [(b"x-conversation-id", conversation.encode())], b"", body,
                   endpoint_for("POST", path), openai_chat.facts(body), "t", f"req-{next(_ids)}")


async def turn(router: Router, pool: Pool, conversation: str, system: str | None = None) -> str:
    """Route one turn of `conversation` and let it succeed on the chosen account; its name."""
    req = chat_request(conversation, system)
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


def warm(pool: Pool) -> dict[str, int]:
    pool.loads()  # forgets cold keys
    return {a.name: len(a.warm) for a in pool.accounts}


def test_a_conversation_is_warm_on_one_account_until_its_cache_ttl_passes() -> None:
    clock = Clock()
    _, pool = make_router(clock, accounts=2)
    a0, a1 = pool.accounts
    pool.started(a0, "x")
    pool.started(a0, "y")
    clock.now += 100
    pool.started(a1, "x")  # x moved: warm on a1 only
    assert warm(pool) == {"a0": 1, "a1": 1}
    clock.now += CACHE_TTL - 50  # y idle for a whole cache lifetime: cold, no longer warm
    assert warm(pool) == {"a0": 0, "a1": 1}
    clock.now += 50
    assert warm(pool) == {"a0": 0, "a1": 0}


def test_recent_requests_decay_with_their_time_constant() -> None:
    clock = Clock()
    _, pool = make_router(clock, accounts=2)
    a0, a1 = pool.accounts
    pool.started(a0, "x")
    pool.started(a0, "x")
    loads = pool.loads()
    # one warm conversation, two recent requests, both on a0: 1/3 x 2 + 2/3 x 2
    assert loads == pytest.approx({"a0": 2.0, "a1": 0.0})
    a0.in_flight = 1
    assert pool.loads()["a0"] == pytest.approx(3.0)
    a0.in_flight = 0
    clock.now += RECENT_TTLS * CACHE_TTL  # no longer warm; its requests fade with time constant tau
    assert pool.loads()["a0"] == pytest.approx((1 - CONVERSATION_SHARE) * 2 / math.e)
    pool.started(a1, "z")
    assert a1.recent == 1.0


def test_an_account_with_busy_conversations_is_loaded_more_than_one_with_quiet_ones() -> None:
    """Same number of warm conversations, different request rates: the busier account is more loaded
    (counting conversations alone would call them equal)."""
    clock = Clock()
    _, pool = make_router(clock, accounts=2)
    a0, a1 = pool.accounts
    for c in range(3):
        for _ in range(6):  # an agent burst: 6 turns in a minute
            pool.started(a0, f"agent{c}")
            clock.now += 3
        pool.started(a1, f"chat{c}")  # a chat: one turn so far
    loads = pool.loads()
    assert warm(pool) == {"a0": 3, "a1": 3}
    assert loads["a0"] > 2 * loads["a1"]


def test_fresh_conversations_count_as_much_as_the_pool_s_average_conversation() -> None:
    """Same recent request count, but a1's six requests are six conversations that have just
    started (each brings more turns): a1 is the more loaded account (counting only recent requests
    would call them equal and let a quiet account soak up a run of new conversations)."""
    clock = Clock()
    _, pool = make_router(clock, accounts=2)
    a0, a1 = pool.accounts
    for c in range(6):
        pool.started(a0, "busy")
        pool.started(a1, f"new{c}")
    loads = pool.loads()
    assert loads["a1"] > loads["a0"]
    # recent requests per warm conversation in the pool: 12 / 7
    assert loads["a1"] - loads["a0"] == pytest.approx(CONVERSATION_SHARE * 12 / 7 * (6 - 1))


@settings(max_examples=50, deadline=None)
@given(starts=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9), st.floats(0, 400)), max_size=60),
       in_flight=st.lists(st.integers(0, 5), min_size=4, max_size=4))
def test_loads_add_up_to_in_flight_plus_recent_requests(
    starts: list[tuple[int, int, float]], in_flight: list[int]
) -> None:
    """The two terms of the blend share out the same total: the pool's recent requests."""
    clock = Clock()
    _, pool = make_router(clock, accounts=4)
    for acct, key, wait in starts:
        clock.now += wait
        pool.started(pool.accounts[acct], f"k{key}")
    for a, n in zip(pool.accounts, in_flight, strict=True):
        a.in_flight = n
    loads = pool.loads()
    assert all(v >= 0 for v in loads.values())
    recent = sum(pool._recent(a, clock.now) for a in pool.accounts)
    if any(a.warm for a in pool.accounts):
        assert sum(loads.values()) == pytest.approx(sum(in_flight) + recent)


async def test_a_busy_account_takes_fewer_new_conversations() -> None:
    """One agent conversation fires 30 turns on its account; the 24 conversations that start next
    (one turn each, a few seconds apart) mostly go elsewhere. With every warm conversation counted
    the same, the hot account would take its even share (6 of 24)."""
    clock = Clock()
    router, pool = make_router(clock, accounts=4)
    hot = ""
    for _ in range(30):
        hot = await turn(router, pool, "agent")
        clock.now += 2
    placed: dict[str, int] = dict.fromkeys((a.name for a in pool.accounts), 0)
    for c in range(24):
        placed[await turn(router, pool, f"chat{c}")] += 1
        clock.now += 5
    assert placed[hot] <= 2, placed
    # The others split the rest by their ids' hash order: the hot account lifts the mean, so all of
    # them stay under the bound (their spread is hash luck; an earlier, tighter assertion here held for
    # about a third of id sets). None of them starves.
    assert min(n for a, n in placed.items() if a != hot) >= 3, placed


async def test_new_conversations_are_placed_by_the_long_system_prompt_they_share() -> None:
    """Conversations that start from one long system prompt rank the accounts alike (the prompt's
    rendezvous order), so they meet where that prompt is warm; with a short system prompt, which the
    provider would not cache anyway, each conversation ranks them by its own id."""
    clock = Clock()
    router, pool = make_router(clock, accounts=8)
    long_system = " ".join(f"rule{i} applies to every file" for i in range(1200))
    shared = set()
    own = set()
    for i in range(20):
        choice = await router._choose(chat_request(f"c{i}", long_system), pool, "p|t")
        assert choice is not None
        shared.add(tuple(choice.order))
        choice = await router._choose(chat_request(f"c{i}", "Be brief."), pool, "p|t")
        assert choice is not None
        own.add(tuple(choice.order))
    assert len(shared) == 1
    assert len(own) > 10
    # with nothing in flight or warm yet, a new conversation goes to the first account of that order
    assert await turn(router, pool, "first", long_system) == next(iter(shared))[0]
