"""A loopback HTTP server for contract tests: an aiohttp app in its own thread on 127.0.0.1.

Each provider's server (railway_api, github_api, circleci_api) subclasses ``ContractServer``,
adds its routes, and checks what it receives. Fault modes apply to the next N requests (or all
of them) whatever the route:

    "500" / "502" / "503"  a server error with a JSON body
    "429"                  rate limited, Retry-After: 1 and X-RateLimit-Remaining: 0
    "html"                 503 with an HTML throttle page (what a CDN in front answers)
    "hang"                 no answer for ``hang_seconds`` (the client's timeout must fire)
    "401" / "403"          the credentials are refused
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from safeship._processes import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

THROTTLE_PAGE = (
    "<!DOCTYPE html><html><head><title>429 Too Many Requests</title></head>"
    "<body><h1>Slow down</h1><p>You are being rate limited.</p></body></html>"
)
FAULTS = ("500", "502", "503", "429", "html", "hang", "401", "403")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)


class ContractServer:
    """Starts on ``start()``; ``url`` is its base URL. Subclasses add routes in ``routes()``."""

    hang_seconds = 5.0

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: list[Received] = []
        self._faults: list[str] = []
        self._sticky_fault: str | None = None
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    # -- faults ----------------------------------------------------------------------------

    def fail(self, mode: str, times: int | None = 1) -> None:
        """Answer the next ``times`` requests (None: every request) with fault ``mode``."""
        assert mode in FAULTS, mode
        with self._lock:
            if times is None:
                self._sticky_fault = mode
            else:
                self._faults.extend([mode] * times)

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()
            self._sticky_fault = None

    def _next_fault(self) -> str | None:
        with self._lock:
            if self._faults:
                return self._faults.pop(0)
            return self._sticky_fault

    @staticmethod
    def _fault_response(mode: str) -> web.Response:
        if mode == "429":
            return web.json_response(
                {"message": "rate limited"},
                status=429,
                headers={"Retry-After": "1", "X-RateLimit-Remaining": "0"},
            )
        if mode == "html":
            return web.Response(text=THROTTLE_PAGE, status=503, content_type="text/html")
        if mode in ("401", "403"):
            return web.json_response({"message": "Bad credentials"}, status=int(mode))
        return web.json_response({"message": "internal error"}, status=int(mode))

    # -- requests --------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        raw = await request.read()
        if raw:
            try:
                body = await request.json()
            except ValueError:
                body = raw.decode(errors="replace")
        self.received.append(
            Received(request.method, request.path, dict(request.headers), body, dict(request.query))
        )
        fault = self._next_fault()
        if fault == "hang":
            await asyncio.sleep(self.hang_seconds)
            return web.json_response({"message": "too late"}, status=504)
        if fault is not None:
            return self._fault_response(fault)
        return await handler(request)

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        self.routes(app)
        self._thread.start()

        async def setup() -> web.AppRunner:
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            return runner

        self._runner = asyncio.run_coroutine_threadsafe(setup(), self._loop).result(5)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def calls(self, path_part: str = "") -> list[Received]:
        return [r for r in self.received if path_part in r.path]


def error(status: int, message: str) -> web.Response:
    """A 4xx answer for a malformed request, in GitHub's and CircleCI's shape."""
    return web.json_response({"message": message}, status=status)
