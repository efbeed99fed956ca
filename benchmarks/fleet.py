"""Fleet benchmarks: deploy time against the number of hosts, and what HAProxy, the fleet's
router, costs beside going to a release directly.

Deploy scaling: fake hosts as in the tests (testing/fleet_hosts.py: a network namespace and an
sshd per host; run as root), the fleet app's tarball per version, HAProxy in front; a
blue-green deploy (all-at-once, bake 0) of a new version on 1, 3 and 6 hosts: the artifact
uploaded and checked, the release started and verified on every host, traffic switched, the
old release drained and stopped. --runs deploys per host count; medians. A deploy that handled
hosts one after another would take N times the 1-host figure.

Router overhead: one demo release (safeship.demo.demo_app, GET /api/health) on 127.0.0.1; the
same bounded load against it directly, through HaproxyRouter (100% weight, one server) and,
for comparison, through the builtin router: router_overhead.load's aiohttp client (8 requests
in flight, a fresh TCP connection per request), --requests requests per path and run after a
warm-up. The paths are measured in turn, --runs times over (interleaved, so a burst of load
from other programs hits every path alike); each figure is the median over the runs.

    PYTHONPATH=. .venv/bin/python benchmarks/fleet.py [--requests 3000] [--runs 5] [--hosts 1,3,6]

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


def deploy_scaling(counts: tuple[int, ...] = (1, 3, 6), runs: int = 5) -> dict[int, float]:
    """Median seconds of a blue-green deploy on each number of hosts."""
    from safeship.pipeline import operations
    from testing.fleet_hosts import make_fake_hosts
    from testing.fleet_rig import ENV, make_fleet_workspace

    medians: dict[int, float] = {}
    versions = tuple(f"v{i}" for i in range(runs + 1))
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp, make_fake_hosts(count, Path(tmp)) as hosts:
            ws = make_fleet_workspace(
                Path(tmp) / "ws",
                hosts,
                versions,
                strategy="blue-green",
                bake_time=0,
                tables="[environments.production.blue_green]\nkeep_warm = 0",
            )
            try:
                if not operations.deploy(ws.loaded, ENV, versions[0]).ok:
                    raise RuntimeError(f"the first deploy on {count} hosts failed")
                seconds = []
                for version in versions[1:]:
                    started = time.perf_counter()
                    outcome = operations.deploy(ws.loaded, ENV, version)
                    seconds.append(time.perf_counter() - started)
                    if not outcome.ok:
                        raise RuntimeError(f"{version} on {count} hosts: {outcome.reason}")
                medians[count] = statistics.median(seconds)
            finally:
                ws.down()
    return medians


def print_deploy_scaling(medians: dict[int, float], runs: int) -> None:
    print(
        f"Deploy time by number of hosts: blue-green, bake 0, medians of {runs} deploys; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    one = medians[min(medians)]
    print(f"{'hosts':>5}{'deploy s':>10}{'x 1 host':>10}{'serial would be':>17}")
    for count, seconds in medians.items():
        print(f"{count:>5}{seconds:>10.2f}{seconds / one:>10.2f}{one * count:>15.2f} s")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per path and run")
    parser.add_argument("--runs", type=int, default=5, help="runs per path (medians)")
    parser.add_argument("--hosts", default="1,3,6", help="host counts for the deploy scaling")
    parser.add_argument("--skip-hosts", action="store_true", help="only the router overhead")
    args = parser.parse_args()
    if args.requests < 100 or args.runs < 1:
        parser.error("--requests must be at least 100 and --runs at least 1")
    counts = tuple(int(n) for n in args.hosts.split(","))
    if not all(1 <= n <= 20 for n in counts):
        parser.error("--hosts takes counts of 1-20 hosts")
    if not args.skip_hosts:
        print_deploy_scaling(deploy_scaling(counts, args.runs), args.runs)
    print_router_overhead(router_overhead(args.requests, args.runs), args.requests, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
