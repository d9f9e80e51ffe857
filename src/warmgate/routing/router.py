"""Calling the provider over an account pool: pick an account, send, and on a 429, a 5xx, a timeout
or a connection failure try another account of the pool before the client hears of it. The
failing account cools down (a 429's `retry-after` is honoured)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import aiohttp

from warmgate.config import Config
from warmgate.errors import GatewayError, UpstreamTimeout, UpstreamUnavailable
from warmgate.exchange import Reply, Request
from warmgate.routing.models import Resolved
from warmgate.routing.pool import AccountState, Pool
from warmgate.upstream.client import Upstream, UpstreamFailure
from warmgate.upstream.headers import request_headers, response_headers

RETRYABLE = frozenset({429, 500, 502, 503, 504, 520, 522, 524, 529})
COOLDOWN_429 = 5.0
COOLDOWN_5XX = 2.0
COOLDOWN_UNREACHABLE = 5.0


class Router:
    def __init__(self, config: Config, upstream: Upstream):
        self.upstream = upstream
        self.pools = {p.name: Pool(p) for p in config.providers}

    async def call(self, req: Request, resolved: Resolved, body: bytes) -> Reply:
        """The provider's reply (success, or its own error when every tried account failed);
        raises UpstreamUnavailable / UpstreamTimeout when no account answered at all."""
        provider = resolved.provider
        pool = self.pools[provider.name]
        headers = request_headers(req.headers)
        headers.extend(provider.headers.items())
        if provider.api == "anthropic" and not any(k == "anthropic-version" for k, _ in headers):
            headers.append(("anthropic-version", "2023-06-01"))
        tail = req.path[3:] + ("?" + req.query.decode("latin-1") if req.query else "")
        send_body = body if req.method not in ("GET", "HEAD") or body else None

        tried: list[AccountState] = []
        last_reply: Reply | None = None
        last_failure: UpstreamFailure | None = None
        while len(tried) < provider.retry_attempts:
            acct = pool.pick(tried)
            if acct is None:
                break
            tried.append(acct)
            try:
                reply = await self._attempt(req, acct, tail, [*headers, acct.auth_header], send_body)
            except UpstreamFailure as f:
                pool.cool_down(acct, COOLDOWN_UNREACHABLE)
                last_failure = f
                continue
            if reply.status in RETRYABLE:
                pool.cool_down(acct, (reply.retry_after or COOLDOWN_429) if reply.status == 429 else COOLDOWN_5XX)
                last_reply = reply
                continue
            reply.attempts = [a.name for a in tried]
            return reply
        if last_reply is not None:  # the provider's own error, unchanged
            last_reply.attempts = [a.name for a in tried]
            return last_reply
        raise _failure_error(last_failure, len(tried))

    async def _attempt(
        self, req: Request, acct: AccountState, tail: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Reply:
        """One call to one account. The account counts as in flight until the reply's body is read:
        here for whole bodies, by the `StreamBody` for streams."""
        acct.requests += 1
        acct.in_flight += 1
        handed_off = False
        try:
            resp = await self.upstream.send(req.method, acct.base_url + tail, headers, body, acct.timeouts)
            out_headers = response_headers(resp.raw_headers)
            streaming = resp.content_type == "text/event-stream" or not req.endpoint.known
            if streaming and resp.status < 400:
                handed_off = True
                return Reply(resp.status, out_headers, stream=StreamBody(resp, acct), account=acct.name)
            try:
                data = await resp.read()
            except (TimeoutError, aiohttp.ClientError) as e:
                raise UpstreamFailure(
                    f"the provider's answer broke off: {type(e).__name__}", timeout=isinstance(e, TimeoutError)
                ) from e
            finally:
                resp.release()
            return Reply(resp.status, out_headers, body=data, account=acct.name, retry_after=_retry_after(resp))
        finally:
            if not handed_off:
                acct.in_flight -= 1

    def ready(self) -> bool:
        return all(pool.usable() for pool in self.pools.values())


class StreamBody:
    """The provider's body, chunk by chunk as it arrives. `aclose` (always called by the edge,
    also when the client left early) closes the upstream call and ends the account's in-flight count."""

    __slots__ = ("_acct", "_chunks", "_closed", "_resp")

    def __init__(self, resp: aiohttp.ClientResponse, acct: AccountState):
        self._resp = resp
        self._acct = acct
        self._chunks = resp.content.iter_any()
        self._closed = False

    def __aiter__(self) -> StreamBody:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except (TimeoutError, aiohttp.ClientError) as e:
            raise UpstreamFailure(
                f"the provider's stream broke off: {type(e).__name__}", timeout=isinstance(e, TimeoutError)
            ) from e

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._resp.close()
            self._acct.in_flight -= 1


def _retry_after(resp: aiohttp.ClientResponse) -> float:
    """Seconds the provider asked us to wait: `retry-after-ms` (OpenAI), else `retry-after`
    (seconds or an HTTP date), else a default."""
    ms = resp.headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = resp.headers.get("retry-after")
    if value is not None:
        try:
            return float(value)
        except ValueError:
            try:
                return parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                pass
    return COOLDOWN_429


def _failure_error(failure: UpstreamFailure | None, tried: int) -> GatewayError:
    if failure is None:
        return UpstreamUnavailable("no account of the provider is available")
    where = f" (tried {tried} account{'s' if tried != 1 else ''})"
    if failure.timeout:
        return UpstreamTimeout(str(failure) + where)
    return UpstreamUnavailable(str(failure) + where)
