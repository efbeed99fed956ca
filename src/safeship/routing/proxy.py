"""The builtin router process: a weighted reverse proxy with a loopback admin API.

Run as ``python -m safeship.routing.proxy --port P --state-dir DIR``. It lives on its own
(BuiltinRouter starts it detached) so traffic keeps flowing when the safeship command exits.

Sticky sessions (``--sticky cookie|header --sticky-name NAME``, changeable through the admin
API): in cookie mode a client without the cookie is routed by the weights and gets a cookie
naming the release that answered; with it, it goes back to that release while the release has
weight (else by the weights, and the cookie is replaced). In header mode the header's value is
hashed into [0, 100) and looked up in the cumulative weights, in list order: each release's
range grows or shrinks at its ends only, so the users of a canary going 10 -> 50 stay on it.

Files in DIR:
  router.json    {"pid", "start_ticks", "port", "admin_port", "started_at"}, written once both
                 listeners are bound and removed on exit; how clients find the admin API.
                 start_ticks (safeship._processes) tells this process from a later one that
                 got the same pid.
  backends.json  {"backends": [...]}, rewritten on every change and loaded at start, so a
                 restarted router serves the same weights.

Exit codes: 0 after a graceful stop, 2 for an unreadable backends.json, 3 when the listen port
is in use, 1 for other start-up failures. Each failure prints one line to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import hashlib
import json
import logging
import os
import re
import signal
import sys
import time
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from safeship import _processes
from safeship.routing.base import LATENCY_BUCKETS_MS, STICKY_MODES, Backend, check_token

log = logging.getLogger("safeship.router")

RELEASE_HEADER = "X-Safeship-Release"
EXIT_BAD_STATE = 2
EXIT_PORT_IN_USE = 3
# A loopback connect is refused or accepted at once; only a hung backend with a full backlog
# makes it wait, and then the retry on another backend should not wait the full read timeout.
CONNECT_TIMEOUT_S = 5.0
# The body is buffered so that a request can be retried on another backend after a connect error.
MAX_BODY_BYTES = 64 * 1024 * 1024

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
# Visible ASCII only: the name goes into a response header and must not break it.
_NAME_RE = re.compile(r"[\x21-\x7e]{1,128}")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


class WeightedRoundRobin:
    """Smooth weighted round-robin, as nginx does it.

    Each pick adds every backend's weight to its running score, takes the highest score
    (first in list order on a tie) and subtracts the total weight from it. Picks are
    deterministic, interleaved (5/1/1 gives a a b a c a a), and every run of sum(weights)
    picks from a fresh state matches the weights exactly. Weight-0 backends are never picked.
    """

    def __init__(self, backends: Sequence[Backend]) -> None:
        self._backends = [b for b in backends if b.weight > 0]
        self._scores = [0] * len(self._backends)

    def next(self, exclude: Collection[str] = ()) -> Backend | None:
        """The next backend, skipping names in ``exclude``; None if none is eligible."""
        best: int | None = None
        total = 0
        for i, backend in enumerate(self._backends):
            if backend.name in exclude:
                continue
            self._scores[i] += backend.weight
            total += backend.weight
            if best is None or self._scores[i] > self._scores[best]:
                best = i
        if best is None:
            return None
        self._scores[best] -= total
        return self._backends[best]


def hash_bucket(key: str) -> int:
    """``key``'s bucket in [0, 100): the same in every process and run (unlike ``hash``)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    # 2**64 is not a multiple of 100, but the skew is below 1e-17.
    return int.from_bytes(digest, "big") % 100


class HashSplit:
    """Maps a key (a user) to a backend by its bucket against the cumulative weights.

    With weights 90/10 in list order, buckets 0-89 go to the first backend and 90-99 to the
    second; at 50/50 the second has 50-99, so every key it had at 10 is still its own.
    """

    def __init__(self, backends: Sequence[Backend]) -> None:
        self._backends = [b for b in backends if b.weight > 0]
        self._uppers: list[int] = []
        upper = 0
        for backend in self._backends:
            upper += backend.weight
            self._uppers.append(upper)

    def pick(self, key: str) -> Backend | None:
        if not self._backends:
            return None
        # Weights sum to 100, so every bucket is below the last upper bound.
        return self._backends[bisect_right(self._uppers, hash_bucket(key))]


@dataclass(frozen=True)
class Sticky:
    """How requests of one user stay on one release; the JSON keys are the settings' names."""

    mode: str = "off"
    name: str = "safeship_release"

    def __post_init__(self) -> None:
        if self.mode not in STICKY_MODES:
            raise ValueError(f"sticky must be one of {', '.join(STICKY_MODES)}")
        check_token(self.name)

    @classmethod
    def from_json(cls, data: object) -> Sticky:
        """Validate ``{"sticky": MODE, "sticky_name": NAME}``; ValueError with one line."""
        if not isinstance(data, dict):
            raise ValueError('expected an object {"sticky": ..., "sticky_name": ...}')
        mode, name = data.get("sticky"), data.get("sticky_name")
        if not isinstance(mode, str) or not isinstance(name, str):
            raise ValueError("sticky and sticky_name must be strings")
        try:
            return cls(mode, name)
        except ValueError as exc:
            raise ValueError(f"sticky_name {exc}" if mode in STICKY_MODES else str(exc)) from None

    def to_json(self) -> dict[str, str]:
        return {"sticky": self.mode, "sticky_name": self.name}


@dataclass
class Counters:
    """Cumulative counters of one backend; the JSON shape is what BackendStats.from_json reads."""

    requests: int = 0
    responses_5xx: int = 0
    connect_errors: int = 0
    status_classes: dict[str, int] = field(default_factory=dict)
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    latency_sum_ms: float = 0.0

    def record_response(self, status: int, latency_ms: float) -> None:
        self.requests += 1
        key = f"{status // 100}xx"
        self.status_classes[key] = self.status_classes.get(key, 0) + 1
        if status >= 500:
            self.responses_5xx += 1
        # Bucket bounds are inclusive upper bounds; past the last one is the open bucket.
        self.latency_buckets[bisect_left(LATENCY_BUCKETS_MS, latency_ms)] += 1
        self.latency_sum_ms += latency_ms

    def record_connect_error(self) -> None:
        self.requests += 1
        self.connect_errors += 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_backends(data: object) -> list[Backend]:
    """Validate ``{"backends": [...]}``; raises ValueError with a one-line reason."""
    if not isinstance(data, dict) or not isinstance(data.get("backends"), list):
        raise ValueError('expected an object {"backends": [...]}')
    backends: list[Backend] = []
    for i, item in enumerate(data["backends"]):
        if not isinstance(item, dict):
            raise ValueError(f"backends[{i}] must be an object with name, url and weight")
        name, url, weight = item.get("name"), item.get("url"), item.get("weight")
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"backends[{i}].name must be 1-128 visible ASCII characters")
        # bool is an int subclass; true/false as a weight is a caller bug, not 1/0.
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise ValueError(f"backend {name}: weight must be an integer from 0 to 100")
        if not isinstance(url, str):
            raise ValueError(f"backend {name}: url must be a string")
        _check_url(name, url)
        backends.append(Backend(name=name, url=url, weight=weight))
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise ValueError("backend names must be unique")
    total = sum(b.weight for b in backends)
    if backends and total != 100:
        raise ValueError(f"weights must sum to 100, not {total}")
    return backends


def _check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme != "http"
        or parts.hostname not in _LOOPBACK_HOSTS
        or port is None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"backend {name}: url must look like http://127.0.0.1:PORT or http://localhost:PORT"
        )


def backends_to_json(backends: Sequence[Backend]) -> dict[str, Any]:
    return {"backends": [asdict(b) for b in backends]}


def write_json_atomic(path: Path, data: object) -> None:
    """Readers see the old file or the new one, never a half-written one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_backends(state_dir: Path) -> list[Backend]:
    path = state_dir / "backends.json"
    if not path.exists():
        return []
    try:
        return parse_backends(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"invalid {path}: {exc}") from exc


class _ConnectFailed(Exception):
    """The request never reached the backend, so it is safe to send it elsewhere."""


class RouterServer:
    """The routing table, its counters, and the proxy and admin request handlers."""

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

    async def start_session(self) -> None:
        self._session = aiohttp.ClientSession(
            # A fresh connection per request: a killed backend then always shows up as a
            # refused connect (safe to retry) instead of a reset on a stale pooled connection.
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
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
        write_json_atomic(self.state_dir / "backends.json", backends_to_json(backends))
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

    def set_sticky(self, sticky: Sticky) -> None:
        self.sticky = sticky
        log.info("sticky sessions: %s %s", sticky.mode, sticky.name if sticky.mode != "off" else "")

    # -- proxy --------------------------------------------------------------------------

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        backend, pinned = self._choose(request)
        if backend is None:
            return web.Response(status=503, text="safeship router: no backends configured\n")
        headers = _upstream_headers(request)
        try:
            return await self._forward(request, backend, body, headers, pinned)
        except _ConnectFailed:
            pass
        retry = self._rr.next(exclude={backend.name})
        if retry is None:
            return _bad_gateway(backend.name, f"release {backend.name} is unreachable")
        try:
            return await self._forward(request, retry, body, headers, pinned)
        except _ConnectFailed:
            return _bad_gateway(
                retry.name, f"releases {backend.name} and {retry.name} are unreachable"
            )

    def _choose(self, request: web.Request) -> tuple[Backend | None, str | None]:
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
        request: web.Request,
        backend: Backend,
        body: bytes,
        headers: CIMultiDict[str],
        pinned: str | None = None,
    ) -> web.StreamResponse:
        assert self._session is not None
        counters = self._stats.setdefault(backend.name, Counters())
        url = URL(backend.url.rstrip("/") + request.raw_path, encoded=True)
        started = time.perf_counter()
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, data=body or None, allow_redirects=False
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            counters.record_connect_error()
            if backend.name not in self._unreachable:
                self._unreachable.add(backend.name)
                log.warning("release %s (%s) is unreachable: %s", backend.name, backend.url, exc)
            raise _ConnectFailed from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            counters.record_response(502, _ms_since(started))
            return _bad_gateway(backend.name, f"release {backend.name} failed: {_describe(exc)}")

        if backend.name in self._unreachable:
            self._unreachable.discard(backend.name)
            log.info("release %s is reachable again", backend.name)
        status = upstream.status
        try:
            response = web.StreamResponse(
                status=upstream.status,
                reason=upstream.reason,
                headers=_downstream_headers(upstream),
            )
            response.headers[RELEASE_HEADER] = backend.name
            cookie = self._set_cookie(backend, pinned)
            if cookie is not None:
                # Added, not set: the release's own cookies pass through beside it.
                response.headers.add("Set-Cookie", cookie)
            await response.prepare(request)
            while True:
                try:
                    chunk = await upstream.content.readany()
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

    # -- admin ----------------------------------------------------------------------------

    async def get_backends(self, request: web.Request) -> web.Response:
        return web.json_response(backends_to_json(self._backends))

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
            self.replace_backends(backends)
        except OSError as exc:
            return web.json_response({"error": f"cannot save backends: {exc}"}, status=500)
        return web.json_response(backends_to_json(backends))

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"backends": {name: c.to_json() for name, c in self._stats.items()}}
        )

    async def get_sticky(self, request: web.Request) -> web.Response:
        return web.json_response(self.sticky.to_json())

    async def put_sticky(self, request: web.Request) -> web.Response:
        try:
            sticky = Sticky.from_json(await request.json())
        except ValueError as exc:  # also a body that is not JSON
            return web.json_response({"error": _describe(exc)}, status=400)
        self.set_sticky(sticky)
        return web.json_response(sticky.to_json())

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "pid": os.getpid()})

    async def shutdown(self, request: web.Request) -> web.Response:
        self.stopping.set()
        return web.json_response({"status": "stopping", "pid": os.getpid()})


def _upstream_headers(request: web.Request) -> CIMultiDict[str]:
    drop = HOP_BY_HOP | _connection_tokens(request.headers.getall("Connection", []))
    # aiohttp sets Content-Length from the buffered body (which is no longer chunked).
    drop |= {"content-length"}
    headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in drop)
    peer = request.remote or "unknown"
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers.setdefault("X-Forwarded-Proto", request.scheme)
    headers.setdefault("X-Forwarded-Host", request.host)
    return headers


def _downstream_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    drop = HOP_BY_HOP | _connection_tokens(upstream.headers.getall("Connection", []))
    return CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in drop)


def _connection_tokens(values: list[str]) -> frozenset[str]:
    """Headers named in Connection are hop-by-hop too (RFC 9110 section 7.6.1)."""
    return frozenset(t.strip().lower() for v in values for t in v.split(",") if t.strip())


def _bad_gateway(release: str, reason: str) -> web.Response:
    return web.Response(
        status=502, text=f"safeship router: {reason}\n", headers={RELEASE_HEADER: release}
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


# -- process ------------------------------------------------------------------------------


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

    proxy_app = web.Application(client_max_size=MAX_BODY_BYTES)
    proxy_app.router.add_route("*", "/{tail:.*}", server.proxy)
    admin_app = web.Application()
    admin_app.router.add_get("/admin/backends", server.get_backends)
    admin_app.router.add_put("/admin/backends", server.put_backends)
    admin_app.router.add_get("/admin/stats", server.get_stats)
    admin_app.router.add_get("/admin/sticky", server.get_sticky)
    admin_app.router.add_put("/admin/sticky", server.put_sticky)
    admin_app.router.add_get("/admin/health", server.health)
    admin_app.router.add_post("/admin/shutdown", server.shutdown)

    # handle_signals=False: our handlers above turn SIGTERM into the same graceful stop.
    # shutdown_timeout bounds how long a stop waits for in-flight requests.
    proxy_runner = web.AppRunner(
        proxy_app, access_log=None, handle_signals=False, shutdown_timeout=args.grace
    )
    admin_runner = web.AppRunner(admin_app, access_log=None, handle_signals=False)
    await proxy_runner.setup()
    await admin_runner.setup()
    await server.start_session()
    info_path = state_dir / "router.json"
    try:
        admin_port = await _listen(proxy_runner, admin_runner, args.port)
        write_json_atomic(
            info_path,
            {
                "pid": os.getpid(),
                "start_ticks": _processes.start_ticks(os.getpid()),
                "port": args.port,
                "admin_port": admin_port,
                "started_at": time.time(),
            },
        )
        log.info(
            "router %s pid %d listening on 127.0.0.1:%d, admin on 127.0.0.1:%d",
            args.environment,
            os.getpid(),
            args.port,
            admin_port,
        )
        await server.stopping.wait()
        log.info("stopping: finishing in-flight requests (up to %g s)", args.grace)
    except _StartError as exc:
        # Printed last, so it is the last line of router.log that BuiltinRouter reports.
        await _cleanup(server, proxy_runner, admin_runner, info_path)
        print(f"safeship router: {exc}", file=sys.stderr, flush=True)
        return exc.code
    # The proxy listener closes first and drains; admin stays up meanwhile so health answers.
    await _cleanup(server, proxy_runner, admin_runner, info_path)
    log.info("stopped")
    return 0


async def _listen(proxy_runner: web.AppRunner, admin_runner: web.AppRunner, port: int) -> int:
    """Bind the proxy port, then a free admin port; return the admin port."""
    try:
        await web.TCPSite(proxy_runner, "127.0.0.1", port).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _StartError(EXIT_PORT_IN_USE, f"port {port} is already in use") from exc
        raise _StartError(1, f"cannot listen on port {port}: {exc}") from exc
    admin_site = web.TCPSite(admin_runner, "127.0.0.1", 0)
    await admin_site.start()
    return admin_site.port


async def _cleanup(
    server: RouterServer,
    proxy_runner: web.AppRunner,
    admin_runner: web.AppRunner,
    info_path: Path,
) -> None:
    await proxy_runner.cleanup()
    await admin_runner.cleanup()
    await server.close_session()
    _remove_own_info(info_path)


def _remove_own_info(path: Path) -> None:
    # Only our own file: a newer router may already have replaced it.
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m safeship.routing.proxy")
    parser.add_argument("--port", type=int, required=True, help="listen port on 127.0.0.1")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--environment", default="default", help="name used in log lines")
    parser.add_argument(
        "--upstream-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a backend's response bytes before answering 502",
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds to finish in-flight requests on stop"
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    try:
        args.state_dir.mkdir(parents=True, exist_ok=True)
        backends = load_backends(args.state_dir)
    except (OSError, ValueError) as exc:
        print(f"safeship router: {exc}", file=sys.stderr)
        return EXIT_BAD_STATE
    return asyncio.run(serve(args, backends))


if __name__ == "__main__":
    sys.exit(main())
