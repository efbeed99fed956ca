"""pipeline.drain: wait for the router's in-flight count, or a bounded grace without it."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

import pytest

from safeship.pipeline.drain import MIN_GRACE, drain, grace_for
from safeship.routing.base import LATENCY_BUCKETS_MS, Backend, BackendStats


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeRouter:
    """Stats whose ``in_flight`` for "old" follows ``counts`` one read at a time."""

    def __init__(self, counts: Sequence[int | None], buckets: tuple[int, ...] | None = None):
        self.counts = list(counts)
        self.reads = 0
        self.buckets = buckets or (0,) * (len(LATENCY_BUCKETS_MS) + 1)

    def stats(self) -> dict[str, BackendStats]:
        index = min(self.reads, len(self.counts) - 1)
        self.reads += 1
        return {
            "old": BackendStats(
                requests=100 + self.reads,
                latency_buckets=self.buckets,
                in_flight=self.counts[index],
            )
        }

    def ensure_running(self) -> None: ...
    def is_running(self) -> bool:
        return True

    def set_backends(self, backends: Sequence[Backend]) -> None: ...
    def backends(self) -> list[Backend]:
        return []

    def stop(self) -> None: ...


def test_waits_until_nothing_is_in_flight() -> None:
    clock = Clock()
    router = FakeRouter([3, 2, 2, 0])
    drained = drain(router, "old", 30, sleep=clock.sleep, clock=clock)
    assert drained.in_flight_left == 0 and not drained.timed_out
    assert router.reads == 4 and drained.drained == 3
    assert 0.25 < drained.waited_s < 0.35


def test_stops_waiting_at_the_timeout_and_says_so() -> None:
    clock = Clock()
    drained = drain(FakeRouter([5]), "old", 2.0, sleep=clock.sleep, clock=clock)
    assert drained.timed_out and drained.in_flight_left == 5
    assert 2.0 <= drained.waited_s < 2.2


def test_the_timeout_counts_from_when_the_release_left_traffic() -> None:
    clock = Clock()
    drained = drain(
        FakeRouter([5]), "old", 2.0, since=clock.now - 5, sleep=clock.sleep, clock=clock
    )
    assert drained.timed_out and drained.waited_s == 0


def test_a_release_the_router_never_saw_needs_no_wait() -> None:
    drained = drain(FakeRouter([1]), "other", 30)
    assert (drained.waited_s, drained.in_flight_left, drained.timed_out) == (0.0, 0, False)


def test_without_a_count_the_grace_is_the_p99_latency_within_the_timeout() -> None:
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    assert grace_for(BackendStats(latency_buckets=tuple(buckets)), 30) == MIN_GRACE
    # Every answer took about 2.5 s (the bucket holding 2,500 ms is 4.4% wide).
    buckets[bisect_left(LATENCY_BUCKETS_MS, 2500)] = 100
    slow = BackendStats(latency_buckets=tuple(buckets))
    grace = grace_for(slow, 30)
    assert 2.39 <= grace <= 2.61
    assert grace_for(slow, 1.0) == 1.0
    buckets[-1] = 1  # one outlier over 120 s: below the p99, it does not set the grace
    assert grace_for(BackendStats(latency_buckets=tuple(buckets)), 30) == pytest.approx(
        grace, rel=0.01
    )
    clock = Clock()
    drained = drain(FakeRouter([None], tuple(buckets)), "old", 30, sleep=clock.sleep, clock=clock)
    assert drained.in_flight_left is None and not drained.timed_out
    assert grace <= drained.waited_s < grace + 0.2
