"""Real servers for tests: the simulator and the gateway as subprocesses on 127.0.0.1, port 0.

Each is started with the real command line (`python -m warmgate ...`), and its URL is read from
the line it prints once it listens. `stop()` sends SIGTERM and waits, so shutdown is exercised too.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests.http import request

_LISTENING = re.compile(r"listening on (http://\S+)")


class Proc:
    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, timeout: float = 20.0):
        self.args = args
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warmgate", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, **(env or {})},
        )
        try:
            self.url = self._wait_for_url(timeout)
        finally:
            assert self.proc.stdout is not None
            self.proc.stdout.close()  # it prints nothing after the listening line

    def _wait_for_url(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.1):
                if self.proc.poll() is not None:
                    break
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            seen += line
            m = _LISTENING.search(line.decode())
            if m:
                sel.close()
                return m.group(1)
        sel.close()
        self.kill()
        raise RuntimeError(f"{self.args} did not start: {seen.decode()} {self.stderr_text()}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._stderr.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr_text(self) -> str:
        """What the process wrote to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")


class Sim(Proc):
    """The provider simulator, with helpers for its control and stats endpoints."""

    def __init__(self, *extra: str):
        super().__init__(["sim", "--host", "127.0.0.1", "--port", "0", *extra])

    def stats(self) -> dict[str, Any]:
        return request("GET", self.url + "/sim/stats").json()  # type: ignore[no-any-return]

    def requests_by_key(self) -> dict[str, int]:
        return {a["key"]: a["requests"] for a in self.stats()["accounts"].values()}

    def reset(self) -> None:
        request("POST", self.url + "/sim/reset").ok()

    def fault(self, **fault: Any) -> None:
        request("POST", self.url + "/sim/faults", json=fault).ok()


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def sim_provider(sim_url: str, *, name: str = "sim", api: str = "openai", keys: tuple[str, ...] = ("sk-a1",),
                 **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "api": api,
        "base_url": sim_url + "/v1",
        "accounts": [{"name": f"acct-{i + 1}", "api_key": k} for i, k in enumerate(keys)],
        **extra,
    }


class Gateway(Proc):
    def __init__(self, tmp_path: Path, config: dict[str, Any], *extra: str, env: dict[str, str] | None = None):
        cfg = {"server": {"host": "127.0.0.1", "port": 0}, **config}
        self.config_path = write_config(tmp_path / f"warmgate-{time.monotonic_ns()}.yaml", cfg)
        super().__init__(["serve", "--config", str(self.config_path), *extra], env=env)
