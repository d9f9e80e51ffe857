"""Health, readiness, graceful shutdown and several workers, on real processes."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.conftest import Clients, GatewayFactory
from tests.http import request
from tests.servers import Sim, sim_provider

MSGS = [{"role": "user", "content": "tell me a long story"}]


def test_health_and_ready(clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url)], "models": {"m": "sim"}})
    assert request("GET", gw.url + "/healthz").json() == {"status": "ok"}
    assert request("GET", gw.url + "/readyz").json() == {"status": "ready"}


def test_sigterm_lets_a_running_stream_finish(sdk: Clients, clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({
        "server": {"host": "127.0.0.1", "port": 0, "shutdown_grace": 10},
        "providers": [sim_provider(clean_sim.url)],
        "models": {"m": "sim"},
    })
    client = sdk.openai(gw.url, "x")
    stream = client.chat.completions.create(
        model="m", messages=MSGS, max_tokens=40, stream=True,  # type: ignore[arg-type]
        extra_headers={"x-sim-per-token-ms": "25"},
    )
    first = next(iter(stream))  # the stream is running (40 tokens x 25 ms = ~1 s)
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(OSError):  # no longer accepting
        request("GET", gw.url + "/healthz", timeout=2)
    rest = list(stream)
    assert first.choices and rest[-1].choices[0].finish_reason in ("length", "stop")
    assert gw.proc.wait(10) == 0


def test_sigterm_grace_period_bounds_the_wait(clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({
        "server": {"host": "127.0.0.1", "port": 0, "shutdown_grace": 1},
        "providers": [sim_provider(clean_sim.url)],
        "models": {"m": "sim"},
    })
    clean_sim.fault(account="*", mode="stall")
    outcome: list[object] = []

    def stuck_call() -> None:
        try:
            outcome.append(request("POST", gw.url + "/v1/chat/completions", json={"model": "m", "messages": MSGS}).status)
        except OSError as e:
            outcome.append(e)

    t = threading.Thread(target=stuck_call, daemon=True)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    gw.proc.wait(10)
    assert time.monotonic() - t0 < 5
    t.join(5)
    assert outcome == [503]  # the stuck call was told, in its wire format, that the gateway is going away


def test_several_workers_share_the_port(sdk: Clients, clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url)], "models": {"m": "sim"}}, "--workers", "2")
    client = sdk.openai(gw.url, "x")
    for _ in range(6):
        assert client.chat.completions.create(model="m", messages=MSGS).choices  # type: ignore[arg-type]
    assert gw.stop() == 0
