"""A schema-driven fuzz of the management API: every operation of the OpenAPI document the gateway
serves, with path parameters, queries and bodies drawn by hypothesis (near-valid bodies built from
the documented properties, and arbitrary JSON). No answer may be a 5xx; every answer is JSON, its
status is documented for the operation, and its body matches the documented schema; the document
itself is a valid OpenAPI 3.1 document. Bounded: 200 cases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.http import request
from tests.manage.helpers import ADMIN, gateway_config
from tests.servers import Gateway, Sim

MODELS = ["gpt-sim", "gpt-other", "claude-sim", "nope"]


@pytest.fixture(scope="module")
def fuzzed(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, dict[str, Any]]]:
    g = Gateway(tmp_path_factory.mktemp("fuzz"), gateway_config(sim.url))
    doc = request("GET", g.url + "/admin/openapi.json").ok().json()
    yield g, doc
    g.stop()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "patch", "delete", "put"):
                out.append((path, method.upper(), op))
    return out


def _scalar() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(-5, 200_000), st.floats(allow_nan=False, width=32),
                     st.text(max_size=60))


def _json() -> st.SearchStrategy[Any]:
    return st.recursive(_scalar(), lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=8)


POOL = ["fuzz-one", "fuzz-two", "fuzz-three", "support", "default"]  # names that collide on purpose
NAMES = st.one_of(st.sampled_from(POOL), st.sampled_from(POOL), st.from_regex(r"[a-z0-9-]{5,12}", fullmatch=True),
                  st.text(max_size=20))
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": NAMES,
    "description": st.text(max_size=30),
    "types": st.lists(st.sampled_from(["exact", "semantic", "other"]), max_size=3),
    "semantic_threshold": st.one_of(st.none(), st.floats(-1, 2, allow_nan=False)),
    "ttl": st.one_of(st.integers(-1, 172_802), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)),
    "cache_control": st.one_of(st.fixed_dictionaries({}, optional={k: _scalar() for k in ("no_cache", "no_store", "max_age")}),
                               _json()),
    "gateway": st.sampled_from(["support", "default", "nowhere", ""]),
    "models": st.one_of(st.none(), st.lists(st.sampled_from(MODELS), max_size=3), _json()),
    "cache": st.one_of(st.fixed_dictionaries({}, optional={"ttl": st.integers(-1, 10**6), "enabled": st.booleans()}),
                       _json()),
}


VALID = st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(POOL), "types": st.just(["exact"]), "ttl": st.integers(1, 172_800)}),
    st.fixed_dictionaries({"name": st.sampled_from(POOL), "types": st.just(["semantic"]),
                           "semantic_threshold": st.floats(0, 1), "ttl": st.integers(1, 172_800)}),
    st.fixed_dictionaries({"gateway": st.sampled_from(["support", "default", "fuzz-one"])},
                          optional={"models": st.lists(st.sampled_from(MODELS[:3]), min_size=1, max_size=2)}),
)


def bodies() -> st.SearchStrategy[Any]:
    near_valid = st.fixed_dictionaries({}, optional=FIELDS)
    return st.one_of(VALID, VALID, near_valid, near_valid.map(lambda d: {**d, "extra": 1}), _json())


@st.composite
def calls(draw: st.DrawFn, ops: list[tuple[str, str, dict[str, Any]]]) -> tuple[str, str, str, bytes | None]:
    template, method, op = draw(st.sampled_from(ops))
    # a path parameter is one non-empty segment (else the path is another operation's)
    path = template.replace("{name}", quote(draw(NAMES.filter(lambda n: n.strip() and "/" not in n)), safe=""))
    query = {}
    for param in op.get("parameters", []):
        if param["in"] == "query" and draw(st.booleans()):
            query[param["name"]] = draw(st.one_of(st.sampled_from([*MODELS, "support", "5"]), st.text(max_size=8)))
    if query:
        path += "?" + urlencode(query)
    body = orjson.dumps(draw(bodies())) if "requestBody" in op else None
    return method, template, path, body


def test_document_is_valid_openapi(fuzzed: tuple[Gateway, dict[str, Any]]) -> None:
    validate(fuzzed[1])


def test_fuzz_finds_no_server_error(fuzzed: tuple[Gateway, dict[str, Any]]) -> None:
    gw, doc = fuzzed
    ops = operations(doc)
    op_of = {(method, path): op for path, method, op in ops}

    @settings(max_examples=200, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(calls(ops))
    def run(call: tuple[str, str, str, bytes | None]) -> None:
        method, template, path, body = call
        headers = {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"}
        r = request(method, gw.url + path, body=body, headers=headers)
        assert r.status < 500, (method, path, body, r.status, r.body[:300])
        answer = r.json()
        documented = op_of[(method, template)]["responses"].get(str(r.status))
        assert documented is not None, (method, path, r.status, "status not in the document")
        schema = documented["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": doc["components"]}).validate(answer)

    run()
    assert request("GET", gw.url + "/healthz").ok()
