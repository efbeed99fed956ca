"""Level 4, the performance baseline: a bounded sample of requests, compared with the last.

The sample sends ``requests`` requests, ``concurrency`` at a time, to one path of the release
itself (not through the router), and stops early after ``max_seconds``. It yields mean, p50,
p95 and p99 latency and the error rate (a 4xx/5xx answer or no answer), plus, when the release's
pid is known (local target), the CPU and resident memory of its processes via psutil. The
pipeline stores it in the registry's ``baselines`` table and compares it with the one stored
by the previous successful deployment of the same environment.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from safeship.config.health import BaselineSettings
from safeship.health.base import CheckResult, CheckStatus

NAME = "baseline"
LEVEL = 4


@dataclass(frozen=True)
class Baseline:
    path: str
    requests: int
    errors: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    duration_s: float
    cpu_percent: float | None = None
    rss_mb: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 3)
        data["error_rate"] = round(self.error_rate, 4)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Baseline | None:
        """A stored baseline, or None when ``data`` is not one (absent, older, damaged)."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                path=str(data["path"]),
                requests=int(data["requests"]),
                errors=int(data["errors"]),
                mean_ms=_optional_float(data.get("mean_ms")),
                p50_ms=_optional_float(data.get("p50_ms")),
                p95_ms=_optional_float(data.get("p95_ms")),
                p99_ms=_optional_float(data.get("p99_ms")),
                duration_s=float(data.get("duration_s", 0.0)),
                cpu_percent=_optional_float(data.get("cpu_percent")),
                rss_mb=_optional_float(data.get("rss_mb")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def summary(self) -> str:
        if self.mean_ms is None:
            return f"{self.requests} requests, none answered"
        text = (
            f"{self.requests} requests: mean {self.mean_ms:.1f} ms, p50 {self.p50_ms:.1f}, "
            f"p95 {self.p95_ms:.1f}, p99 {self.p99_ms:.1f}, errors {self.error_rate:.1%}"
        )
        if self.cpu_percent is not None and self.rss_mb is not None:
            text += f"; CPU {self.cpu_percent:.0f}%, RSS {self.rss_mb:.0f} MB"
        return text


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list (q in 0..1)."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class _Resources:
    """CPU and RSS of a process and its children over an interval (psutil); best effort."""

    def __init__(self, pid: int | None) -> None:
        self._processes: list[Any] = []
        if pid is None:
            return
        import psutil

        try:
            root = psutil.Process(pid)
            self._processes = [root, *root.children(recursive=True)]
            for process in self._processes:
                process.cpu_percent(None)  # starts the interval
        except psutil.Error:
            self._processes = []

    def read(self) -> tuple[float | None, float | None]:
        """(CPU percent since start, RSS in MB), or (None, None) when unknown."""
        if not self._processes:
            return None, None
        import psutil

        try:
            cpu = sum(p.cpu_percent(None) for p in self._processes)
            rss = sum(p.memory_info().rss for p in self._processes)
        except psutil.Error:
            return None, None
        return cpu, rss / 1_048_576


async def measure(
    http: httpx.AsyncClient, base_url: str, settings: BaselineSettings, pid: int | None = None
) -> Baseline:
    url = base_url.rstrip("/") + settings.path
    latencies: list[float] = []
    errors = 0
    sent = 0
    resources = _Resources(pid)
    start = time.perf_counter()
    deadline = start + settings.max_seconds

    async def worker() -> None:
        nonlocal sent, errors
        while sent < settings.requests and time.perf_counter() < deadline:
            sent += 1
            began = time.perf_counter()
            try:
                response = await http.request(settings.method, url, timeout=settings.timeout)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - began) * 1000)
            if response.status_code >= 400:
                errors += 1

    workers = min(settings.concurrency, settings.requests)
    await asyncio.gather(*(worker() for _ in range(workers)))
    duration = time.perf_counter() - start
    cpu, rss = resources.read()
    ordered = sorted(latencies)
    if not ordered:
        return Baseline(settings.path, sent, errors, None, None, None, None, duration, cpu, rss)
    return Baseline(
        path=settings.path,
        requests=sent,
        errors=errors,
        mean_ms=sum(ordered) / len(ordered),
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
        p99_ms=percentile(ordered, 0.99),
        duration_s=duration,
        cpu_percent=cpu,
        rss_mb=rss,
    )


def compare(current: Baseline, previous: Baseline, settings: BaselineSettings) -> list[str]:
    """Regressions of ``current`` against ``previous``, each one line with its figures."""
    found: list[str] = []
    for label, now, before, ratio in (
        ("mean", current.mean_ms, previous.mean_ms, settings.max_mean_ratio),
        ("p95", current.p95_ms, previous.p95_ms, settings.max_p95_ratio),
    ):
        if now is None or before is None:
            continue
        if now > before * ratio and now - before >= settings.min_latency_delta_ms:
            found.append(f"{label} {now:.1f} ms > {ratio:g}x the previous {before:.1f} ms")
    if current.mean_ms is None and previous.mean_ms is not None:
        found.append("no request answered")
    increase = current.error_rate - previous.error_rate
    if increase > settings.max_error_rate_increase:
        found.append(
            f"error rate {current.error_rate:.1%} > the previous {previous.error_rate:.1%} "
            f"+ {settings.max_error_rate_increase:.1%}"
        )
    return found


def as_result(
    current: Baseline,
    previous: Baseline | None,
    regressions: list[str],
    settings: BaselineSettings,
    previous_version: str | None = None,
) -> CheckResult:
    """The baseline as one level-4 check: failed (or degraded, when only warned) on regression."""
    status: CheckStatus = "ok"
    if regressions:
        detail = "regression: " + "; ".join(regressions)
        status = "failed" if settings.on_regression == "rollback" else "degraded"
    elif previous is None:
        detail = f"{current.summary()} (no earlier baseline to compare)"
    else:
        detail = f"{current.summary()} (previous {previous_version or '?'}: " + (
            f"mean {previous.mean_ms:.1f} ms)" if previous.mean_ms is not None else "no answers)"
        )
    latency = current.mean_ms or 0.0
    return CheckResult(NAME, status, latency, detail, None, True, LEVEL)
