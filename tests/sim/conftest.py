"""Fixtures for the simulator tests: a shared simulator, a fake clock and unique API keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sim_helpers import FakeClock

from warmgate.sim import SimConfig, SimHandle, run_in_thread


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    handle = run_in_thread(SimConfig())
    yield handle
    handle.stop()


@pytest.fixture
def key() -> str:
    """A fresh API key, i.e. a fresh account with cold caches."""
    return "sk-test-" + uuid.uuid4().hex[:12]
