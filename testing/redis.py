"""Pytest plugin: private redis-server processes on free loopback ports.

Fixtures:

- ``redis_factory`` (function): ``start(*extra_args)`` starts a redis-server (extra arguments
  such as ``"--maxmemory", "8mb"``) in a temporary directory, no persistence, bound to
  127.0.0.1, and returns a RedisServer once it answers PING. Every server is stopped at the end
  of the test (SIGTERM, then SIGKILL), by the process id it started.
- ``redis_url`` (function): ``redis://127.0.0.1:PORT/0`` of a fresh server.

A missing redis-server fails the test rather than skip it: CI installs it
(scripts/install-test-deps.sh), and a silently skipped backend hides bugs.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeship._processes import free_port

_START_ATTEMPTS = 3
_START_TIMEOUT = 10.0


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> str:
        """Send one inline command; the first line of the reply (e.g. ``+PONG``)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            return sock.recv(65536).decode(errors="replace").split("\r\n", 1)[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail(
            "redis-server not found: install it (Debian: apt-get install redis-server, or run "
            "bash scripts/install-test-deps.sh as root)",
            pytrace=False,
        )
    return found


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(directory: Path, *extra: str) -> RedisServer:
    """Start a redis-server in ``directory``; fails the test if it does not come up."""
    binary = _binary()
    for attempt in range(1, _START_ATTEMPTS + 1):
        # The port can be taken between probing and binding; retry with a new one.
        port = free_port()
        log = (directory / f"redis-{port}.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", str(directory),
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        server = RedisServer(port, process, directory)
        deadline = time.monotonic() + _START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _answers_ping(port):
                return server
            time.sleep(0.02)
        server.stop()
        if attempt == _START_ATTEMPTS:
            text = (directory / f"redis-{port}.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"redis-server did not start on port {port}:\n{text}", pytrace=False)
    raise AssertionError("unreachable")


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    started: list[RedisServer] = []

    def start(*extra: str) -> RedisServer:
        directory = tmp_path / f"redis{len(started)}"
        directory.mkdir()
        server = start_redis(directory, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_url(redis_factory: Callable[..., RedisServer]) -> str:
    return redis_factory().url
