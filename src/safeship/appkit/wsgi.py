"""The health endpoints as a WSGI app (Flask, Django, any WSGI server).

Standalone, or wrapping the app's own WSGI callable (requests outside the health paths go to
it)::

    health = HealthChecks("/api/health")
    app.wsgi_app = wsgi_app(health, app.wsgi_app)          # Flask

The path matched is SCRIPT_NAME + PATH_INFO, so it also works mounted under a prefix (e.g.
werkzeug's DispatcherMiddleware with ``{"/api/health": wsgi_app(health)}``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from safeship.appkit.core import HealthChecks, Response

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def wsgi_app(health: HealthChecks, app: WSGIApp | None = None) -> WSGIApp:
    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        kind = health.route(path)
        if kind is None:
            if app is not None:
                return app(environ, start_response)
            return _send(health.not_found(path), start_response, environ)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            response = Response(405, b'{"error": "method not allowed"}')
        else:
            response = health.respond_sync(kind)
        return _send(response, start_response, environ)

    return application


def _send(
    response: Response, start_response: StartResponse, environ: dict[str, Any]
) -> list[bytes]:
    reason = _REASONS.get(response.status, "")
    start_response(f"{response.status} {reason}".strip(), response.headers())
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [response.body]
