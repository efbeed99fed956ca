"""The watch's judgement on fixed figures: which conditions hold, at the thresholds' edges."""

from __future__ import annotations

from bisect import bisect_left

from safeship.config.watch import WatchSettings
from safeship.health.base import CheckResult
from safeship.pipeline.watch import judge
from safeship.routing.base import LATENCY_BUCKETS_MS, BackendStats

SETTINGS = WatchSettings()
OK = [CheckResult("http", "ok", 3.0, "")]


def stats(requests: int, errors: int, latency_ms: float) -> BackendStats:
    """``requests`` responses, ``errors`` of them 5xx, every one taking ``latency_ms``."""
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    buckets[bisect_left(LATENCY_BUCKETS_MS, latency_ms)] = requests
    return BackendStats(requests=requests, responses_5xx=errors, latency_buckets=tuple(buckets))


def test_a_healthy_interval_holds_no_condition() -> None:
    judged = judge(SETTINGS, OK, stats(100, 5, 20.0), 10.5, 60.0)
    # 5% is not over 5%; the latency is under 2x.
    assert judged == {"health.degraded": None, "error_rate.high": None, "latency.high": None}


def test_over_the_thresholds_the_conditions_hold_with_their_figures() -> None:
    judged = judge(SETTINGS, OK, stats(100, 6, 50.0), 10.0, 60.0)
    assert judged["error_rate.high"] == {
        "requests": 100, "errors": 6, "interval_s": 60.0, "error_rate": 0.06, "threshold": 0.05,
    }  # fmt: skip
    latency = judged["latency.high"]
    assert latency is not None and latency["ratio"] > 2.0 and latency["threshold"] == 2.0
    # Within the bucket that holds 50 ms (buckets grow by 2 ** (1/16), about 4%).
    assert latency["baseline_p95_ms"] == 10.0 and 48 <= latency["p95_ms"] <= 53


def test_too_few_requests_or_no_baseline_judge_nothing_but_health() -> None:
    degraded = [CheckResult("postgres", "degraded", 5.0, "slow", critical=False, level=2)]
    judged = judge(SETTINGS, degraded, stats(9, 9, 500.0), 10.0, None)
    assert judged == {
        "health.degraded": {
            "status": "degraded",
            "checks": [{"name": "postgres", "level": 2, "status": "degraded", "detail": "slow"}],
        }
    }
    assert "latency.high" not in judge(SETTINGS, OK, stats(50, 0, 500.0), None, None)
