"""Exact-cache keys: canonical (order, whitespace, numbers, defaults), complete, versioned, prefix-safe.

Cost per key, `python bench/keys.py` on the shared 2-core dev VM (Python 3.11, noisy: ratios against
`orjson.loads` of the same body, measured in the same run, are the stable figure):
- 1.3 KB chat body: cache_key ~7.5 µs (1.0-1.2x loads); parse_controls without controls ~0.6 µs.
- 20 KB chat body: cache_key ~40-60 µs (0.9-1.1x loads), of which SHA-256 is ~20 µs (BLAKE2b: ~40 µs);
  a full recursive number normalization would add 1.6-2.9x loads, so only top-level numbers are normalized.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from warmgate.cache.keys import (
    DEFAULTS,
    EXCLUDED_FIELDS,
    KEY_VERSION,
    body_key,
    cache_key,
    canonical_request,
    scope_prefix,
)

examples = settings(max_examples=60, deadline=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=10,
)
field_names = st.text(min_size=1, max_size=12).filter(lambda k: k not in EXCLUDED_FIELDS)
bodies = st.dictionaries(field_names, json_values, max_size=6)
ENDPOINTS = ["chat.completions", "responses", "messages", "embeddings", "other"]


def key(body: dict[str, Any], **kw: Any) -> str:
    args: dict[str, Any] = {"scope": "t.acme", "namespace": "", "endpoint": "chat.completions", "model": "gpt-4o"}
    args.update(kw)
    return cache_key(body=body, **args)


def shuffled(v: Any, rnd: random.Random) -> Any:
    """The same JSON value with every object's keys in a random order."""
    if isinstance(v, dict):
        items = list(v.items())
        rnd.shuffle(items)
        return {k: shuffled(x, rnd) for k, x in items}
    if isinstance(v, list):
        return [shuffled(x, rnd) for x in v]
    return v


def top_level(v: Any) -> Any:
    """What the key sees of a top-level value (integral floats are integers there)."""
    if type(v) is float and v.is_integer() and abs(v) < 2.0**53:
        return int(v)
    return v


def is_default(endpoint: str, field: str, v: Any) -> bool:
    table = DEFAULTS.get(endpoint, {})
    return field in table and type(top_level(v)) is type(table[field]) and top_level(v) == table[field]


# -- canonical ----------------------------------------------------------------------------------


@examples
@given(body=bodies, seed=st.integers(), indent=st.sampled_from([None, 0, 1, 4]), endpoint=st.sampled_from(ENDPOINTS))
def test_key_order_and_whitespace_never_change_the_key(
    body: dict[str, Any], seed: int, indent: int | None, endpoint: str
) -> None:
    rnd = random.Random(seed)
    text = json.dumps(shuffled(body, rnd), indent=indent, separators=rnd.choice([(",", ":"), (", ", ": ")]))
    again = orjson.loads(("\n  " + text + " \t\n").encode())
    assert key(again, endpoint=endpoint) == key(body, endpoint=endpoint)


@examples
@given(body=bodies, field=field_names, old=json_values, new=json_values, endpoint=st.sampled_from(ENDPOINTS))
def test_any_change_of_a_keyed_field_changes_the_key(
    body: dict[str, Any], field: str, old: Any, new: Any, endpoint: str
) -> None:
    assume(old is not None and new is not None)
    assume(not is_default(endpoint, field, old) and not is_default(endpoint, field, new))
    assume(orjson.dumps(top_level(old), option=orjson.OPT_SORT_KEYS) != orjson.dumps(top_level(new), option=orjson.OPT_SORT_KEYS))
    assert key({**body, field: old}, endpoint=endpoint) != key({**body, field: new}, endpoint=endpoint)


@examples
@given(body=bodies, field=st.sampled_from(sorted(EXCLUDED_FIELDS)), value=json_values)
def test_excluded_fields_never_change_the_key(body: dict[str, Any], field: str, value: Any) -> None:
    assert key({**body, field: value}) == key(body)


@settings(max_examples=300, deadline=None)
@given(body=bodies, scope=st.text(alphabet="ab|%", max_size=5), namespace=st.text(alphabet="ab|%", max_size=5),
       endpoint=st.sampled_from(ENDPOINTS))
def test_body_key_is_cache_key(body: dict[str, Any], scope: str, namespace: str, endpoint: str) -> None:
    """The flow's positional form (`body_key`) writes its encoding out again for speed: it must
    give the very key `cache_key` gives."""
    expected = cache_key(scope=scope, namespace=namespace, endpoint=endpoint, model="m", body=body)
    assert body_key(scope_prefix(scope, namespace), endpoint, "m", body) == expected


@examples
@given(body=bodies, a=st.text(max_size=10), b=st.text(max_size=10))
def test_scope_namespace_endpoint_and_model_are_in_the_key(body: dict[str, Any], a: str, b: str) -> None:
    assume(a != b)
    assert key(body, scope=a) != key(body, scope=b)
    assert key(body, namespace=a) != key(body, namespace=b)
    assert key(body, endpoint=a) != key(body, endpoint=b)
    assert key(body, model=a) != key(body, model=b)


@examples
@given(s1=st.text(alphabet="ab|%7C", max_size=6), n1=st.text(alphabet="ab|%7C", max_size=6),
       s2=st.text(alphabet="ab|%7C", max_size=6), n2=st.text(alphabet="ab|%7C", max_size=6))
def test_prefixes_are_unambiguous(s1: str, n1: str, s2: str, n2: str) -> None:
    k1 = key({}, scope=s1, namespace=n1)
    k2 = key({}, scope=s2, namespace=n2)
    # a key lies under another request's scope (and namespace) prefix only if they are the same
    assert k1.startswith(scope_prefix(s2)) == (s1 == s2)
    assert k1.startswith(scope_prefix(s2, n2)) == (s1 == s2 and n1 == n2)
    assert (k1 == k2) == (s1 == s2 and n1 == n2)


def test_prefix_safety_examples() -> None:
    assert key({}, scope="a|b", namespace="") != key({}, scope="a", namespace="b|")
    assert not key({}, scope="a|b", namespace="c").startswith(scope_prefix("a"))
    assert not key({}, scope="a", namespace="b|c").startswith(scope_prefix("a", "b"))
    assert key({}, scope="t.x%7C", namespace="").split("|")[0] == "t.x%257C"
    assert key({}, scope="t.acme", namespace="ns").startswith("t.acme|ns|")


# -- what is and is not in the key --------------------------------------------------------------

CHAT = {
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
    "temperature": 0.2,
    "max_tokens": 100,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
}


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "user", "content": "hello!"}]},
        {"temperature": 0.3},
        {"max_tokens": 101},
        {"tools": []},
        {"parallel_tool_calls": False},
        {"seed": 1},
        {"response_format": {"type": "json_object"}},
        {"tool_choice": "required"},
        {"n": 2},
        {"logprobs": True},
        {"reasoning_effort": "high"},
    ],
)
def test_answer_changing_fields_are_in_the_key(change: dict[str, Any]) -> None:
    assert key({**CHAT, **change}) != key(CHAT)


def test_stream_and_non_stream_share_a_key() -> None:
    streamed = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    assert key(streamed) == key(CHAT) == key({**CHAT, "stream": False})


def test_client_bookkeeping_is_not_in_the_key() -> None:
    noisy = {
        **CHAT,
        "user": "u-1",
        "metadata": {"user_id": '{"session_id": "s"}'},
        "prompt_cache_key": "sess-1",
        "store": False,
        "safety_identifier": "h",
        "service_tier": "flex",
        "client_metadata": {"x": 1},
        "cache": {"no-store": True},
    }
    assert key(noisy) == key(CHAT)


def test_the_resolved_model_replaces_the_body_model() -> None:
    assert key({**CHAT, "model": "alias"}, model="gpt-4o") == key(CHAT, model="gpt-4o")
    assert key(CHAT, model="gpt-4o-mini") != key(CHAT, model="gpt-4o")


def test_integral_floats_equal_integers_at_top_level() -> None:
    assert key({**CHAT, "temperature": 1.0, "max_tokens": 100.0}) == key({**CHAT, "temperature": 1, "max_tokens": 100})
    assert key({**CHAT, "temperature": 0.0}) == key({**CHAT, "temperature": 0})
    assert key({**CHAT, "temperature": -0.0}) == key({**CHAT, "temperature": 0})
    assert key({**CHAT, "x": 1e300}) != key({**CHAT, "x": 1e299})


def test_booleans_are_not_numbers() -> None:
    assert key({**CHAT, "x": True}) != key({**CHAT, "x": 1})
    assert key({**CHAT, "n": True}) != key(CHAT), "n: true is not the default n: 1"


@pytest.mark.parametrize(
    ("endpoint", "field", "value"),
    [(e, f, v) for e, table in DEFAULTS.items() for f, v in table.items()],
)
def test_spelling_out_a_default_does_not_split_the_cache(endpoint: str, field: str, value: Any) -> None:
    body = {k: v for k, v in CHAT.items() if k != field}
    assert key({**body, field: value}, endpoint=endpoint) == key(body, endpoint=endpoint)
    if isinstance(value, int) and not isinstance(value, bool):
        assert key({**body, field: float(value)}, endpoint=endpoint) == key(body, endpoint=endpoint)


def test_defaults_are_per_endpoint() -> None:
    body = {"input": "x"}
    assert key({**body, "encoding_format": "float"}, endpoint="embeddings") == key(body, endpoint="embeddings")
    assert key({**body, "encoding_format": "base64"}, endpoint="embeddings") != key(body, endpoint="embeddings")
    # temperature 1 is Anthropic's default but not a default of embeddings
    assert key({**body, "temperature": 1}, endpoint="messages") == key(body, endpoint="messages")
    assert key({**body, "temperature": 1}, endpoint="embeddings") != key(body, endpoint="embeddings")


def test_null_means_absent() -> None:
    assert key({**CHAT, "stop": None, "seed": None}) == key(CHAT)


def test_vary_headers_are_in_the_key() -> None:
    base = key(CHAT)
    beta = key(CHAT, vary=[("anthropic-beta", "context-1m")])
    assert beta != base
    assert key(CHAT, vary=[("a", "1"), ("b", "2")]) == key(CHAT, vary=[("b", "2"), ("a", "1")])


def test_custom_key_replaces_the_body_but_stays_in_scope_namespace_and_endpoint() -> None:
    a = key(CHAT, custom_key="responseA")
    assert a == key({"messages": []}, custom_key="responseA", model="other-model")
    assert a != key(CHAT, custom_key="responseB")
    assert a != key(CHAT, custom_key="responseA", scope="t.other")
    assert a != key(CHAT, custom_key="responseA", namespace="ns")
    assert a != key(CHAT, custom_key="responseA", endpoint="messages")
    assert a.startswith("t.acme||") and "responseA" not in a
    assert a != key(CHAT)


def test_key_shape_and_version() -> None:
    k = key(CHAT)
    scope, namespace, digest = k.split("|")
    assert (scope, namespace, len(digest)) == ("t.acme", "", 64)
    assert int(digest, 16) >= 0
    assert orjson.loads(canonical_request(endpoint="chat.completions", model="gpt-4o", body=CHAT))[0] == KEY_VERSION


def test_a_known_key_never_changes_without_a_version_bump() -> None:
    # If this fails, the encoding changed: bump KEY_VERSION (old entries must not be read) and update it.
    assert key(CHAT) == "t.acme||" + _PINNED


_PINNED = "5d942352015a3d4aef916d70063658792489e86a7c185cb612ef4981e8e5b6a3"
