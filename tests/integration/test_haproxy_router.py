"""HaproxyRouter with the real haproxy (private directory, free port) in front of small HTTP
servers on 127.0.0.x addresses, each address standing for a host.

The servers run in this process (threads), so a test can close one as a host that died. Every
haproxy a test starts is stopped in a finalizer, by its pid; only 127.0.0.0/8 is used.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from safeship._processes import free_port
from safeship.routing.base import Backend, RouterError, Server
from safeship.routing.haproxy import HaproxyRouter
from safeship.routing.proxy import RELEASE_HEADER
from safeship.routing.settings import HaproxyRouterSettings

# Fast checks: a dead server is out of traffic within about half a second.
SETTINGS = HaproxyRouterSettings(
    type="haproxy", check_interval=0.2, fall=2, rise=1, connect_timeout=1.0, hard_stop_after=5
)


class QuietServer(ThreadingHTTPServer):
    """A threaded server that can die like a process: ``die`` closes every connection."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def die(self) -> None:
        self.shutdown()
        self.server_close()
        with self.connections_lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # haproxy's TCP checks and closed keep-alive connections: resets, not news


@dataclass
class Host:
    """An HTTP server on one 127.0.0.x address: one release's instance on one host.

    Answers ``RELEASE HOST`` with X-Release-Version and a (forged) X-Safeship-Release header;
    /fail answers 500, /sleep/MS waits MS milliseconds, /hold waits until ``let_go`` is set.
    """

    release: str
    host: str
    address: str
    server: QuietServer
    let_go: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.server.server_address[1]}"

    def as_server(self) -> Server:
        return Server(self.host, self.url)

    def close(self) -> None:
        self.server.die()


def start_host(release: str, host: str, address: str) -> Host:
    holder: list[Host] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.startswith("/sleep/"):
                time.sleep(int(self.path.split("/")[2]) / 1000)
            if self.path.startswith("/hold"):
                holder[0].let_go.wait(10)
            body = f"{release} {host}".encode()
            self.send_response(500 if self.path.startswith("/fail") else 200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Release-Version", release)
            self.send_header(RELEASE_HEADER, "forged-by-the-release")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = QuietServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    holder.append(Host(release, host, address, server))
    return holder[0]


@pytest.fixture
def hosts() -> Iterator[Callable[[str, int], list[Host]]]:
    """``hosts(release, n)``: the release's instances on n hosts (127.0.0.2, .3, ...)."""
    started: list[Host] = []

    def make(release: str, count: int) -> list[Host]:
        made = [start_host(release, f"web{i + 1}", f"127.0.0.{i + 2}") for i in range(count)]
        started.extend(made)
        return made

    yield make
    for host in started:
        host.let_go.set()
        with contextlib.suppress(OSError):
            host.close()


@pytest.fixture
def router(tmp_path: Path) -> Iterator[HaproxyRouter]:
    r = HaproxyRouter("test", free_port(), tmp_path, SETTINGS)
    try:
        yield r
    finally:
        pid = r.pid
        r.stop()
        assert pid is None or not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def fleet(name: str, weight: int, instances: list[Host]) -> Backend:
    return Backend(name, instances[0].url, weight, tuple(h.as_server() for h in instances))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def all_up(router: HaproxyRouter, count: int) -> Callable[[], bool]:
    return lambda: [s.status for s in router.servers()].count("up") == count


def answers(router: HaproxyRouter, n: int, path: str = "/") -> list[httpx.Response]:
    with httpx.Client(trust_env=False, timeout=5) as client:
        return [client.get(f"http://127.0.0.1:{router.port}{path}") for _ in range(n)]


class Load:
    """Requests from ``threads`` threads, each on new connections, until stopped; outcomes
    counted as "200 RELEASE" or the error's name. Bounded in count and time."""

    def __init__(self, router: HaproxyRouter, threads: int = 3) -> None:
        self.url = f"http://127.0.0.1:{router.port}/"
        self.results: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        deadline = time.monotonic() + 20
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(trust_env=False, timeout=5, limits=limits) as client:
            for _ in range(3000):
                if self.stopping.is_set() or time.monotonic() > deadline:
                    return
                try:
                    r = client.get(self.url)
                    outcome = f"{r.status_code} {r.headers.get('X-Release-Version')}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self.lock:
                    self.results[outcome] += 1

    def answered(self) -> int:
        with self.lock:
            return sum(self.results.values())

    def wait_more(self, more: int) -> None:
        target = self.answered() + more
        wait_for(lambda: self.answered() >= target, f"{more} more answers")

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(20)


def test_weights_split_exactly_across_releases_and_hosts(
    router: HaproxyRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    v1, v2 = hosts("1.0+build", 3), hosts("2.0", 2)
    router.set_backends([fleet("1.0+build", 75, v1), fleet("2.0", 25, v2)])
    router.ensure_running()
    wait_for(all_up(router, 5), "5 servers up")
    # 25 per server of v1, 12.5 per server of v2: 2/2/2/1/1, a cycle of 8 requests.
    seen = Counter((r.headers[RELEASE_HEADER], r.text.split()[1]) for r in answers(router, 80))
    assert seen == {
        ("1.0+build", "web1"): 20,
        ("1.0+build", "web2"): 20,
        ("1.0+build", "web3"): 20,
        ("2.0", "web1"): 10,
        ("2.0", "web2"): 10,
    }
    # The header names the release that answered: HAProxy's, not the release's own.
    names = {s.backend: s for s in router.servers()}
    assert set(names) == {"1.0+build", "2.0"}
    assert router.backends() == [fleet("1.0+build", 75, v1), fleet("2.0", 25, v2)]
    # A weight change goes through the Runtime API: the same worker serves on.
    worker = router.worker_pid
    router.set_backends([fleet("1.0+build", 40, v1), fleet("2.0", 60, v2)])
    assert router.worker_pid == worker
    seen_releases = Counter(r.headers[RELEASE_HEADER] for r in answers(router, 100))
    assert abs(seen_releases["2.0"] - 60) <= 3, seen_releases
    # A host taken out of a release: its server is drained, the others share the weight.
    router.set_backends([fleet("1.0+build", 40, v1[:2]), fleet("2.0", 60, v2)])
    assert router.worker_pid == worker
    states = {(s.backend, s.host): (s.status, s.weight) for s in router.servers()}
    assert states[("1.0+build", "web3")][0] == "drain"
    # 20 per server of 1.0, 30 of 2.0: the largest share is HAProxy's 256.
    assert states[("1.0+build", "web1")] == ("up", 171) and states[("2.0", "web1")] == ("up", 256)
    assert {r.text.split()[1] for r in answers(router, 20) if r.text.startswith("1.0")} == {
        "web1",
        "web2",
    }


def test_a_release_leaving_is_drained_and_its_requests_counted_in_flight(
    router: HaproxyRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    v1, v2 = hosts("v1", 1), hosts("v2", 2)
    router.set_backends([fleet("v1", 50, v1), fleet("v2", 50, v2)])
    router.ensure_running()
    wait_for(all_up(router, 3), "3 servers up")
    held: list[httpx.Response] = []
    # Requests held by v2's servers (round robin reaches both) stay in flight.
    holders = [
        threading.Thread(
            target=lambda: held.append(
                httpx.get(f"http://127.0.0.1:{router.port}/hold", trust_env=False, timeout=10)
            )
        )
        for _ in range(4)
    ]
    for t in holders:
        t.start()
    wait_for(
        lambda: router.stats().get("v2", None) is not None and router.stats()["v2"].in_flight == 2,
        "2 requests in flight to v2",
    )
    worker = router.worker_pid
    router.set_backends([fleet("v1", 100, v1)])  # v2 leaves traffic: drained, not dropped
    assert router.worker_pid == worker
    states = {(s.backend, s.host): s.status for s in router.servers()}
    assert states == {("v1", "web1"): "up", ("v2", "web1"): "drain", ("v2", "web2"): "drain"}
    assert router.stats()["v2"].in_flight == 2
    assert {r.headers[RELEASE_HEADER] for r in answers(router, 10)} == {"v1"}
    # Servers added: a reload, which drops v2's servers from the config; the former worker
    # still finishes the requests it holds, and they still count as in flight.
    v3 = hosts("v3", 1)
    router.set_backends([fleet("v1", 50, v1), fleet("v3", 50, v3)])
    assert router.worker_pid != worker
    assert {s.backend for s in router.servers()} == {"v1", "v3"}
    assert router.stats()["v2"].in_flight == 2
    for host in v2 + v1:
        host.let_go.set()
    for t in holders:
        t.join(10)
    assert [r.status_code for r in held] == [200] * 4
    wait_for(lambda: router.stats()["v2"].in_flight == 0, "v2 drained")
    assert "v2" in router.stats()  # its counters stay: cumulative since the start


def test_servers_added_under_load_fail_no_request(
    router: HaproxyRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    stable, canary = hosts("v1", 2), hosts("v2", 3)
    router.set_backends([fleet("v1", 100, stable)])
    router.ensure_running()
    wait_for(all_up(router, 2), "2 servers up")
    with Load(router) as load:
        load.wait_more(30)
        worker = router.worker_pid
        router.set_backends([fleet("v1", 90, stable), fleet("v2", 10, canary[:1])])  # a reload
        assert router.worker_pid != worker
        load.wait_more(30)
        router.set_backends([fleet("v1", 50, stable), fleet("v2", 50, canary)])  # another
        load.wait_more(60)
    assert set(load.results) == {"200 v1", "200 v2"}, load.results
    # A reload keeps the weights: the config carries them (256 per server of v1, 171 of v2).
    seen = Counter(r.headers[RELEASE_HEADER] for r in answers(router, 40))
    assert abs(seen["v1"] - 20) <= 2 and seen["v1"] + seen["v2"] == 40, seen


def test_a_dead_server_goes_down_and_its_requests_are_redispatched(
    router: HaproxyRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    v1 = hosts("v1", 3)
    router.set_backends([fleet("v1", 100, v1)])
    router.ensure_running()
    wait_for(all_up(router, 3), "3 servers up")
    with Load(router) as load:
        load.wait_more(30)
        v1[1].close()  # web2 dies: its port refuses connections
        wait_for(
            lambda: {s.host: s.status for s in router.servers()}["web2"] == "down",
            "web2 down",
        )
        load.wait_more(30)
    assert set(load.results) == {"200 v1"}, load.results  # a delay, never an error
    stats = {s.host: s.stats for s in router.servers()}
    assert stats["web2"].connect_errors >= 1 and stats["web2"].responses_5xx == 0
    # The release's figures are its clients': every request was answered.
    assert router.stats()["v1"].errors == 0 and router.stats()["v1"].requests > 0


def test_stats_and_latency_per_release(
    router: HaproxyRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    fast, slow = hosts("fast", 1), hosts("slow", 1)
    router.set_backends([fleet("fast", 50, fast), fleet("slow", 50, slow)])
    router.ensure_running()
    wait_for(all_up(router, 2), "2 servers up")
    got = Counter(r.headers[RELEASE_HEADER] for r in answers(router, 20, "/sleep/0"))
    assert got == {"fast": 10, "slow": 10}
    # Only the slow release sleeps: haproxy's log gives each release its own latency.
    router.set_backends([fleet("fast", 0, fast), fleet("slow", 100, slow)])
    assert {r.status_code for r in answers(router, 4, "/sleep/60")} == {200}
    router.set_backends([fleet("fast", 50, fast), fleet("slow", 50, slow)])
    assert Counter(r.status_code for r in answers(router, 10, "/fail")) == {500: 10}
    wait_for(lambda: sum(s.requests for s in router.stats().values()) == 34, "34 log lines")
    stats = router.stats()
    assert stats["fast"].requests == 15 and stats["slow"].requests == 19
    assert stats["fast"].status_classes == {"2xx": 10, "5xx": 5}
    assert stats["slow"].responses_5xx == 5 and stats["slow"].connect_errors == 0
    assert sum(stats["slow"].latency_buckets) == 19
    p95 = stats["slow"].latency_quantile_ms(0.95)
    assert p95 is not None and p95 >= 55
    assert (stats["fast"].latency_quantile_ms(0.5) or 0) < 55
    assert stats["fast"].in_flight == 0


def test_an_invalid_config_is_refused_and_the_old_one_serves_on(
    router: HaproxyRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    v1 = hosts("v1", 1)
    router.set_backends([fleet("v1", 100, v1)])
    router.ensure_running()
    before = router.conf_path.read_text()
    with pytest.raises(RouterError, match=r"^haproxy -c rejected the config: ") as info:
        router.apply(before.replace("balance roundrobin", "balance no-such-algorithm"))
    assert "\n" not in str(info.value)
    # A host name that does not resolve: refused the same way, before any reload.
    gone = Backend(
        "v2", "http://no-such-host.invalid:80", 50, (Server("x", "http://no-such-host.invalid:80"),)
    )
    with pytest.raises(RouterError, match="rejected the config"):
        router.set_backends([fleet("v1", 50, v1), gone])
    assert router.conf_path.read_text() == before
    assert router.backends() == [fleet("v1", 100, v1)]
    assert {r.headers[RELEASE_HEADER] for r in answers(router, 5)} == {"v1"}
    with pytest.raises(RouterError, match="weights must sum to 100"):
        router.set_backends([fleet("v1", 50, v1)])


def test_a_dead_haproxy_is_started_again_with_the_current_backends(
    router: HaproxyRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    v1, v2 = hosts("v1", 2), hosts("v2", 1)
    router.ensure_running()
    router.set_backends([fleet("v1", 50, v1), fleet("v2", 50, v2)])
    master = router.pid
    assert master is not None
    os.killpg(master, signal.SIGKILL)
    wait_for(lambda: not router.is_running(), "haproxy dead")
    router.ensure_running()
    assert router.pid != master
    wait_for(all_up(router, 3), "3 servers up")
    seen = Counter(r.headers[RELEASE_HEADER] for r in answers(router, 20))
    assert seen == {"v1": 10, "v2": 10}
    router.ensure_running()  # idempotent
    router.stop()
    assert not router.is_running()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{router.port}/", trust_env=False)


def test_state_is_private_whatever_the_umask(
    router: HaproxyRouter, hosts: Callable[[str, int], list[Host]]
) -> None:
    v1 = hosts("v1", 1)
    old_umask = os.umask(0)
    try:
        router.set_backends([fleet("v1", 100, v1)])
        router.ensure_running()
    finally:
        os.umask(old_umask)
    modes = {
        path.name: path.stat().st_mode & 0o777
        for path in (
            router.prefix,
            *(
                router.prefix / name
                for name in (
                    "haproxy.cfg",
                    "releases.map",
                    "state.json",
                    "router.json",
                    "haproxy.log",
                    "admin.sock",
                    "master.sock",
                )
            ),
        )
    }
    assert modes == {
        "haproxy": 0o700,
        "haproxy.cfg": 0o600,
        "releases.map": 0o600,
        "state.json": 0o600,
        "router.json": 0o600,
        "haproxy.log": 0o600,
        "admin.sock": 0o600,
        "master.sock": 0o600,
    }


def test_building_the_router_starts_nothing(tmp_path: Path) -> None:
    router = HaproxyRouter("test", free_port(), tmp_path, SETTINGS)
    assert not router.is_running() and router.backends() == [] and router.stats() == {}
    assert not (tmp_path / "haproxy").exists()


def test_port_in_use_is_a_one_line_error(router: HaproxyRouter) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", router.port))
        sock.listen()
        with pytest.raises(RouterError, match="haproxy exited with code") as info:
            router.ensure_running()
    assert "\n" not in str(info.value) and "cannot bind" in str(info.value)
    assert not router.is_running()
