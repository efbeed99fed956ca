"""Router overhead: latency and throughput through the builtin router and nginx versus direct.

One demo release (safeship.demo.demo_app, GET /api/health) on 127.0.0.1; the same bounded load
against it directly, through BuiltinRouter (100% weight), through a BuiltinRouter with sticky
cookies whose every request carries the cookie (the pinned path: parse the cookie, look the
release up) and through NginxRouter (100% weight): an aiohttp client with CONCURRENCY
connections in flight, REQUESTS requests per run after a warm-up, one fresh TCP connection per
request from the client (as the builtin router makes to its releases). Prints p50/p99 latency,
throughput, and what each router adds to direct; sticky routing's own cost is the difference
between the two builtin rows. Usage: python benchmarks/router_overhead.py [REQUESTS]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

from safeship._processes import free_port
from safeship.config.models import BuiltinRouterSettings
from safeship.routing.base import Backend
from safeship.routing.builtin import BuiltinRouter
from safeship.routing.nginx import NginxRouter

CONCURRENCY = 8
WARMUP = 200
TIME_LIMIT_S = 60.0


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


def measure(
    url: str, requests: int, cookies: dict[str, str] | None = None
) -> tuple[float, float, float, int]:
    asyncio.run(load(url, WARMUP, cookies))
    latencies, wall, failures = asyncio.run(load(url, requests, cookies))
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98], len(latencies) / wall, failures


def main() -> int:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
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
            rows = {
                "direct": measure(release + "/api/health", requests),
                "builtin router": measure(f"http://127.0.0.1:{builtin.port}/api/health", requests),
                "builtin sticky": measure(
                    f"http://127.0.0.1:{sticky.port}/api/health",
                    requests,
                    {sticky_settings.sticky_name: "v1"},
                ),
                "nginx": measure(f"http://127.0.0.1:{nginx.port}/api/health", requests),
            }
        finally:
            for router in routers:
                router.stop()
            app.terminate()
            app.wait(5)
    print(f"{requests} GET /api/health per row, {CONCURRENCY} in flight, loopback\n")
    print(
        f"{'path':<16}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}{'+p50 ms':>9}{'+p99 ms':>9}"
        f"{'failed':>8}"
    )
    base = rows["direct"]
    for name, (p50, p99, rps, failed) in rows.items():
        print(
            f"{name:<16}{p50:>8.2f}{p99:>8.2f}{rps:>8.0f}{p50 - base[0]:>+9.2f}"
            f"{p99 - base[1]:>+9.2f}{failed:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
