"""Running the simulator: the ``warmgate sim`` CLI, a background-thread handle and an async context.

All three bind the listening socket themselves (so port 0 works and the real port is known before
the first request) and serve the raw ASGI app with uvicorn (httptools, uvloop when available,
access log off, log level warning).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any

import uvicorn

from warmgate.sim.app import SimApp, create_app
from warmgate.sim.config import SimConfig


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvloop is not available on Windows
        return None
    return uvloop.new_event_loop


def _run(coro: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(coro)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: SimApp) -> _Server:
    config = uvicorn.Config(
        app,
        loop="uvloop" if _loop_factory() else "asyncio",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=max(1, round(app.config.shutdown_timeout)),
    )
    return _Server(config)


@dataclass
class SimHandle:
    """A running simulator: ``url`` (no ``/v1``), the ``app`` (its state) and ``stop()``."""

    url: str
    app: SimApp
    _server: _Server
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread (no-op for the async form)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


def run_in_thread(config: SimConfig | None = None, timeout: float = 10.0) -> SimHandle:
    """Start the simulator on its own event loop in a daemon thread; returns once it accepts connections."""
    app = create_app(config)
    sock = _bind(app.config.host, app.config.port)
    server = _server(app)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            _run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the starting thread below
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=target, name="warmgate-sim", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if server.started or not thread.is_alive():
            break
        started.wait(0.005)
    if not server.started:
        server.should_exit = True
        raise RuntimeError(f"simulator did not start: {errors[0] if errors else 'timeout'}")
    return SimHandle(_url(sock), app, server, thread)


@contextlib.asynccontextmanager
async def serve(config: SimConfig | None = None) -> AsyncIterator[SimHandle]:
    """``async with serve(cfg) as sim:`` runs the simulator on the current event loop."""
    app = create_app(config)
    sock = _bind(app.config.host, app.config.port)
    server = _server(app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("simulator exited before starting")
            await asyncio.sleep(0.002)
        yield SimHandle(_url(sock), app, server)
    finally:
        server.should_exit = True
        await task
        sock.close()


def build_parser() -> argparse.ArgumentParser:
    d = SimConfig()
    p = argparse.ArgumentParser(
        prog="warmgate sim", description="Run the OpenAI- and Anthropic-compatible provider simulator."
    )
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port, help="0 picks a free port (default)")
    p.add_argument(
        "--cache-ttl", type=float, default=d.cache_ttl, help="idle TTL of prompt-cache entries (s)"
    )
    p.add_argument("--cache-capacity-tokens", type=int, default=d.cache_capacity_tokens)
    p.add_argument("--openai-min-cache-tokens", type=int, default=d.openai_min_cache_tokens)
    p.add_argument("--openai-block", type=int, default=d.openai_block)
    p.add_argument("--anthropic-min-cache-tokens", type=int, default=d.anthropic_min_cache_tokens)
    p.add_argument("--ttft-base-ms", type=float, default=d.ttft_base_ms)
    p.add_argument(
        "--ttft-per-1k-ms",
        type=float,
        default=d.ttft_per_1k_uncached_ms,
        help="extra time to first token per 1000 uncached prompt tokens",
    )
    p.add_argument("--per-token-ms", type=float, default=d.per_token_ms)
    p.add_argument("--output-tokens", type=int, default=d.output_tokens)
    p.add_argument("--seed", type=int, default=d.seed)
    return p


def config_from_args(argv: list[str]) -> SimConfig:
    a = build_parser().parse_args(argv)
    return SimConfig(
        host=a.host,
        port=a.port,
        cache_ttl=a.cache_ttl,
        cache_capacity_tokens=a.cache_capacity_tokens,
        openai_min_cache_tokens=a.openai_min_cache_tokens,
        openai_block=a.openai_block,
        anthropic_min_cache_tokens=a.anthropic_min_cache_tokens,
        ttft_base_ms=a.ttft_base_ms,
        ttft_per_1k_uncached_ms=a.ttft_per_1k_ms,
        per_token_ms=a.per_token_ms,
        output_tokens=a.output_tokens,
        seed=a.seed,
    )


def main(argv: list[str] | None = None) -> int:
    """``warmgate sim``: serve until SIGINT/SIGTERM; prints one ``listening on`` line when ready."""
    config = config_from_args(sys.argv[1:] if argv is None else argv)
    app = create_app(config)
    sock = _bind(config.host, config.port)
    server = _server(app)

    async def run() -> None:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows
                loop.add_signal_handler(sig, on_signal)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if server.started:
            print(f"warmgate sim listening on {_url(sock)}", flush=True)
        await task

    try:
        _run(run())
    finally:
        sock.close()
    return 0 if server.started else 1
