"""The Router port: traffic weights between releases and per-release request stats."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# The latency histogram: geometric bucket bounds, as Prometheus' native histograms (schema 4):
# bound i is 2 ** (i / 16) ms, so each bucket is 4.4% wide (a value read back from its bucket
# is off by at most 4.4%, and by 2.2% from the middle). They cover 0.1 ms (the first bucket
# holds everything at or below it) to 120 s; the last bucket, above 120 s, is open. Powers of
# two land exactly on bounds (1, 2, 4, ... ms). 324 bounds: 325 counters per release.
LATENCY_BUCKET_GROWTH = 2 ** (1 / 16)
_FIRST_EXPONENT = math.ceil(16 * math.log2(0.1))  # the first bound at or above 0.1 ms
_LAST_EXPONENT = math.ceil(16 * math.log2(120_000))  # the last at or above 120 s
# Upper bounds (milliseconds, inclusive) of the latency histogram buckets; the last bucket is
# open. A router counts a response of L ms in bucket ``bisect_left(LATENCY_BUCKETS_MS, L)`` of
# ``len(LATENCY_BUCKETS_MS) + 1`` counters (the builtin router and the nginx log reader alike).
LATENCY_BUCKETS_MS: tuple[float, ...] = tuple(
    2 ** (i / 16) for i in range(_FIRST_EXPONENT, _LAST_EXPONENT + 1)
)


def latency_bucket_bounds(index: int) -> tuple[float, float]:
    """(lower, upper] bounds (ms) of bucket ``index``; the first starts at 0, the open last
    bucket ends at infinity."""
    lower = LATENCY_BUCKETS_MS[index - 1] if index > 0 else 0.0
    upper = LATENCY_BUCKETS_MS[index] if index < len(LATENCY_BUCKETS_MS) else math.inf
    return lower, upper


def sparse_latency_buckets(counts: Sequence[int]) -> dict[str, int]:
    """The non-zero counters as ``{"index": count}``: the stats JSON's compact form (a few
    dozen filled buckets out of 325), which :meth:`BackendStats.from_json` reads as well as
    the full list."""
    return {str(i): n for i, n in enumerate(counts) if n}


def _dense_latency_buckets(data: Sequence[Any] | Mapping[str, Any]) -> tuple[int, ...]:
    size = len(LATENCY_BUCKETS_MS) + 1
    if isinstance(data, Mapping):
        counts = [0] * size
        for key, n in data.items():
            counts[int(key)] = int(n)  # an index out of range is an error (IndexError)
        return tuple(counts)
    if len(data) != size:
        raise ValueError(f"latency_buckets has {len(data)} counters, expected {size}")
    return tuple(int(c) for c in data)


class RouterError(Exception):
    """The router could not be started or controlled. The message is one line for the user."""


@dataclass(frozen=True)
class Server:
    """One host's instance of a fleet release behind the router."""

    host: str  # the host's name in the config (the router's server names carry it)
    url: str


@dataclass(frozen=True)
class Backend:
    """A release behind the router and the share of requests it gets (0-100).

    ``servers``: a fleet release's instances, one per host; the release's share is spread
    evenly over them, and a host absent from the list gets none of it (out of traffic).
    Empty: the release answers at ``url`` alone. Only a router with ``serves_fleets`` takes
    servers."""

    name: str
    url: str
    weight: int
    servers: tuple[Server, ...] = ()

    @property
    def instances(self) -> tuple[Server, ...]:
        """The servers, or the release's one address as a server of host ``""``."""
        return self.servers or (Server("", self.url),)


@dataclass(frozen=True)
class BackendStats:
    """Cumulative counters for one backend since the router started.

    Counters only grow, so the stats of a window are the difference of two snapshots.
    ``latency_buckets`` has len(LATENCY_BUCKETS_MS) + 1 counts (the last is the open bucket);
    in JSON, the full list or the sparse ``{"index": count}`` of :func:`sparse_latency_buckets`.
    """

    requests: int = 0
    responses_5xx: int = 0
    connect_errors: int = 0
    status_classes: Mapping[str, int] = field(default_factory=dict)
    latency_buckets: tuple[int, ...] = (0,) * (len(LATENCY_BUCKETS_MS) + 1)
    latency_sum_ms: float = 0.0
    # Requests sent to the backend and not answered whole yet: a gauge, not a counter.
    # None when the router cannot tell (nginx).
    in_flight: int | None = None

    @property
    def errors(self) -> int:
        return self.responses_5xx + self.connect_errors

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def minus(self, earlier: BackendStats) -> BackendStats:
        """The stats of the window between ``earlier`` and this snapshot."""
        classes = {
            k: self.status_classes.get(k, 0) - earlier.status_classes.get(k, 0)
            for k in self.status_classes
        }
        return BackendStats(
            requests=self.requests - earlier.requests,
            responses_5xx=self.responses_5xx - earlier.responses_5xx,
            connect_errors=self.connect_errors - earlier.connect_errors,
            status_classes=classes,
            latency_buckets=tuple(
                a - b for a, b in zip(self.latency_buckets, earlier.latency_buckets, strict=True)
            ),
            latency_sum_ms=self.latency_sum_ms - earlier.latency_sum_ms,
            in_flight=self.in_flight,  # a gauge: its value now
        )

    def latency_quantile_ms(self, q: float) -> float | None:
        """Quantile ``q`` (0-1) of the latency (ms), linear within the bucket that holds it;
        None without samples, infinity when it falls in the open last bucket.

        The rank ``q * total`` is placed among the bucket's own counts: with 50 responses in
        (10, 25] and 50 above, the median is 25 and the 25th percentile 17.5.
        """
        total = sum(self.latency_buckets)
        if total == 0:
            return None
        rank = q * total
        seen = 0
        for i, count in enumerate(self.latency_buckets):
            if count and seen + count >= rank:
                lower, upper = latency_bucket_bounds(i)
                if math.isinf(upper):
                    return math.inf
                return lower + (upper - lower) * max(rank - seen, 0) / count
            seen += count
        return math.inf

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackendStats:
        return cls(
            requests=int(data["requests"]),
            responses_5xx=int(data["responses_5xx"]),
            connect_errors=int(data["connect_errors"]),
            status_classes={str(k): int(v) for k, v in data["status_classes"].items()},
            latency_buckets=_dense_latency_buckets(data["latency_buckets"]),
            latency_sum_ms=float(data["latency_sum_ms"]),
            in_flight=None if data.get("in_flight") is None else int(data["in_flight"]),
        )


class Router(Protocol):
    """Splits an environment's traffic between releases.

    Constructor contract (what the ``safeship.routers`` entry point names):
    ``cls(environment: str, port: int | None, state_dir: Path, settings)``: ``port`` is where
    it listens (None only for a router that listens nowhere, the platform's), ``state_dir`` a
    private directory for its state (pid, config), ``settings`` the environment's ``[router]``
    table. Building it must not start anything nor create state: ``ensure_running`` does.
    """

    def ensure_running(self) -> None:
        """Start the router for this environment if it is not running (idempotent)."""
        ...

    def is_running(self) -> bool: ...

    def set_backends(self, backends: Sequence[Backend]) -> None:
        """Replace backends and weights atomically; weights sum to 100, or the list is empty."""
        ...

    def backends(self) -> list[Backend]:
        """The backends and weights in force now."""
        ...

    def stats(self) -> dict[str, BackendStats]:
        """Cumulative stats per backend name (backends ever seen since the router started)."""
        ...

    def stop(self) -> None:
        """Stop the router process (graceful)."""
        ...


@dataclass(frozen=True)
class ServerState:
    """One server (a release's instance on one host) as a fleet router sees it now: its
    health as the router's own checks found it and its cumulative stats."""

    backend: str  # the release's name
    host: str
    url: str
    weight: int  # the router's weight for this server now (its own scale)
    # "up", "down" (the router's checks fail: refused, timed out), "drain", "maint"
    # (out of traffic on purpose), "unchecked" (no health check configured).
    status: str
    stats: BackendStats = field(default_factory=BackendStats)


@runtime_checkable
class FleetRouter(Router, Protocol):
    """A router in front of releases on several hosts (``serves_fleets``): a backend per
    release with a server per host, and the state of each server."""

    def servers(self) -> list[ServerState]:
        """Every server of every backend, with its status and stats."""
        ...


# Sticky sessions (BuiltinRouterSettings.sticky): how the builtin router keeps a user on one
# release. Shared by the settings and the router process, which both check the name.
STICKY_MODES = ("off", "cookie", "header")
_TOKEN_PUNCTUATION = frozenset("!#$%&'*+-.^_`|~")


def check_token(name: str) -> str:
    """``name`` if it is an HTTP token (RFC 9110 section 5.6.2), else ValueError.

    A token is a valid header name and cookie name and cannot break a header line.
    """
    if not (0 < len(name) <= 128 and name.isascii()) or not all(
        c.isalnum() or c in _TOKEN_PUNCTUATION for c in name
    ):
        raise ValueError("must be 1-128 letters, digits or !#$%&'*+-.^_`|~")
    return name
