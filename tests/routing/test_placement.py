"""Rendezvous order and bounded-load placement: stability, minimal movement, balance, bounded load."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmgate.routing.placement import place, rendezvous_order

names = st.lists(st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=8), min_size=1, max_size=10, unique=True)
keys = st.text(max_size=40)


def pool(n: int, weights: list[float] | None = None) -> list[tuple[str, float]]:
    return [(f"acct-{i}", weights[i] if weights else 1.0) for i in range(n)]


@settings(max_examples=100, deadline=None)
@given(key=keys, accounts=names, data=st.data())
def test_order_is_stable_and_independent_of_listing_order(key: str, accounts: list[str], data: st.DataObject) -> None:
    listed = [(a, 1.0) for a in accounts]
    order = rendezvous_order(key, listed)
    assert sorted(order) == sorted(accounts)
    assert rendezvous_order(key, listed) == order
    shuffled = data.draw(st.permutations(listed))
    assert rendezvous_order(key, shuffled) == order


@settings(max_examples=100, deadline=None)
@given(key=keys, accounts=names, new=st.text(alphabet="klmnop", min_size=1, max_size=8),
       weighted=st.booleans(), data=st.data())
def test_adding_or_removing_an_account_moves_only_its_keys(
    key: str, accounts: list[str], new: str, weighted: bool, data: st.DataObject
) -> None:
    def w() -> float:
        return data.draw(st.floats(0.1, 10.0)) if weighted else 1.0

    listed = [(a, w()) for a in accounts]
    before = rendezvous_order(key, listed)
    after = rendezvous_order(key, [*listed, (new, w())])
    # The old accounts keep their relative order: a key moves only if the new account now ranks first.
    assert [a for a in after if a != new] == before
    assert after[0] in (before[0], new)
    # Removing an account: only keys it held move, and they move to their next choice.
    gone = data.draw(st.sampled_from(accounts))
    remaining = rendezvous_order(key, [x for x in listed if x[0] != gone])
    assert remaining == [a for a in before if a != gone]


@pytest.mark.parametrize("n", [4, 8])
def test_balance_over_10000_keys(n: int) -> None:
    rng = random.Random(n)
    counts = Counter(rendezvous_order(f"{rng.getrandbits(128):032x}", pool(n))[0] for _ in range(10_000))
    assert len(counts) == n
    for c in counts.values():
        assert abs(c / 10_000 - 1 / n) < 0.02, counts


@pytest.mark.parametrize("weights", [[1, 2, 3, 4], [1, 1, 1, 1, 1, 1, 1, 5], [0.5, 1.5]])
def test_weighted_balance_is_proportional(weights: list[float]) -> None:
    rng = random.Random(7)
    accounts = pool(len(weights), weights)
    counts = Counter(rendezvous_order(f"{rng.getrandbits(128):032x}", accounts)[0] for _ in range(10_000))
    total = sum(weights)
    for i, w in enumerate(weights):
        assert abs(counts[f"acct-{i}"] / 10_000 - w / total) < 0.02, counts


# -- place ----------------------------------------------------------------------------------------

def test_idle_pool_takes_the_first_choice() -> None:
    assert place(["b", "a", "c"], {}, {"a", "b", "c"}, 1.25) == "b"


def test_unhealthy_accounts_are_skipped() -> None:
    assert place(["b", "a", "c"], {}, {"a", "c"}, 1.25) == "a"
    assert place(["b", "a", "c"], {}, lambda a: a == "c", 1.25) == "c"
    assert place(["b", "a"], {}, set(), 1.25) is None
    assert place([], {}, {"a"}, 1.25) is None


def test_small_numbers_do_not_starve_the_first_choice() -> None:
    # mean with this request = 2/4; ceil(1.25 * 0.5) = 1 -> b (idle) qualifies, a (1 in flight) does not
    assert place(["a", "b", "c", "d"], {"a": 1}, {"a", "b", "c", "d"}, 1.25) == "b"
    # two accounts, one request in flight on the first choice: ceil(1.25 * 2 / 2) = 2 -> stays
    assert place(["a", "b"], {"a": 1}, {"a", "b"}, 1.25) == "a"


def test_overloaded_first_choice_spills_to_the_next_choice_not_the_least_loaded() -> None:
    in_flight = {"a": 10, "b": 3, "c": 0}
    assert place(["a", "b", "c"], in_flight, {"a", "b", "c"}, 1.25) == "b"  # cap ceil(1.25*14/3) = 6


def test_unhealthy_load_does_not_count_in_the_mean() -> None:
    assert place(["a", "b"], {"a": 1, "c": 100}, {"a", "b"}, 1.0) == "b"


def test_weighted_bound() -> None:
    # a has weight 3 of 4: cap ceil(1.0 * 5 * 3/4) = 4 -> a with 3 in flight still takes one more
    assert place(["a", "b"], {"a": 3, "b": 1}, {"a", "b"}, 1.0, weights={"a": 3, "b": 1}) == "a"
    assert place(["a", "b"], {"a": 3, "b": 1}, {"a", "b"}, 1.0) == "b"


def test_least_loaded_fallback_when_no_account_fits() -> None:
    """With load_bound >= 1 some account always fits; below 1 (not allowed by the configuration)
    none may, and the least loaded (per weight) takes the request."""
    assert place(["a", "b", "c"], {"a": 2, "b": 2, "c": 1}, {"a", "b", "c"}, 0.5) == "c"
    assert place(["a", "b"], {"a": 2, "b": 1}, {"a", "b"}, 0.5, weights={"a": 4, "b": 1}) == "a"


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 8),
    load_bound=st.sampled_from([1.0, 1.1, 1.25, 1.5, 2.0]),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=1, max_size=200),
    sick=st.sets(st.integers(0, 7), max_size=3),
)
def test_bounded_load_under_concurrency(n: int, load_bound: float, ops: list[tuple[bool, int]], sick: set[int]) -> None:
    """Arrivals (a few hot keys) and completions in any order: each placement stays within the
    bound, and a healthy account is always found."""
    accounts = pool(n)
    healthy = {a for i, (a, _) in enumerate(accounts) if i not in sick}
    in_flight: Counter[str] = Counter()
    running: list[str] = []
    for arrive, k in ops:
        if arrive or not running:
            total_with_this = sum(in_flight[a] for a in healthy) + 1
            chosen = place(rendezvous_order(f"key-{k}", accounts), in_flight, healthy, load_bound)
            if not healthy:
                assert chosen is None
                continue
            assert chosen in healthy
            in_flight[chosen] += 1
            running.append(chosen)
            assert in_flight[chosen] <= math.ceil(load_bound * total_with_this / len(healthy))
        else:
            in_flight[running.pop(k % len(running))] -= 1


def test_hot_key_spreads_over_the_pool() -> None:
    accounts = pool(4)
    order = rendezvous_order("hot", accounts)
    in_flight: Counter[str] = Counter()
    for _ in range(100):
        in_flight[place(order, in_flight, {a for a, _ in accounts}, 1.25) or ""] += 1
    assert max(in_flight.values()) <= math.ceil(1.25 * 100 / 4)
    assert in_flight[order[0]] == max(in_flight.values())
