from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.redis_server import RedisServer
from tests.servers import Gateway, Sim, sim_provider

with contextlib.suppress(ImportError):  # before usearch: the other order segfaults (onnxruntime 1.32, usearch 2.26)
    import onnxruntime  # noqa: F401

GatewayFactory = Callable[..., Gateway]



def require_module(name: str, why: str) -> Any:
    """Import `name`, or skip where it was left out on purpose; in CI, which installs every extra the
    tests need, a missing module fails the test instead of skipping it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{why}, and CI must run these tests")
        pytest.skip(why)

@pytest.fixture(scope="session")
def sim() -> Iterator[Sim]:
    s = Sim()
    yield s
    s.stop()


@pytest.fixture
def clean_sim(sim: Sim) -> Sim:
    """The shared simulator with its stats, prompt caches and faults cleared."""
    sim.reset()
    return sim


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[GatewayFactory]:
    started: list[Gateway] = []

    def start(config: dict[str, Any], *extra: str, env: dict[str, str] | None = None) -> Gateway:
        gw = Gateway(tmp_path, config, *extra, env=env)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


GATEWAY_KEYS = [{"key": "sk-team-a", "tenant": "team-a"}, {"key": "sk-team-b", "tenant": "team-b"}]


@pytest.fixture(scope="module")
def shared_gateway(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway with keys, an OpenAI-format pool of two accounts and an Anthropic one of two,
    shared by the tests of a module (tests that fault or tire accounts start their own)."""
    gw = Gateway(
        tmp_path_factory.mktemp("gateway"),
        {
            "keys": GATEWAY_KEYS,
            "providers": [
                sim_provider(sim.url, name="openai", keys=("sk-oa-1", "sk-oa-2")),
                sim_provider(sim.url, name="anthropic", api="anthropic", keys=("sk-an-1", "sk-an-2")),
            ],
            "models": {
                "gpt-sim": "openai",
                "gpt-alias": {"provider": "openai", "upstream_model": "gpt-sim-upstream"},
                "text-embedding-sim": "openai",
                "claude-sim": "anthropic",
                "claude-*": "anthropic",
            },
        },
    )
    yield gw
    gw.stop()


@pytest.fixture
def gateway(shared_gateway: Gateway, clean_sim: Sim) -> Gateway:
    """The module's shared gateway, with the simulator's counters cleared."""
    return shared_gateway


class Clients:
    """Official SDK clients pointed at a gateway (or any base URL), all closed at teardown."""

    def __init__(self) -> None:
        self.opened: list[openai.OpenAI | anthropic.Anthropic] = []

    def openai(self, url: str, key: str = "sk-team-a", **options: Any) -> openai.OpenAI:
        client = openai.OpenAI(api_key=key, base_url=url + "/v1", max_retries=0, timeout=options.pop("timeout", 20), **options)
        self.opened.append(client)
        return client

    def anthropic(self, url: str, key: str = "sk-team-a", **options: Any) -> anthropic.Anthropic:
        client = anthropic.Anthropic(api_key=key, base_url=url, max_retries=0, timeout=options.pop("timeout", 20), **options)
        self.opened.append(client)
        return client


@pytest.fixture
def sdk() -> Iterator[Clients]:
    made = Clients()
    yield made
    for client in made.opened:
        client.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()
