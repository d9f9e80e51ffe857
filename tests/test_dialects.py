from __future__ import annotations

import pytest

from warmgate.dialects import (
    ANTHROPIC_PASSTHROUGH,
    CHAT,
    COUNT_TOKENS,
    EMBEDDINGS,
    MESSAGES,
    PASSTHROUGH,
    RESPONSES,
    endpoint_for,
)
from warmgate.errors import BadRequest


def test_routes() -> None:
    assert endpoint_for("POST", "/v1/chat/completions") is CHAT
    assert endpoint_for("POST", "/v1/responses") is RESPONSES
    assert endpoint_for("POST", "/v1/embeddings") is EMBEDDINGS
    assert endpoint_for("POST", "/v1/messages") is MESSAGES
    assert endpoint_for("POST", "/v1/messages/count_tokens") is COUNT_TOKENS
    assert endpoint_for("GET", "/v1/messages/batches") is ANTHROPIC_PASSTHROUGH
    assert endpoint_for("GET", "/v1/chat/completions") is PASSTHROUGH  # stored completions listing
    assert endpoint_for("POST", "/v1/images/generations") is PASSTHROUGH


def test_facts() -> None:
    f = CHAT.facts({"model": "m", "messages": [], "stream": True, "anything": {"else": 1}})
    assert (f.model, f.stream) == ("m", True)
    assert RESPONSES.facts({"model": "m", "input": [{"role": "user", "content": "x"}]}).stream is False
    assert RESPONSES.facts({"model": "m", "previous_response_id": "resp_1"}).model == "m"
    assert MESSAGES.facts({"model": "c", "messages": [{"role": "user", "content": "x"}], "stream": None}).stream is False
    assert PASSTHROUGH.facts({"model": 3}).model is None
    assert PASSTHROUGH.facts({"model": "dall-e", "prompt": "p"}).model == "dall-e"


@pytest.mark.parametrize(
    ("endpoint", "body", "param"),
    [
        (CHAT, {"messages": []}, "model"),
        (CHAT, {"model": ["m"], "messages": []}, "model"),
        (CHAT, {"model": "m", "messages": {}}, "messages"),
        (CHAT, {"model": "m", "messages": [1]}, "messages[0]"),
        (CHAT, {"model": "m", "messages": [], "stream": "true"}, "stream"),
        (RESPONSES, {"model": "m", "input": 1.5}, "input"),
        (EMBEDDINGS, {"model": "m"}, "input"),
        (MESSAGES, {"model": "m"}, "messages"),
        (COUNT_TOKENS, {"model": "m", "messages": None}, "messages"),
    ],
)
def test_wrong_types_name_the_parameter(endpoint, body, param) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadRequest) as info:
        endpoint.facts(body)
    assert info.value.param == param
