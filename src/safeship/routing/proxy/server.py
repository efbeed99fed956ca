"""The builtin router's public side: routing and forwarding (``connections``: the client
connections and their deadlines; ``headers``: what is forwarded each way).

Bodies stream both ways (nothing is held whole in memory), upstream connections are kept
alive in one pooled session, and client connections have a deadline for each request's head
(``head_timeout``, against slow-header clients) and for idling between requests
(``idle_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from safeship._files import write_private_json
from safeship.routing.base import Backend
from safeship.routing.proxy.balancing import HashSplit, Sticky, WeightedRoundRobin
from safeship.routing.proxy.connections import ClientConnection
from safeship.routing.proxy.headers import downstream_headers, origin_form, upstream_headers
from safeship.routing.proxy.state import (
    RELEASE_HEADER,
    Counters,
    backends_to_json,
)

log = logging.getLogger("safeship.router")

# A loopback connect is refused or accepted at once; only a hung backend with a full backlog
# makes it wait, and then the retry on another backend should not wait the full read timeout.
CONNECT_TIMEOUT_S = 5.0
# Idle upstream connections are closed before most servers close theirs (gunicorn: 2 s, Node
# and uvicorn: 5 s), so a request rarely meets a connection its release is closing at that
# moment: aiohttp then resends an idempotent request once, but a POST gets a 502. Under load a
# connection is reused within milliseconds, so a short idle life costs nothing.
UPSTREAM_KEEPALIVE_S = 1.5
# A response with a Content-Length up to this is read whole before it is passed on (one write
# instead of three); a longer or unsized one streams.
SMALL_BODY_BYTES = 64 * 1024
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _ConnectFailed(Exception):
    """The request never reached the backend, so it is safe to send it elsewhere."""


class RouterServer:
    """The routing table, its counters, and the proxy's request handler."""

    def __init__(
        self,
        state_dir: Path,
        backends: list[Backend],
        upstream_timeout: float,
        sticky: Sticky | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.upstream_timeout = upstream_timeout
        self.stopping = asyncio.Event()
        self.sticky = sticky or Sticky()
        self._set_table(backends)
        self._stats: dict[str, Counters] = {b.name: Counters() for b in backends}
        self._session: aiohttp.ClientSession | None = None
        # Logged on change only, so a dead release under load does not flood router.log.
        self._unreachable: set[str] = set()

    @property
    def backends(self) -> list[Backend]:
        return self._backends

    def counters(self) -> dict[str, Counters]:
        """The live counters per release (read, never written, by the metrics exposition)."""
        return self._stats

    def stats_json(self) -> dict[str, Any]:
        return {"backends": {name: c.to_json() for name, c in self._stats.items()}}

    async def start_session(self) -> None:
        self._session = aiohttp.ClientSession(
            # One pool for all releases, connections kept alive between requests. A killed
            # release's idle connections are closed by its kernel, so the next request to it
            # opens a new one and is refused: a connect error, safe to retry elsewhere.
            connector=aiohttp.TCPConnector(
                limit=0, keepalive_timeout=UPSTREAM_KEEPALIVE_S, use_dns_cache=True
            ),
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=min(CONNECT_TIMEOUT_S, self.upstream_timeout),
                sock_read=self.upstream_timeout,
            ),
            # Pass bytes through untouched and keep no client state between requests.
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def close_session(self) -> None:
        if self._session is not None:
            await self._session.close()

    def replace_backends(self, backends: list[Backend]) -> None:
        # Persist first: if the disk write fails, nothing changes and the caller gets an error.
        write_private_json(self.state_dir / "backends.json", backends_to_json(backends))
        self._set_table(backends)
        for b in backends:
            self._stats.setdefault(b.name, Counters())
        log.info("backends set: %s", ", ".join(f"{b.name}={b.weight}" for b in backends) or "none")

    def _set_table(self, backends: list[Backend]) -> None:
        self._backends = backends
        self._rr = WeightedRoundRobin(backends)
        self._split = HashSplit(backends)
        # The releases a sticky cookie may pin a client to: only those that get traffic.
        self._weighted = {b.name: b for b in backends if b.weight > 0}
        # Worked out once per change, not per request.
        self._origins = {b.name: b.url.rstrip("/") for b in backends}

    def set_sticky(self, sticky: Sticky) -> None:
        self.sticky = sticky
        log.info("sticky sessions: %s %s", sticky.mode, sticky.name if sticky.mode != "off" else "")

    # -- proxy --------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        connection = cast(ClientConnection, request.protocol)
        connection.request_started()
        try:
            return await self._route(request)
        finally:
            connection.request_finished()

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        target = origin_form(request.raw_path)
        if target is None:
            return web.Response(
                status=400, text="safeship router: the request target must be a path\n"
            )
        path, authority = target
        expect = request.headers.get("Expect")
        if expect is not None and request.version >= aiohttp.HttpVersion11:
            if expect.lower() != "100-continue":
                return web.Response(status=417, text="safeship router: unknown Expect\n")
            if request.body_exists:
                # Answered here, as nginx does: the body is then streamed to the release.
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                request.writer.output_size = 0
        backend, pinned = self._choose(request)
        if backend is None:
            return web.Response(status=503, text="safeship router: no backends configured\n")
        headers = upstream_headers(request, authority)
        # Streamed, not read first: a connect error happens before the first body byte is
        # taken from the client, so the same stream can still go to another release.
        body = request.content if request.body_exists else None
        try:
            return await self._forward(request, backend, path, body, headers, pinned)
        except _ConnectFailed:
            pass
        retry = self._rr.next(exclude={backend.name})
        if retry is None:
            return _bad_gateway(backend.name, f"release {backend.name} is unreachable")
        try:
            return await self._forward(request, retry, path, body, headers, pinned)
        except _ConnectFailed:
            return _bad_gateway(
                retry.name, f"releases {backend.name} and {retry.name} are unreachable"
            )

    def _choose(self, request: web.BaseRequest) -> tuple[Backend | None, str | None]:
        """The backend for ``request``, and the release its sticky cookie names (if any)."""
        sticky = self.sticky
        if sticky.mode == "cookie":
            value = request.cookies.get(sticky.name)
            pinned = unquote(value) if value else None
            backend = self._weighted.get(pinned) if pinned else None
            # A cookie naming a release without weight (rolled back, removed) is not obeyed:
            # the client is routed by the weights and its cookie replaced.
            return backend or self._rr.next(), pinned
        if sticky.mode == "header":
            key = request.headers.get(sticky.name)
            if key:
                return self._split.pick(key), None
        return self._rr.next(), None

    def _set_cookie(self, backend: Backend, pinned: str | None) -> str | None:
        """The Set-Cookie value pinning the client to ``backend``; None if it already is."""
        if self.sticky.mode != "cookie" or pinned == backend.name:
            return None
        # Percent-encoded: a release name may hold characters a cookie value may not (";,").
        value = quote(backend.name, safe="")
        return f"{self.sticky.name}={value}; Path=/; HttpOnly; SameSite=Lax"

    async def _forward(
        self,
        request: web.BaseRequest,
        backend: Backend,
        path: str,
        body: aiohttp.StreamReader | None,
        headers: CIMultiDict[str],
        pinned: str | None = None,
    ) -> web.StreamResponse:
        assert self._session is not None
        counters = self._stats.get(backend.name)
        if counters is None:
            counters = self._stats[backend.name] = Counters()
        url = URL(self._origins[backend.name] + path, encoded=True)
        started = time.perf_counter()
        counters.in_flight += 1
        try:
            try:
                upstream = await self._session.request(
                    request.method, url, headers=headers, data=body, allow_redirects=False
                )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                counters.record_connect_error()
                if backend.name not in self._unreachable:
                    self._unreachable.add(backend.name)
                    log.warning(
                        "release %s (%s) is unreachable: %s", backend.name, backend.url, exc
                    )
                raise _ConnectFailed from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                counters.record_response(502, _ms_since(started))
                return _bad_gateway(
                    backend.name, f"release {backend.name} failed: {describe_error(exc)}"
                )
            return await self._relay(request, backend, upstream, counters, started, pinned)
        finally:
            counters.in_flight -= 1

    async def _relay(
        self,
        request: web.BaseRequest,
        backend: Backend,
        upstream: aiohttp.ClientResponse,
        counters: Counters,
        started: float,
        pinned: str | None,
    ) -> web.StreamResponse:
        """Pass ``upstream``'s response on to the client as it arrives."""
        if self._unreachable and backend.name in self._unreachable:
            self._unreachable.discard(backend.name)
            log.info("release %s is reachable again", backend.name)
        status = upstream.status
        if not upstream.content.is_eof():
            _ack_now(upstream)
        try:
            headers = downstream_headers(upstream)
            headers[RELEASE_HEADER] = backend.name
            cookie = self._set_cookie(backend, pinned)
            if cookie is not None:
                # Added, not set: the release's own cookies pass through beside it.
                headers.add("Set-Cookie", cookie)
            response = web.StreamResponse(status=status, reason=upstream.reason, headers=headers)
            length = upstream.content_length
            if length is not None and length <= SMALL_BODY_BYTES:
                # Most answers are small: read whole, they go out in one write with the head.
                try:
                    body = await upstream.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = 502
                    log.warning("release %s broke off a response: %s", backend.name, exc)
                    return _bad_gateway(
                        backend.name, f"release {backend.name} failed: {describe_error(exc)}"
                    )
                await response.prepare(request)
                await response.write_eof(body)
                return response
            await response.prepare(request)
            content = upstream.content
            while True:
                try:
                    chunk = await content.readany()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    # Headers are already sent, so the client sees a cut connection;
                    # for the release's stats this is a failed request.
                    status = 502
                    log.warning("release %s broke off a response: %s", backend.name, exc)
                    if request.transport is not None:
                        request.transport.close()
                    return response
                if not chunk:
                    break
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            # Counted even when the client goes away mid-response: the release did answer.
            upstream.release()
            counters.record_response(status, _ms_since(started))


def _ack_now(upstream: aiohttp.ClientResponse) -> None:
    """Acknowledge what the release sent so far at once, not after the delayed-ACK timer.

    A release that writes its head and its body in two writes without TCP_NODELAY (Python's
    http.server, for one) holds the body back (Nagle) until its head is acknowledged; on a
    kept-alive connection Linux delays that ACK by up to 40 ms. TCP_QUICKACK sends it now.
    """
    if _TCP_QUICKACK is None or upstream.connection is None:
        return
    transport = upstream.connection.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)


def _bad_gateway(release: str, reason: str) -> web.Response:
    return web.Response(
        status=502, text=f"safeship router: {reason}\n", headers={RELEASE_HEADER: release}
    )


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
