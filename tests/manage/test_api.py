"""The management API against a real gateway (subprocess) and the simulator: auth, every validation
rule, the 409s, gateway routes, edit-applies-at-once observed through the cache."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import Clients
from tests.http import request
from tests.manage.helpers import ADMIN, TENANT, admin, exact, gateway_config
from tests.servers import Gateway, Sim


@pytest.fixture(scope="module")
def gw(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = Gateway(tmp_path_factory.mktemp("manage"), gateway_config(sim.url))
    yield g
    g.stop()


def chat(client: openai.OpenAI, text: str, model: str = "gpt-sim") -> tuple[str, Any]:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=8
    )
    return raw.headers.get("x-warmgate-cache", ""), raw.headers


# -- auth -------------------------------------------------------------------------------------------


def test_auth_no_key_tenant_key_admin_key(gw: Gateway) -> None:
    assert admin(gw.url, "GET", "/admin/cache-configs", key=None).status == 401
    tenant = admin(gw.url, "GET", "/admin/cache-configs", key=TENANT)
    assert tenant.status == 401 and TENANT not in tenant.body.decode()
    assert admin(gw.url, "POST", "/admin/cache-configs", exact("by-tenant"), key=TENANT).status == 401
    assert admin(gw.url, "GET", "/admin/cache-configs/by-tenant").status == 404  # nothing was created
    assert admin(gw.url, "GET", "/admin/cache-configs").status == 200
    assert admin(gw.url, "GET", "/admin/gateways", key="wrong").status == 401


def test_management_off_without_admin_key(sim: Sim, gateway_factory: Any) -> None:
    cfg = gateway_config(sim.url)
    del cfg["admin_key"]
    g = gateway_factory(cfg)
    assert admin(g.url, "GET", "/admin/cache-configs").status == 403
    assert request("GET", g.url + "/admin/openapi.json").status == 200


# -- validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (exact("Bad_Name"), "name"),
        (exact("abcd"), "name"),  # 4 characters
        (exact("a" * 51), "name"),
        (exact("ttl-zero", ttl=0), "ttl"),
        (exact("ttl-too-long", ttl=172801), "ttl"),
        ({**exact("threshold-no-sem"), "semantic_threshold": 0.9}, "only allowed"),
        ({"name": "sem-no-threshold", "types": ["semantic"], "ttl": 60}, "required"),
        ({"name": "threshold-high", "types": ["semantic"], "ttl": 60, "semantic_threshold": 1.5}, "semantic_threshold"),
        ({"name": "no-types-here", "types": [], "ttl": 60}, "types"),
        ({"name": "odd-type-here", "types": ["fuzzy"], "ttl": 60}, "types"),
        ({**exact("unknown-field"), "colour": "red"}, "colour"),
    ],
)
def test_validation_rules(gw: Gateway, body: dict[str, Any], fragment: str) -> None:
    r = admin(gw.url, "POST", "/admin/cache-configs", body)
    assert r.status == 422, r.body
    assert fragment in r.json()["error"]["message"]


def test_malformed_bodies_are_400(gw: Gateway) -> None:
    r = request("POST", gw.url + "/admin/cache-configs", body=b"{not json",
                headers={"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    assert r.status == 400
    assert admin(gw.url, "POST", "/admin/cache-configs", [1, 2]).status == 400


def test_create_list_get_duplicate(gw: Gateway) -> None:
    body = {"name": "both-types", "types": ["exact", "semantic"], "semantic_threshold": 0.85, "ttl": 120,
            "description": "exact and semantic", "cache_control": {"no_store": False}}
    created = admin(gw.url, "POST", "/admin/cache-configs", body)
    assert created.status == 201, created.body
    assert created.json()["cache_control"] == {"no_cache": True, "no_store": False, "max_age": True}
    dup = admin(gw.url, "POST", "/admin/cache-configs", {**body, "ttl": 5})
    assert dup.status == 409 and "already exists" in dup.json()["error"]["message"]
    listed = admin(gw.url, "GET", "/admin/cache-configs").json()["data"]
    assert [c["ttl"] for c in listed if c["name"] == "both-types"] == [120]
    one = admin(gw.url, "GET", "/admin/cache-configs/both-types").json()
    assert one["semantic_threshold"] == 0.85 and one["assignments"] == []
    # an edit is validated as a whole: dropping semantic while a threshold remains is refused
    bad = admin(gw.url, "PATCH", "/admin/cache-configs/both-types", {"types": ["exact"]})
    assert bad.status == 422
    ok = admin(gw.url, "PATCH", "/admin/cache-configs/both-types", {"types": ["exact"], "semantic_threshold": None})
    assert ok.status == 200 and ok.json()["semantic_threshold"] is None
    assert admin(gw.url, "PATCH", "/admin/cache-configs/missing-one", {"ttl": 5}).status == 404
    assert admin(gw.url, "DELETE", "/admin/cache-configs/both-types").status == 200
    assert admin(gw.url, "GET", "/admin/cache-configs/both-types").status == 404


# -- assignment and 409s ------------------------------------------------------------------------------


def test_conflicts_name_the_holder(gw: Gateway) -> None:
    for name in ("holder-one", "holder-two"):
        assert admin(gw.url, "POST", "/admin/cache-configs", exact(name)).status == 201
    r = admin(gw.url, "POST", "/admin/cache-configs/holder-one/assign", {"gateway": "support", "models": ["claude-sim"]})
    assert r.status == 200, r.body
    assert r.json()["assignments"] == [{"gateway": "support", "models": ["claude-sim"]}]
    clash = admin(gw.url, "POST", "/admin/cache-configs/holder-two/assign", {"gateway": "support", "models": ["claude-sim"]})
    assert clash.status == 409 and "holder-one" in clash.json()["error"]["message"]
    clash_all = admin(gw.url, "POST", "/admin/cache-configs/holder-two/assign", {"gateway": "support"})
    assert clash_all.status == 409 and "holder-one" in clash_all.json()["error"]["message"]
    # still assigned: cannot be deleted
    busy = admin(gw.url, "DELETE", "/admin/cache-configs/holder-one")
    assert busy.status == 409 and "support" in busy.json()["error"]["message"]
    # a model the gateway does not serve, an unknown gateway
    assert admin(gw.url, "POST", "/admin/cache-configs/holder-two/assign",
                 {"gateway": "support", "models": ["gpt-other"]}).status == 422
    assert admin(gw.url, "POST", "/admin/cache-configs/holder-two/assign", {"gateway": "nowhere"}).status == 404
    # the gateway's view lists what is assigned to it
    view = admin(gw.url, "GET", "/admin/gateways/support").json()
    assert view["path"] == "/g/support/v1" and view["source"] == "config"
    assert {"name": "holder-one", "types": ["exact"], "ttl": 3600, "semantic_threshold": None,
            "models": ["claude-sim"]} in view["configurations"]
    # YAML gateways are changed in the file, not through the API
    assert admin(gw.url, "DELETE", "/admin/gateways/support").status == 409
    # detach, then delete works
    assert admin(gw.url, "POST", "/admin/cache-configs/holder-one/detach", {"gateway": "support"}).status == 200
    assert admin(gw.url, "DELETE", "/admin/cache-configs/holder-one").status == 200
    assert admin(gw.url, "DELETE", "/admin/cache-configs/holder-two").status == 200


def test_runtime_gateway(gw: Gateway, sdk: Clients) -> None:
    r = admin(gw.url, "POST", "/admin/gateways", {"name": "batch", "models": ["gpt-other"]})
    assert r.status == 201, r.body
    assert admin(gw.url, "POST", "/admin/gateways", {"name": "batch"}).status == 409
    assert admin(gw.url, "POST", "/admin/gateways", {"name": "bad", "models": ["nope"]}).status == 422
    client = openai.OpenAI(api_key=TENANT, base_url=gw.url + "/g/batch/v1", max_retries=0, timeout=20)
    sdk.opened.append(client)
    assert [m.id for m in client.models.list()] == ["gpt-other"]
    assert chat(client, "runtime gateway", model="gpt-other")[0] == "BYPASS"  # cache off globally
    with pytest.raises(openai.NotFoundError):
        chat(client, "not in this gateway", model="gpt-sim")
    assert admin(gw.url, "POST", "/admin/cache-configs", exact("batch-cache")).status == 201
    assert admin(gw.url, "POST", "/admin/cache-configs/batch-cache/assign", {"gateway": "batch"}).status == 200
    assert chat(client, "runtime gateway", model="gpt-other")[0] == "MISS"
    assert chat(client, "runtime gateway", model="gpt-other")[0] == "HIT"
    assert admin(gw.url, "DELETE", "/admin/gateways/batch").status == 409  # still has a configuration
    assert admin(gw.url, "POST", "/admin/cache-configs/batch-cache/detach", {"gateway": "batch"}).status == 200
    assert chat(client, "runtime gateway", model="gpt-other")[0] == "BYPASS"
    assert admin(gw.url, "DELETE", "/admin/gateways/batch").status == 200
    missing = request("POST", gw.url + "/g/batch/v1/chat/completions", json={"model": "gpt-other", "messages": []},
                      headers={"authorization": f"Bearer {TENANT}"})
    assert missing.status == 404 and missing.json()["error"]["code"] == "gateway_not_found"


# -- edits apply at once, precedence --------------------------------------------------------------------


def test_edit_applies_at_once(gw: Gateway, sdk: Clients) -> None:
    client = openai.OpenAI(api_key=TENANT, base_url=gw.url + "/g/support/v1", max_retries=0, timeout=20)
    sdk.opened.append(client)
    assert admin(gw.url, "POST", "/admin/cache-configs", exact("edit-at-once", ttl=3600)).status == 201
    assert admin(gw.url, "POST", "/admin/cache-configs/edit-at-once/assign",
                 {"gateway": "support", "models": ["gpt-sim"]}).status == 200
    assert chat(client, "stored under ttl 3600")[0] == "MISS"
    assert chat(client, "stored under ttl 3600")[0] == "HIT"

    edited = admin(gw.url, "PATCH", "/admin/cache-configs/edit-at-once", {"ttl": 1})
    assert edited.status == 200 and edited.json()["ttl"] == 1
    assert chat(client, "stored under ttl 1")[0] == "MISS"  # the very next request uses the new TTL
    assert chat(client, "stored under ttl 1")[0] == "HIT"
    time.sleep(1.3)
    # expired after 1 s (the edit applied); served STALE within the gateway's `stale: 5` while refreshed
    assert chat(client, "stored under ttl 1")[0] == "STALE"
    assert chat(client, "stored under ttl 3600")[0] == "HIT"  # stored before the edit: keeps its own expiry
    # the default gateway (/v1) serves the same model without the configuration: caching is off there
    default = openai.OpenAI(api_key=TENANT, base_url=gw.url + "/v1", max_retries=0, timeout=20)
    sdk.opened.append(default)
    assert chat(default, "stored under ttl 3600")[0] == "BYPASS"
    assert admin(gw.url, "POST", "/admin/cache-configs/edit-at-once/detach", {"gateway": "support"}).status == 200


def test_effective_precedence(gw: Gateway) -> None:
    def eff(gateway: str, model: str) -> dict[str, Any]:
        r = admin(gw.url, "GET", f"/admin/effective?gateway={gateway}&model={model}")
        assert r.status == 200, r.body
        return r.json()  # type: ignore[no-any-return]

    base = eff("default", "gpt-sim")
    assert (base["enabled"], base["ttl"], base["configuration"]) == (False, 3600, None)
    gateway_only = eff("support", "gpt-sim")
    assert (gateway_only["ttl"], gateway_only["stale"]) == (600, 5)  # gateway settings over global
    body = {"name": "prec-config", "types": ["exact", "semantic"], "semantic_threshold": 0.9, "ttl": 77,
            "cache_control": {"max_age": False}}
    assert admin(gw.url, "POST", "/admin/cache-configs", body).status == 201
    assert admin(gw.url, "POST", "/admin/cache-configs/prec-config/assign",
                 {"gateway": "support", "models": ["gpt-sim"]}).status == 200
    configured = eff("support", "gpt-sim")
    assert configured["configuration"] == "prec-config"
    assert (configured["enabled"], configured["ttl"], configured["stale"]) == (True, 77, 5)  # config over gateway
    assert configured["semantic_threshold"] == 0.9 and configured["cache_control"]["max_age"] is False
    assert eff("default", "gpt-sim")["ttl"] == 3600  # other gateways unaffected
    assert admin(gw.url, "GET", "/admin/effective?gateway=support&model=gpt-other").status == 404
    assert admin(gw.url, "GET", "/admin/effective?gateway=nowhere&model=gpt-sim").status == 404
    assert admin(gw.url, "POST", "/admin/cache-configs/prec-config/detach", {"gateway": "support"}).status == 200


def test_changes_are_audited_without_the_key(gw: Gateway) -> None:
    assert admin(gw.url, "POST", "/admin/cache-configs", exact("audited-one")).status == 201
    assert admin(gw.url, "DELETE", "/admin/cache-configs/audited-one").status == 200
    records = admin(gw.url, "GET", "/admin/audit?limit=2").json()["data"]
    assert [(r["action"], r["target"]) for r in records] == [("delete", "audited-one"), ("create", "audited-one")]
    assert records[0]["actor"].startswith("admin-key:") and ADMIN not in str(records)
    logged = gw.stderr_text()
    assert "admin change by admin-key:" in logged and "audited-one" in logged and ADMIN not in logged


def test_answer_now_serves_gateway_paths(gw: Gateway) -> None:
    """Memory store: fresh hits are answered by the protocol's fast path; a /g/ path must get its own
    gateway's policy there too (the same body on /v1 is not cached)."""
    assert admin(gw.url, "POST", "/admin/cache-configs", exact("fast-path")).status == 201
    assert admin(gw.url, "POST", "/admin/cache-configs/fast-path/assign",
                 {"gateway": "support", "models": ["claude-sim"]}).status == 200
    body = {"model": "claude-sim", "max_tokens": 8, "messages": [{"role": "user", "content": "fast path"}]}
    headers = {"x-api-key": TENANT, "anthropic-version": "2023-06-01"}
    first = request("POST", gw.url + "/g/support/v1/messages", json=body, headers=headers)
    second = request("POST", gw.url + "/g/support/v1/messages", json=body, headers=headers)
    plain = request("POST", gw.url + "/v1/messages", json=body, headers=headers)
    assert [r.headers["x-warmgate-cache"] for r in (first, second, plain)] == ["MISS", "HIT", "BYPASS"]
    unknown = request("POST", gw.url + "/g/nowhere/v1/messages", json=body, headers=headers)
    assert unknown.status == 404 and unknown.json()["type"] == "error"  # Anthropic-shaped
    assert admin(gw.url, "POST", "/admin/cache-configs/fast-path/detach", {"gateway": "support"}).status == 200


def test_cache_control_policy_reaches_requests(gw: Gateway, sdk: Clients) -> None:
    """A configuration that does not honour client no-cache / no-store: those headers change nothing."""
    body = {**exact("ignore-client"), "cache_control": {"no_cache": False, "no_store": False}}
    assert admin(gw.url, "POST", "/admin/cache-configs", body).status == 201
    assert admin(gw.url, "POST", "/admin/cache-configs/ignore-client/assign",
                 {"gateway": "support", "models": ["gpt-sim"]}).status == 200
    client = openai.OpenAI(api_key=TENANT, base_url=gw.url + "/g/support/v1", max_retries=0, timeout=20,
                           default_headers={"x-cache-control": "no-store"})
    sdk.opened.append(client)
    assert chat(client, "stored despite no-store")[0] == "MISS"
    assert chat(client, "stored despite no-store")[0] == "HIT"
    assert admin(gw.url, "PATCH", "/admin/cache-configs/ignore-client",
                 {"cache_control": {"no_store": True}}).status == 200
    assert chat(client, "not stored now")[0] == "MISS"  # looked up, not stored
    assert chat(client, "not stored now")[0] == "MISS"
    assert admin(gw.url, "POST", "/admin/cache-configs/ignore-client/detach", {"gateway": "support"}).status == 200


def test_semantic_only_configuration_skips_the_exact_cache(gw: Gateway, sdk: Clients) -> None:
    body = {"name": "semantic-only", "types": ["semantic"], "semantic_threshold": 0.95, "ttl": 600}
    assert admin(gw.url, "POST", "/admin/cache-configs", body).status == 201
    assert admin(gw.url, "POST", "/admin/cache-configs/semantic-only/assign",
                 {"gateway": "support", "models": ["gpt-sim"]}).status == 200
    eff = admin(gw.url, "GET", "/admin/effective?gateway=support&model=gpt-sim").json()
    assert (eff["enabled"], eff["exact"], eff["semantic_threshold"]) == (True, False, 0.95)
    client = openai.OpenAI(api_key=TENANT, base_url=gw.url + "/g/support/v1", max_retries=0, timeout=20)
    sdk.opened.append(client)
    assert [chat(client, "semantic only")[0] for _ in range(2)] == ["BYPASS", "BYPASS"]
    assert admin(gw.url, "POST", "/admin/cache-configs/semantic-only/detach", {"gateway": "support"}).status == 200
