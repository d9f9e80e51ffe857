"""Which headers cross the gateway, in each direction. Pure.

Towards the provider: the client's headers minus hop-by-hop ones, the client's own credentials,
cookies, and anything that would let a client pick the pool's organisation or project; the
account's credentials are added by the caller. Towards the client: the provider's headers minus
hop-by-hop ones, framing (recomputed by the gateway), cookies and account identifiers.
"""

from __future__ import annotations

from warmgate.controls import VENDOR_HEADERS

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
    "proxy-authorization", "proxy-authenticate",
}

DROP_REQUEST = _HOP_BY_HOP | {
    "host", "content-length", "expect", "accept-encoding", "authorization", "x-api-key", "cookie",
    "openai-organization", "openai-project", "anthropic-workspace-id",
    "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
}
DROP_REQUEST |= {h.decode() for h in VENDOR_HEADERS}  # gateway-cache controls (Cloudflare, Helicone, VNG)
DROP_REQUEST_PREFIXES = ("x-warmgate-",)

DROP_RESPONSE = {
    *(h.encode() for h in _HOP_BY_HOP),
    b"content-length", b"content-encoding", b"set-cookie", b"server", b"date",
    b"openai-organization", b"openai-project", b"anthropic-organization-id",
}


def request_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The client's headers that are forwarded to the provider, decoded."""
    out = []
    for k, v in raw:
        name = k.decode("latin-1")
        if name in DROP_REQUEST or name.startswith(DROP_REQUEST_PREFIXES):
            continue
        out.append((name, v.decode("latin-1")))
    return out


def response_headers(raw: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    """The provider's headers that are forwarded to the client (names lower-cased)."""
    out = []
    for k, v in raw:
        name = k.lower()
        if name not in DROP_RESPONSE:
            out.append((name, v))
    return out
