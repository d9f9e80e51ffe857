from __future__ import annotations

from warmgate.config_file import parse_config
from warmgate.routing.models import ModelTable
from warmgate.routing.pool import Pool

CFG = parse_config("""
providers:
  - name: p
    api: openai
    base_url: http://x/v1
    accounts: [{name: a, api_key: ka}, {name: b, api_key: kb}, {name: c, api_key: kc}]
  - name: q
    api: anthropic
    base_url: http://y/v1
    accounts: [{name: z, api_key: kz}]
models:
  m1: p
  m2: {provider: q, upstream_model: real-m2}
  claude-*: q
""")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_spread_over_idle_accounts_in_turn() -> None:
    pool = Pool(CFG.provider("p"), Clock())
    assert [pool.pick().name for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]  # type: ignore[union-attr]


def test_least_in_flight_wins_and_exclusions() -> None:
    pool = Pool(CFG.provider("p"), Clock())
    a, b, c = pool.accounts
    a.in_flight, b.in_flight, c.in_flight = 3, 1, 2
    assert pool.pick() is b
    assert pool.pick(exclude=[b]) is c
    assert pool.pick(exclude=[a, b, c]) is None


def test_cooldown_skips_an_account_until_it_expires() -> None:
    clock = Clock()
    pool = Pool(CFG.provider("p"), clock)
    a, b, c = pool.accounts
    pool.cool_down(a, 10)
    pool.cool_down(b, 10)
    assert {pool.pick().name for _ in range(4)} == {"c"}  # type: ignore[union-attr]
    pool.cool_down(c, 10)
    assert pool.pick() is not None  # all cooling: still answers, the least loaded
    assert not pool.usable()
    clock.now += 11
    assert pool.usable()
    assert {pool.pick().name for _ in range(3)} == {"a", "b", "c"}  # type: ignore[union-attr]


def test_auth_header_by_wire_format() -> None:
    assert Pool(CFG.provider("p")).accounts[0].auth_header == ("authorization", "Bearer ka")
    assert Pool(CFG.provider("q")).accounts[0].auth_header == ("x-api-key", "kz")


def test_model_table_exact_then_patterns() -> None:
    table = ModelTable(CFG)
    assert table.resolve("m1").provider.name == "p"  # type: ignore[union-attr]
    r = table.resolve("m2")
    assert r is not None and r.upstream_model == "real-m2"
    assert table.resolve("claude-opus-4-7").provider.name == "q"  # type: ignore[union-attr]
    assert table.resolve("nope") is None
    assert table.names == ["m1", "m2"]
