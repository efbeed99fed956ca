"""The builtin router's client connections: aiohttp's low-level server with a deadline for
each request's head (``head_timeout``, against slow-header clients) besides aiohttp's
keep-alive timeout (``idle_timeout``) between requests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web


class ClientConnection(web.RequestHandler):
    """One client connection: aiohttp's handler plus a deadline for each request's head.

    The deadline runs from the connection's start, and later from the first byte after a
    response, until the router has the whole head; aiohttp's keep-alive timeout (our
    idle_timeout) closes a connection that sends nothing between requests.
    """

    __slots__ = ("_head_timeout", "_head_timer", "_in_request")

    def __init__(self, manager: web.Server, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and not self._in_request:
            self._start_head_timer()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def request_started(self) -> None:
        self._in_request = True
        self._cancel_head_timer()

    def request_finished(self) -> None:
        self._in_request = False

    def _start_head_timer(self) -> None:
        self._head_timer = self._loop.call_later(self._head_timeout, self.force_close)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None


class ProxyServer(web.Server):
    """aiohttp's low-level server (no application, no URL dispatch) with ClientConnection."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        head_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._head_timeout = head_timeout

    def __call__(self) -> web.RequestHandler:
        return ClientConnection(
            self, loop=self._loop, head_timeout=self._head_timeout, **self._kwargs
        )
