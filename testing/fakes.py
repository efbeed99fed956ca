"""In-memory fakes of the rollout's ports, for unit tests without processes: a clock whose
sleeps are instant, a router whose traffic follows that clock (and is the MetricSource), a
target whose releases are records, an event recorder, and a health endpoint in a thread.

The registry is not faked: tests use a real one on a temporary SQLite file.
"""

from __future__ import annotations

import json
import math
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from safeship.events import Event
from safeship.routing.base import LATENCY_BUCKETS_MS, Backend, BackendStats
from safeship.targets.base import Release, TargetError


class FakeClock:
    """Monotonic time that moves only when someone sleeps (``analysis.bake.Clock``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds


@dataclass
class Behaviour:
    """How a release answers the fake router's traffic."""

    error_rate: float = 0.0  # the share of its requests answered 5xx
    latency_ms: float = 10.0  # every answer takes this long


@dataclass
class _Counters:
    requests: float = 0.0  # fractional: traffic accrues continuously with the clock


class FakeRouter:
    """A Router, and the MetricSource over it: ``rate`` requests per second of the fake clock,
    split between the backends by weight; each release answers as its ``Behaviour`` says."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        rate: float = 100.0,
        behaviours: dict[str, Behaviour] | None = None,
        backends: Sequence[Backend] = (),
    ) -> None:
        self.clock = clock
        self.rate = rate
        self.behaviours = behaviours or {}
        self._backends = list(backends)
        self.counters: dict[str, _Counters] = {}
        self.last = clock.now()
        self.weights_set: list[dict[str, int]] = []  # every set_backends, in order
        self.running = False

    def ensure_running(self) -> None:
        self.running = True

    def is_running(self) -> bool:
        return self.running

    def set_backends(self, backends: Sequence[Backend]) -> None:
        self._accrue()
        self._backends = list(backends)
        self.weights_set.append({b.name: b.weight for b in backends})

    def backends(self) -> list[Backend]:
        return list(self._backends)

    def stop(self) -> None:
        self.running = False

    def stats(self) -> dict[str, BackendStats]:
        self._accrue()
        return {name: self._stats(name, c) for name, c in self.counters.items()}

    def totals(self) -> dict[str, BackendStats]:
        return self.stats()

    def _accrue(self) -> None:
        now = self.clock.now()
        elapsed, self.last = now - self.last, now
        total = sum(b.weight for b in self._backends)
        for backend in self._backends:
            if backend.weight > 0:
                share = self.rate * elapsed * backend.weight / total
                self.counters.setdefault(backend.name, _Counters()).requests += share

    def _stats(self, name: str, counters: _Counters) -> BackendStats:
        behaviour = self.behaviours.get(name, Behaviour())
        requests = math.floor(counters.requests)
        buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        buckets[bisect_left(LATENCY_BUCKETS_MS, behaviour.latency_ms)] = requests
        return BackendStats(
            requests=requests,
            responses_5xx=math.floor(requests * behaviour.error_rate),
            latency_buckets=tuple(buckets),
            latency_sum_ms=requests * behaviour.latency_ms,
            in_flight=0,
        )


@dataclass
class FakeTarget:
    """A Target whose releases are records: they listen on ``port`` (a :func:`health_server`),
    and are alive until stopped or listed in ``dead``."""

    port: int
    environment: str = "local"
    running: dict[str, Release] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)
    stopped: list[str] = field(default_factory=list)
    refuse: str | None = None  # deploy raises TargetError with this message
    on_deploy: Callable[[str], None] | None = None  # told the version before it starts

    def serving(self, version: str) -> Release:
        """A release already running (the stable one)."""
        release = Release(self.environment, version, self.port, None, 0.0)
        self.running[version] = release
        return release

    def deploy(self, version: str, commit: str | None = None) -> Release:
        if self.on_deploy is not None:
            self.on_deploy(version)
        if self.refuse is not None:
            raise TargetError(self.refuse)
        return self.serving(version)

    def is_alive(self, release: Release) -> bool:
        return release.version in self.running and release.version not in self.dead

    def stop(self, release: Release) -> None:
        self.running.pop(release.version, None)
        self.stopped.append(release.version)

    def releases(self) -> list[Release]:
        return list(self.running.values())

    def down(self) -> None:
        for release in self.releases():
            self.stop(release)

    def variables(self) -> dict[str, str]:
        return {}


class EventRecorder:
    """An event sink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.event for e in self.events]

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event == name]


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "healthy"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: a test's output is its assertions


@contextmanager
def health_server() -> Iterator[int]:
    """A health endpoint answering "healthy" in a thread; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
