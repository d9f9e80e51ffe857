"""Every per-request control dialect of SPEC.md -> one CacheDirective; every invalid value -> 400."""

from __future__ import annotations

from typing import Any

import pytest

from warmgate.controls import CONTROL_HEADERS, NO_DIRECTIVE, CacheDirective, parse_controls
from warmgate.errors import BadRequest


def parse(*headers: tuple[str, str], body: dict[str, Any] | None = None) -> CacheDirective:
    return parse_controls([(k.lower().encode(), v.encode()) for k, v in headers], body)[0]


def rejects(*headers: tuple[str, str], body: dict[str, Any] | None = None) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse(*headers, body=body)
    assert info.value.status == 400
    return info.value


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
PLAIN_HEADERS = [(b"authorization", b"Bearer k"), (b"content-type", b"application/json"), (b"user-agent", b"x")]


def test_no_controls_returns_the_shared_directive_and_the_same_body() -> None:
    directive, body = parse_controls(PLAIN_HEADERS, BODY)
    assert directive is NO_DIRECTIVE
    assert body is BODY
    assert parse_controls([], None) == (NO_DIRECTIVE, None)


# -- skip the lookup ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ("cf-skip-cache", "true"),
        ("cf-aig-skip-cache", "true"),
        ("CF-Skip-Cache", "TRUE"),
        ("cf-aig-skip-cache", " True "),
        ("x-cache-control", "no-cache"),
        ("Cache-Control", "no-cache"),
        ("cache-control", "No-Cache"),
        ("cache-control", "no-transform, no-cache"),
    ],
)
def test_skip_lookup(header: tuple[str, str]) -> None:
    assert parse(header) == CacheDirective(lookup=False)


@pytest.mark.parametrize("name", ["cf-skip-cache", "cf-aig-skip-cache"])
def test_skip_false_is_no_control(name: str) -> None:
    assert parse((name, "false")) == NO_DIRECTIVE


# -- do not store --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [("x-cache-control", "no-store"), ("Cache-Control", "no-store"), ("X-Cache-Control", "NO-STORE")]
)
def test_no_store(header: tuple[str, str]) -> None:
    assert parse(header) == CacheDirective(store=False)


def test_no_cache_and_no_store_together() -> None:
    assert parse(("x-cache-control", "no-cache, no-store")) == CacheDirective(lookup=False, store=False)


# -- enable / disable ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "enabled"), [("true", True), ("false", False), ("FALSE", False)])
def test_helicone_enabled(value: str, enabled: bool) -> None:
    assert parse(("Helicone-Cache-Enabled", value)) == CacheDirective(enabled=enabled)


# -- TTL -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cf-cache-ttl", "cf-aig-cache-ttl", "CF-AIG-CACHE-TTL"])
def test_cloudflare_ttl_is_milliseconds(name: str) -> None:
    assert parse((name, "3600000")) == CacheDirective(ttl=3600.0)
    assert parse((name, "1500")).ttl == 1.5
    assert parse((name, "0")).ttl == 0.0


@pytest.mark.parametrize("name", ["Cache-Control", "x-cache-control"])
def test_max_age_is_seconds(name: str) -> None:
    assert parse((name, "max-age=60")) == CacheDirective(max_age=60.0)
    assert parse((name, "MAX-AGE=0")).max_age == 0.0
    assert parse((name, 's-maxage="30"')).max_age == 30.0
    assert parse((name, "max-age=90, s-maxage=30")).max_age == 30.0


@pytest.mark.parametrize("name", ["Cache-Control", "x-cache-control"])
def test_max_stale(name: str) -> None:
    assert parse((name, "max-stale=10")) == CacheDirective(max_stale=10.0)
    assert parse((name, "max-stale")) == NO_DIRECTIVE


def test_smallest_ttl_wins() -> None:
    d = parse(("cf-cache-ttl", "60000"), ("cf-aig-cache-ttl", "30000"), body={"cache": {"ttl": 45}})
    assert d.ttl == 30.0
    d = parse(("cache-control", "max-age=100"), ("x-cache-control", "max-age=50"))
    assert d.max_age == 50.0
    assert parse(("cf-cache-ttl", "60000"), ("cache-control", "max-age=10")) == CacheDirective(ttl=60.0, max_age=10.0)


# -- key, namespace, bucket ----------------------------------------------------------------------


def test_custom_key_is_verbatim() -> None:
    assert parse(("cf-aig-cache-key", "responseA")) == CacheDirective(key="responseA")
    assert parse(("CF-AIG-Cache-Key", " Mixed Case|key ")).key == "Mixed Case|key"


def test_seed_is_the_namespace() -> None:
    assert parse(("Helicone-Cache-Seed", "user-42")) == CacheDirective(namespace="user-42")


@pytest.mark.parametrize(("value", "size"), [("1", 1), ("5", 5), (" 64 ", 64)])
def test_bucket_size(value: str, size: int) -> None:
    assert parse(("Helicone-Cache-Bucket-Max-Size", value)) == CacheDirective(bucket_size=size)


def test_repeating_a_header_with_the_same_value_is_fine() -> None:
    d = parse(("cf-aig-cache-key", "k"), ("cf-aig-cache-key", "k"), ("helicone-cache-seed", "s"),
              ("helicone-cache-seed", "s"), ("helicone-cache-bucket-max-size", "3"),
              ("helicone-cache-bucket-max-size", "3"))
    assert d == CacheDirective(key="k", namespace="s", bucket_size=3)


# -- the LiteLLM body form -----------------------------------------------------------------------


def test_litellm_body_form() -> None:
    body = {**BODY, "cache": {"no-cache": True, "no-store": True, "ttl": 120, "namespace": "ns"}}
    directive, forwarded = parse_controls([], body)
    assert directive == CacheDirective(lookup=False, store=False, ttl=120.0, namespace="ns")
    assert forwarded == BODY
    assert "cache" in body, "the caller's dict is not mutated"


def test_litellm_extra_fields() -> None:
    assert parse(body={"cache": {"s-maxage": 600, "use-cache": True}}) == CacheDirective(
        enabled=True, max_entry_age=600.0
    )
    assert parse(body={"cache": {"no-cache": False, "no-store": False, "ttl": 1.5}}) == CacheDirective(ttl=1.5)
    assert parse(body={"cache": {"ttl": None, "namespace": None}}) == CacheDirective()


def test_null_cache_field_is_stripped() -> None:
    directive, forwarded = parse_controls([], {**BODY, "cache": None})
    assert directive is NO_DIRECTIVE
    assert forwarded == BODY


# -- conflicts -----------------------------------------------------------------------------------


def test_disabling_wins_over_enabling() -> None:
    assert parse(("helicone-cache-enabled", "true"), body={"cache": {"use-cache": False}}).enabled is False
    assert parse(("helicone-cache-enabled", "false"), ("helicone-cache-enabled", "true")).enabled is False


def test_enabled_with_no_cache_is_a_refresh() -> None:
    assert parse(("helicone-cache-enabled", "true"), ("cache-control", "no-cache")) == CacheDirective(
        enabled=True, lookup=False
    )


def test_skip_wins_over_do_not_skip() -> None:
    assert parse(("cf-skip-cache", "true"), ("cf-aig-skip-cache", "false")).lookup is False


def test_conflicting_namespaces_are_rejected() -> None:
    err = rejects(("helicone-cache-seed", "a"), body={"cache": {"namespace": "b"}})
    assert "helicone-cache-seed" in err.message and "cache.namespace" in err.message
    assert parse(("helicone-cache-seed", "a"), body={"cache": {"namespace": "a"}}).namespace == "a"


def test_conflicting_repeated_headers_are_rejected() -> None:
    assert rejects(("cf-aig-cache-key", "a"), ("cf-aig-cache-key", "b")).param == "cf-aig-cache-key"
    assert rejects(("helicone-cache-seed", "a"), ("helicone-cache-seed", "b")).param == "helicone-cache-seed"
    err = rejects(("helicone-cache-bucket-max-size", "2"), ("helicone-cache-bucket-max-size", "3"))
    assert err.param == "helicone-cache-bucket-max-size"


# -- standard Cache-Control is lenient about what the gateway does not act on --------------------


@pytest.mark.parametrize(
    "value", ["no-transform", "only-if-cached", "min-fresh=5", "private, public", "x-ext=1", "", " , ,"]
)
def test_cache_control_ignores_directives_it_does_not_act_on(value: str) -> None:
    assert parse(("cache-control", value)) == NO_DIRECTIVE


def test_cache_control_tolerates_an_argument_to_no_cache() -> None:
    assert parse(("cache-control", 'no-cache="set-cookie"')) == CacheDirective(lookup=False)


# -- invalid values ------------------------------------------------------------------------------

INVALID_HEADERS = [
    ("cf-skip-cache", "maybe"),
    ("cf-skip-cache", ""),
    ("cf-aig-skip-cache", "1"),
    ("cf-cache-ttl", "-1"),
    ("cf-cache-ttl", "soon"),
    ("cf-aig-cache-ttl", ""),
    ("cf-aig-cache-ttl", "1e3"),
    ("cf-aig-cache-ttl", "inf"),
    ("cf-aig-cache-ttl", "nan"),
    ("cf-aig-cache-key", ""),
    ("cf-aig-cache-key", "   "),
    ("helicone-cache-enabled", "yes"),
    ("helicone-cache-seed", ""),
    ("helicone-cache-seed", "x" * 257),
    ("helicone-cache-bucket-max-size", "0"),
    ("helicone-cache-bucket-max-size", "65"),
    ("helicone-cache-bucket-max-size", "2.5"),
    ("helicone-cache-bucket-max-size", "-1"),
    ("helicone-cache-bucket-max-size", "five"),
    ("x-cache-control", "no-transform"),
    ("x-cache-control", "no-cache, bogus"),
    ("x-cache-control", "no-cache=1"),
    ("x-cache-control", "max-age"),
    ("x-cache-control", "max-age=-5"),
    ("x-cache-control", "max-age=abc"),
    ("cache-control", "max-age=-1"),
    ("cache-control", "max-age=soon"),
    ("cache-control", "max-age"),
    ("cache-control", "s-maxage=1h"),
    ("cache-control", "max-stale=-3"),
]


@pytest.mark.parametrize("header", INVALID_HEADERS)
def test_invalid_header_is_a_bad_request_naming_it(header: tuple[str, str]) -> None:
    err = rejects(header)
    assert err.param == header[0]
    assert header[0] in err.message


@pytest.mark.parametrize(
    ("cache", "param"),
    [
        ("no-cache", "cache"),
        ([], "cache"),
        (True, "cache"),
        ({"nocache": True}, "cache.nocache"),
        ({"no-cache": "true"}, "cache.no-cache"),
        ({"no-store": 1}, "cache.no-store"),
        ({"use-cache": "yes"}, "cache.use-cache"),
        ({"ttl": "60"}, "cache.ttl"),
        ({"ttl": -1}, "cache.ttl"),
        ({"ttl": True}, "cache.ttl"),
        ({"s-maxage": -0.5}, "cache.s-maxage"),
        ({"namespace": 5}, "cache.namespace"),
        ({"namespace": ""}, "cache.namespace"),
    ],
)
def test_invalid_body_cache_is_a_bad_request_naming_the_field(cache: Any, param: str) -> None:
    err = rejects(body={**BODY, "cache": cache})
    assert err.param == param
    assert param in err.message


def test_control_headers_are_all_lower_case() -> None:
    assert all(h == h.lower() for h in CONTROL_HEADERS)


@pytest.mark.parametrize("value", ["high", "1.5", "-0.1", "nan", ""])
def test_a_malformed_semantic_threshold_is_refused_by_every_request(value: str) -> None:
    with pytest.raises(BadRequest, match="x-warmgate-semantic-threshold") as e:
        parse_controls([(b"x-warmgate-semantic-threshold", value.encode())], {"model": "m"})
    assert e.value.code == "invalid_cache_control"


@pytest.mark.parametrize("value", ["0.9", "1", "0", "OFF", " off "])
def test_a_valid_semantic_threshold_changes_no_exact_control(value: str) -> None:
    directive, _ = parse_controls([(b"x-warmgate-semantic-threshold", value.encode())], {"model": "m"})
    assert directive == CacheDirective()
