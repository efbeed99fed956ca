"""The Router port: traffic weights between releases and per-release request stats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Upper bounds (milliseconds) of the latency histogram buckets; the last bucket is open.
LATENCY_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class RouterError(Exception):
    """The router could not be started or controlled. The message is one line for the user."""


@dataclass(frozen=True)
class Backend:
    """A release behind the router and the share of requests it gets (0-100)."""

    name: str
    url: str
    weight: int


@dataclass(frozen=True)
class BackendStats:
    """Cumulative counters for one backend since the router started.

    Counters only grow, so the stats of a window are the difference of two snapshots.
    ``latency_buckets`` has len(LATENCY_BUCKETS_MS) + 1 counts (the last is the open bucket).
    """

    requests: int = 0
    responses_5xx: int = 0
    connect_errors: int = 0
    status_classes: Mapping[str, int] = field(default_factory=dict)
    latency_buckets: tuple[int, ...] = (0,) * (len(LATENCY_BUCKETS_MS) + 1)
    latency_sum_ms: float = 0.0
    # Requests to this backend not yet answered, now (not cumulative); None: the router cannot
    # tell (nginx).
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
        )

    def latency_quantile_ms(self, q: float) -> float | None:
        """Upper bound of the bucket holding quantile ``q``; None without samples."""
        total = sum(self.latency_buckets)
        if total == 0:
            return None
        rank = q * total
        seen = 0
        for i, count in enumerate(self.latency_buckets):
            seen += count
            if seen >= rank and count:
                return LATENCY_BUCKETS_MS[i] if i < len(LATENCY_BUCKETS_MS) else float("inf")
        return float("inf")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackendStats:
        return cls(
            requests=int(data["requests"]),
            responses_5xx=int(data["responses_5xx"]),
            connect_errors=int(data["connect_errors"]),
            status_classes={str(k): int(v) for k, v in data["status_classes"].items()},
            latency_buckets=tuple(int(c) for c in data["latency_buckets"]),
            latency_sum_ms=float(data["latency_sum_ms"]),
            in_flight=data.get("in_flight"),
        )


class Router(Protocol):
    """Splits an environment's traffic between releases."""

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
