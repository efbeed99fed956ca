"""The builtin router as real processes: BuiltinRouter, the proxy, and backend servers.

Every process a test starts is killed by its pid in a finalizer; only 127.0.0.1 is used.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from safeship import _processes
from safeship.config.models import BuiltinRouterSettings
from safeship.routing.base import Backend, RouterError
from safeship.routing.builtin import BuiltinRouter

# A tiny backend: answers "<name> <method> <path>" with 200; /fail answers 500 and
# /sleep/<s> waits s seconds first (saying "sleeping <path>" on stdout as it starts). It prints
# its (OS-chosen) port on stdout.
BACKEND_SCRIPT = r"""
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = sys.argv[1]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        if self.path.startswith("/sleep/"):
            print("sleeping", self.path, flush=True)
            time.sleep(float(self.path.split("/")[2]))
        status = 500 if self.path.startswith("/fail") else 200
        body = f"{NAME} {self.command} {self.path} {data.decode()}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@dataclass
class BackendProc:
    name: str
    proc: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backend(self, weight: int) -> Backend:
        return Backend(name=self.name, url=self.url, weight=weight)


def kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def start_backend() -> Iterator[Callable[[str], BackendProc]]:
    started: list[subprocess.Popen[str]] = []

    def start(name: str) -> BackendProc:
        proc = subprocess.Popen(
            [sys.executable, "-c", BACKEND_SCRIPT, name], stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10.0)
        assert ready, f"backend {name} did not print its port"
        return BackendProc(name=name, proc=proc, port=int(proc.stdout.readline()))

    yield start
    for proc in started:
        kill_pid(proc.pid)
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def make_router(tmp_path: Path) -> Iterator[Callable[..., BuiltinRouter]]:
    """Builds BuiltinRouters on one free port and state dir; kills every router pid at the end."""
    port = free_port()
    pids: set[int] = set()

    def make(settings: BuiltinRouterSettings | None = None, **kwargs: float) -> BuiltinRouter:
        router = BuiltinRouter("test", port, tmp_path / "router", settings, **kwargs)
        router.ensure_running()
        pid = router.pid
        assert pid is not None
        pids.add(pid)
        return router

    yield make
    for pid in pids:
        kill_pid(pid)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0, trust_env=False) as c:
        yield c


def url(router: BuiltinRouter, path: str = "/") -> str:
    return f"http://127.0.0.1:{router.port}{path}"


def releases_of(
    client: httpx.Client, router: BuiltinRouter, n: int, path: str = "/"
) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(n):
        r = client.get(url(router, path))
        assert r.status_code == 200, r.text
        # The header names the release that really answered (the body says who it is).
        assert r.text.split()[0] == r.headers["X-Safeship-Release"]
        seen[r.headers["X-Safeship-Release"]] += 1
    return seen


def test_weights_split_exactly_and_stats_count(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router()
    router.set_backends([stable.backend(90), canary.backend(10)])
    assert router.backends() == [stable.backend(90), canary.backend(10)]

    assert releases_of(client, router, 100) == {"stable": 90, "canary": 10}

    stats = router.stats()
    assert stats["stable"].requests == 90
    assert stats["canary"].requests == 10
    assert dict(stats["stable"].status_classes) == {"2xx": 90}
    assert sum(stats["canary"].latency_buckets) == 10
    assert stats["canary"].latency_sum_ms > 0
    assert stats["canary"].error_rate == 0.0


def test_request_is_forwarded_whole_and_5xx_counted(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router()
    router.set_backends([stable.backend(50), canary.backend(50)])
    before = router.stats()

    r = client.post(url(router, "/orders?id=7&x=a%20b"), content=b"payload")
    assert r.status_code == 200
    assert r.text.split(" ", 1)[1] == "POST /orders?id=7&x=a%20b payload"

    for _ in range(10):
        r = client.get(url(router, "/fail"))
        assert r.status_code == 500  # the release's own 5xx reaches the client unchanged

    window = {name: s.minus(before[name]) for name, s in router.stats().items()}
    assert window["stable"].requests + window["canary"].requests == 11
    assert window["stable"].responses_5xx + window["canary"].responses_5xx == 10
    assert window["canary"].status_classes["5xx"] >= 5
    assert window["canary"].error_rate > 0.8


def test_changing_weights_takes_effect(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router()
    router.set_backends([stable.backend(90), canary.backend(10)])
    assert releases_of(client, router, 10) == {"stable": 9, "canary": 1}

    router.set_backends([stable.backend(50), canary.backend(50)])
    assert releases_of(client, router, 20) == {"stable": 10, "canary": 10}

    router.set_backends([stable.backend(0), canary.backend(100)])
    assert releases_of(client, router, 10) == {"canary": 10}
    assert router.backends()[0].weight == 0


def test_invalid_backends_are_rejected_and_nothing_changes(
    make_router: Callable[..., BuiltinRouter], start_backend: Callable[[str], BackendProc]
) -> None:
    stable = start_backend("stable")
    router = make_router()
    router.set_backends([stable.backend(100)])
    with pytest.raises(RouterError, match="sum to 100"):
        router.set_backends([stable.backend(90)])
    with pytest.raises(RouterError, match=r"127\.0\.0\.1"):
        router.set_backends([Backend("x", "http://192.0.2.1:80", 100)])
    assert router.backends() == [stable.backend(100)]


def test_no_backends_answers_503(
    make_router: Callable[..., BuiltinRouter], client: httpx.Client
) -> None:
    router = make_router()
    assert router.backends() == []
    r = client.get(url(router))
    assert r.status_code == 503
    assert "no backends" in r.text
    assert r.headers["content-type"].startswith("text/plain")


def test_killed_backend_counts_connect_errors_and_clients_still_succeed(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router()
    router.set_backends([stable.backend(50), canary.backend(50)])
    assert releases_of(client, router, 2) == {"stable": 1, "canary": 1}

    kill_pid(canary.proc.pid)
    canary.proc.wait(timeout=5)
    assert releases_of(client, router, 20) == {"stable": 20}

    stats = router.stats()
    assert stats["canary"].connect_errors == 10
    assert stats["canary"].requests == 11
    assert stats["canary"].responses_5xx == 0
    assert stats["stable"].requests == 21
    assert stats["stable"].error_rate == 0.0


def test_only_backend_down_gives_502(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    solo = start_backend("solo")
    router = make_router()
    router.set_backends([solo.backend(100)])
    kill_pid(solo.proc.pid)
    solo.proc.wait(timeout=5)
    r = client.get(url(router))
    assert r.status_code == 502
    assert "unreachable" in r.text
    assert router.stats()["solo"].connect_errors == 1


def test_upstream_timeout_is_502_counted_as_5xx(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    slow = start_backend("slow")
    router = make_router(upstream_timeout=0.3)
    router.set_backends([slow.backend(100)])
    started = time.monotonic()
    r = client.get(url(router, "/sleep/20"))
    assert r.status_code == 502
    assert time.monotonic() - started < 10  # cut at the 0.3 s upstream timeout, not after 20 s
    assert r.headers["X-Safeship-Release"] == "slow"
    stats = router.stats()["slow"]
    assert (stats.requests, stats.responses_5xx, stats.connect_errors) == (1, 1, 0)


def test_backends_persist_across_restart(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router()
    router.set_backends([stable.backend(80), canary.backend(20)])
    first_pid = router.pid
    router.stop()
    assert not router.is_running()
    assert not router.info_path.exists()

    restarted = make_router()
    assert restarted.pid != first_pid
    assert restarted.backends() == [stable.backend(80), canary.backend(20)]
    assert releases_of(client, restarted, 10) == {"stable": 8, "canary": 2}
    # Counters start again with the new process.
    assert restarted.stats()["stable"].requests == 8


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        router = BuiltinRouter("test", port, tmp_path)
        with pytest.raises(RouterError) as info:
            router.ensure_running()
    assert str(info.value) == f"port {port} is already in use by another process"
    assert not router.info_path.exists()


def test_router_that_exits_early_reports_the_last_log_line(tmp_path: Path) -> None:
    (tmp_path / "backends.json").write_text("{not json")
    router = BuiltinRouter("test", free_port(), tmp_path)
    with pytest.raises(RouterError, match=r"invalid .*backends\.json") as info:
        router.ensure_running()
    assert "\n" not in str(info.value)
    assert not router.is_running()


def test_router_outlives_its_object_and_stop_leaves_no_process(
    make_router: Callable[..., BuiltinRouter],
) -> None:
    first = make_router()
    pid = first.pid
    assert pid is not None
    del first
    gc.collect()

    again = make_router()  # a later command finds the same process
    assert again.pid == pid
    assert again.is_running()
    again.ensure_running()  # idempotent
    assert again.pid == pid

    again.stop()
    assert pid_gone(pid)
    assert not again.is_running()
    assert not again.info_path.exists()
    again.stop()  # stopping a stopped router is fine


def test_stale_router_json_is_cleaned(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    router = BuiltinRouter("test", free_port(), tmp_path)
    router.info_path.write_text(
        json.dumps({"pid": dead.pid, "port": router.port, "admin_port": 1, "started_at": 0})
    )
    assert not router.is_running()
    assert not router.info_path.exists()
    with pytest.raises(RouterError, match="not running"):
        router.backends()


@pytest.mark.parametrize(
    ("ours", "old_file"),
    [(False, False), (True, False), (False, True)],
    ids=["other-process", "child-of-ours", "file-without-start-time"],
)
def test_router_json_of_a_reused_pid_is_not_signalled(
    tmp_path: Path, ours: bool, old_file: bool
) -> None:
    """A live process with the recorded pid but another start time is not the router; nor,
    in a router.json from before start times were recorded, one that does not answer as it."""
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    if ours:
        # Our unreaped child: its pid cannot be reused, but it may have reused the dead
        # router's pid before this command started it.
        stranger = _processes.spawn_detached(
            argv, env=dict(os.environ), cwd=tmp_path, log_path=tmp_path / "stranger.log"
        )
    else:
        stranger = subprocess.Popen(argv)
    router = BuiltinRouter("test", free_port(), tmp_path / "router")
    try:
        ticks = _processes.start_ticks(stranger.pid)
        assert ticks is not None
        router.state_dir.mkdir()
        info = {"pid": stranger.pid, "port": router.port, "admin_port": free_port()}
        info |= {"started_at": 0} if old_file else {"started_at": 0, "start_ticks": ticks + 1}
        router.info_path.write_text(json.dumps(info))
        # Without a start time the pid alone is trusted, until something is to be signalled.
        assert router.pid == (stranger.pid if old_file else None)
        assert not router.is_running()
        router.stop()
        assert stranger.poll() is None  # not signalled
        assert not router.info_path.exists()  # the stale file is gone

        router.ensure_running()  # a new router, not the stranger
        pid = router.pid
        assert pid is not None and pid != stranger.pid
        recorded = json.loads(router.info_path.read_text())
        assert recorded["start_ticks"] == _processes.start_ticks(pid)
        router.stop()
        assert pid_gone(pid)
        assert stranger.poll() is None
    finally:
        if router.pid is not None:
            kill_pid(router.pid)
        kill_pid(stranger.pid)
        stranger.wait(timeout=5)
        _processes.reap(stranger.pid)


def test_sigterm_finishes_in_flight_requests(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
) -> None:
    slow = start_backend("slow")
    router = make_router(upstream_timeout=5.0)
    router.set_backends([slow.backend(100)])
    pid = router.pid
    assert pid is not None
    results: list[httpx.Response] = []

    def request() -> None:
        with httpx.Client(timeout=10.0, trust_env=False) as c:
            results.append(c.get(url(router, "/sleep/1.5")))

    thread = threading.Thread(target=request)
    thread.start()
    # Wait until the request is waiting on the backend (it says so), then stop the router.
    assert slow.proc.stdout is not None
    ready, _, _ = select.select([slow.proc.stdout], [], [], 10.0)
    assert ready and slow.proc.stdout.readline() == "sleeping /sleep/1.5\n"
    os.kill(pid, signal.SIGTERM)
    thread.join(timeout=10)

    assert [r.status_code for r in results] == [200]
    assert results[0].text.startswith("slow GET /sleep/1.5")
    deadline = time.monotonic() + 5
    while router.pid is not None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not router.info_path.exists()  # removed by the router itself on a graceful exit
