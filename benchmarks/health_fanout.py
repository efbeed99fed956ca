"""Health fan-out: 1,000 HTTP checks against a local server, a bounded number of connections.

Starts a small aiohttp server in its own process on a free loopback port, then runs 1,000
level-2 HTTP dependency checks (GET, expect 200 and a JSON body with status "healthy") through
safeship's runner (httpx async client, one pool of at most --connections connections), several
times, and prints the median and maximum wall time per run with the connections it opened.
The claim it measures: 1,000 checks finish in under 2 s (median).

    .venv/bin/python benchmarks/health_fanout.py [--checks 1000] [--connections 50] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import httpx

from safeship.config.health import Assertion
from safeship.health.dependencies import HttpCheck
from safeship.health.runner import http_client, run_probes

SERVER = """
import sys
from aiohttp import web

peers = set()  # client ports seen since the last /reset: the connections a run opened

async def health(request):
    peers.add(request.transport.get_extra_info("peername")[1])
    return web.json_response({"status": "healthy"})

async def reset(request):
    peers.clear()
    return web.json_response({})

async def stats(request):
    return web.json_response({"connections": len(peers)})

app = web.Application()
app.router.add_get("/api/health", health)
app.router.add_post("/reset", reset)
app.router.add_get("/stats", stats)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("benchmark server exited")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("benchmark server did not start")


async def one_run(url: str, checks: int, connections: int) -> tuple[float, int, int]:
    """(seconds, checks ok, connections the checks opened)."""
    expect = (Assertion(path="status", equals="healthy"),)
    probes = [
        HttpCheck(f"api-{n}", url + "/api/health", timeout=5.0, assertions=expect)
        for n in range(checks)
    ]
    async with httpx.AsyncClient(trust_env=False) as admin:
        await admin.post(url + "/reset")
        async with http_client(connections) as http:
            start = time.perf_counter()
            results = await run_probes(probes, http, connections)
            elapsed = time.perf_counter() - start
        opened = (await admin.get(url + "/stats")).json()["connections"]
    return elapsed, sum(r.ok for r in results), opened


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], start_new_session=True)
    try:
        wait_listening(port, server)
        url = f"http://127.0.0.1:{port}"
        times: list[float] = []
        ok_counts: list[int] = []
        for _ in range(args.runs):
            elapsed, ok, opened = asyncio.run(one_run(url, args.checks, args.connections))
            times.append(elapsed)
            ok_counts.append(ok)
            print(f"  run: {elapsed:.3f} s, {ok}/{args.checks} ok, {opened} connections opened")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)

    median = statistics.median(times)
    print()
    print("| checks | connections (max) | runs | median | max | all ok |")
    print("|---|---|---|---|---|---|")
    all_ok = all(ok == args.checks for ok in ok_counts)
    print(
        f"| {args.checks:,} | {args.connections} | {args.runs} | {median:.2f} s "
        f"| {max(times):.2f} s | {'yes' if all_ok else 'no'} |"
    )
    verdict = "under" if median < 2.0 else "NOT under"
    print(f"\nmedian {median:.2f} s: {verdict} the 2 s goal")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
