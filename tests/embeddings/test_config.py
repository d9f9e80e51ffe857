"""Embedder settings and the factory."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from tests.servers import Sim, sim_provider
from warmgate.config import Provider
from warmgate.embeddings.config import EmbedderConfig, OfflineEmbedderConfig, RemoteEmbedderConfig
from warmgate.embeddings.factory import EmbedderSetupError, build_embedder
from warmgate.embeddings.remote import RemoteEmbedder

ADAPTER: TypeAdapter[OfflineEmbedderConfig | RemoteEmbedderConfig] = TypeAdapter(EmbedderConfig)


def test_kind_selects_the_model() -> None:
    assert isinstance(ADAPTER.validate_python({"kind": "offline"}), OfflineEmbedderConfig)
    remote = ADAPTER.validate_python({"kind": "remote", "dimensions": 8, "model": "m", "base_url": "http://h:1/v1/", "api_key": "sk-secret-1"})
    assert isinstance(remote, RemoteEmbedderConfig)
    assert remote.base_url == "http://h:1/v1"
    assert "sk-secret-1" not in repr(remote)


@pytest.mark.parametrize("doc", [
    {"kind": "nope"},
    {"kind": "offline", "max_tokens": 4},
    {"kind": "offline", "unknown": 1},
    {"kind": "remote", "dimensions": 8, "model": "m"},
    {"kind": "remote", "model": "m", "base_url": "http://x"},
    {"kind": "remote", "dimensions": 8, "model": "m", "base_url": "ftp://x"},
    {"kind": "remote", "dimensions": 8, "model": "m", "base_url": "http://x", "provider": "p"},
    {"kind": "remote", "dimensions": 8, "model": "m", "provider": "p", "api_key": "k"},
    {"kind": "remote", "dimensions": 8, "model": "m", "base_url": "http://x", "account": "a"},
    {"kind": "remote", "dimensions": 8, "model": "m", "base_url": "http://x", "timeout": 0},
])
def test_bad_settings_are_rejected(doc: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(doc)


async def test_a_gateway_provider_serves_as_remote_embedder(sim: Sim) -> None:
    provider = Provider.model_validate(sim_provider(sim.url, name="oa", keys=("sk-emb-p1", "sk-emb-p2")))
    cfg = ADAPTER.validate_python({"kind": "remote", "model": "text-embedding-sim", "dimensions": 1536, "provider": "oa", "account": "acct-2"})
    e = build_embedder(cfg, [provider])
    assert isinstance(e, RemoteEmbedder)
    before = sim.requests_by_key()
    assert (await e.embed(["hello"])).shape == (1, 1536)
    after = sim.requests_by_key()
    assert after.get("sk-emb-p2", 0) == before.get("sk-emb-p2", 0) + 1
    assert after.get("sk-emb-p1", 0) == before.get("sk-emb-p1", 0)
    await e.close()


def test_unknown_provider_or_account_is_a_setup_error(sim: Sim) -> None:
    provider = Provider.model_validate(sim_provider(sim.url, name="oa"))
    with pytest.raises(EmbedderSetupError, match="unknown provider"):
        build_embedder(ADAPTER.validate_python({"kind": "remote", "dimensions": 8, "model": "m", "provider": "zz"}), [provider])
    with pytest.raises(EmbedderSetupError, match="no account"):
        build_embedder(
            ADAPTER.validate_python({"kind": "remote", "dimensions": 8, "model": "m", "provider": "oa", "account": "zz"}), [provider]
        )
