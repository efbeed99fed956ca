"""The builtin router process: arguments, listeners, router.json, and a graceful stop."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from safeship import _processes
from safeship._files import private_dir, write_private_json
from safeship.routing.base import STICKY_MODES, Backend, check_token
from safeship.routing.proxy.admin import (
    admin_app,
    bind_admin_socket,
    metrics_app,
    remove_admin_socket,
)
from safeship.routing.proxy.balancing import Sticky
from safeship.routing.proxy.connections import ProxyServer
from safeship.routing.proxy.server import RouterServer
from safeship.routing.proxy.state import admin_socket_path, load_backends

log = logging.getLogger("safeship.router")

EXIT_BAD_STATE = 2
EXIT_PORT_IN_USE = 3


class _StartError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


async def serve(args: argparse.Namespace, backends: list[Backend]) -> int:
    state_dir: Path = args.state_dir
    server = RouterServer(state_dir, backends, args.upstream_timeout, args.sticky)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stopping.set)

    proxy_server = ProxyServer(
        server.handle,
        head_timeout=args.header_timeout,
        keepalive_timeout=args.idle_timeout,
        access_log=None,
        # Idle clients are closed by idle_timeout; TCP keep-alive probes would add nothing.
        tcp_keepalive=False,
        # Bodies pass through as they came, compressed or not.
        auto_decompress=False,
    )
    # handle_signals=False: our handlers above turn SIGTERM into the same graceful stop.
    # shutdown_timeout bounds how long a stop waits for in-flight requests.
    proxy_runner = web.ServerRunner(proxy_server, handle_signals=False, shutdown_timeout=args.grace)
    admin_runner = web.AppRunner(
        admin_app(server, args.environment), access_log=None, handle_signals=False
    )
    await proxy_runner.setup()
    await admin_runner.setup()
    metrics_runner: web.AppRunner | None = None
    await server.start_session()
    info_path = state_dir / "router.json"
    socket_path = admin_socket_path(state_dir)
    try:
        await _listen(proxy_runner, admin_runner, args.port, socket_path)
        if args.metrics_port is not None:
            metrics_runner = await _listen_metrics(server, args.environment, args.metrics_port)
        write_private_json(
            info_path,
            {
                "pid": os.getpid(),
                "start_ticks": _processes.start_ticks(os.getpid()),
                "port": args.port,
                "admin_socket": str(socket_path),
                "metrics_port": args.metrics_port,
                "started_at": time.time(),
            },
        )
        log.info(
            "router %s pid %d listening on 127.0.0.1:%d, admin on %s",
            args.environment,
            os.getpid(),
            args.port,
            socket_path,
        )
        await server.stopping.wait()
        log.info("stopping: finishing in-flight requests (up to %g s)", args.grace)
    except _StartError as exc:
        # Printed last, so it is the last line of router.log that BuiltinRouter reports.
        await _cleanup(server, proxy_runner, admin_runner, info_path, metrics_runner)
        print(f"safeship router: {exc}", file=sys.stderr, flush=True)
        return exc.code
    # The proxy listener closes first and drains; admin stays up meanwhile so health answers.
    await _cleanup(server, proxy_runner, admin_runner, info_path, metrics_runner)
    log.info("stopped")
    return 0


async def _listen(
    proxy_runner: web.BaseRunner, admin_runner: web.AppRunner, port: int, socket_path: Path
) -> None:
    """Bind the public port on 127.0.0.1, then the admin socket."""
    try:
        await web.TCPSite(proxy_runner, "127.0.0.1", port).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _StartError(EXIT_PORT_IN_USE, f"port {port} is already in use") from exc
        raise _StartError(1, f"cannot listen on port {port}: {exc}") from exc
    try:
        sock = bind_admin_socket(socket_path)
    except OSError as exc:
        raise _StartError(1, f"cannot listen on {socket_path}: {exc}") from exc
    await web.SockSite(admin_runner, sock).start()


async def _listen_metrics(server: RouterServer, environment: str, port: int) -> web.AppRunner:
    """The read-only ``GET /metrics`` listener on 127.0.0.1:``port`` (see admin.py)."""
    runner = web.AppRunner(metrics_app(server, environment), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise _StartError(EXIT_PORT_IN_USE, f"metrics port {port} is already in use") from exc
        raise _StartError(1, f"cannot listen on metrics port {port}: {exc}") from exc
    return runner


async def _cleanup(
    server: RouterServer,
    proxy_runner: web.BaseRunner,
    admin_runner: web.AppRunner,
    info_path: Path,
    metrics_runner: web.AppRunner | None = None,
) -> None:
    await proxy_runner.cleanup()
    if metrics_runner is not None:
        await metrics_runner.cleanup()
    await admin_runner.cleanup()
    await server.close_session()
    if _remove_own_info(info_path):
        remove_admin_socket(admin_socket_path(info_path.parent))


def _remove_own_info(path: Path) -> bool:
    """Remove router.json if this process wrote it (a newer router may have replaced it)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
            return True
    except (OSError, ValueError):
        pass
    return False


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 86400 seconds")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m safeship.routing.proxy")
    parser.add_argument("--port", type=int, required=True, help="listen port on 127.0.0.1")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--environment", default="default", help="name used in log lines")
    parser.add_argument(
        "--upstream-timeout",
        type=_seconds,
        default=30.0,
        help="seconds to wait for a backend's response bytes before answering 502",
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds to finish in-flight requests on stop"
    )
    parser.add_argument(
        "--header-timeout",
        type=_seconds,
        default=10.0,
        help="seconds a client has to send a request's whole head (against slow-header clients)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=60.0,
        help="seconds a client connection may stay open between requests",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="also serve GET /metrics (read-only) on 127.0.0.1:PORT for Prometheus",
    )
    parser.add_argument("--sticky", choices=STICKY_MODES, default="off")
    parser.add_argument(
        "--sticky-name",
        type=check_token,
        default=Sticky.name,
        help="the cookie (sticky=cookie) or request header (sticky=header) that pins a user",
    )
    args = parser.parse_args(argv)
    args.sticky = Sticky(args.sticky, args.sticky_name)
    return args


def _run(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on uvloop where it is installed (a faster event loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    try:
        private_dir(args.state_dir)
        backends = load_backends(args.state_dir)
    except (OSError, ValueError) as exc:
        print(f"safeship router: {exc}", file=sys.stderr)
        return EXIT_BAD_STATE
    return _run(serve(args, backends))
