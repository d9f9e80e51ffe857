"""``python -m warmgate sim --port 0`` prints its listening line, serves, and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import orjson
from sim_helpers import http


def test_cli_prints_listening_line_and_serves() -> None:
    argv = [sys.executable, "-m", "warmgate", "sim", "--port", "0", "--output-tokens", "3"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            line = proc.stdout.readline().strip()
            assert line.startswith("warmgate sim listening on http://127.0.0.1:")
            url = line.rsplit(" ", 1)[1]
            body = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
            status, headers, data = http(
                url, "POST", "/v1/chat/completions", body, {"authorization": "Bearer k"}
            )
            assert status == 200 and headers["x-sim-account"]
            assert orjson.loads(data)["usage"]["completion_tokens"] == 3
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert proc.stderr.read() == ""
        finally:
            if proc.poll() is None:
                proc.kill()
