"""Run many checks at once: each under its own timeout, a bounded number at a time.

A check here is a *probe*: anything with a name, a timeout, a critical flag, a level and an
async ``run`` returning its results (one for a dependency check, one per step for a smoke
flow, one per reported check for a deep endpoint). The runner never lets one probe hang the
run: a probe still running at its timeout is cancelled and reported failed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from safeship.health.base import Check, CheckResult, one_line

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

DEFAULT_MAX_CONNECTIONS = 10


# A probe is a ``Check`` (safeship.health.base): a configured check, a smoke flow, a deep
# endpoint.
Probe = Check


def http_client(max_connections: int = DEFAULT_MAX_CONNECTIONS) -> httpx.AsyncClient:
    """An async client with a bounded connection pool.

    ``trust_env=False``: an HTTP(S)_PROXY variable must not reroute checks of a release.
    Timeouts are set per request by each check.
    """
    import httpx

    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(limits=limits, trust_env=False, timeout=None)


async def run_probes(
    probes: Sequence[Probe], http: httpx.AsyncClient, concurrency: int = DEFAULT_MAX_CONNECTIONS
) -> list[CheckResult]:
    """Run ``probes`` concurrently, at most ``concurrency`` at a time; results in probe order.

    A probe's timeout starts when it gets its turn, so waiting for a slot never counts
    against it.
    """
    import asyncio  # here (and below): `config check` imports this module, runs no event loop

    slots = asyncio.Semaphore(concurrency)

    async def one(probe: Probe) -> list[CheckResult]:
        async with slots:
            return await bounded(probe, http)

    groups = await asyncio.gather(*(one(p) for p in probes))
    return [result for group in groups for result in group]


async def bounded(probe: Probe, http: httpx.AsyncClient) -> list[CheckResult]:
    """The probe under its timeout; a timeout or an exception becomes a failed result."""
    import asyncio

    start = time.perf_counter()
    try:
        async with asyncio.timeout(probe.timeout):
            results = await probe.run(http)
    except TimeoutError:
        detail = f"timeout after {probe.timeout:g}s"
    except Exception as exc:
        detail = one_line(f"{type(exc).__name__}: {exc}")
    else:
        # A non-critical probe makes all its results non-critical; a critical one keeps what
        # each result says (a deep endpoint reports which of its checks are critical).
        return [
            replace(r, critical=probe.critical and r.critical, level=probe.level) for r in results
        ]
    latency = (time.perf_counter() - start) * 1000
    return [CheckResult(probe.name, "failed", latency, detail, None, probe.critical, probe.level)]


def run_coroutine(
    factory: Callable[[httpx.AsyncClient], Awaitable[T]],
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> T:
    """Run ``factory(client)`` from synchronous code (the pipeline, the CLI) on a fresh event
    loop, with a bounded client closed afterwards."""
    import asyncio

    async def main() -> T:
        async with http_client(max_connections) as http:
            return await factory(http)

    return asyncio.run(main())


def run_sync(
    probes: Sequence[Probe], max_connections: int = DEFAULT_MAX_CONNECTIONS
) -> list[CheckResult]:
    """Run probes from synchronous code; results in probe order."""
    if not probes:
        return []
    return run_coroutine(lambda http: run_probes(probes, http, max_connections), max_connections)
