"""Prometheus as a MetricSource: each release's window figures from PromQL templates.

A reading is a timestamp (the wall clock: Prometheus evaluates a query *at* a time); the
window between two readings is asked of the Prometheus HTTP API (``GET /api/v1/query`` with
``time`` = the later reading) with each template's ``{window}`` = the span between them, for
every release the router has (or had) in play. A release whose ``requests`` query returns no
sample is missing from the window, so the rules wait and the judge says ``nodata``: an empty
answer is never read as a healthy zero. A failed or slow query raises
:class:`PrometheusError` (the bake's caller decides what an outage does).

Counts come back as floats (``increase`` extrapolates to the window's edges); they are rounded
to whole requests. A latency histogram with other buckets than the router's is read onto the
router's (``LATENCY_BUCKETS_MS``): each bucket's count goes to the router bucket holding its
upper bound, so its quantiles are as coarse as its own buckets.
"""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from safeship.analysis.settings import MetricSourceSettings
from safeship.metrics import promql
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats, Router

if TYPE_CHECKING:
    import httpx

# Windows kept per source: the bake asks for two per poll (since the step began, and the
# latency rule's last sustain window), both for the same end.
_CACHED_WINDOWS = 8


class PrometheusError(Exception):
    """Prometheus did not answer a query (down, slow, or the query is wrong). One line."""


class PrometheusMetrics:
    """The ``prometheus`` metric source: ``cls(router, environment, settings)``."""

    def __init__(self, router: Router, environment: str, settings: MetricSourceSettings) -> None:
        if settings.url is None:
            raise PrometheusError("the prometheus metric source needs url")
        self.router = router
        self.environment = environment
        self.settings = settings
        self.url = settings.url.rstrip("/") + "/api/v1/query"
        # The server as messages name it: without credentials a URL may carry (user:pass@).
        self.shown_url = _without_credentials(settings.url)
        self._client: httpx.Client | None = None
        self._last_reading: float | None = None
        self._seen: dict[str, None] = {}  # releases ever in play, in order
        self._windows: OrderedDict[tuple[float, float], dict[str, BackendStats]] = OrderedDict()

    # -- MetricSource ---------------------------------------------------------------------

    def reading(self) -> float:
        """Now, or the previous reading if it is younger than ``min_interval``."""
        now = time.time()
        last = self._last_reading
        if last is not None and now - last < self.settings.min_interval:
            return last
        self._last_reading = now
        return now

    def window(self, start: float, end: float) -> dict[str, BackendStats]:
        key = (start, end)
        cached = self._windows.get(key)
        if cached is not None:
            return cached
        figures: dict[str, BackendStats] = {}
        if end > start:
            for release in self._releases():
                stats = self.release_window(release, end - start, end)
                if stats is not None:
                    figures[release] = stats
        self._windows[key] = figures
        while len(self._windows) > _CACHED_WINDOWS:
            self._windows.popitem(last=False)
        return figures

    # -- queries --------------------------------------------------------------------------

    def release_window(self, release: str, seconds: float, at: float) -> BackendStats | None:
        """``release``'s figures over the ``seconds`` before ``at``; None without data."""
        queries = self.settings.queries
        requests = self.scalar(queries.requests, release, seconds, at)
        if requests is None:
            return None
        errors = self.scalar(queries.errors, release, seconds, at)
        buckets = self.histogram(queries.latency, release, seconds, at) if queries.latency else []
        total = _count(requests)
        # No error series in the window is no error (a service that never failed has none).
        failed = min(_count(errors or 0.0), total)
        return BackendStats(
            requests=total,
            responses_5xx=failed,
            status_classes={"5xx": failed},
            latency_buckets=_router_buckets(buckets),
        )

    def scalar(self, template: str, release: str, seconds: float, at: float) -> float | None:
        """The query's one number; None when it returns no sample (or NaN)."""
        result = self.query(self._render(template, release, seconds), at)
        values = [_value(sample) for sample in result]
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return None
        if len(finite) > 1:
            raise PrometheusError(
                f"query for {release} returned {len(finite)} series, expected one number "
                "(wrap it in sum(...))"
            )
        return finite[0]

    def histogram(
        self, template: str, release: str, seconds: float, at: float
    ) -> list[tuple[float, float]]:
        """The query's (le, cumulative count) pairs, by le."""
        pairs = []
        for sample in self.query(self._render(template, release, seconds), at):
            le = sample.get("metric", {}).get("le")
            if le is None:
                raise PrometheusError("the latency query must return one series per le label")
            value = _value(sample)
            if math.isfinite(value):
                pairs.append((float(le), value))
        return sorted(pairs)

    def latency_quantile_ms(self, release: str, quantile: float, seconds: float) -> float | None:
        """``release``'s latency quantile (ms) over the last ``seconds`` by the built-in
        quantile template (for a report; the judge reads histograms); None without data."""
        query = promql.render(
            promql.LATENCY_QUANTILE,
            release=release,
            environment=self.environment,
            window_seconds=seconds,
            quantile=quantile,
        )
        values = [_value(s) for s in self.query(query, time.time())]
        finite = [v for v in values if math.isfinite(v)]
        return finite[0] * 1000 if finite else None

    def query(self, query: str, at: float) -> list[dict[str, Any]]:
        """An instant query's result vector (a list of samples)."""
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.timeout, headers=self._headers())
        try:
            response = self._client.get(self.url, params={"query": query, "time": f"{at:.3f}"})
        except httpx.HTTPError as exc:
            raise PrometheusError(f"Prometheus at {self.shown_url}: {_describe(exc)}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error") if isinstance(body, dict) else None
            raise PrometheusError(
                f"Prometheus at {self.shown_url} answered {response.status_code}: "
                f"{str(detail or 'not a Prometheus API answer').splitlines()[0][:300]}"
            )
        data = body.get("data") or {}
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": data.get("result")}]
        if data.get("resultType") != "vector":
            raise PrometheusError(
                f"query returned a {data.get('resultType')}, expected an instant vector"
            )
        result = data.get("result")
        return result if isinstance(result, list) else []

    def _headers(self) -> dict[str, str]:
        name = self.settings.token_env
        if name is None:
            return {}
        token = os.environ.get(name)
        if not token:
            raise PrometheusError(f"the Prometheus token variable {name} is not set")
        return {"Authorization": f"Bearer {token}"}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- helpers --------------------------------------------------------------------------

    def _releases(self) -> Iterable[str]:
        for backend in self.router.backends():
            self._seen.setdefault(backend.name)
        return list(self._seen)

    def _render(self, template: str, release: str, seconds: float) -> str:
        return promql.render(
            template, release=release, environment=self.environment, window_seconds=seconds
        )


def _value(sample: dict[str, Any]) -> float:
    try:
        return float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        raise PrometheusError("a sample without a value in Prometheus' answer") from None


def _count(value: float) -> int:
    return max(0, round(value))


def _router_buckets(cumulative: list[tuple[float, float]]) -> tuple[int, ...]:
    """Prometheus' cumulative (le seconds, count) onto the router's per-bucket counts."""
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    below = 0.0
    for le, total in cumulative:
        n = _count(total - below)
        below = max(below, total)
        if math.isinf(le):
            counts[-1] += n
        else:
            # A hair below the bound: a bound written out in decimal and read back may land
            # one ulp above the router's own bound of the same bucket.
            counts[bisect_left(LATENCY_BUCKETS_MS, le * 1000 * (1 - 1e-9))] += n
    return tuple(counts)


def _without_credentials(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _describe(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
