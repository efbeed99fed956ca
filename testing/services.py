"""Pytest plugin: scripted HTTP services on loopback, for dependencies that misbehave.

``fake_service()`` starts a threaded HTTP/1.1 server on a free 127.0.0.1 port and returns a
FakeService; ``service.on(method, path_glob, reply)`` scripts an answer: a Reply (status,
JSON body or raw bytes, delay), or a function of the Request returning one. Unscripted paths
answer 404. A reply with ``hang=True`` holds the request until the test ends (bounded), like a
dependency that accepts the connection and never answers. Every server is shut down at the end
of the test, and every request is recorded in ``service.requests``.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# The longest a hanging reply holds a request (the test's teardown releases it sooner).
HANG_LIMIT = 30.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded, unless ``raw`` is given
    raw: bytes | None = None
    delay: float = 0.0
    hang: bool = False


Handler = Reply | Callable[[Request], Reply]


@dataclass
class FakeService:
    server: ThreadingHTTPServer
    routes: list[tuple[str, str, Handler]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def on(self, method: str, path: str, reply: Handler) -> FakeService:
        """Script ``method path`` (a glob: ``/items/*``); the latest matching script wins."""
        self.routes.insert(0, (method.upper(), path, reply))
        return self

    def answer(self, request: Request) -> Reply:
        self.requests.append(request)
        for method, pattern, handler in self.routes:
            if method == request.method and fnmatch.fnmatchcase(request.path, pattern):
                return handler(request) if callable(handler) else handler
        return Reply(404, {"error": "not found"})

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        request = Request(self.command, path, dict(self.headers.items()), body)
        service = self.server.service
        reply = service.answer(request)
        if reply.hang:
            service.released.wait(HANG_LIMIT)
            self.close_connection = True
            return
        if reply.delay:
            time.sleep(reply.delay)
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        if reply.status in (204, 304):
            data = b""
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    service: FakeService


def start_service() -> FakeService:
    server = _Server(("127.0.0.1", 0), _Handler)
    service = FakeService(server)
    server.service = service
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return service


@pytest.fixture
def fake_service() -> Iterator[Callable[[], FakeService]]:
    started: list[FakeService] = []

    def start() -> FakeService:
        service = start_service()
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()
