"""The builtin router as real processes: BuiltinRouter, the proxy, and backend servers.

Every process a test starts is killed by its pid in a finalizer; only 127.0.0.1 is used.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from safeship import _processes
from safeship.routing.base import Backend, RouterError
from safeship.routing.builtin import BuiltinRouter
from safeship.routing.settings import BuiltinRouterSettings

# A tiny backend: answers "<name> <method> <path> <body>" with 200; /fail answers 500,
# /sleep/<s> waits s seconds first, /count reads the body in pieces and answers its length,
# /headers answers the request's headers ("Name: value|" each), /hold waits (up to 60 s)
# until someone asks it for /let-go. It prints its (OS-chosen) port.
BACKEND_SCRIPT = r"""
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = sys.argv[1]
LET_GO = threading.Event()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if self.path.startswith("/count"):
            seen = 0
            while seen < length:
                chunk = self.rfile.read(min(1 << 20, length - seen))
                if not chunk:
                    break
                seen += len(chunk)
            data = str(seen).encode()
        elif self.path.startswith("/headers"):
            self.rfile.read(length)
            data = "".join(f"{k}: {v}|" for k, v in self.headers.items()).encode()
        else:
            data = self.rfile.read(length)
        if self.path.startswith("/sleep/"):
            print("sleeping", self.path, flush=True)
            time.sleep(float(self.path.split("/")[2]))
        if self.path.startswith("/hold"):
            LET_GO.wait(60)
        if self.path.startswith("/let-go"):
            LET_GO.set()
        status = 500 if self.path.startswith("/fail") else 200
        body = f"{NAME} {self.command} {self.path} {data.decode()}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = answer

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
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
    r = client.get(url(router, "/sleep/30"))
    assert r.status_code == 502  # the backend would answer 200, much later
    assert time.monotonic() - started < 10
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
    info = {"pid": dead.pid, "port": router.port, "started_at": 0}
    router.info_path.write_text(json.dumps(info | {"admin_socket": str(tmp_path / "no.sock")}))
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
        info = {"pid": stranger.pid, "port": router.port, "admin_socket": str(tmp_path / "x")}
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


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait until ``condition()`` holds, polling; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_sigterm_finishes_in_flight_requests(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    slow = start_backend("slow")
    router = make_router(upstream_timeout=30.0)
    router.set_backends([slow.backend(100)])
    pid = router.pid
    assert pid is not None
    results: list[httpx.Response] = []

    def request() -> None:
        with httpx.Client(timeout=60.0, trust_env=False) as c:
            results.append(c.get(url(router, "/hold")))

    thread = threading.Thread(target=request)
    thread.start()
    wait_for(lambda: router.stats()["slow"].in_flight == 1, "the request to reach the backend")
    os.kill(pid, signal.SIGTERM)
    wait_for(
        lambda: "stopping: finishing in-flight requests" in router.log_path.read_text(),
        "the router to start stopping",
    )
    client.get(slow.url + "/let-go")  # the held request may answer now
    thread.join(timeout=30)

    assert [r.status_code for r in results] == [200]
    assert results[0].text.startswith("slow GET /hold")
    wait_for(lambda: router.pid is None, "the router to exit")
    assert not router.info_path.exists()  # removed by the router itself on a graceful exit


def test_in_flight_requests_are_counted_per_release(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    held, other = start_backend("held"), start_backend("other")
    router = make_router()
    router.set_backends([held.backend(100), other.backend(0)])
    assert router.stats()["held"].in_flight == 0
    results: list[int] = []

    def request() -> None:
        with httpx.Client(timeout=60.0, trust_env=False) as c:
            results.append(c.get(url(router, "/hold")).status_code)

    threads = [threading.Thread(target=request) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_for(lambda: router.stats()["held"].in_flight == 3, "3 requests in flight")
    stats = router.stats()
    assert stats["held"].requests == 0  # counted when answered
    assert stats["other"].in_flight == 0

    client.get(held.url + "/let-go")
    for thread in threads:
        thread.join(timeout=30)
    assert results == [200, 200, 200]
    stats = router.stats()
    assert (stats["held"].in_flight, stats["held"].requests) == (0, 3)


def test_admin_api_and_state_are_private_to_their_owner(
    start_backend: Callable[[str], BackendProc], client: httpx.Client
) -> None:
    """Another local user can neither read the router's state nor reach its admin API, even
    with a project directory others can enter and a umask that would share everything."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the test creates a second user with useradd")
    user = f"ssrouter{os.getpid()}"
    project = Path(tempfile.mkdtemp(prefix="safeship-router-"))
    project.chmod(0o755)  # a project directory that other users can enter, as usual
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
        check=True,
        capture_output=True,
    )
    stable, attacker = start_backend("stable"), start_backend("attacker")
    router = BuiltinRouter("test", free_port(), project / ".safeship" / "router")
    old_umask = os.umask(0)
    try:
        router.ensure_running()
    finally:
        os.umask(old_umask)
    try:
        router.set_backends([stable.backend(100)])
        state = router.state_dir
        socket_path = state / "admin" / "admin.sock"
        modes = {
            p.name: p.stat().st_mode & 0o777
            for p in (state, state / "admin", socket_path, router.info_path, router.log_path)
        }
        modes["backends.json"] = (state / "backends.json").stat().st_mode & 0o777
        assert modes == {
            "router": 0o700,
            "admin": 0o700,
            "admin.sock": 0o600,
            "router.json": 0o600,
            "router.log": 0o600,
            "backends.json": 0o600,
        }
        # What the other user tries, with the standard library only.
        attempt = f"""
import json, socket
outcome = {{}}
for name in ("router.json", "backends.json"):
    try:
        outcome[name] = open({str(state)!r} + "/" + name).read()
    except OSError as exc:
        outcome[name] = type(exc).__name__
body = json.dumps({{"backends": [{{"name": "attacker", "url": {attacker.url!r}, "weight": 100}}]}})
try:
    # The admin API where router.json says it is (a TCP port, as it once was), else the socket.
    info = json.loads(outcome["router.json"]) if "{{" in outcome["router.json"] else {{}}
    if "admin_port" in info:
        s = socket.create_connection(("127.0.0.1", info["admin_port"]))
    else:
        s = socket.socket(socket.AF_UNIX)
        s.connect({str(socket_path)!r})
    head = "PUT /admin/backends HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n"
    head += f"Content-Type: application/json\\r\\nContent-Length: {{len(body)}}\\r\\n\\r\\n"
    s.sendall((head + body).encode())
    outcome["admin"] = s.recv(200).decode(errors="replace")
except OSError as exc:
    outcome["admin"] = type(exc).__name__
print(json.dumps(outcome))
"""
        run = subprocess.run(
            ["runuser", "-u", user, "--", "/usr/bin/python3", "-c", attempt],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == {
            "router.json": "PermissionError",
            "backends.json": "PermissionError",
            "admin": "PermissionError",
        }
        assert router.backends() == [stable.backend(100)]
        assert releases_of(client, router, 5) == {"stable": 5}
    finally:
        pid = router.pid
        router.stop()
        if pid is not None:
            kill_pid(pid)
        subprocess.run(["userdel", user], check=False, capture_output=True)
        shutil.rmtree(project, ignore_errors=True)


def raw_exchange(port: int, request: bytes, timeout: float = 15.0) -> bytes:
    """Send ``request`` on a new connection and read until the router closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_absolute_form_target_is_forwarded_by_its_path(
    make_router: Callable[..., BuiltinRouter], start_backend: Callable[[str], BackendProc]
) -> None:
    stable = start_backend("stable")
    router = make_router()
    router.set_backends([stable.backend(100)])
    answer = raw_exchange(
        router.port,
        f"GET http://127.0.0.1:{router.port}/orders?id=7 HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{router.port}\r\nConnection: close\r\n\r\n".encode(),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer
    assert b"\r\nX-Safeship-Release: stable" in head
    assert body == b"stable GET /orders?id=7 "

    # A target that names no path cannot be forwarded: 400, from the router itself.
    answer = raw_exchange(
        router.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"the request target must be a path" in answer
    assert router.stats()["stable"].requests == 1
    log_text = router.log_path.read_text()
    assert "Traceback" not in log_text and "Error handling request" not in log_text


def test_large_uploads_stream_through_in_bounded_memory(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
) -> None:
    sink = start_backend("sink")
    router = make_router()
    router.set_backends([sink.backend(100)])
    assert router.pid is not None
    proxy = psutil.Process(router.pid)
    uploads, size, piece = 4, 60 * 1024 * 1024, b"x" * (1024 * 1024)
    rss_before = proxy.memory_info().rss
    peak = rss_before
    answers: list[str] = []

    def upload() -> None:
        def body() -> Iterator[bytes]:
            for _ in range(size // len(piece)):
                yield piece

        with httpx.Client(timeout=120.0, trust_env=False) as c:
            # A generator body with a length: sent as it is produced, never whole.
            r = c.post(url(router, "/count"), content=body(), headers={"Content-Length": str(size)})
            answers.append(f"{r.status_code} {r.text}")

    threads = [threading.Thread(target=upload) for _ in range(uploads)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, proxy.memory_info().rss)
        time.sleep(0.05)  # sampling the router's memory, not waiting for anything
    assert answers == [f"200 sink POST /count {size}"] * uploads
    # 240 MB went through; buffering them would have taken the router far past this.
    assert peak - rss_before < 64 * 1024 * 1024, f"RSS grew by {(peak - rss_before) >> 20} MB"


def test_post_with_a_body_is_retried_when_its_release_refuses_the_connection(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable, canary = start_backend("stable"), start_backend("canary")
    router = make_router()
    router.set_backends([stable.backend(50), canary.backend(50)])
    kill_pid(canary.proc.pid)
    canary.proc.wait(timeout=5)
    for i in range(6):
        r = client.post(url(router, "/orders"), content=f"order {i}".encode())
        assert (r.status_code, r.text) == (200, f"stable POST /orders order {i}")
    stats = router.stats()
    assert stats["canary"].connect_errors == 3
    assert (stats["stable"].requests, stats["stable"].in_flight) == (6, 0)


def test_slow_header_and_idle_connections_are_closed(
    make_router: Callable[..., BuiltinRouter],
    start_backend: Callable[[str], BackendProc],
    client: httpx.Client,
) -> None:
    stable = start_backend("stable")
    router = make_router(BuiltinRouterSettings(header_timeout=1.0, idle_timeout=1.0))
    router.set_backends([stable.backend(100)])

    with socket.create_connection(("127.0.0.1", router.port), timeout=30) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        # A slowloris client: one more header byte every 0.2 s, never the end of the head.
        while time.monotonic() - started < 20:
            readable, _, _ = select.select([slow], [], [], 0.2)
            if readable:
                with contextlib.suppress(ConnectionResetError):
                    data = slow.recv(1024)
                    assert data == b"", data  # no answer: the head never ended
                closed = True
                break
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                slow.send(b"X")
        assert closed, "the slow-header connection was still open after 20 s"
        assert time.monotonic() - started >= 0.9  # not before its header timeout

    # An idle keep-alive connection is closed too, after a normal exchange on it.
    with socket.create_connection(("127.0.0.1", router.port), timeout=30) as idle:
        idle.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"stable GET /ok "):
            chunk = idle.recv(4096)
            assert chunk, answer
            answer += chunk
        readable, _, _ = select.select([idle], [], [], 20)
        assert readable and idle.recv(1024) == b"", "the idle connection was not closed"

    # Normal requests are not affected.
    assert client.get(url(router, "/after")).text == "stable GET /after "


def test_expect_100_continue_is_answered_before_the_body_streams(
    make_router: Callable[..., BuiltinRouter], start_backend: Callable[[str], BackendProc]
) -> None:
    stable = start_backend("stable")
    router = make_router()
    router.set_backends([stable.backend(100)])
    with socket.create_connection(("127.0.0.1", router.port), timeout=15) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 5\r\nConnection: close\r\n\r\n"
        )
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            chunk = sock.recv(1)  # byte by byte: read no further than the interim answer
            assert chunk, interim
            interim += chunk
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.endswith(b"stable POST /upload hello")


def test_admin_socket_works_in_a_state_dir_too_deep_for_a_socket_address(
    tmp_path: Path, start_backend: Callable[[str], BackendProc], client: httpx.Client
) -> None:
    # A Unix socket address holds at most 107 bytes; this path is longer.
    router = BuiltinRouter("test", free_port(), tmp_path / ("d" * 60) / ("e" * 60))
    assert len(str(router.state_dir / "admin" / "admin.sock")) > 107
    stable = start_backend("stable")
    router.ensure_running()
    try:
        router.set_backends([stable.backend(100)])
        assert router.backends() == [stable.backend(100)]
        assert releases_of(client, router, 2) == {"stable": 2}
    finally:
        pid = router.pid
        router.stop()
        if pid is not None:
            kill_pid(pid)
    assert not router.is_running()
    assert not (router.state_dir / "admin" / "admin.sock").exists()


def test_hop_by_hop_headers_stay_with_their_connection(
    make_router: Callable[..., BuiltinRouter], start_backend: Callable[[str], BackendProc]
) -> None:
    stable = start_backend("stable")
    router = make_router()
    router.set_backends([stable.backend(100)])
    answer = raw_exchange(
        router.port,
        b"GET /headers HTTP/1.1\r\nHost: shop.example\r\nConnection: close, X-Hop\r\n"
        b"X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: a\r\nX-Kept: b\r\n"
        b"X-Forwarded-For: 203.0.113.7\r\n\r\n",
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer
    received = body.decode().split(" ", 3)[3].split("|")
    names = [line.split(":")[0].lower() for line in received if line]
    # Headers of the client's connection are not passed on; the others are, repeated ones too.
    assert "x-hop" not in names and "keep-alive" not in names, received
    assert [line for line in received if line.lower().startswith("x-kept")] == [
        "X-Kept: a",
        "X-Kept: b",
    ]
    assert "Host: shop.example" in received
    assert "X-Forwarded-For: 203.0.113.7, 127.0.0.1" in received
