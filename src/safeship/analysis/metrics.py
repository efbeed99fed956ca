"""MetricSource: where the rules and the judge read each release's traffic figures.

A source reports, per release, its counters since it started taking traffic (requests, 5xx
and connect errors, a latency histogram: :class:`~safeship.routing.base.BackendStats`); the
bake subtracts an earlier reading to get a window. The router's own stats are the first
source (:class:`RouterMetrics`); a Prometheus source reports the same figures from its
queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from safeship.routing.base import BackendStats, Router


class MetricSource(Protocol):
    """Per-release counters of requests, errors and latency, read now."""

    def totals(self) -> dict[str, BackendStats]:
        """Each release's counters so far, by release name (a release without traffic may be
        missing). Raises on an outage: the caller decides whether that stops it."""
        ...


class RouterMetrics:
    """The router's stats as a MetricSource."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def totals(self) -> dict[str, BackendStats]:
        return self.router.stats()


def window(
    now: Mapping[str, BackendStats], start: Mapping[str, BackendStats]
) -> dict[str, BackendStats]:
    """Each release's figures between two readings of a source."""
    return {name: stats.minus(start.get(name, BackendStats())) for name, stats in now.items()}
