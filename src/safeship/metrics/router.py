"""The builtin router's Prometheus exposition, read from its own counters at scrape time.

The proxy already counts every request per release (``routing.proxy.state.Counters``: status
classes, connect errors, a latency histogram on ``LATENCY_BUCKETS_MS``, requests in flight):
this Collector turns those counters into metric families when Prometheus scrapes, so the hot
path pays nothing for the exposition (no second set of counters, no lock).

Metrics (labels ``environment`` and ``release`` on each):

- ``safeship_router_requests_total`` (counter, + ``code_class``: ``1xx``-``5xx``, or
  ``connect_error`` for a request the release never took: it was retried on another release
  or answered 502 by the router);
- ``safeship_router_request_duration_seconds`` (histogram: the router's 325 buckets, bounds
  2^(i/16) ms from 0.1 ms to 120 s; connect errors have no duration);
- ``safeship_router_requests_in_flight`` (gauge);
- ``safeship_router_weight_ratio`` (gauge, 0-1: the release's share of new requests now).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from safeship.metrics import promql
from safeship.routing.base import LATENCY_BUCKETS_MS, Backend

# The histogram's `le` bounds in seconds, written out once.
_LE = (*(floatToGoString(ms / 1000) for ms in LATENCY_BUCKETS_MS), "+Inf")  # type: ignore[no-untyped-call]


class ReleaseCounters(Protocol):
    """One release's counters as the router keeps them (``Counters``; ``BackendStats`` too)."""

    @property
    def connect_errors(self) -> int: ...
    @property
    def status_classes(self) -> Mapping[str, int]: ...
    @property
    def latency_buckets(self) -> Sequence[int]: ...
    @property
    def latency_sum_ms(self) -> float: ...
    @property
    def in_flight(self) -> int | None: ...


class RouterCollector(Collector):
    """The router's counters and weights as metric families. ``read`` returns the backends in
    force and the counters per release; it is called once per scrape, on the scraping thread
    or task (the router's event loop: it reads plain ints)."""

    def __init__(
        self,
        environment: str,
        read: Callable[[], tuple[Sequence[Backend], Mapping[str, ReleaseCounters]]],
    ) -> None:
        self.environment = environment
        self.read = read

    def collect(self) -> Iterator[Metric]:
        backends, counters = self.read()
        env = self.environment
        labels = ["environment", "release"]
        requests = CounterMetricFamily(
            promql.REQUESTS_METRIC.removesuffix("_total"),
            "Requests through the router, by release and status class.",
            labels=[*labels, "code_class"],
        )
        duration = HistogramMetricFamily(
            promql.DURATION_METRIC,
            "Request duration through the router (to the last byte of the response).",
            labels=labels,
        )
        in_flight = GaugeMetricFamily(
            promql.IN_FLIGHT_METRIC,
            "Requests sent to the release and not answered whole yet.",
            labels=labels,
        )
        weight = GaugeMetricFamily(
            promql.WEIGHT_METRIC, "The release's share of new requests (0-1).", labels=labels
        )
        for name, c in counters.items():
            for code_class, n in sorted(c.status_classes.items()):
                requests.add_metric([env, name, code_class], n)
            if c.connect_errors:
                requests.add_metric([env, name, promql.CONNECT_ERROR_CLASS], c.connect_errors)
            cumulative, buckets = 0, []
            for le, n in zip(_LE, c.latency_buckets, strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            duration.add_metric([env, name], buckets, c.latency_sum_ms / 1000)
            in_flight.add_metric([env, name], c.in_flight or 0)
        for backend in backends:
            weight.add_metric([env, backend.name], backend.weight / 100)
        yield from (requests, duration, in_flight, weight)


def exposition(collector: Collector) -> bytes:
    """The text exposition (format 0.0.4) of one collector's metrics."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
