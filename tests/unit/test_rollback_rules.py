"""The rollback rules on fixed figures: what fires, when, and the figures it reports."""

from __future__ import annotations

import json
import re
from bisect import bisect_left

import pytest

from safeship.config.models import RollbackRules
from safeship.health.base import CheckResult
from safeship.pipeline.rules import (
    Streaks,
    Sustain,
    Verdict,
    check_failed_verdict,
    db_pool_verdict,
    degraded_dependency,
    intermittent_smoke,
    latency_verdict,
    pool_usage,
    resources_verdict,
)
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats

RULES = RollbackRules(min_latency_samples=20, latency_factor=2.0)


def latencies(count: int, ms: float) -> BackendStats:
    """``count`` requests, all in the latency bucket holding ``ms`` (inf: the open bucket)."""
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    buckets[bisect_left(LATENCY_BUCKETS_MS, ms)] = count
    return BackendStats(requests=count, latency_buckets=tuple(buckets))


def test_latency_against_the_stable_release() -> None:
    verdict = latency_verdict(latencies(30, 250), latencies(30, 5), None, RULES)
    assert verdict is not None and verdict.rule == "latency"
    figures = dict(verdict.figures)
    # p95 read from 4.4%-wide buckets: within a few percent of the latencies.
    assert figures.pop("p95_ms") == pytest.approx(250, rel=0.05)
    assert figures.pop("baseline_p95_ms") == pytest.approx(5, rel=0.05)
    assert figures == {"baseline": "stable", "factor": 2.0, "samples": 30}
    assert re.fullmatch(
        r"p95 latency 2\d\d\.\d ms > 2x the stable p95 [45]\.\d ms", verdict.reason
    ), verdict.reason


def test_latency_just_over_twice_the_baseline_fires_and_just_under_does_not() -> None:
    # With the old buckets (10, 25] both were "10-25 ms": 21 ms against 10 ms never fired.
    assert latency_verdict(latencies(30, 21), latencies(30, 10), None, RULES) is not None
    assert latency_verdict(latencies(30, 19), latencies(30, 10), None, RULES) is None
    assert latency_verdict(latencies(30, 2.2), latencies(30, 1), None, RULES) is not None
    assert latency_verdict(latencies(30, 1.8), latencies(30, 1), None, RULES) is None


def test_latency_falls_back_to_the_stored_baseline_then_waits() -> None:
    few_stable = latencies(5, 5)
    verdict = latency_verdict(latencies(30, 250), few_stable, 40.0, RULES)
    assert verdict is not None and verdict.figures["baseline"] == "stored baseline"
    assert verdict.figures["baseline_p95_ms"] == 40.0
    assert latency_verdict(latencies(30, 250), few_stable, 130.0, RULES) is None
    assert latency_verdict(latencies(30, 250), few_stable, None, RULES) is None
    assert latency_verdict(latencies(30, 250), None, None, RULES) is None
    # Too few samples of the release itself: the rule waits.
    assert latency_verdict(latencies(19, 250), latencies(30, 5), None, RULES) is None


def test_latency_in_the_open_bucket_has_finite_figures() -> None:
    verdict = latency_verdict(latencies(30, float("inf")), latencies(30, 5), None, RULES)
    assert verdict is not None
    assert verdict.figures["p95_ms"] == pytest.approx(LATENCY_BUCKETS_MS[-1], abs=0.1)
    assert "> 120194 ms" in verdict.reason
    json.dumps(verdict.figures, allow_nan=False)


def test_resources_cpu_and_memory() -> None:
    rules = RollbackRules(resource_utilization=0.9, memory_limit_mb=200)
    cpu = resources_verdict(95.0, 50.0, rules)
    assert cpu is not None and cpu.rule == "resources"
    assert cpu.figures == {
        "limit": 0.9,
        "cpu": 0.95,
        "rss_mb": 50.0,
        "memory": 0.25,
        "memory_limit_mb": 200,
    }
    assert cpu.reason == "CPU 95% of a core > 90%"
    memory = resources_verdict(10.0, 190.0, rules)
    assert memory is not None and memory.reason == "RSS 190 MB of 200 MB (95%) > 90%"
    assert resources_verdict(90.0, 180.0, rules) is None  # at the limit is not over it
    assert resources_verdict(None, None, rules) is None
    # Without memory_limit_mb, RSS is reported but never judged.
    assert resources_verdict(10.0, 10_000.0, RollbackRules()) is None


def postgres(used: int, maximum: int, status: str = "ok") -> CheckResult:
    detail = f"SELECT 1 in 0.4 ms; {used}/{maximum} connections ({used / maximum:.0%})"
    return CheckResult("postgres:db", status, 2.0, detail, level=2)  # type: ignore[arg-type]


def test_db_pool_from_the_postgres_check() -> None:
    rules = RollbackRules(db_pool_utilization=0.95)
    assert pool_usage(postgres(19, 20)) == (19, 20)
    verdict = db_pool_verdict([postgres(19, 20)], rules)
    assert verdict is not None and verdict.rule == "db_pool"
    assert verdict.figures == {
        "check": "postgres:db",
        "used": 19,
        "max": 20,
        "utilization": 0.95,
        "threshold": 0.95,
    }
    assert verdict.reason == "postgres:db: 19/20 connections in use (95%) >= 95%"
    assert db_pool_verdict([postgres(18, 20)], rules) is None
    other = CheckResult("http:api", "ok", 1.0, "19/20 connections", level=2)
    assert pool_usage(other) is None and db_pool_verdict([other], rules) is None


def test_a_critical_deep_or_smoke_failure_fires_at_once() -> None:
    down = CheckResult("postgres:db", "failed", 3.0, "connection refused", level=2)
    verdict = check_failed_verdict([postgres(1, 20), down])
    assert verdict is not None and verdict.rule == "dependency_failed"
    assert verdict.figures["check"] == "postgres:db" and verdict.figures["status"] == "failed"
    assert verdict.reason == (
        "deep check postgres:db failed while serving traffic: connection refused"
    )
    smoke = CheckResult("checkout: GET /cart", "failed", 3.0, "HTTP 500", 500, level=3)
    fired = check_failed_verdict([smoke])
    assert fired is not None and fired.rule == "smoke_failed"
    assert fired.figures["http_status"] == 500
    optional = CheckResult("search", "failed", 3.0, "HTTP 500", 500, critical=False, level=3)
    assert check_failed_verdict([optional, postgres(1, 20, "degraded")]) is None
    assert intermittent_smoke([optional]) == optional
    assert degraded_dependency([postgres(1, 20, "degraded")]) is not None
    assert degraded_dependency([postgres(1, 20), optional]) is None


def test_consecutive_failures_in_a_row() -> None:
    streaks = Streaks(RollbackRules(consecutive_failures=3))
    bad = CheckResult("health", "failed", 1.0, "timeout after 2s")
    assert streaks.observe("health_failures", bad) is None
    assert streaks.observe("health_failures", bad) is None
    assert streaks.observe("health_failures", None) is None  # a success starts it again
    assert streaks.observe("health_failures", bad) is None
    assert streaks.observe("dependency_degraded", bad) is None  # another rule, its own count
    assert streaks.observe("health_failures", bad) is None
    fired = streaks.observe("health_failures", bad)
    assert fired is not None and fired.rule == "health_failures"
    assert fired.reason == "health check failed 3 times in a row: timeout after 2s"
    assert fired.figures["count"] == 3 and fired.figures["limit"] == 3


def test_sustained_only_when_it_held_at_every_poll_for_the_window() -> None:
    sustain = Sustain()
    hot = Verdict("resources", "CPU 95% of a core > 90%", {"cpu": 0.95})
    assert sustain.observe("resources", hot, 0.0, 2.0) is None
    assert sustain.observe("resources", hot, 1.5, 2.0) is None
    assert sustain.observe("resources", None, 1.6, 2.0) is None  # a poll below: start again
    assert sustain.observe("resources", hot, 1.7, 2.0) is None
    assert sustain.observe("resources", hot, 3.6, 2.0) is None
    fired = sustain.observe("resources", hot, 3.7, 2.0)
    assert fired is not None and fired.rule == "resources"
    assert fired.figures == {"cpu": 0.95, "sustained_s": 2.0, "window_s": 2.0}
    assert fired.reason == "CPU 95% of a core > 90%, sustained for 2.0 s"
