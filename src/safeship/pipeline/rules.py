"""Rollback rules: what fired, and the figures that fired it.

Each rule is a plain function of figures (router stats, a process sample, check results), so it
can be tested on fixed data; the bake loop (safeship.pipeline.deploy) gathers the figures and
acts on a ``Verdict``. Three kinds:

- immediate: one observation is enough (process exit, health 5xx, a critical deep or smoke
  check failing, the error rate over the step's window once ``min_requests`` are in);
- consecutive: ``consecutive_failures`` failed observations in a row (health checks, a
  dependency degraded, a non-critical smoke flow failing), counted by ``Streaks``;
- sustained: a condition that holds at every poll for the whole window (latency, resources,
  the database pool), timed by ``Sustain``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from safeship.config.models import RollbackRules
from safeship.health.base import CheckResult
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats


@dataclass(frozen=True)
class Verdict:
    """A rule that fired (or, for a sustained rule, whose condition holds now).

    ``figures`` are JSON-ready numbers and short strings, stored with the deployment
    (``metadata["rollback"]``) and in the ``rollback.triggered`` event; ``reason`` is the one
    line the user reads, naming the same figures.
    """

    rule: str
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {"rule": self.rule, "figures": self.figures}


# -- immediate --------------------------------------------------------------------------------


def error_rate_verdict(window: BackendStats, rules: RollbackRules) -> Verdict | None:
    """The error rate over the window breaks the rule, else None.

    The rule is judged only once the window holds ``min_requests`` requests, so a single
    early error on a quiet service does not roll it back.
    """
    if window.requests < rules.min_requests or window.error_rate <= rules.error_rate:
        return None
    return Verdict(
        "error_rate",
        f"error rate {window.error_rate:.1%} over {window.requests} requests "
        f"exceeds the {rules.error_rate:.1%} threshold",
        {
            "error_rate": round(window.error_rate, 4),
            "requests": window.requests,
            "errors": window.errors,
            "threshold": rules.error_rate,
        },
    )


def check_failed_verdict(results: Sequence[CheckResult]) -> Verdict | None:
    """A critical deep/dependency (level 2) or smoke (level 3) check failed during the bake:
    the database unreachable, a critical flow broken. Rolls back at once."""
    for result in results:
        if result.blocking and result.level in (2, 3):
            rule = "dependency_failed" if result.level == 2 else "smoke_failed"
            return Verdict(rule, _check_line(result), _check_figures(result))
    return None


# -- consecutive ------------------------------------------------------------------------------


class Streaks:
    """Failures in a row per rule; any success of that rule starts it again."""

    def __init__(self, rules: RollbackRules) -> None:
        self.limit = rules.consecutive_failures
        self.counts: dict[str, int] = {}

    def observe(self, rule: str, failure: CheckResult | None) -> Verdict | None:
        """One observation for ``rule`` (``failure``: the failing result, None when fine)."""
        if failure is None:
            self.counts[rule] = 0
            return None
        count = self.counts.get(rule, 0) + 1
        self.counts[rule] = count
        if count < self.limit:
            return None
        what = {
            "health_failures": "health check failed",
            "dependency_degraded": f"dependency {failure.name} not ok",
            "smoke_failures": f"smoke flow {failure.name} failed",
        }.get(rule, f"{rule}: {failure.name}")
        detail = f": {failure.detail}" if failure.detail else ""
        return Verdict(
            rule,
            f"{what} {count} times in a row{detail}",
            {"count": count, "limit": self.limit, **_check_figures(failure)},
        )


def degraded_dependency(results: Sequence[CheckResult]) -> CheckResult | None:
    """A level-2 result not ok that does not roll back at once (degraded, or non-critical)."""
    return next((r for r in results if r.level == 2 and not r.ok and not r.blocking), None)


def intermittent_smoke(results: Sequence[CheckResult]) -> CheckResult | None:
    """A non-critical smoke (level 3) result that failed."""
    return next((r for r in results if r.level == 3 and not r.ok and not r.blocking), None)


# -- sustained --------------------------------------------------------------------------------


def latency_verdict(
    release: BackendStats,
    stable: BackendStats | None,
    stored_p95_ms: float | None,
    rules: RollbackRules,
) -> Verdict | None:
    """The release's p95 over the window above ``latency_factor`` x the baseline p95.

    The baseline is the stable release's p95 over the same window when it has
    ``min_latency_samples`` samples, else ``stored_p95_ms`` (the previous good deployment's
    level-4 baseline); without either, or without enough samples of the release, the rule
    waits (None). Both p95s are read from the routers' histograms, linear within a bucket
    (buckets 4.4% wide, see ``LATENCY_BUCKETS_MS``), so they are within a few percent of the
    true p95 and are compared as they are.
    """
    if _samples(release) < rules.min_latency_samples:
        return None
    p95 = release.latency_quantile_ms(0.95)
    if p95 is None:
        return None
    source = "stable"
    baseline = stable.latency_quantile_ms(0.95) if stable is not None else None
    if stable is None or _samples(stable) < rules.min_latency_samples or baseline is None:
        source, baseline = "stored baseline", stored_p95_ms
    if baseline is None:
        return None
    limit = rules.latency_factor * baseline
    if p95 <= limit:
        return None
    return Verdict(
        "latency",
        f"p95 latency {_ms(p95)} > {rules.latency_factor:g}x the {source} p95 {_ms(baseline)}",
        {
            "p95_ms": _finite(p95),
            "baseline_p95_ms": round(baseline, 1),
            "baseline": source,
            "factor": rules.latency_factor,
            "samples": _samples(release),
        },
    )


def resources_verdict(
    cpu_percent: float | None, rss_mb: float | None, rules: RollbackRules
) -> Verdict | None:
    """CPU (fraction of one core) or RSS (fraction of ``memory_limit_mb``) over the limit."""
    limit = rules.resource_utilization
    figures: dict[str, Any] = {"limit": limit}
    over: list[str] = []
    if cpu_percent is not None:
        cpu = cpu_percent / 100
        figures["cpu"] = round(cpu, 3)
        if cpu > limit:
            over.append(f"CPU {cpu:.0%} of a core")
    if rss_mb is not None:
        figures["rss_mb"] = round(rss_mb, 1)
        if rules.memory_limit_mb is not None:
            memory = rss_mb / rules.memory_limit_mb
            figures["memory"] = round(memory, 3)
            figures["memory_limit_mb"] = rules.memory_limit_mb
            if memory > limit:
                over.append(f"RSS {rss_mb:.0f} MB of {rules.memory_limit_mb:g} MB ({memory:.0%})")
    if not over:
        return None
    return Verdict("resources", " and ".join(over) + f" > {limit:.0%}", figures)


_POOL = re.compile(r"(\d+)/(\d+) connections")


def pool_usage(result: CheckResult) -> tuple[int, int] | None:
    """(connections in use, max_connections) from a PostgreSQL check's detail, else None."""
    match = _POOL.search(result.detail) if result.name.startswith("postgres:") else None
    return (int(match[1]), int(match[2])) if match else None


def db_pool_verdict(results: Sequence[CheckResult], rules: RollbackRules) -> Verdict | None:
    """A PostgreSQL check's connections in use at or over ``db_pool_utilization``."""
    for result in results:
        usage = pool_usage(result)
        if usage is None or not usage[1]:
            continue
        used, maximum = usage
        ratio = used / maximum
        if ratio >= rules.db_pool_utilization:
            return Verdict(
                "db_pool",
                f"{result.name}: {used}/{maximum} connections in use ({ratio:.0%}) "
                f">= {rules.db_pool_utilization:.0%}",
                {
                    "check": result.name,
                    "used": used,
                    "max": maximum,
                    "utilization": round(ratio, 3),
                    "threshold": rules.db_pool_utilization,
                },
            )
    return None


class Sustain:
    """When each sustained condition began to hold; it fires once it held for the window.

    A poll where the condition does not hold starts it again. ``observe`` is called at every
    poll with the condition's verdict now (None: it does not hold).
    """

    def __init__(self) -> None:
        self.since: dict[str, float] = {}

    def observe(
        self, rule: str, now_verdict: Verdict | None, now: float, window: float
    ) -> Verdict | None:
        if now_verdict is None:
            self.since.pop(rule, None)
            return None
        began = self.since.setdefault(rule, now)
        held = now - began
        if held < window:
            return None
        return Verdict(
            now_verdict.rule,
            f"{now_verdict.reason}, sustained for {held:.1f} s",
            {**now_verdict.figures, "sustained_s": round(held, 1), "window_s": window},
        )


def health_score(window: BackendStats) -> float:
    """1.00 for a window without errors, falling with the error rate."""
    return round(1.0 - window.error_rate, 2)


# -- helpers ----------------------------------------------------------------------------------


def _samples(stats: BackendStats) -> int:
    return sum(stats.latency_buckets)


def _finite(ms: float) -> float:
    # The open bucket has no upper bound; JSON has no infinity: its lower bound stands in.
    return round(LATENCY_BUCKETS_MS[-1], 1) if math.isinf(ms) else round(ms, 1)


def _ms(ms: float) -> str:
    # The open bucket: above the last bound, no upper bound to give.
    return f"> {LATENCY_BUCKETS_MS[-1]:.0f} ms" if math.isinf(ms) else f"{ms:.1f} ms"


def _check_line(result: CheckResult) -> str:
    level = {2: "deep", 3: "smoke"}.get(result.level, "health")
    detail = f": {result.detail}" if result.detail else ""
    return f"{level} check {result.name} {result.status} while serving traffic{detail}"


def _check_figures(result: CheckResult) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "check": result.name,
        "status": result.status,
        "level": result.level,
        "latency_ms": round(result.latency_ms, 1),
    }
    if result.http_status is not None:
        figures["http_status"] = result.http_status
    if result.detail:
        figures["detail"] = result.detail
    return figures
