"""Drain before stop: a release leaves traffic, then is stopped only once the router reports
no request in flight to it, or the drain timeout has passed.

A router that cannot count what is in flight (``BackendStats.in_flight`` None: nginx) gets a
bounded grace instead, counted from the moment the release left traffic: its p99 latency so far
(the upper bound of the router's bucket holding it, at least ``MIN_GRACE``), capped by the
drain timeout. Not the longest answer: one outlier (a 10 s request at start-up) would make
every stop wait the whole timeout. A request slower than the p99 may still be cut there; a
router with the counter never cuts one before the timeout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from safeship.routing.base import BackendStats, Router

# How often the router's count is read while draining.
DRAIN_POLL = 0.1
# The least a release is given when the router cannot count its in-flight requests, and the
# latency quantile that sets the grace above it.
MIN_GRACE = 0.5
GRACE_QUANTILE = 0.99


@dataclass(frozen=True)
class Drained:
    """How a release was drained before its stop (the ``drained`` attribute of events)."""

    release: str
    waited_s: float
    drained: int  # requests answered while draining
    in_flight_left: int | None  # still in flight at the stop; None: the router cannot tell
    timed_out: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "release": self.release,
            "drained": self.drained,
            "in_flight_left": self.in_flight_left,
            "waited_s": round(self.waited_s, 2),
            "timed_out": self.timed_out,
        }


def grace_for(stats: BackendStats, timeout: float) -> float:
    """How long to wait for a release whose in-flight requests the router cannot count."""
    p99_ms = stats.latency_quantile_ms(GRACE_QUANTILE)
    if p99_ms is None:
        return min(timeout, MIN_GRACE)
    if math.isinf(p99_ms):
        return timeout
    return min(timeout, max(MIN_GRACE, p99_ms / 1000))


def drain(
    router: Router,
    release: str,
    timeout: float,
    *,
    since: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Drained:
    """Wait until no request is in flight to ``release`` (it has no weight any more), or
    ``timeout`` seconds after ``since`` (when it left traffic; default now); what was drained.
    A router that cannot be read ends the wait."""
    began = clock()
    since = began if since is None else min(since, began)
    try:
        first = router.stats().get(release)
    except Exception:
        return Drained(release, 0.0, 0, None, False)
    if first is None:  # the router never sent it a request
        return Drained(release, 0.0, 0, 0, False)
    known = first.in_flight is not None
    deadline = since + (timeout if known else grace_for(first, timeout))
    now = first
    while (now.in_flight is None or now.in_flight > 0) and clock() < deadline:
        sleep(DRAIN_POLL)
        try:
            now = router.stats().get(release, now)
        except Exception:
            break
    left = now.in_flight
    return Drained(
        release,
        clock() - began,
        max(0, now.requests - first.requests),
        left,
        timed_out=known and bool(left),
    )
