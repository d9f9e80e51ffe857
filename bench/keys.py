"""Cost of the per-request cache work: parse_controls, effective, cache_key. Prints numbers.

Run: `python bench/keys.py` (pin it for stabler numbers: `taskset -c 1 python bench/keys.py`).
The baseline, measured in the same run, is `orjson.loads` of the same body, which the gateway does
for every request anyway; `ratio` is the measured cost over that baseline.
Also printed: what a full recursive number normalization of the body would cost (the key does it for
top-level fields only; see warmgate/cache/keys.py).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

import orjson

from warmgate.cache.keys import cache_key
from warmgate.cache.policy import effective
from warmgate.config import CacheConfig
from warmgate.controls import parse_controls

HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"user-agent", b"OpenAI/Python 1.99.0"),
    (b"accept", b"application/json"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"content-type", b"application/json"),
    (b"authorization", b"Bearer sk-gateway"),
    (b"x-stainless-lang", b"python"),
    (b"x-stainless-package-version", b"1.99.0"),
    (b"x-stainless-os", b"Linux"),
    (b"x-stainless-arch", b"x64"),
    (b"x-stainless-runtime", b"CPython"),
    (b"x-stainless-runtime-version", b"3.11.7"),
    (b"x-stainless-retry-count", b"0"),
    (b"content-length", b"1024"),
]
CONTROLLED = [*HEADERS, (b"cache-control", b"max-age=600"), (b"helicone-cache-seed", b"user-42")]


def chat_body(size: int) -> dict[str, Any]:
    """A chat body of about `size` bytes: a system prompt, a few turns, two tools."""
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "You are a concise assistant. "}],
        "tools": [
            {"type": "function", "function": {"name": f"tool_{i}", "description": "Looks things up.",
             "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer",
             "minimum": 1}}, "required": ["q"]}}}
            for i in range(2)
        ],
        "temperature": 0.7,
        "max_tokens": 512,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "user-1",
    }
    turn = 0
    while len(orjson.dumps(body)) < size:
        role = "user" if turn % 2 == 0 else "assistant"
        body["messages"].append({"role": role, "content": f"Turn {turn}: " + "lorem ipsum dolor sit amet " * 12})
        turn += 1
    return body


def normalize_all(v: Any) -> Any:
    t = type(v)
    if t is dict:
        return {k: normalize_all(x) for k, x in v.items()}
    if t is list:
        return [normalize_all(x) for x in v]
    if t is float and v.is_integer() and -(2.0**53) < v < 2.0**53:
        return int(v)
    return v


def per_call_us(fn: Callable[[], object]) -> float:
    number = 2000
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def rows_for(body: dict[str, Any], cfg: CacheConfig) -> list[tuple[str, Callable[[], object]]]:
    raw = orjson.dumps(body)
    directive, fwd = parse_controls(HEADERS, body)
    policy = effective(cfg, "gpt-4o", directive, "acme")

    def all_three() -> object:
        d, b = parse_controls(HEADERS, body)
        p = effective(cfg, "gpt-4o", d, "acme")
        return cache_key(scope=p.scope, namespace=p.namespace, endpoint="chat.completions", model="gpt-4o",
                         body=b or {}, custom_key=p.custom_key)

    return [
        ("baseline: orjson.loads(body)", lambda: orjson.loads(raw)),
        ("parse_controls, no control header", lambda: parse_controls(HEADERS, body)),
        ("parse_controls, 2 control headers", lambda: parse_controls(CONTROLLED, body)),
        ("effective", lambda: effective(cfg, "gpt-4o", directive, "acme")),
        ("cache_key", lambda: cache_key(scope=policy.scope, namespace=policy.namespace,
                                        endpoint="chat.completions", model="gpt-4o", body=fwd or {})),
        ("all three", all_three),
        ("(not done) recursive number normalization", lambda: normalize_all(body)),
    ]


def main() -> None:
    cfg = CacheConfig(enabled=True)
    print("command: python bench/keys.py")
    print(f"{'body':>8} {'work':<44} {'us':>8} {'ratio':>6}")
    for size in (1024, 20 * 1024):
        body = chat_body(size)
        n = len(orjson.dumps(body))
        base = 0.0
        for name, fn in rows_for(body, cfg):
            us = per_call_us(fn)
            base = base or us
            print(f"{n:>7}B {name:<44} {us:>8.2f} {us / base:>6.2f}")


if __name__ == "__main__":
    main()
