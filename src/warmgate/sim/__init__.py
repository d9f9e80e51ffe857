"""The provider simulator: a fast OpenAI- and Anthropic-compatible fake LLM provider.

Each API key is an account with its own prompt caches (OpenAI automatic prefix caching in 128-token
blocks; Anthropic explicit breakpoints), stats, and injectable faults and latency. See
``SimConfig`` for the knobs, ``run_in_thread`` / ``serve`` to embed it and ``main`` for the CLI.
"""

from warmgate.sim.app import SimApp, create_app
from warmgate.sim.config import SimConfig
from warmgate.sim.runner import SimHandle, main, run_in_thread, serve

__all__ = ["SimApp", "SimConfig", "SimHandle", "create_app", "main", "run_in_thread", "serve"]
