"""Fleet benchmarks: what HAProxy, the fleet's router, costs beside going to a release directly.

Router overhead: one demo release (safeship.demo.demo_app, GET /api/health) on 127.0.0.1; the
same bounded load against it directly, through HaproxyRouter (100% weight, one server) and,
for comparison, through the builtin router: router_overhead.load's aiohttp client (8 requests
in flight, a fresh TCP connection per request), --requests requests per path and run after a
warm-up. The paths are measured in turn, --runs times over (interleaved, so a burst of load
from other programs hits every path alike); each figure is the median over the runs.

    .venv/bin/python benchmarks/fleet.py [--requests 3000] [--runs 5]

Each part is a function returning its rows and a printer; main() runs the parts asked for.
"""

from __future__ import annotations

import argparse
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

import httpx
from router_overhead import CONCURRENCY, WARMUP, load  # on the path (benchmarks/)

from safeship._processes import free_port
from safeship.routing.base import Backend, Server
from safeship.routing.builtin import BuiltinRouter
from safeship.routing.haproxy import HaproxyRouter
from safeship.routing.settings import HaproxyRouterSettings


@dataclass(frozen=True)
class Figures:
    """One path's medians over the runs (failures summed)."""

    rps: float
    p50_ms: float
    p99_ms: float
    failed: int


def _one_run(url: str, requests: int) -> tuple[float, float, float, int]:
    latencies, wall, failed = asyncio.run(load(url, requests, None))
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / wall, cuts[49], cuts[98], failed


def _wait_answering(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, trust_env=False, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:g} s") from None
            time.sleep(0.05)


def router_overhead(requests: int = 3000, runs: int = 5) -> dict[str, Figures]:
    """Requests/s and p50/p99 latency (ms) per path: "direct", "haproxy", "builtin router"."""
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
        env={**os.environ, "SAFESHIP_VERSION": "v1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    release = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        haproxy = HaproxyRouter(
            "bench", free_port(), Path(tmp), HaproxyRouterSettings(type="haproxy")
        )
        builtin = BuiltinRouter("bench", free_port(), Path(tmp) / "builtin")
        stops: list[Callable[[], None]] = []
        try:
            _wait_answering(release + "/api/health")
            for router, backend in (
                (haproxy, Backend("v1", release, 100, (Server("host1", release),))),
                (builtin, Backend("v1", release, 100)),
            ):
                router.ensure_running()
                stops.append(router.stop)
                router.set_backends([backend])
            urls = {
                "direct": release,
                "haproxy": f"http://127.0.0.1:{haproxy.port}",
                "builtin router": f"http://127.0.0.1:{builtin.port}",
            }
            for url in urls.values():
                _wait_answering(url + "/api/health")
                asyncio.run(load(url + "/api/health", WARMUP, None))
            samples: dict[str, list[tuple[float, float, float, int]]] = {n: [] for n in urls}
            for _ in range(runs):
                for name, url in urls.items():
                    samples[name].append(_one_run(url + "/api/health", requests))
        finally:
            for stop in stops:
                stop()
            app.terminate()
            app.wait(5)
    return {
        name: Figures(
            rps=statistics.median(s[0] for s in runs_of),
            p50_ms=statistics.median(s[1] for s in runs_of),
            p99_ms=statistics.median(s[2] for s in runs_of),
            failed=sum(s[3] for s in runs_of),
        )
        for name, runs_of in samples.items()
    }


def print_router_overhead(figures: dict[str, Figures], requests: int, runs: int) -> None:
    print(
        f"Router overhead: {requests} GET /api/health per path and run, {CONCURRENCY} in"
        f" flight, a new connection each, loopback; medians of {runs} interleaved runs;"
        f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    header = f"{'path':<16}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'+p50 ms':>9}{'% direct':>9}"
    print(f"{header}{'failed':>8}")
    base = figures["direct"]
    for name, row in figures.items():
        print(
            f"{name:<16}{row.rps:>8.0f}{row.p50_ms:>8.2f}{row.p99_ms:>8.2f}"
            f"{row.p50_ms - base.p50_ms:>+9.2f}{row.rps / base.rps * 100:>8.0f}%{row.failed:>8}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per path and run")
    parser.add_argument("--runs", type=int, default=5, help="runs per path (medians)")
    args = parser.parse_args()
    if args.requests < 100 or args.runs < 1:
        parser.error("--requests must be at least 100 and --runs at least 1")
    print_router_overhead(router_overhead(args.requests, args.runs), args.requests, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
