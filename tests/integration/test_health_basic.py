"""Level-1 HTTP health checks against real demo-app processes (and a few canned answers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from safeship.config.models import HealthSettings
from safeship.health.basic import check_http, wait_until_healthy

StartDemo = Callable[..., tuple[subprocess.Popen[bytes], str]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def start_demo() -> Iterator[StartDemo]:
    """Start demo apps; ``wait=False`` returns before the app listens. All are killed after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(behaviour: str = "healthy", wait: bool = True) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
            env={**os.environ, "SAFESHIP_VERSION": "v1", "DEMO_BEHAVIOUR": behaviour},
            stdout=subprocess.DEVNULL,
        )
        started.append(proc)
        deadline = time.monotonic() + 10
        while wait and not listening(port):
            assert proc.poll() is None and time.monotonic() < deadline, "demo app did not start"
            time.sleep(0.05)
        return proc, f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=5)


def alive(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None


def test_healthy_release_is_ok(start_demo: StartDemo) -> None:
    proc, url = start_demo()
    result = check_http(url, HealthSettings())
    assert (result.name, result.status, result.http_status, result.detail) == (
        "http",
        "ok",
        200,
        "",
    )
    assert 0 < result.latency_ms < 5000
    assert wait_until_healthy(url, HealthSettings(), alive(proc)).status == "ok"


def test_waits_for_a_release_that_is_still_starting(start_demo: StartDemo) -> None:
    proc, url = start_demo(wait=False)
    settings = HealthSettings(retries=50, backoff=0.05)
    result = wait_until_healthy(url, settings, alive(proc))
    assert result.status == "ok", result.detail


def test_health_5xx_fails_fast(start_demo: StartDemo) -> None:
    proc, url = start_demo("health_status=500")
    start = time.monotonic()
    result = wait_until_healthy(url, HealthSettings(retries=20, backoff=2.0), alive(proc))
    # No retries: a 5xx is the release's real answer (20 retries would take over 30 s).
    assert time.monotonic() - start < 10
    assert (result.status, result.http_status, result.detail) == ("failed", 500, "HTTP 500")


def test_dead_port_fails_after_bounded_retries() -> None:
    calls = 0

    def is_alive() -> bool:
        nonlocal calls
        calls += 1
        return True

    settings = HealthSettings(retries=3, backoff=0.05, timeout=1.0)
    start = time.monotonic()
    result = wait_until_healthy(f"http://127.0.0.1:{free_port()}", settings, is_alive)
    assert time.monotonic() - start < 2.0
    assert result.status == "failed" and result.http_status is None
    assert result.detail == "connection refused after 4 attempts"
    assert calls == 5  # before each attempt, and once more before giving up


def test_process_exit_stops_the_wait_early(start_demo: StartDemo) -> None:
    # The release crashes soon after it listens; its health path is wrong (404, retried),
    # so only noticing the exit can end the wait before the 50 retries run out.
    proc, url = start_demo("crash_after=0.4")
    settings = HealthSettings(path="/api/missing", retries=50, backoff=0.1)
    start = time.monotonic()
    result = wait_until_healthy(url, settings, alive(proc))
    assert time.monotonic() - start < 3.0
    assert result.status == "failed" and result.http_status is None
    assert result.detail.startswith("release process exited (last check: ")


def test_timeout_is_reported() -> None:
    # A socket that accepts connections (backlog) but never answers.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        start = time.monotonic()
        result = check_http(url, HealthSettings(timeout=0.3))
    assert time.monotonic() - start < 2.0
    assert (result.status, result.detail) == ("failed", "timeout after 0.3s")


@pytest.mark.parametrize(
    ("status", "body", "expected", "detail"),
    [
        (200, b"<html>ok</html>", "failed", "body is not JSON"),
        (200, b'{"status": "unhealthy"}', "failed", "status is 'unhealthy'"),
        (200, b'{"status": "degraded"}', "degraded", "status is 'degraded'"),
        (200, b"[1, 2]", "failed", "body has no status"),
        (404, b"{}", "failed", "HTTP 404"),
        (503, b'{"status": "healthy"}', "failed", "HTTP 503"),
    ],
)
def test_answers_that_are_not_ok(status: int, body: bytes, expected: str, detail: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    with httpx.Client(transport=transport) as client:
        result = check_http("http://release.test/", HealthSettings(), client)
    assert (result.status, result.detail, result.http_status) == (expected, detail, status)


def test_non_5xx_failures_are_retried_and_5xx_is_not() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(404 if len(seen) < 3 else 502)

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        settings = HealthSettings(retries=10, backoff=0)
        result = wait_until_healthy("http://release.test", settings, lambda: True, client)
    assert seen == ["/api/health"] * 3
    assert (result.status, result.http_status) == ("failed", 502)
