"""MetricSource: where the rules and the judge read each release's traffic figures.

The rules and the judge judge *windows*: each release's requests, errors (5xx and connect
errors) and latency histogram between two moments (:class:`~safeship.routing.base.BackendStats`
of the window). A source takes a *reading* now (an opaque mark: the router's counters, or a
timestamp) and answers the figures between two of its readings:

- :class:`RouterMetrics`, the first source, reads the router's cumulative counters and
  subtracts two readings (:func:`window`);
- a Prometheus source (:mod:`safeship.metrics.prometheus`) reads timestamps and asks its
  PromQL templates for the figures over the span between them (``increase(...[span])``).

A release the source has no data for is missing from a window: the rules then wait and the
judge says ``nodata``, never a pass. A source that only counts (``totals()``, as a router or
a test's canned counters) is made a MetricSource by :func:`metric_source`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from safeship.routing.base import BackendStats, Router

if TYPE_CHECKING:
    from safeship.analysis.settings import MetricSourceSettings

# A source's mark of a moment, only ever given back to the same source.
Reading = Any


@runtime_checkable
class MetricSource(Protocol):
    """Per-release figures of requests, errors and latency between two readings.

    Constructor contract (what the ``safeship.metric_sources`` entry point names):
    ``cls(router, environment, settings)``: the environment's router (it names the releases
    in play), the environment's name, and its ``[environments.NAME.metrics]`` table
    (:class:`~safeship.analysis.settings.MetricSourceSettings`).
    """

    def reading(self) -> Reading:
        """A mark of now. Raises on an outage: the caller decides whether that stops it."""
        ...

    def window(self, start: Reading, end: Reading) -> dict[str, BackendStats]:
        """Each release's figures between two readings, by release name (a release without
        data is missing). Raises on an outage."""
        ...


class CounterSource(Protocol):
    """Cumulative counters per release (a router's stats): made a MetricSource by
    :func:`metric_source`."""

    def totals(self) -> dict[str, BackendStats]: ...


class CountingSource:
    """A MetricSource over cumulative counters (a subclass's ``totals()``): a reading is the
    counters, a window the difference of two."""

    def totals(self) -> dict[str, BackendStats]:
        raise NotImplementedError

    def reading(self) -> dict[str, BackendStats]:
        return self.totals()

    def window(
        self, start: Mapping[str, BackendStats], end: Mapping[str, BackendStats]
    ) -> dict[str, BackendStats]:
        return window(end, start)


class Counters(CountingSource):
    """Any CounterSource's totals read as a MetricSource."""

    def __init__(self, source: CounterSource) -> None:
        self.source = source

    def totals(self) -> dict[str, BackendStats]:
        return self.source.totals()


class RouterMetrics(CountingSource):
    """The router's stats as a MetricSource (the built-in ``router`` source)."""

    def __init__(
        self,
        router: Router,
        environment: str = "",
        settings: MetricSourceSettings | None = None,
    ) -> None:
        self.router = router

    def totals(self) -> dict[str, BackendStats]:
        return self.router.stats()


def metric_source(source: MetricSource | CounterSource) -> MetricSource:
    """``source`` itself if it reads windows, else its counters read as one."""
    if isinstance(source, MetricSource):
        return source
    return Counters(source)


def window(
    now: Mapping[str, BackendStats], start: Mapping[str, BackendStats]
) -> dict[str, BackendStats]:
    """Each release's figures between two readings of cumulative counters."""
    return {name: stats.minus(start.get(name, BackendStats())) for name, stats in now.items()}
