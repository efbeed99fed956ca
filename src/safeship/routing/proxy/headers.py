"""What the builtin router forwards of a request and a response: the request target in origin
form, and the headers without the hop-by-hop ones (RFC 9110 section 7.6.1), plus the
X-Forwarded-* headers towards the release."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

# RFC 9110 section 7.6.1: these describe one connection and must not be forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


# Expect is answered by the router itself (100 Continue), so it is not passed on either.
_NOT_FORWARDED = HOP_BY_HOP | {"expect"}


def origin_form(target: str) -> tuple[str, str | None] | None:
    """(path and query, the authority of an absolute-form target) for a request target;
    None for a target that names no path (``*``, or the authority-form of CONNECT)."""
    if target.startswith("/"):
        return target, None
    # Absolute form (RFC 9112 section 3.2.2), as sent to a proxy: forward the path and query.
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path or "/"
    if not path.startswith("/"):
        return None
    return (f"{path}?{parts.query}" if parts.query else path), parts.netloc.rpartition("@")[2]


def upstream_headers(request: web.BaseRequest, authority: str | None) -> CIMultiDict[str]:
    incoming = request.headers
    drop = _NOT_FORWARDED
    if "Connection" in incoming:
        drop = drop | _connection_tokens(incoming.getall("Connection"))
    # Content-Length stays: the body is streamed as it came, with the length the client sent.
    headers = _copy_without(incoming, drop)
    if authority is not None:
        # RFC 9112 section 3.2.2: an absolute-form target's host replaces any Host header.
        headers["Host"] = authority
    peer = request.remote or "unknown"
    prior = incoming.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers.setdefault("X-Forwarded-Proto", "http")  # the router listens on plain HTTP
    headers.setdefault("X-Forwarded-Host", authority or request.host)
    return headers


def downstream_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    incoming = upstream.headers
    drop = HOP_BY_HOP
    if "Connection" in incoming:
        drop = drop | _connection_tokens(incoming.getall("Connection"))
    return _copy_without(incoming, drop)


def _copy_without(
    incoming: CIMultiDictProxy[str] | CIMultiDict[str], drop: frozenset[str]
) -> CIMultiDict[str]:
    """A copy of ``incoming`` without the headers named in ``drop`` (lower case)."""
    headers = CIMultiDict(incoming)  # copied in C, repeated headers and all
    for name in drop:
        if name in headers:  # most are absent, and a lookup is cheaper than a deletion
            del headers[name]  # every header of that name
    return headers


def _connection_tokens(values: list[str]) -> frozenset[str]:
    """Headers named in Connection are hop-by-hop too (RFC 9110 section 7.6.1)."""
    return frozenset(t.strip().lower() for v in values for t in v.split(",") if t.strip())
