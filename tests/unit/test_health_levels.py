"""Verdicts of the levels on canned data: assertions, deep reports, captures, baselines."""

from __future__ import annotations

from typing import Any

import pytest

from safeship.config.health import Assertion, BaselineSettings
from safeship.health.base import CheckResult, overall, score
from safeship.health.baseline import Baseline, compare, percentile
from safeship.health.deep import judge_report
from safeship.health.jsonbody import failed_assertion, found, lookup
from safeship.health.smoke import substitute
from safeship.health.verify import reason, stopping

BODY = {"items": [{"id": 7, "name": "anvil"}, {"id": 8}], "status": "ok", "count": 2}


def check(**kwargs: Any) -> Assertion:
    return Assertion.model_validate(kwargs)


def test_lookup() -> None:
    assert lookup(BODY, "items.0.id") == 7
    assert lookup(BODY, "items[1].id") == 8
    assert lookup(BODY, "$") is BODY
    assert not found(lookup(BODY, "items.2.id"))
    assert not found(lookup(BODY, "status.code"))
    assert not found(lookup([1, 2], "x"))


@pytest.mark.parametrize(
    ("assertion", "problem"),
    [
        ({"path": "status", "equals": "ok"}, None),
        ({"path": "status", "equals": "down"}, 'status is "ok", expected "down"'),
        ({"path": "items.0.name", "exists": True}, None),
        ({"path": "items.1.name", "exists": True}, "items.1.name is missing"),
        ({"path": "error", "exists": False}, None),
        ({"path": "status", "exists": False}, "status exists"),
        ({"path": "items", "is_array": True, "length": 2}, None),
        ({"path": "status", "is_array": True}, "status is not an array"),
        ({"path": "items", "length": 3}, "items has length 2, expected 3"),
        ({"path": "items", "min_length": 1}, None),
        ({"path": "count", "length": 1}, "count has no length (2)"),
    ],
)
def test_assertions(assertion: dict[str, Any], problem: str | None) -> None:
    assert failed_assertion(BODY, check(**assertion)) == problem


def test_an_assertion_needs_a_condition() -> None:
    with pytest.raises(ValueError, match="needs one of"):
        check(path="status")


def test_substitute_captures_and_variables() -> None:
    captures = {"item_id": 7, "name": "anvil"}
    assert substitute("/items/{item_id}", captures) == "/items/7"
    # A string that is exactly one capture keeps the captured value's type.
    assert substitute({"id": "{item_id}", "label": "{name}-x"}, captures) == {
        "id": 7,
        "label": "anvil-x",
    }
    assert substitute("Bearer ${TOKEN}", None, {"TOKEN": "abc"}) == "Bearer abc"
    # A kind not given is left for later: variables first, captures at run time.
    assert substitute("${TOKEN}/{item_id}", None, {"TOKEN": "t"}) == "t/{item_id}"


def test_deep_report_judged_check_by_check() -> None:
    body = {
        "status": "degraded",
        "checks": {
            "database": {"status": "ok", "latency": 45},
            "cache": {"status": "degraded", "latency": 3, "detail": "memory 91%"},
            "payments": {"status": "failed", "latency": 2001, "error": "timeout after 2s"},
            "search": {"status": "ok", "latency": 900},
        },
    }
    results = judge_report(body, latency_budget_ms=500, http_status=200)
    summary = [(r.name, r.status, r.latency_ms, r.detail) for r in results]
    assert summary == [
        ("deep:database", "ok", 45.0, ""),
        ("deep:cache", "degraded", 3.0, "memory 91%"),
        ("deep:payments", "failed", 2001.0, "timeout after 2s"),
        ("deep:search", "degraded", 900.0, "900 ms, over the 500 ms budget"),
        ("deep", "degraded", 0.0, "status is 'degraded'"),
    ]


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        ({"status": "unhealthy", "checks": {}}, 503, "status is 'unhealthy'"),
        ({"status": "healthy", "checks": {}}, 503, "HTTP 503 with status 'healthy'"),
        ({"checks": {}}, 200, "answer has no status"),
        ([], 200, "answer has no status"),
        ({"status": "healthy", "checks": []}, 200, "checks is not an object"),
        ({"status": "exploded"}, 200, "status is 'exploded'"),
    ],
)
def test_deep_reports_that_fail(body: Any, code: int, detail: str) -> None:
    *_, endpoint = judge_report(body, http_status=code)
    assert (endpoint.name, endpoint.status, endpoint.detail) == ("deep", "failed", detail)


def test_a_healthy_status_with_a_failed_check_is_degraded() -> None:
    body = {"status": "healthy", "checks": {"db": {"status": "down"}}}
    first, endpoint = judge_report(body)
    assert (first.status, first.detail) == ("failed", "status is 'down'")
    assert endpoint.status == "degraded"


def result(status: str, critical: bool = True, level: int = 2) -> CheckResult:
    return CheckResult(f"c-{status}", status, 1.0, "why", None, critical, level)  # type: ignore[arg-type]


def test_overall_verdict_and_score() -> None:
    assert overall([]) == "healthy" and score([]) == 1.0
    assert overall([result("ok"), result("degraded")]) == "degraded"
    assert overall([result("ok"), result("failed", critical=False)]) == "degraded"
    assert overall([result("degraded"), result("failed")]) == "unhealthy"
    assert score([result("ok"), result("degraded"), result("failed"), result("ok")]) == 0.62


def test_what_stops_a_release() -> None:
    non_critical = result("failed", critical=False)
    assert stopping([result("ok"), non_critical, result("degraded")]) is None
    assert stopping([result("degraded")], fail_on_degraded=True) == result("degraded")
    blocking = result("failed", level=3)
    assert stopping([non_critical, blocking]) == blocking
    assert reason(blocking) == "smoke check c-failed failed: why"


def sample(mean: float | None, p95: float | None, errors: int = 0, requests: int = 100) -> Baseline:
    return Baseline("/api/v1/items", requests, errors, mean, mean, p95, p95, 1.0)


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert (percentile(ordered, 0.5), percentile(ordered, 0.95), percentile(ordered, 0.99)) == (
        50.0,
        95.0,
        99.0,
    )
    assert percentile([3.0], 0.99) == 3.0


def test_baseline_regressions_by_the_issues_thresholds() -> None:
    policy = BaselineSettings(min_latency_delta_ms=5.0)
    assert (policy.max_mean_ratio, policy.max_p95_ratio) == (1.5, 2.0)
    assert policy.max_error_rate_increase == 0.01
    before = sample(mean=10.0, p95=20.0, errors=1)
    assert compare(sample(14.0, 39.0, errors=2), before, policy) == []
    assert compare(sample(16.0, 20.0), before, policy) == [
        "mean 16.0 ms > 1.5x the previous 10.0 ms"
    ]
    assert compare(sample(10.0, 41.0), before, policy) == ["p95 41.0 ms > 2x the previous 20.0 ms"]
    assert compare(sample(10.0, 20.0, errors=3), before, policy) == [
        "error rate 3.0% > the previous 1.0% + 1.0%"
    ]
    assert compare(sample(None, None, errors=100), before, policy) == [
        "no request answered",
        "error rate 100.0% > the previous 1.0% + 1.0%",
    ]


def test_tiny_latency_changes_are_noise() -> None:
    assert compare(sample(9.0, 11.0), sample(1.0, 2.0), BaselineSettings()) == []  # < 10 ms
    strict = BaselineSettings(min_latency_delta_ms=0.0, max_mean_ratio=1.2)
    assert compare(sample(1.3, 2.0), sample(1.0, 2.0), strict) == [
        "mean 1.3 ms > 1.2x the previous 1.0 ms"
    ]


def test_stored_baselines_round_trip_and_bad_ones_are_ignored() -> None:
    current = sample(12.5, 30.0, errors=2)
    assert Baseline.from_dict(current.as_dict()) == current
    assert current.as_dict()["error_rate"] == 0.02
    for bad in (None, "x", {}, {"path": "/", "requests": "many", "errors": 0}):
        assert Baseline.from_dict(bad) is None
