"""`warmgate cache-config ...` and `warmgate config effective` against a running gateway."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from tests.manage.helpers import ADMIN, gateway_config
from tests.servers import Gateway, Sim
from warmgate.cli import main


class Ran(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def warmgate(url: str, *args: str, key: str | None = ADMIN) -> Ran:
    """The CLI in-process (`warmgate.cli.main`), talking HTTP to the real gateway."""
    options = ["--url", url, *(["--admin-key", key] if key is not None else [])]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, *options])
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def gw(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = Gateway(tmp_path_factory.mktemp("cli"), gateway_config(sim.url))
    yield g
    g.stop()


def test_entry_point(gw: Gateway) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WARMGATE_URL", "WARMGATE_ADMIN_KEY")}
    done = subprocess.run([sys.executable, "-m", "warmgate", "cache-config", "list"], capture_output=True, text=True,
                          env={**env, "WARMGATE_URL": gw.url, "WARMGATE_ADMIN_KEY": ADMIN}, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith("NAME"), done.stderr


def test_cache_config_commands(gw: Gateway) -> None:
    made = warmgate(gw.url, "cache-config", "create", "cli-config", "--ttl", "300", "--types", "exact,semantic",
                    "--threshold", "0.92", "--description", "from the CLI", "--ignore", "no-store")
    assert made.returncode == 0, made.stderr
    assert "cli-config" in made.stdout and "exact+semantic" in made.stdout
    assert warmgate(gw.url, "cache-config", "assign", "cli-config", "-g", "support", "-m", "gpt-sim").returncode == 0
    listed = warmgate(gw.url, "cache-config", "list")
    header, rule, row = listed.stdout.splitlines()[:3]
    assert header.split()[:4] == ["NAME", "TYPES", "TTL", "THRESHOLD"] and set(rule) <= {"-", " "}
    assert row.split()[:4] == ["cli-config", "exact+semantic", "300", "0.92"]
    assert "support: gpt-sim" in row and "not no-store" in row
    view = warmgate(gw.url, "cache-config", "gateways", "support").stdout.splitlines()
    assert view[0].split() == ["GATEWAY", "PATH", "FROM", "CONFIGURATION", "TYPES", "TTL", "THRESHOLD", "MODELS"]
    assert view[2].split() == ["support", "/g/support/v1", "config", "cli-config", "exact+semantic", "300", "0.92",
                               "gpt-sim"]
    edited = warmgate(gw.url, "cache-config", "edit", "cli-config", "--ttl", "45")
    assert edited.returncode == 0 and " 45 " in edited.stdout
    eff = warmgate(gw.url, "config", "effective", "--gateway", "support", "--model", "gpt-sim")
    assert eff.returncode == 0, eff.stderr
    lines = dict(line.split(None, 1) for line in eff.stdout.splitlines()[2:] if not line.startswith("client"))
    assert lines["configuration"].strip() == "cli-config" and lines["ttl"].strip() == "45"
    busy = warmgate(gw.url, "cache-config", "delete", "cli-config")
    assert busy.returncode == 1 and "409" in busy.stderr and "detach" in busy.stderr
    assert warmgate(gw.url, "cache-config", "detach", "cli-config", "-g", "support").returncode == 0
    assert warmgate(gw.url, "cache-config", "delete", "cli-config").returncode == 0
    denied = warmgate(gw.url, "cache-config", "list", key=None)
    assert denied.returncode == 1 and "401" in denied.stderr
    bad = warmgate(gw.url, "cache-config", "create", "x", "--ttl", "0")
    assert bad.returncode == 1 and "422" in bad.stderr
