"""Helpers shared by the simulator tests (a uniquely named module, imported by the test files)."""

from __future__ import annotations


class FakeClock:
    """A callable clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def words(n: int, tag: str = "w") -> str:
    """A text of exactly ``n`` simulator tokens."""
    return " ".join(f"{tag}{i}" for i in range(n))


def http(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A blocking stdlib HTTP request to the simulator: (status, lower-cased headers, body)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
