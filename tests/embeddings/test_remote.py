"""The remote embedder against the simulator's /v1/embeddings: batching, and every failure mode
becoming EmbeddingUnavailable within the timeout."""

from __future__ import annotations

import asyncio
import socket
import time

import numpy as np
import pytest

from tests.embeddings.conftest import RemoteFactory
from tests.servers import Sim
from warmgate.embeddings.base import EmbeddingUnavailable
from warmgate.embeddings.remote import RemoteEmbedder


def requests_of(sim: Sim, key: str) -> int:
    return sim.requests_by_key().get(key, 0)


async def test_concurrent_calls_share_bounded_upstream_calls(sim: Sim, remote_factory: RemoteFactory) -> None:
    e = remote_factory(api_key="sk-embed-batch", max_batch=8, max_concurrency=2, wait=0.002)
    before = requests_of(sim, "sk-embed-batch")
    texts = [f"prompt {i}" for i in range(40)]
    rows = await asyncio.gather(*(e.embed([t]) for t in texts))
    calls = requests_of(sim, "sk-embed-batch") - before
    assert 5 <= calls < 40  # at most 8 texts per call
    single = remote_factory()
    np.testing.assert_allclose(np.vstack(rows), await single.embed(texts), atol=1e-6)


async def test_a_call_larger_than_max_batch_is_split(sim: Sim, remote_factory: RemoteFactory) -> None:
    e = remote_factory(api_key="sk-embed-split", max_batch=4)
    texts = [f"t{i}" for i in range(10)]
    m = await e.embed(texts)
    assert m.shape == (10, 1536)
    assert requests_of(sim, "sk-embed-split") == 3
    np.testing.assert_allclose(m[7], (await e.embed(["t7"]))[0], atol=1e-6)


async def test_dimensions_are_checked_or_requested(remote_factory: RemoteFactory) -> None:
    asked = remote_factory(dimensions=256, send_dimensions=True)
    assert (await asked.embed(["x"])).shape == (1, 256)
    wrong = remote_factory(dimensions=256)  # the sim answers 1536 wide when not asked
    with pytest.raises(EmbeddingUnavailable, match="1536 dimensions, expected 256"):
        await wrong.embed(["x"])


def test_name_carries_host_path_model_and_dimensions(sim: Sim) -> None:
    a = RemoteEmbedder(sim.url + "/v1", "m1", dimensions=1536)
    host = sim.url.removeprefix("http://")
    assert a.name == f"remote:{host}/v1:m1@1536"
    assert RemoteEmbedder(sim.url + "/v1", "m1", dimensions=256).name == f"remote:{host}/v1:m1@256"
    assert RemoteEmbedder(sim.url + "/v1", "m2", dimensions=1536).name != a.name


@pytest.mark.parametrize("fault", [
    {"mode": "status", "status": 500},
    {"mode": "status", "status": 429},
    {"mode": "status", "status": 401},
    {"mode": "close"},
    {"mode": "cut"},
])
async def test_upstream_failures_are_unavailable(sim: Sim, remote_factory: RemoteFactory, fault: dict[str, object]) -> None:
    key = f"sk-embed-secret-{fault['mode']}-{fault.get('status')}"
    e = remote_factory(api_key=key)
    sim.fault(account=key, count=1, **fault)
    with pytest.raises(EmbeddingUnavailable) as info:
        await e.embed(["hello"])
    assert key not in str(info.value)
    assert (await e.embed(["hello"])).shape == (1, 1536)  # the next call works again


async def test_a_stalled_upstream_times_out(sim: Sim, remote_factory: RemoteFactory) -> None:
    key = "sk-embed-stall"
    e = remote_factory(api_key=key, timeout=0.3)
    sim.fault(account=key, mode="stall", count=1)
    started = time.monotonic()
    with pytest.raises(EmbeddingUnavailable, match="no answer within"):
        await e.embed(["hello"])
    assert time.monotonic() - started < 3


async def test_a_slow_upstream_times_out(remote_factory: RemoteFactory) -> None:
    e = remote_factory(timeout=0.2, headers={"x-sim-ttft-ms": "3000"})
    with pytest.raises(EmbeddingUnavailable):
        await e.embed(["hello"])


async def test_nothing_listening_is_unavailable(remote_factory: RemoteFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    e = remote_factory(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(EmbeddingUnavailable):
        await e.embed(["hello"])


async def test_a_reply_of_the_wrong_shape_is_unavailable(sim: Sim, remote_factory: RemoteFactory) -> None:
    # {base}/embeddings on these bases answers 200 with JSON that is not an embeddings list
    for base in (sim.url + "/v1/models", sim.url + "/v1/models/x"):
        e = remote_factory(base_url=base)
        with pytest.raises(EmbeddingUnavailable, match="not an embeddings list"):
            await e.embed(["hello"])

