"""The official SDKs, pointed at the gateway, work unchanged: plain and streamed calls on every
endpoint, with the simulator's counters proving what reached which account."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import Clients, GatewayFactory
from tests.http import request
from tests.servers import Gateway, Sim, sim_provider

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the gateway"}]




def test_chat_completions_plain_and_streamed(sdk: Clients, gateway: Gateway, clean_sim: Sim) -> None:
    client = sdk.openai(gateway.url)
    raw = client.chat.completions.with_raw_response.create(model="gpt-sim", messages=MSGS, max_tokens=8)  # type: ignore[arg-type]
    assert raw.headers["x-warmgate-request-id"]
    assert raw.headers["x-warmgate-account"] in ("acct-1", "acct-2")
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.prompt_tokens > 0

    stream = client.chat.completions.create(
        model="gpt-sim", messages=MSGS, max_tokens=8, stream=True, stream_options={"include_usage": True}  # type: ignore[arg-type]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None
    assert sum(clean_sim.requests_by_key().values()) == 2


def test_responses_plain_and_streamed(sdk: Clients, gateway: Gateway) -> None:
    client = sdk.openai(gateway.url)
    resp = client.responses.create(model="gpt-sim", input="What is a gateway?", max_output_tokens=16)
    assert resp.output_text
    events = list(client.responses.create(model="gpt-sim", input="What is a gateway?", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.output_text.delta" in types


def test_embeddings_and_models(sdk: Clients, gateway: Gateway) -> None:
    client = sdk.openai(gateway.url)
    emb = client.embeddings.create(model="text-embedding-sim", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    ids = [m.id for m in client.models.list()]
    assert "gpt-sim" in ids and "claude-sim" in ids and "claude-*" not in ids
    anthropic_ids = [m.id for m in sdk.anthropic(gateway.url).models.list()]
    assert "claude-sim" in anthropic_ids


def test_messages_plain_and_streamed(sdk: Clients, gateway: Gateway, clean_sim: Sim) -> None:
    client = sdk.anthropic(gateway.url, "sk-team-b")
    msg = client.messages.create(model="claude-sim", max_tokens=16, messages=[{"role": "user", "content": "Hi"}])
    assert msg.content[0].type == "text" and msg.content[0].text
    with client.messages.stream(model="claude-sim", max_tokens=16, messages=[{"role": "user", "content": "Hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text and final.stop_reason == "end_turn"
    # a pattern route: any claude-* model goes to the anthropic provider
    assert client.messages.create(model="claude-other-1", max_tokens=8, messages=[{"role": "user", "content": "x"}]).id
    keys = clean_sim.requests_by_key()
    assert set(keys) <= {"sk-an-1", "sk-an-2"} and sum(keys.values()) == 3


def test_count_tokens_and_beta_query_pass_through(sdk: Clients, gateway: Gateway) -> None:
    client = sdk.anthropic(gateway.url)
    count = client.messages.count_tokens(model="claude-sim", messages=[{"role": "user", "content": "one two three"}])
    assert count.input_tokens > 0
    # Claude Code posts to /v1/messages?beta=true with beta headers and unknown body fields
    msg = client.beta.messages.create(
        model="claude-sim",
        max_tokens=16,
        messages=[{"role": "user", "content": "Hi"}],
        betas=["context-management-2025-06-27"],
        extra_body={"context_management": {"edits": []}, "output_config": {"effort": "low"}},
    )
    assert msg.content


def test_upstream_model_rename(sdk: Clients, gateway: Gateway) -> None:
    completion = sdk.openai(gateway.url).chat.completions.create(model="gpt-alias", messages=MSGS)  # type: ignore[arg-type]
    assert completion.model == "gpt-sim-upstream"


def test_other_v1_endpoints_pass_through(sdk: Clients, gateway: Gateway, clean_sim: Sim) -> None:
    img = sdk.openai(gateway.url).images.generate(model="gpt-image-sim", prompt="a spoon")
    assert img.data and img.data[0].b64_json
    # any other /v1 path reaches the default provider with its method, path, query and body
    echo = request(
        "POST", gateway.url + "/v1/audio/whatever?x=1", body=b"--b\r\n", headers={
            "authorization": "Bearer sk-team-a", "content-type": "multipart/form-data; boundary=b"}
    ).ok().json()
    assert echo["path"] == "/v1/audio/whatever" and echo["query"] == "x=1" and echo["body_bytes"] == 5
    got = request("GET", gateway.url + "/v1/files/file-123", headers={"x-api-key": "sk-team-a"}).ok().json()
    assert got["method"] == "GET" and got["path"] == "/v1/files/file-123"
    assert set(clean_sim.requests_by_key()) <= {"sk-oa-1", "sk-oa-2"}


def test_client_credentials_never_reach_the_provider(sdk: Clients, gateway: Gateway, clean_sim: Sim) -> None:
    sdk.openai(gateway.url).chat.completions.create(model="gpt-sim", messages=MSGS)  # type: ignore[arg-type]
    sdk.anthropic(gateway.url).messages.create(model="claude-sim", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    keys = set(clean_sim.requests_by_key())
    assert keys and keys <= {"sk-oa-1", "sk-oa-2", "sk-an-1", "sk-an-2"}


def test_two_account_pool_retries_a_429_on_the_other_account(sdk: Clients, clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url, keys=("sk-p-1", "sk-p-2"))], "models": {"m": "sim"}})
    clean_sim.fault(account="sk-p-1", status=429, retry_after=30)
    client = sdk.openai(gw.url, "unused")
    for _ in range(4):
        raw = client.chat.completions.with_raw_response.create(model="m", messages=MSGS)  # type: ignore[arg-type]
        assert raw.http_response.status_code == 200
        assert raw.headers["x-warmgate-account"] == "acct-2"
    stats = clean_sim.stats()["accounts"]
    by_key = {a["key"]: a for a in stats.values()}
    # the 429 cooled acct-1 down for its retry-after: later requests went straight to acct-2
    assert by_key["sk-p-1"]["requests"] <= 1 and by_key["sk-p-2"]["requests"] == 4


def test_all_accounts_failing_returns_the_providers_error(sdk: Clients, clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url, keys=("sk-q-1", "sk-q-2"))], "models": {"m": "sim"}})
    clean_sim.fault(account="*", status=503)
    client = sdk.openai(gw.url, "unused")
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert info.value.status_code == 503
    assert "x-warmgate-request-id" in info.value.response.headers
    assert sum(clean_sim.requests_by_key().values()) == 2  # each account tried once


def test_streamed_call_retries_before_the_first_byte(sdk: Clients, clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url, keys=("sk-r-1", "sk-r-2"))], "models": {"m": "sim"}})
    clean_sim.fault(account="sk-r-1", status=500)
    clean_sim.fault(account="sk-r-2", status=500, count=1)
    client = sdk.openai(gw.url, "unused")
    with pytest.raises(openai.InternalServerError):
        list(client.chat.completions.create(model="m", messages=MSGS, stream=True))  # type: ignore[arg-type]
    # sk-r-2's single fault is used up: the next stream is served by it after sk-r-1 fails again
    chunks = list(client.chat.completions.create(model="m", messages=MSGS, stream=True))  # type: ignore[arg-type]
    assert chunks
