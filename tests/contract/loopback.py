"""A loopback HTTP server for contract tests: an aiohttp app in its own thread on 127.0.0.1.

Each provider's server (railway_api, github_api, circleci_api) subclasses ``ContractServer``,
adds its routes, and checks what it receives. Fault modes apply to the next N requests (or all
of them) whatever the route:

    "500" / "502" / "503"  a server error with a JSON body
    "429"                  rate limited, Retry-After: 1 and X-RateLimit-Remaining: 0
    "html"                 503 with an HTML throttle page (what a CDN in front answers)
    "hang"                 no answer for ``hang_seconds`` (the client's timeout must fire)
    "401" / "403"          the credentials are refused

``drop_after(match)`` is the ambiguous failure: the next request that ``match`` accepts is
carried out (its handler runs, so a mutation takes effect), then the connection is closed
before any answer is written, as when a connection drops after the server received the
request. The client sees a dropped connection and cannot know whether the request was applied.
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
        self._faults: list[tuple[str, Callable[[Received], bool] | None]] = []
        self._sticky_fault: str | None = None
        self._drops: list[Callable[[Received], bool]] = []
        self.dropped: list[Received] = []  # requests carried out, then left without an answer
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    # -- faults ----------------------------------------------------------------------------

    def fail(
        self,
        mode: str,
        times: int | None = 1,
        match: Callable[[Received], bool] | None = None,
    ) -> None:
        """Answer the next ``times`` requests (None: every request) with fault ``mode``; with
        ``match``, only requests it accepts (e.g. one mutation) count."""
        assert mode in FAULTS, mode
        with self._lock:
            if times is None:
                assert match is None, "a sticky fault applies to every request"
                self._sticky_fault = mode
            else:
                self._faults.extend([(mode, match)] * times)

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()
            self._sticky_fault = None
            self._drops.clear()

    def drop_after(self, match: Callable[[Received], bool], times: int = 1) -> None:
        """Carry out the next ``times`` requests ``match`` accepts, then drop their connection
        without answering."""
        with self._lock:
            self._drops.extend([match] * times)

    def _take_drop(self, received: Received) -> bool:
        with self._lock:
            for index, match in enumerate(self._drops):
                if match(received):
                    del self._drops[index]
                    return True
        return False

    def _next_fault(self, received: Received) -> str | None:
        with self._lock:
            for index, (mode, match) in enumerate(self._faults):
                if match is None or match(received):
                    del self._faults[index]
                    return mode
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
        received = Received(
            request.method, request.path, dict(request.headers), body, dict(request.query)
        )
        self.received.append(received)
        if self._take_drop(received):
            await handler(request)  # carried out...
            self.dropped.append(received)
            assert request.transport is not None
            request.transport.abort()  # ...and the connection drops before the answer
            return web.Response(status=599)  # never reaches the client
        fault = self._next_fault(received)
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
