"""Rollback rules on health checks' results: what fired, and the figures that fired it.

Each rule is a plain function of check results, so it can be tested on fixed data; the
rollout's watchers (:mod:`safeship.pipeline.rollout.watchers`) run the checks and hand the
verdicts to the bake. Immediate: a critical deep or smoke check failing. Consecutive:
``consecutive_failures`` failed observations in a row (health checks, a dependency degraded, a
non-critical smoke flow failing), counted by ``Streaks``. Sustained (with
:class:`~safeship.analysis.rules.Sustain`): the database pool's use.

The rules on the traffic and the process (error rate, latency, resources) live in
:mod:`safeship.analysis.rules` and are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from safeship.analysis.rules import (
    Sustain,
    Verdict,
    error_rate_verdict,
    health_score,
    latency_verdict,
    resources_verdict,
)
from safeship.config.models import RollbackRules
from safeship.health.base import CheckResult

__all__ = [
    "Streaks",
    "Sustain",
    "Verdict",
    "check_failed_verdict",
    "db_pool_verdict",
    "degraded_dependency",
    "error_rate_verdict",
    "health_score",
    "intermittent_smoke",
    "latency_verdict",
    "pool_usage",
    "resources_verdict",
]


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


# -- helpers ----------------------------------------------------------------------------------


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
