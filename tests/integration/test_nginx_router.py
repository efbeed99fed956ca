"""NginxRouter with a real nginx (private prefix, free port) and two real demo releases.

Every process a test starts is stopped in a finalizer, by its pid; only 127.0.0.1 is used.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import test_router

from safeship._processes import free_port
from safeship.routing.base import Backend, BackendStats, RouterError
from safeship.routing.nginx import NginxRouter
from safeship.routing.nginx_config import render_config

# test_router's fixture for small backend processes, found by pytest under this name.
start_backend = test_router.start_backend


def wait_listening(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url} exited with {proc.returncode}"
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url + "/api/health", trust_env=False, timeout=1)
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} did not start")


@pytest.fixture(scope="module")
def releases() -> Iterator[dict[str, str]]:
    """v1 (healthy) and v2 (every 5th /api/v1/items answers 500), as real processes."""
    procs, urls = [], {}
    try:
        for version in ("v1", "v2"):
            port = free_port()
            env = {**os.environ, "SAFESHIP_VERSION": version, "DEMO_BEHAVIOUR_V2": "error_rate=0.2"}
            proc = subprocess.Popen(
                [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(proc)
            urls[version] = f"http://127.0.0.1:{port}"
            wait_listening(urls[version], proc)
        yield urls
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def router(tmp_path: Path) -> Iterator[NginxRouter]:
    r = NginxRouter("test", free_port(), tmp_path)
    try:
        yield r
    finally:
        pid = r.pid
        r.stop()
        assert pid is None or not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait until ``condition()`` holds, polling; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def logged_requests(router: NginxRouter) -> int:
    """Requests in the access log so far (nginx writes a line after each response)."""
    return sum(s.requests for s in router.stats().values())


def weights(urls: dict[str, str], v1: int, v2: int) -> list[Backend]:
    return [Backend("v1", urls["v1"], v1), Backend("v2", urls["v2"], v2)]


def get(client: httpx.Client, router: NginxRouter, path: str = "/api/health") -> httpx.Response:
    return client.get(f"http://127.0.0.1:{router.port}{path}")


def test_config_is_complete_under_the_prefix(tmp_path: Path) -> None:
    text = render_config(
        tmp_path,
        8080,
        [Backend("a", "http://127.0.0.1:9001", 100), Backend("b", "http://127.0.0.1:9002", 0)],
    )
    assert "server 127.0.0.1:9001 weight=100" in text
    assert "9002" not in text  # weight 0 is left out
    assert "escape=json" in text and "listen 127.0.0.1:8080" in text
    for directive in (
        "pid",
        "error_log",
        "access_log",
        *(f"{t}_temp_path" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
    ):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(directive + " "))
        assert str(tmp_path) in line, line


def test_weights_are_honoured(router: NginxRouter, releases: dict[str, str]) -> None:
    router.set_backends(weights(releases, 90, 10))
    router.ensure_running()
    with httpx.Client(trust_env=False) as client:
        answers = [get(client, router).headers for _ in range(200)]
    # nginx names the release that answered, as the builtin router does.
    assert [a["X-Safeship-Release"] for a in answers] == [a["X-Release-Version"] for a in answers]
    seen = Counter(a["X-Safeship-Release"] for a in answers)
    assert abs(seen["v1"] - 180) <= 4 and abs(seen["v2"] - 20) <= 4, seen
    assert router.backends() == weights(releases, 90, 10)


def test_reload_under_load_drops_no_request(router: NginxRouter, releases: dict[str, str]) -> None:
    router.set_backends(weights(releases, 90, 10))
    router.ensure_running()
    results: Counter[str] = Counter()
    results_lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 15
        # A new connection per request: see the module docstring of safeship.routing.nginx
        # about idle keep-alive connections across a reload.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(trust_env=False, timeout=5, limits=limits) as client:
            for _ in range(5000):  # bounded by count and by time
                if stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    r = get(client, router)
                    outcome = f"{r.status_code} {r.headers.get('X-Release-Version')}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with results_lock:
                    results[outcome] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()

    def answered() -> int:
        with results_lock:
            return sum(results.values())

    def wait_answers(more: int) -> None:
        target = answered() + more
        wait_for(lambda: answered() >= target, f"{more} more answers")

    for i in range(5):
        wait_answers(20)  # each change while requests flow
        router.set_backends(weights(releases, 50, 50) if i % 2 == 0 else weights(releases, 90, 10))
    wait_answers(20)
    stop.set()
    for t in threads:
        t.join(20)
    assert set(results) <= {"200 v1", "200 v2"}, results
    assert sum(results.values()) > 200, results
    assert router.backends() == weights(releases, 50, 50)


def test_stats_per_release_from_the_access_log(
    router: NginxRouter, releases: dict[str, str]
) -> None:
    router.set_backends(weights(releases, 50, 50))
    router.ensure_running()
    with httpx.Client(trust_env=False) as client:
        statuses = Counter(
            (r.headers["X-Release-Version"], r.status_code)
            for r in (get(client, router, "/api/v1/items") for _ in range(100))
        )
    # nginx writes a log line after each response; stats() reads them incrementally.
    wait_for(lambda: logged_requests(router) == 100, "100 log lines")
    stats = router.stats()
    assert {s.in_flight for s in stats.values()} == {None}  # nginx cannot tell
    assert stats["v1"].requests == statuses["v1", 200] == 50
    assert stats["v2"].requests == 50
    assert stats["v2"].responses_5xx == statuses["v2", 500] == 10  # every 5th
    assert stats["v1"].responses_5xx == 0
    assert sum(stats["v1"].latency_buckets) == 50 and stats["v1"].latency_sum_ms >= 0
    assert stats["v2"].status_classes == {"2xx": 40, "5xx": 10}
    # The next call reads only what was logged since.
    with httpx.Client(trust_env=False) as client:
        for _ in range(10):
            get(client, router)
    wait_for(lambda: logged_requests(router) == 110, "110 log lines")
    later = router.stats()
    assert later["v1"].requests + later["v2"].requests == 110


def test_connect_error_is_retried_and_counted(
    router: NginxRouter, releases: dict[str, str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    router.set_backends([Backend("v1", releases["v1"], 50), Backend("gone", dead, 50)])
    router.ensure_running()
    with httpx.Client(trust_env=False) as client:
        answers = Counter(
            (r.status_code, r.headers["X-Safeship-Release"])
            for r in (get(client, router) for _ in range(20))
        )
    # A request retried after a connect error is named after the release that answered it.
    assert answers == {(200, "v1"): 20}
    wait_for(lambda: router.stats().get("v1", BackendStats()).requests == 20, "20 log lines")
    stats = router.stats()
    assert stats["gone"].connect_errors >= 1 and stats["gone"].responses_5xx == 0
    assert stats["v1"].requests == 20


def test_invalid_config_is_rejected_and_the_old_one_keeps_serving(
    router: NginxRouter, releases: dict[str, str]
) -> None:
    router.set_backends(weights(releases, 100, 0))
    router.ensure_running()
    before = router.conf_path.read_text()
    with pytest.raises(RouterError, match=r"^nginx -t rejected the config: .*unknown directive"):
        router.apply(before.replace("worker_processes", "no_such_directive"))
    assert router.conf_path.read_text() == before
    with httpx.Client(trust_env=False) as client:
        assert {get(client, router).headers["X-Release-Version"] for _ in range(10)} == {"v1"}


def test_stop_leaves_no_process_and_restart_keeps_weights(
    router: NginxRouter, releases: dict[str, str]
) -> None:
    router.set_backends(weights(releases, 100, 0))
    router.ensure_running()
    master = psutil.Process(router.pid)
    # The master forks its worker after it answers the start: on a busy machine a moment later.
    deadline = time.monotonic() + 5
    while not master.children(recursive=True) and time.monotonic() < deadline:
        time.sleep(0.02)
    family = [master, *master.children(recursive=True)]
    assert len(family) >= 2  # master and a worker
    router.stop()
    assert not router.is_running()
    _gone, alive = psutil.wait_procs(family, timeout=3)
    assert alive == []
    with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as client:
        get(client, router)
    router.ensure_running()  # a new nginx, same weights from backends.json
    with httpx.Client(trust_env=False) as client:
        assert get(client, router).headers["X-Release-Version"] == "v1"


def test_bad_backend_is_a_one_line_error(router: NginxRouter) -> None:
    with pytest.raises(RouterError, match="weights must sum to 100"):
        router.set_backends([Backend("a", "http://127.0.0.1:9", 50)])


def test_port_in_use_is_a_one_line_error(router: NginxRouter) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", router.port))
        sock.listen()
        with pytest.raises(RouterError, match="Address already in use") as info:
            router.ensure_running()
    assert "\n" not in str(info.value)


def test_large_upload_streams_through(
    router: NginxRouter, start_backend: Callable[[str], test_router.BackendProc]
) -> None:
    sink = start_backend("sink")
    router.set_backends([sink.backend(100)])
    router.ensure_running()
    size, piece = 50 * 1024 * 1024, b"x" * (1024 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    with httpx.Client(trust_env=False, timeout=120) as client:
        r = client.post(
            f"http://127.0.0.1:{router.port}/count",
            content=body(),
            headers={"Content-Length": str(size)},
        )
    # No body size limit and no temp file (the prefix is private to safeship's user).
    assert (r.status_code, r.text) == (200, f"sink POST /count {size}")
    assert r.headers["X-Safeship-Release"] == "sink"


def test_state_is_private_whatever_the_umask(router: NginxRouter, releases: dict[str, str]) -> None:
    old_umask = os.umask(0)
    try:
        router.set_backends(weights(releases, 100, 0))
        router.ensure_running()
    finally:
        os.umask(old_umask)
    modes = {
        str(path.relative_to(router.prefix)): path.stat().st_mode & 0o777
        for path in (
            router.prefix,
            router.prefix / "logs",
            router.conf_path,
            router.prefix / "backends.json",
            router.prefix / "router.json",
            router.access_log,
        )
    }
    assert modes == {
        ".": 0o700,
        "logs": 0o700,
        "nginx.conf": 0o600,
        "backends.json": 0o600,
        "router.json": 0o600,
        "logs/access.log": 0o600,
    }
    with httpx.Client(trust_env=False) as client:
        assert get(client, router).headers["X-Safeship-Release"] == "v1"
