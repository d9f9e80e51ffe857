"""Bad input of every kind gets an error in the caller's wire format with the right status, nothing
reaches the provider, and the gateway keeps serving."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.conftest import Clients, GatewayFactory
from tests.http import Response, request
from tests.servers import Gateway, Sim, sim_provider

AUTH = {"authorization": "Bearer sk-team-a"}
CHAT = {"model": "gpt-sim", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "claude-sim", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def assert_openai_error(resp: Response, status: int, *, contains: str = "") -> dict[str, Any]:
    assert resp.status == status, resp.body
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert contains.lower() in body["error"]["message"].lower()
    assert resp.headers["x-warmgate-request-id"]
    return body["error"]  # type: ignore[no-any-return]


def assert_anthropic_error(resp: Response, status: int, kind: str, *, contains: str = "") -> None:
    assert resp.status == status, resp.body
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert contains.lower() in body["error"]["message"].lower()
    assert resp.headers["x-warmgate-request-id"]


def post(gw: Gateway, path: str, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return request("POST", gw.url + path, body=body, headers={"content-type": "application/json", **AUTH, **(headers or {})})


BAD_BODIES = [
    (b"{not json", "not valid json"),
    (b"", "empty"),
    (b"[1, 2]", "json object"),
    (b'"text"', "json object"),
    (b"\xff\xfe\x00", "not valid json"),
    (b'{"messages": []}', "model"),
    (b'{"model": 42, "messages": []}', "model must be"),
    (b'{"model": "", "messages": []}', "model must be"),
    (b'{"model": "gpt-sim"}', "messages"),
    (b'{"model": "gpt-sim", "messages": "hi"}', "messages must be an array"),
    (b'{"model": "gpt-sim", "messages": ["hi"]}', "messages[0]"),
    (b'{"model": "gpt-sim", "messages": [], "stream": "yes"}', "stream must be a boolean"),
    (b'{"model": "gpt-sim", "messages": [], "stream": 1}', "stream must be a boolean"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_chat_bodies_are_openai_400s(gateway: Gateway, clean_sim: Sim, body: bytes, message: str) -> None:
    assert_openai_error(post(gateway, "/v1/chat/completions", body), 400, contains=message)
    assert clean_sim.requests_by_key() == {}


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_messages_bodies_are_anthropic_400s(gateway: Gateway, clean_sim: Sim, body: bytes, message: str) -> None:
    body = body.replace(b"gpt-sim", b"claude-sim")
    assert_anthropic_error(post(gateway, "/v1/messages", body), 400, "invalid_request_error", contains=message)
    assert clean_sim.requests_by_key() == {}


def test_responses_and_embeddings_field_types(gateway: Gateway) -> None:
    assert_openai_error(post(gateway, "/v1/responses", b'{"model": "gpt-sim", "input": 5}'), 400, contains="input")
    assert_openai_error(post(gateway, "/v1/responses", b'{"model": "gpt-sim", "stream": "no"}'), 400, contains="stream")
    assert_openai_error(post(gateway, "/v1/embeddings", b'{"model": "text-embedding-sim"}'), 400, contains="input")
    assert_openai_error(
        post(gateway, "/v1/embeddings", b'{"model": "text-embedding-sim", "input": {"a": 1}}'), 400, contains="input"
    )


def test_non_json_content_type(gateway: Gateway) -> None:
    import orjson

    body = orjson.dumps(CHAT)
    err = assert_openai_error(post(gateway, "/v1/chat/completions", body, {"content-type": "text/plain"}), 400)
    assert err["code"] == "unsupported_content_type"
    resp = post(gateway, "/v1/messages", orjson.dumps(MESSAGES), {"content-type": "application/x-www-form-urlencoded"})
    assert_anthropic_error(resp, 400, "invalid_request_error", contains="content type")


def test_gateway_keys(sdk: Clients, gateway: Gateway, clean_sim: Sim) -> None:
    import orjson

    body = orjson.dumps(CHAT)
    no_key = request("POST", gateway.url + "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
    assert assert_openai_error(no_key, 401)["code"] == "missing_api_key"
    wrong = request("POST", gateway.url + "/v1/chat/completions", body=body,
                    headers={"content-type": "application/json", "authorization": "Bearer sk-nope"})
    assert_openai_error(wrong, 401, contains="incorrect")
    anth = request("POST", gateway.url + "/v1/messages", body=orjson.dumps(MESSAGES),
                   headers={"content-type": "application/json", "x-api-key": "sk-nope"})
    assert_anthropic_error(anth, 401, "authentication_error")
    # the SDKs see their own exception types
    with pytest.raises(openai.AuthenticationError):
        sdk.openai(gateway.url, "sk-wrong").models.list()
    with pytest.raises(anthropic.AuthenticationError):
        sdk.anthropic(gateway.url, "sk-wrong").messages.create(**MESSAGES)  # type: ignore[call-overload]
    assert clean_sim.requests_by_key() == {}


def test_unknown_model_and_route(sdk: Clients, gateway: Gateway, clean_sim: Sim) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        sdk.openai(gateway.url).chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.code == "model_not_found"
    with pytest.raises(anthropic.NotFoundError):
        sdk.anthropic(gateway.url).messages.create(
            model="gpt-sim-not-claude", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert_openai_error(request("GET", gateway.url + "/nowhere"), 404)
    assert clean_sim.requests_by_key() == {}


def test_body_and_header_limits(clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({
        "server": {"host": "127.0.0.1", "port": 0, "max_body_bytes": 4096, "max_header_bytes": 2048},
        "providers": [sim_provider(clean_sim.url)],
        "models": {"gpt-sim": "sim", "claude-sim": {"provider": "sim"}},
    })
    big = b'{"model": "gpt-sim", "messages": [{"role": "user", "content": "' + b"x" * 5000 + b'"}]}'
    assert_openai_error(post(gw, "/v1/chat/completions", big), 413, contains="limit")
    assert_anthropic_error(post(gw, "/v1/messages", big), 413, "request_too_large")
    resp = post(gw, "/v1/chat/completions", b"{}", {"x-padding": "y" * 3000})
    assert_openai_error(resp, 413, contains="headers")
    resp = post(gw, "/v1/chat/completions", b"{}", {f"x-pad-{i}": "y" * 1000 for i in range(20)})
    assert_openai_error(resp, 413, contains="headers")
    # a header flood: cut off with a 431 before it reaches the app, memory bounded
    host, port = gw.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as flood:
        flood.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        with contextlib.suppress(OSError):  # the gateway may close while we are still sending
            for i in range(1000):
                flood.sendall(f"x-flood-{i}: {'z' * 1000}\r\n".encode())
        flood.settimeout(5)
        assert flood.recv(4096).startswith(b"HTTP/1.1 431")
    assert clean_sim.requests_by_key() == {}
    # and the gateway keeps serving
    ok = request("POST", gw.url + "/v1/chat/completions", json={"model": "gpt-sim", "messages": [{"role": "user", "content": "x"}]})
    assert ok.status == 200


def test_upstream_down_is_a_502(gateway_factory: GatewayFactory) -> None:
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    gw = gateway_factory({
        "providers": [
            sim_provider(dead, name="down", keys=("k1", "k2"), timeouts={"connect": 1, "read": 5}),
            sim_provider(dead, name="down-anthropic", api="anthropic"),
        ],
        "models": {"m": "down", "c": "down-anthropic"},
    })
    err = assert_openai_error(request("POST", gw.url + "/v1/chat/completions", json=CHAT | {"model": "m"}), 502)
    assert err["code"] == "upstream_unavailable" and "tried 2 accounts" in err["message"]
    assert_anthropic_error(request("POST", gw.url + "/v1/messages", json=MESSAGES | {"model": "c"}), 502, "api_error")
    assert request("GET", gw.url + "/readyz").status == 503
    assert request("GET", gw.url + "/healthz").status == 200


def test_stalled_provider_times_out_as_504_then_next_account(clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({
        "providers": [sim_provider(clean_sim.url, keys=("sk-s-1", "sk-s-2"), timeouts={"connect": 2, "read": 0.5})],
        "models": {"m": "sim"},
    })
    clean_sim.fault(account="sk-s-1", mode="stall")
    t0 = time.monotonic()
    resp = request("POST", gw.url + "/v1/chat/completions", json=CHAT | {"model": "m"})
    assert resp.status == 200 and resp.headers["x-warmgate-account"] == "acct-2"
    assert time.monotonic() - t0 < 5
    clean_sim.fault(account="*", mode="stall")
    err = assert_openai_error(request("POST", gw.url + "/v1/chat/completions", json=CHAT | {"model": "m"}), 504)
    assert err["code"] == "upstream_timeout"


def test_slow_clients_are_timed_out_and_hold_up_nobody(clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({
        "server": {"host": "127.0.0.1", "port": 0, "header_timeout": 1, "body_timeout": 1},
        "providers": [sim_provider(clean_sim.url)],
        "models": {"gpt-sim": "sim"},
    })
    host, port = gw.url.removeprefix("http://").split(":")
    idle = socket.create_connection((host, int(port)))  # connects and says nothing
    slow_head = socket.create_connection((host, int(port)))
    slow_head.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # never finishes its head
    slow_body = socket.create_connection((host, int(port)))
    slow_body.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                      b"content-length: 100\r\n\r\n{\"model\":")
    # meanwhile others are served at once
    t0 = time.monotonic()
    for _ in range(5):
        assert request("POST", gw.url + "/v1/chat/completions", json=CHAT).status == 200
    assert time.monotonic() - t0 < 1.0
    for conn in (idle, slow_head, slow_body):
        conn.settimeout(5)
        data = conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), data
        assert b"x-warmgate-request-id" in head
        assert orjson.loads(body)["error"]["code"] == "request_timeout"
        assert conn.recv(1) == b""  # and the connection is closed
        conn.close()
    slow_messages = socket.create_connection((host, int(port)))
    slow_messages.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\ncontent-length: 50\r\n\r\n{")
    slow_messages.settimeout(5)
    body = slow_messages.recv(65536).partition(b"\r\n\r\n")[2]
    assert orjson.loads(body)["error"]["type"] == "invalid_request_error"  # Anthropic-shaped
    slow_messages.close()
