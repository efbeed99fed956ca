"""The builtin router's Prometheus exposition, written from its own counters at scrape time.

The proxy already counts every request per release (``routing.proxy.state.Counters``: status
classes, connect errors, a latency histogram on ``LATENCY_BUCKETS_MS``, requests in flight):
the exposition is written from those counters when Prometheus scrapes, so the hot path pays
nothing for it (no second set of counters, no lock). It is written as text directly (the text
format 0.0.4) rather than through prometheus_client's registry: a scrape runs on the router's
event loop, between proxied requests, and the registry took 8 ms for two releases' 650
histogram buckets where this takes 0.2 ms (the unit tests parse its output with
prometheus_client's own parser).

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

from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Protocol

from safeship.metrics import promql
from safeship.routing.base import LATENCY_BUCKETS_MS, Backend

# Prometheus' text format 0.0.4 (prometheus_client's CONTENT_TYPE_LATEST).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The histogram's `le` bounds in seconds (Python's shortest repr, which Prometheus reads back
# as the same float), written out once.
_LE = (*(repr(ms / 1000) for ms in LATENCY_BUCKETS_MS), "+Inf")

_HEADERS = {
    promql.REQUESTS_METRIC: (
        "counter",
        "Requests through the router, by release and status class.",
    ),
    promql.DURATION_METRIC: (
        "histogram",
        "Request duration through the router (to the last byte of the response).",
    ),
    promql.IN_FLIGHT_METRIC: ("gauge", "Requests sent to the release and not answered whole yet."),
    promql.WEIGHT_METRIC: ("gauge", "The release's share of new requests (0-1)."),
}


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


def label_value(value: str) -> str:
    """``value`` escaped for a label value in the text format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def router_exposition(
    environment: str, backends: Sequence[Backend], counters: Mapping[str, ReleaseCounters]
) -> bytes:
    """The router's metrics in the text format: each release's counters, and the weights of
    the backends in force."""
    env = label_value(environment)
    sections: dict[str, list[str]] = {name: [] for name in _HEADERS}
    requests = sections[promql.REQUESTS_METRIC]
    duration = sections[promql.DURATION_METRIC]
    in_flight = sections[promql.IN_FLIGHT_METRIC]
    for name, c in counters.items():
        labels = f'environment="{env}",release="{label_value(name)}"'
        for code_class, n in sorted(c.status_classes.items()):
            requests.append(
                f'{promql.REQUESTS_METRIC}{{{labels},code_class="{label_value(code_class)}"}} {n}'
            )
        if c.connect_errors:
            requests.append(
                f"{promql.REQUESTS_METRIC}{{{labels},"
                f'code_class="{promql.CONNECT_ERROR_CLASS}"}} {c.connect_errors}'
            )
        bucket = f'{promql.DURATION_METRIC}_bucket{{{labels},le="'
        cumulative = list(accumulate(c.latency_buckets))
        duration.extend(f'{bucket}{le}"}} {n}' for le, n in zip(_LE, cumulative, strict=True))
        duration.append(f"{promql.DURATION_METRIC}_count{{{labels}}} {cumulative[-1]}")
        duration.append(f"{promql.DURATION_METRIC}_sum{{{labels}}} {c.latency_sum_ms / 1000!r}")
        in_flight.append(f"{promql.IN_FLIGHT_METRIC}{{{labels}}} {c.in_flight or 0}")
    sections[promql.WEIGHT_METRIC] = [
        f'{promql.WEIGHT_METRIC}{{environment="{env}",release="{label_value(b.name)}"}} '
        f"{b.weight / 100!r}"
        for b in backends
    ]
    lines: list[str] = []
    for name, (kind, help_text) in _HEADERS.items():
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(sections[name])
    lines.append("")
    return "\n".join(lines).encode()
