"""The demo's load generator: steady traffic through the router, counted per release.

It runs in a thread with its own event loop, sends at a fixed rate with bounded concurrency,
and stops itself after ``max_seconds`` or ``max_requests``, whichever comes first.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

# Requests that got no answer from any release (router unreachable, 503 with no backend).
NO_RELEASE = "(no release)"


@dataclass
class LoadTotals:
    ok: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def releases(self) -> list[str]:
        return sorted(set(self.ok) | set(self.failed))


class LoadGenerator:
    def __init__(
        self,
        url: str,
        rate: float = 100.0,
        concurrency: int = 32,
        max_seconds: float = 120.0,
        max_requests: int = 50_000,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.rate = rate
        self.concurrency = concurrency
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.timeout = timeout
        self.totals = LoadTotals()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="safeship-load", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> LoadGenerator:
        self._thread.start()
        return self

    def stop(self) -> LoadTotals:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=self.timeout + 5)
        return self.snapshot()

    def snapshot(self) -> LoadTotals:
        with self._lock:
            return LoadTotals(Counter(self.totals.ok), Counter(self.totals.failed))

    def _record(self, release: str, ok: bool) -> None:
        with self._lock:
            (self.totals.ok if ok else self.totals.failed)[release] += 1

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        limit = asyncio.Semaphore(self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        interval = 1.0 / self.rate
        started = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for n in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() - started > self.max_seconds:
                    break
                await limit.acquire()
                task = asyncio.create_task(self._one(session, limit))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                # Fixed schedule, so a slow response does not lower the offered rate.
                delay = started + (n + 1) * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout + 1)

    async def _one(self, session: aiohttp.ClientSession, limit: asyncio.Semaphore) -> None:
        try:
            async with session.get(self.url) as response:
                await response.read()
                release = response.headers.get("X-Safeship-Release", NO_RELEASE)
                self._record(release, response.status < 500)
        except (aiohttp.ClientError, TimeoutError):
            self._record(NO_RELEASE, False)
        finally:
            limit.release()
