"""A demo web service whose versions misbehave on purpose, for trying safeship's safety nets.

Standard library only (its health endpoints use safeship.appkit, itself standard library only),
so it also runs as a plain script from a checkout (examples/demo-app/app.py links here)::

    SAFESHIP_VERSION=v2 DEMO_BEHAVIOUR_V2=error_rate=0.2 \
        python -m safeship.demo.demo_app --port 8000

Endpoints: ``GET /api/health`` and ``GET /api/v1/items``; every response carries
``X-Release-Version``. The health endpoints are served by safeship.appkit's WSGI app:
``/api/health`` (liveness, as the behaviour says), ``/api/health/ready`` and
``/api/health/deep`` (the catalogue, and the HTTP dependency at ``DEMO_DEPENDENCY_URL`` when
that variable is set). The behaviour comes from ``DEMO_BEHAVIOUR`` (all versions), overridden by
``DEMO_BEHAVIOUR_<VERSION>`` (see :func:`behaviour_env_name`). With ``DATABASE_URL`` set
(``postgresql://...`` or ``sqlite:///path``), ``/api/v1/items`` answers the rows of the ``items``
table (every column: a migration's new column shows at once; 503 when the database cannot
answer) and ``/api/health/deep`` checks the database; without it, or while the table does not
exist, the built-in catalogue. The table comes from the demo's migrations:
``python -m safeship.demo.migrate``.

A behaviour spec is comma-separated items:
``healthy``, ``crash_on_start``, ``error_rate=F``, ``latency_ms=N``, ``health_status=S``,
``crash_after=SECONDS``, ``unhealthy_after=SECONDS`` (the health endpoint answers 500 from then on),
``memory_growth_mb_per_s=X`` (the process's RSS grows by about X MB a second, up to 2 GB) and
``cpu_burn=F`` (a thread busy-loops about F of a core, 0 < F <= 1).

Exit codes: 0 after SIGTERM/SIGINT, 1 for crash_on_start (and crash_after), 2 for a bad spec or
bad arguments, 3 when the port cannot be bound.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

try:
    from safeship.appkit.checks import http_check
except ImportError:  # run as a plain script from a checkout: safeship's source is 2 levels up
    sys.path.insert(
        0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    )
    from safeship.appkit.checks import http_check
from safeship.appkit.core import HealthChecks, Outcome
from safeship.appkit.wsgi import WSGIApp, wsgi_app

EXIT_CRASH = 1
EXIT_BAD_SPEC = 2
EXIT_PORT_TAKEN = 3

HEALTH_PREFIX = "/api/health"

ITEMS: list[dict[str, Any]] = [
    {"id": 1, "name": "anvil", "price_cents": 4999},
    {"id": 2, "name": "rocket skates", "price_cents": 12900},
    {"id": 3, "name": "giant magnet", "price_cents": 2500},
]


class BehaviourError(ValueError):
    """A behaviour spec could not be understood. The message is one line."""


@dataclass(frozen=True)
class Behaviour:
    crash_on_start: bool = False
    # A Fraction, parsed from the spec's text, so "0.2" fails exactly every 5th request
    # (binary floats would drift for rates such as 0.29).
    error_rate: Fraction = Fraction(0)
    latency_ms: float = 0.0
    health_status: int = 200
    crash_after: float | None = None
    unhealthy_after: float | None = None
    memory_growth_mb_per_s: float = 0.0
    cpu_burn: float = 0.0


def behaviour_env_name(version: str) -> str:
    """``v3`` → ``DEMO_BEHAVIOUR_V3``; ``1.4.0`` → ``DEMO_BEHAVIOUR_1_4_0``."""
    return "DEMO_BEHAVIOUR_" + re.sub(r"[^A-Z0-9]", "_", version.upper())


def _number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BehaviourError(f"{key} needs a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BehaviourError(f"{key} must be a finite number >= 0, got {text!r}")
    return value


def parse_behaviour(spec: str) -> Behaviour:
    """Parse a comma-separated behaviour spec; an empty spec means ``healthy``."""
    fields: dict[str, Any] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item or item == "healthy":
            continue
        key, sep, value = (part.strip() for part in item.partition("="))
        if key == "crash_on_start" and not sep:
            fields["crash_on_start"] = True
        elif key == "error_rate" and sep:
            _number(key, value)
            rate = Fraction(value)
            if rate > 1:
                raise BehaviourError(f"error_rate must be between 0 and 1, got {value!r}")
            fields["error_rate"] = rate
        elif key == "latency_ms" and sep:
            fields["latency_ms"] = _number(key, value)
        elif key == "health_status" and sep:
            if not value.isdigit() or not 100 <= int(value) <= 599:
                raise BehaviourError(f"health_status must be an HTTP status, got {value!r}")
            fields["health_status"] = int(value)
        elif key == "crash_after" and sep:
            fields["crash_after"] = _number(key, value)
        elif key == "unhealthy_after" and sep:
            fields["unhealthy_after"] = _number(key, value)
        elif key == "memory_growth_mb_per_s" and sep:
            fields["memory_growth_mb_per_s"] = _number(key, value)
        elif key == "cpu_burn" and sep:
            burn = _number(key, value)
            if burn > 1:
                raise BehaviourError(f"cpu_burn must be between 0 and 1, got {value!r}")
            fields["cpu_burn"] = burn
        else:
            raise BehaviourError(f"unknown behaviour {item!r}")
    return Behaviour(**fields)


def behaviour_for(version: str, environ: Mapping[str, str]) -> Behaviour:
    """The behaviour of ``version``: its own variable if set (even empty), else DEMO_BEHAVIOUR."""
    specific = environ.get(behaviour_env_name(version))
    return parse_behaviour(specific if specific is not None else environ.get("DEMO_BEHAVIOUR", ""))


def request_fails(n: int, rate: Fraction) -> bool:
    """Whether the n-th request (1-based) fails: exactly ``rate`` of every prefix, rounded down."""
    return math.floor(n * rate) > math.floor((n - 1) * rate)


class _Counter:
    """Numbers API requests across the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = 0

    def next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, version: str, behaviour: Behaviour) -> None:
        self.version = version
        self.behaviour = behaviour
        self.counter = _Counter()
        self.started = time.monotonic()
        # The demo's database, when DATABASE_URL names one (read once: a release's variables
        # are fixed for its life).
        self.database_url = os.environ.get("DATABASE_URL", "").strip() or None
        self.health = wsgi_app(_health_checks(self))
        super().__init__(("127.0.0.1", port), _Handler)

    def health_status(self) -> int:
        """The HTTP status liveness answers: the behaviour's, or 500 once unhealthy_after."""
        turned = self.behaviour.unhealthy_after
        if turned is not None and time.monotonic() - self.started >= turned:
            return 500
        return self.behaviour.health_status


def _no_table(exc: Exception) -> bool:
    """Whether ``exc`` says the items table does not exist (the migrations have not run)."""
    return type(exc).__name__ == "UndefinedTable" or "no such table" in str(exc)


def _database_check(url: str | None) -> Outcome:
    from safeship.demo.database import DatabaseError, rows

    try:
        count = rows(url or "", "SELECT COUNT(*) AS n FROM items")[0]["n"]
    except DatabaseError as exc:
        return Outcome("failed", str(exc))
    except Exception as exc:  # the driver's error: its class, not its text
        if _no_table(exc):
            return Outcome("ok", "no items table yet: the built-in catalogue")
        return Outcome("failed", f"items cannot be read: {type(exc).__name__}")
    return Outcome("ok", f"{count} items in the database")


def _items(url: str) -> tuple[int, Any]:
    """The items table's rows; the built-in catalogue while the table does not exist (a
    database the demo's migrations have not run on); 503 when the database cannot answer."""
    from safeship.demo.database import rows

    try:
        return 200, rows(url, "SELECT * FROM items ORDER BY id")
    except Exception as exc:  # any driver's error: the service says so without the URL
        if _no_table(exc):
            return 200, ITEMS
        return 503, {"error": "database unavailable", "kind": type(exc).__name__}


def _health_checks(server: _Server) -> HealthChecks:
    health = HealthChecks(
        HEALTH_PREFIX, info={"version": server.version}, liveness=server.health_status
    )
    health.add("catalogue", lambda: Outcome("ok", f"{len(ITEMS)} items"), timeout=1.0)
    if server.database_url:
        health.add("database", lambda: _database_check(server.database_url), timeout=3.0)
    dependency = os.environ.get("DEMO_DEPENDENCY_URL")
    if dependency:
        health.add("dependency", http_check(dependency, timeout=1.0))
    return health


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.1 keeps connections alive, as a real service behind a proxy would.
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, keep-alive clients would wait ~40 ms
    # for the delayed ACK on every response.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a line per request would flood the release log."""

    def _send(self, status: int, body: Any) -> None:
        self._send_bytes(status, json.dumps(body).encode(), [("Content-Type", "application/json")])

    def _send_bytes(self, status: int, data: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Release-Version", self.server.version)
        self.end_headers()
        self.wfile.write(data)

    def _serve_wsgi(self, app: WSGIApp, path: str) -> None:
        """Answer through a WSGI app, keeping this server's HTTP/1.1 keep-alive handling."""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": self.path.partition("?")[2],
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> None:
            started.append((status, headers))

        data = b"".join(app(environ, start_response))
        status, headers = started[-1]
        self._send_bytes(int(status.split()[0]), data, headers)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        behaviour, version = self.server.behaviour, self.server.version
        if path == HEALTH_PREFIX or path.startswith(HEALTH_PREFIX + "/"):
            self._serve_wsgi(self.server.health, path)
        elif path == "/api/v1/items":
            if behaviour.latency_ms:
                time.sleep(behaviour.latency_ms / 1000)
            if request_fails(self.server.counter.next(), behaviour.error_rate):
                self._send(500, {"error": "injected failure", "version": version})
            elif self.server.database_url:
                self._send(*_items(self.server.database_url))
            else:
                self._send(200, ITEMS)
        else:
            self._send(404, {"error": "not found", "path": path})


# memory_growth_mb_per_s stops here: a misbehaving demo must not take the machine down.
MEMORY_GROWTH_CAP_MB = 2048
# Growth and burn work in ticks this long (seconds).
_TICK = 0.1


def _grow_memory(mb_per_s: float, stop: threading.Event) -> None:
    """Hold ever more memory, about ``mb_per_s`` MB a second, until the cap or ``stop``."""
    held: list[bytes] = []
    total = 0.0
    while total < MEMORY_GROWTH_CAP_MB and not stop.wait(_TICK):
        chunk = min(mb_per_s * _TICK, MEMORY_GROWTH_CAP_MB - total)
        # Written bytes, not zeroed ones: untouched pages would not count in the RSS.
        held.append(b"\x01" * int(chunk * 1_048_576))
        total += chunk
    stop.wait()  # keep holding it: returning would free it all


def _burn_cpu(fraction: float, stop: threading.Event) -> None:
    """Busy-loop ``fraction`` of every tick, sleep the rest, until ``stop``."""
    while not stop.is_set():
        busy_until = time.perf_counter() + fraction * _TICK
        while time.perf_counter() < busy_until:
            pass
        stop.wait((1 - fraction) * _TICK)


def _fail(code: int, message: str) -> int:
    print(f"demo-app: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="safeship demo service")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    version = os.environ.get("SAFESHIP_VERSION", "dev")
    try:
        behaviour = behaviour_for(version, os.environ)
    except BehaviourError as exc:
        return _fail(EXIT_BAD_SPEC, f"bad behaviour spec for {version}: {exc}")
    if behaviour.crash_on_start:
        return _fail(EXIT_CRASH, f"version {version} crashes on start (crash_on_start)")
    try:
        server = _Server(args.port, version, behaviour)
    except OSError as exc:
        return _fail(EXIT_PORT_TAKEN, f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if behaviour.crash_after is not None:
        # os._exit: a hard crash, no cleanup, like a segfaulting or OOM-killed service.
        def crash() -> None:
            print(f"demo-app: crash_after={behaviour.crash_after}s, exiting", file=sys.stderr)
            sys.stderr.flush()
            os._exit(EXIT_CRASH)

        timer = threading.Timer(behaviour.crash_after, crash)
        timer.daemon = True
        timer.start()

    for wanted, work in (
        (behaviour.memory_growth_mb_per_s, _grow_memory),
        (behaviour.cpu_burn, _burn_cpu),
    ):
        if wanted:
            threading.Thread(target=work, args=(wanted, stop), daemon=True).start()

    # Serve from a thread: shutdown() must not be called from the thread running serve_forever,
    # and the main thread has to stay free to run the signal handler.
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    serving.start()
    print(f"demo-app {version} listening on http://127.0.0.1:{args.port}", flush=True)
    while not stop.wait(0.25):
        pass
    server.shutdown()
    serving.join(timeout=5)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
