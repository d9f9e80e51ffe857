"""The pooled HTTP client to providers (aiohttp: measured 5-12x cheaper per request than httpx here).

`Upstream.send` returns the provider's response with its head read and its body not yet read, or
raises `UpstreamFailure` (connection failed, or timed out) for the caller to retry elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp

from warmgate.config import Timeouts


class UpstreamFailure(Exception):
    """The provider could not be reached or did not answer in time (`timeout` tells which)."""

    def __init__(self, message: str, *, timeout: bool):
        super().__init__(message)
        self.timeout = timeout


class Upstream:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _timeout(self, t: Timeouts) -> aiohttp.ClientTimeout:
        ct = self._timeouts.get(t)
        if ct is None:
            ct = self._timeouts[t] = aiohttp.ClientTimeout(total=None, sock_connect=t.connect, connect=t.connect, sock_read=t.read)
        return ct

    async def send(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        timeouts: Timeouts,
    ) -> aiohttp.ClientResponse:
        assert self._session is not None, "Upstream.start() was not awaited"
        try:
            return await self._session.request(
                method, url, headers=list(headers), data=body, timeout=self._timeout(timeouts), allow_redirects=False
            )
        except TimeoutError as e:
            raise UpstreamFailure(f"timed out after {timeouts.read:g}s waiting for the provider", timeout=True) from e
        except aiohttp.ClientError as e:
            raise UpstreamFailure(f"cannot reach the provider: {type(e).__name__}", timeout=False) from e
