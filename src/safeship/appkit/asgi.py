"""The health endpoints as an ASGI app (Starlette, FastAPI, any ASGI server).

Mounted, or wrapping the app (requests outside the health paths go to it)::

    health = HealthChecks("/api/health")
    app.mount("/api/health", asgi_app(health))      # FastAPI / Starlette
    app = asgi_app(health, app)                     # or as middleware around the whole app

The path matched is the full path: ``root_path`` + ``path`` when a framework strips the mount
point from ``path``, ``path`` alone when it keeps it (newer Starlette).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from safeship.appkit.core import HealthChecks, Response

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def full_path(scope: Scope) -> str:
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and not path.startswith(root):
        return root + path
    return path


def asgi_app(health: HealthChecks, app: ASGIApp | None = None) -> ASGIApp:
    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and app is None:
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            if app is not None:
                await app(scope, receive, send)
            return
        path = full_path(scope)
        kind = health.route(path)
        if kind is None:
            if app is not None:
                await app(scope, receive, send)
                return
            await _send(health.not_found(path), send, scope)
            return
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await _send(Response(405, b'{"error": "method not allowed"}'), send, scope)
            return
        await _send(await health.respond_async(kind), send, scope)

    return application


async def _send(response: Response, send: Send, scope: Scope) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in response.headers()]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    body = b"" if scope.get("method") == "HEAD" else response.body
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Standalone, answer the server's start-up and shutdown messages."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class HealthMiddleware:
    """The endpoints as Starlette/FastAPI middleware: ``app.add_middleware(HealthMiddleware,
    health=health)`` serves them at the exact prefix (a mount would redirect ``/api/health``
    to ``/api/health/``)."""

    def __init__(self, app: ASGIApp, health: HealthChecks) -> None:
        self._app = asgi_app(health, app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)
