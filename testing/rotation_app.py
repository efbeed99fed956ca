"""A small web service that uses three rotated secrets the way real apps do, for the rotation
tests and benchmark: run as a local-target release, ``python -m testing.rotation_app --port N``.

At start it opens a pool of persistent PostgreSQL connections with ``DATABASE_URL`` (psycopg)
and a redis-py connection pool with ``REDIS_URL``; a credential refused at start exits 1, so a
release given a wrong secret never starts listening. Endpoints:

- ``GET /token``: a session token, a JWT (HS256) signed with ``JWT_SECRET``: what a client keeps
  between requests.
- ``GET /`` and ``GET /api/v1/items`` (the path of testing.fixtures' load): ``SELECT 1`` on a
  pooled connection, ``INCR`` in Redis and, when the request has ``?token=T``, the token's
  signature checked against ``JWT_SECRET`` and then ``JWT_SECRET_PREVIOUS`` (the previous slot
  a rotation sets while both keys are valid: a token signed before the switch still verifies).
  200, or 500 with the error.
- ``GET /health``: the deep check: ``SELECT 1`` and a Redis ``PING``; 200 ``{"status":
  "healthy"}`` or 503 with the error.

The connection pool replaces a connection that broke (the server closed it, a terminated
backend) and retries the query once, like a real app's pool. Every secret is registered with
safeship.redaction at start and every error line goes through it: the release's log never
holds a value (the acceptance test greps it). ``ROTATION_APP_POOL``: connections (default 4).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from safeship.redaction import redact, register_secret

if TYPE_CHECKING:
    import psycopg
    import redis

EXIT_START_FAILED = 1
POOL_SIZE = 4
# Seconds a request waits for a pooled connection; a connect's own limit.
ACQUIRE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5


class AppError(Exception):
    """What a request answers 500 with (one line, redacted)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(key: str, subject: str, issued_at: float) -> str:
    """A JWT (HS256) for ``subject``."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"sub": subject, "iat": int(issued_at)}).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify_token(token: str, keys: list[str]) -> dict[str, Any]:
    """The token's claims when one of ``keys`` signed it; AppError otherwise."""
    try:
        header, payload, signature = token.split(".")
        given = _unb64(signature)
        claims: dict[str, Any] = json.loads(_unb64(payload))
    except ValueError:
        raise AppError("malformed token") from None
    signing_input = f"{header}.{payload}".encode("ascii")
    for key in keys:
        expected = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
        if hmac.compare_digest(expected, given):
            return claims
    raise AppError(f"token not signed by any of the {len(keys)} current key(s)")


def signing_keys(environ: Mapping[str, str]) -> list[str]:
    """The keys a token may be signed with: JWT_SECRET, then JWT_SECRET_PREVIOUS when set."""
    return [environ[name] for name in ("JWT_SECRET", "JWT_SECRET_PREVIOUS") if environ.get(name)]


class PostgresPool:
    """``size`` persistent connections; one that broke is replaced on the next use."""

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(self._connect())

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self._idle.get(timeout=ACQUIRE_TIMEOUT)
        except queue.Empty:
            raise AppError("no database connection free") from None
        try:
            if conn.closed:
                conn = self._connect()
            yield conn
        finally:
            self._idle.put(conn)

    def query_one(self) -> int:
        """``SELECT 1``; a connection found broken is reconnected and the query tried again."""
        import psycopg

        for attempt in (1, 2):
            with self.connection() as conn:
                try:
                    row = conn.execute("SELECT 1").fetchone()
                    return int(row[0]) if row else 0
                except psycopg.OperationalError:
                    conn.close()  # replaced on its next use
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class RotationApp:
    def __init__(self, environ: Mapping[str, str], pool_size: int) -> None:
        import redis

        for name in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "JWT_SECRET_PREVIOUS"):
            register_secret(environ.get(name))  # the URLs hold passwords
        missing = [n for n in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET") if not environ.get(n)]
        if missing:
            raise AppError(f"missing variables: {', '.join(missing)}")
        self.environ = environ
        self.keys = signing_keys(environ)
        self.version = environ.get("SAFESHIP_VERSION", "dev")
        self.database = PostgresPool(environ["DATABASE_URL"], pool_size)
        self.redis: redis.Redis = redis.Redis(
            connection_pool=redis.ConnectionPool.from_url(
                environ["REDIS_URL"], max_connections=pool_size * 4
            ),
            socket_connect_timeout=CONNECT_TIMEOUT,
        )
        self.redis.ping()  # a refused password fails the start, like the database's

    def token(self) -> str:
        return sign_token(self.keys[0], "rotation-test", time.time())

    def serve(self, token: str | None) -> dict[str, Any]:
        claims = verify_token(token, self.keys) if token is not None else None
        selected = self.database.query_one()
        count = int(self.redis.incr("rotation_app:requests"))
        return {"select": selected, "count": count, "sub": (claims or {}).get("sub")}

    def health(self) -> dict[str, Any]:
        self.database.query_one()
        self.redis.ping()
        return {"status": "healthy", "version": self.version}

    def close(self) -> None:
        self.database.close()
        self.redis.close()


def _error_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}")[:300]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        try:
            if parts.path == "/health":
                try:
                    self._answer(200, app.health())
                except Exception as exc:
                    self._answer(503, {"status": "unhealthy", "error": _error_line(exc)})
                return
            if parts.path == "/token":
                self._answer(200, {"token": app.token()})
            elif parts.path in ("/", "/api/v1/items"):
                token = parse_qs(parts.query).get("token", [None])[0]
                self._answer(200, app.serve(token))
            else:
                self._answer(404, {"error": "not found"})
        except Exception as exc:  # any failure is the request's 500, logged without values
            line = _error_line(exc)
            print(f"rotation-app {app.version}: {parts.path}: {line}", file=sys.stderr, flush=True)
            self._answer(500, {"error": line})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Release-Version", self.server.app.version)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # no access log: the router counts requests


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, app: RotationApp) -> None:
        self.app = app
        super().__init__(("127.0.0.1", port), _Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the secret rotation test app")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    pool_size = int(os.environ.get("ROTATION_APP_POOL", str(POOL_SIZE)))
    try:
        app = RotationApp(os.environ, pool_size)
    except Exception as exc:  # a refused credential, a missing variable: the release fails
        print(f"rotation-app: cannot start: {_error_line(exc)}", file=sys.stderr, flush=True)
        return EXIT_START_FAILED
    server = _Server(args.port, app)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Serve from a thread: the main thread stays free for the signal handler.
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    serving.start()
    print(f"rotation-app {app.version} listening on http://127.0.0.1:{args.port}", flush=True)
    while not stop.wait(0.25):
        pass
    server.shutdown()
    serving.join(timeout=5)
    server.server_close()
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
