"""Router overhead: latency and throughput through the builtin router and nginx versus direct.

One demo release (safeship.demo.demo_app, GET /api/health) on 127.0.0.1; the same bounded load
against it directly, through BuiltinRouter (100% weight), through a BuiltinRouter with sticky
cookies whose every request carries the cookie (the pinned path: parse the cookie, look the
release up) and through NginxRouter (100% weight): an aiohttp client with CONCURRENCY
connections in flight, REQUESTS requests per run after a warm-up, one fresh TCP connection per
request from the client. The routers keep their upstream connections alive.

The paths are measured in turn, ROUNDS times over (interleaved, so a burst of load from other
programs on the machine hits every path alike), and each figure is the median over the rounds:
p50/p99 latency, throughput, what each router adds to direct, and the CPU time the router's
own processes spent per request (the release's for direct), which depends far less on the
machine's load than the latencies do. Sticky routing's own cost is the difference between the
two builtin rows.

Usage: python benchmarks/router_overhead.py [REQUESTS [ROUNDS]]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import psutil

from safeship._processes import free_port
from safeship.config.models import BuiltinRouterSettings
from safeship.routing.base import Backend
from safeship.routing.builtin import BuiltinRouter
from safeship.routing.nginx import NginxRouter

CONCURRENCY = 8
WARMUP = 200
TIME_LIMIT_S = 60.0


@dataclass(frozen=True)
class Run:
    p50_ms: float
    p99_ms: float
    rps: float
    cpu_us_per_request: float
    failed: int


@dataclass(frozen=True)
class Path_:
    """One way to the release: its URL, the cookies every request sends, and the processes
    whose CPU time is charged to it."""

    url: str
    cookies: dict[str, str] | None
    processes: Callable[[], list[psutil.Process]]


async def load(
    url: str, requests: int, cookies: dict[str, str] | None
) -> tuple[list[float], float, int]:
    """Latencies (ms) of ``requests`` GETs sending ``cookies``, the wall time, and the failures."""
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    deadline = time.monotonic() + TIME_LIMIT_S

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty() and time.monotonic() < deadline:
            queue.get_nowait()
            started = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            failures += not ok

    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector, cookies=cookies) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return latencies, time.perf_counter() - started, failures


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def measure(path: Path_, requests: int) -> Run:
    asyncio.run(load(path.url, WARMUP, path.cookies))
    processes = path.processes()
    cpu_before = cpu_seconds(processes)
    latencies, wall, failures = asyncio.run(load(path.url, requests, path.cookies))
    cpu = cpu_seconds(processes) - cpu_before
    cuts = statistics.quantiles(latencies, n=100)
    return Run(cuts[49], cuts[98], len(latencies) / wall, cpu / len(latencies) * 1e6, failures)


def family(pid: int | None) -> list[psutil.Process]:
    """The process and its children (nginx: the master and its workers)."""
    assert pid is not None
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        statistics.median(r.rps for r in runs),
        statistics.median(r.cpu_us_per_request for r in runs),
        sum(r.failed for r in runs),
    )


def main() -> int:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
        env={**os.environ, "SAFESHIP_VERSION": "v1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    release = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        builtin = BuiltinRouter("bench", free_port(), Path(tmp) / "builtin")
        sticky_settings = BuiltinRouterSettings(sticky="cookie")
        sticky = BuiltinRouter("bench", free_port(), Path(tmp) / "sticky", sticky_settings)
        nginx = NginxRouter("bench", free_port(), Path(tmp) / "nginx")
        routers = (builtin, sticky, nginx)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    httpx.get(release + "/api/health", trust_env=False)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        print("router_overhead: the demo release did not start", file=sys.stderr)
                        return 1
                    time.sleep(0.05)
            for router in routers:
                router.ensure_running()
                router.set_backends([Backend("v1", release, 100)])
            paths = {
                "direct": Path_(release + "/api/health", None, lambda: [psutil.Process(app.pid)]),
                "builtin router": Path_(
                    f"http://127.0.0.1:{builtin.port}/api/health",
                    None,
                    lambda: family(builtin.pid),
                ),
                "builtin sticky": Path_(
                    f"http://127.0.0.1:{sticky.port}/api/health",
                    {sticky_settings.sticky_name: "v1"},
                    lambda: family(sticky.pid),
                ),
                "nginx": Path_(
                    f"http://127.0.0.1:{nginx.port}/api/health", None, lambda: family(nginx.pid)
                ),
            }
            runs: dict[str, list[Run]] = {name: [] for name in paths}
            for _ in range(rounds):
                for name, path in paths.items():
                    runs[name].append(measure(path, requests))
        finally:
            for router in routers:
                router.stop()
            app.terminate()
            app.wait(5)
    print(
        f"{requests} GET /api/health per row and round, {CONCURRENCY} in flight, loopback;"
        f" medians of {rounds} interleaved rounds; load average {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} CPUs\n"
    )
    print(
        f"{'path':<16}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}{'+p50 ms':>9}{'+p99 ms':>9}"
        f"{'% direct':>9}{'CPU us/req':>11}{'failed':>8}"
    )
    base = median_run(runs["direct"])
    for name, name_runs in runs.items():
        row = median_run(name_runs)
        print(
            f"{name:<16}{row.p50_ms:>8.2f}{row.p99_ms:>8.2f}{row.rps:>8.0f}"
            f"{row.p50_ms - base.p50_ms:>+9.2f}{row.p99_ms - base.p99_ms:>+9.2f}"
            f"{row.rps / base.rps * 100:>8.0f}%{row.cpu_us_per_request:>11.0f}{row.failed:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
