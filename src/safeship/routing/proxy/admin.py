"""The builtin router's admin API, on a Unix socket only its owner can reach.

The socket lives in ``STATE_DIR/admin/`` (0700) and is itself 0600: the file system is the
access check, so no token is needed and no local user but the owner (and root) can read the
weights, change them, or stop the router. Routes (JSON in and out):

  GET  /admin/backends   the backends and weights in force
  PUT  /admin/backends   replace them ({"backends": [{"name", "url", "weight"}, ...]})
  GET  /admin/stats      counters per backend, with each one's requests in flight
  GET  /admin/sticky     sticky-session settings; PUT replaces them
  GET  /admin/health     {"status": "ok", "pid": PID}
  POST /admin/shutdown   graceful stop
  GET  /metrics          the Prometheus exposition (safeship.metrics.router)

Prometheus cannot scrape a Unix socket: with ``metrics_port`` set the router also listens on
127.0.0.1:PORT for ``GET /metrics`` alone (:func:`metrics_app`). That listener is open to local
users, read-only, and carries no control route: counts and weights per release are what any
local user can already learn by sending requests through the proxy port. Changing weights,
sticky settings or stopping the router stays on the owner's socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from aiohttp import web

from safeship._files import private_dir
from safeship.routing.proxy.balancing import Sticky
from safeship.routing.proxy.server import RouterServer, describe_error
from safeship.routing.proxy.state import (
    backends_to_json,
    parse_backends,
    reachable_socket_path,
)


def admin_app(server: RouterServer, environment: str = "default") -> web.Application:
    api = _AdminApi(server, environment)
    app = web.Application()
    app.router.add_get("/admin/backends", api.get_backends)
    app.router.add_put("/admin/backends", api.put_backends)
    app.router.add_get("/admin/stats", api.get_stats)
    app.router.add_get("/admin/sticky", api.get_sticky)
    app.router.add_put("/admin/sticky", api.put_sticky)
    app.router.add_get("/admin/health", api.health)
    app.router.add_post("/admin/shutdown", api.shutdown)
    app.router.add_get("/metrics", api.metrics)
    return app


def metrics_app(server: RouterServer, environment: str) -> web.Application:
    """The read-only loopback listener's app: ``GET /metrics`` and nothing else."""
    app = web.Application()
    app.router.add_get("/metrics", _AdminApi(server, environment).metrics)
    return app


def bind_admin_socket(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``, 0600 in a 0700 directory (a stale one replaced)."""
    private_dir(path.parent)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with reachable_socket_path(path) as address:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)  # left by a router that was killed
            bind_umask = os.umask(0o177)  # never a moment with a wider mode than 0600
            try:
                sock.bind(address)
            finally:
                os.umask(bind_umask)
            os.chmod(address, 0o600)
        sock.listen(64)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def remove_admin_socket(path: Path) -> None:
    with contextlib.suppress(OSError), reachable_socket_path(path) as address:
        os.unlink(address)


class _AdminApi:
    def __init__(self, server: RouterServer, environment: str) -> None:
        self.server = server
        self.environment = environment

    async def get_backends(self, request: web.Request) -> web.Response:
        return web.json_response(backends_to_json(self.server.backends))

    async def put_backends(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not valid JSON"}, status=400)
        try:
            backends = parse_backends(data)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        try:
            self.server.replace_backends(backends)
        except OSError as exc:
            return web.json_response({"error": f"cannot save backends: {exc}"}, status=500)
        return web.json_response(backends_to_json(backends))

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.server.stats_json())

    async def get_sticky(self, request: web.Request) -> web.Response:
        return web.json_response(self.server.sticky.to_json())

    async def put_sticky(self, request: web.Request) -> web.Response:
        try:
            sticky = Sticky.from_json(await request.json())
        except ValueError as exc:  # also a body that is not JSON
            return web.json_response({"error": describe_error(exc)}, status=400)
        self.server.set_sticky(sticky)
        return web.json_response(sticky.to_json())

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "pid": os.getpid()})

    async def metrics(self, request: web.Request) -> web.Response:
        from safeship.metrics.router import CONTENT_TYPE, router_exposition

        # Written here, on the event loop, from the live counters: one consistent reading.
        body = router_exposition(self.environment, self.server.backends, self.server.counters())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def shutdown(self, request: web.Request) -> web.Response:
        self.server.stopping.set()
        return web.json_response({"status": "stopping", "pid": os.getpid()})
