"""safeship serve: the dashboard (docs/dashboard.md) under uvicorn, until SIGINT/SIGTERM.

Bound to loopback by default; another address is refused with one line unless sign-in is
configured (``dashboard.security.bind_problem``). uvicorn itself stops gracefully on SIGINT and
SIGTERM: open requests finish, the live streams end, the background jobs stop.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

from safeship.cli.common import console, err_console, load


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, no such address), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def run(config: Path | None, host: str | None, port: int | None, jobs: bool) -> int:
    loaded = load(config)
    settings = loaded.config.serve
    host = host or settings.host
    port = port or settings.port
    from safeship.dashboard.security import bind_problem

    problem = bind_problem(host, loaded)
    if problem is None:
        problem = _cannot_listen(host, port)
    if problem is not None:
        err_console.print(problem, markup=False, soft_wrap=True)
        return 2
    import uvicorn

    from safeship.dashboard import create_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn's own, less the signal raised again after the graceful shutdown: a stop
            # asked for (Ctrl-C, SIGTERM from a service manager) ends serve with exit 0.
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    app = create_app(loaded, jobs=jobs)
    app.state.host = host  # off loopback, reading needs a signed-in viewer (security.py)
    server = Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    console.print(
        f"safeship dashboard for {loaded.path} on {_url(host, port)} (Ctrl-C stops it)",
        markup=False,
        soft_wrap=True,
    )
    server.run()
    return 0
