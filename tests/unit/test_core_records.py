"""The core's interpretation of stored records and router figures: the one place a face's
typed fields come from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from safeship import core
from safeship.registry import DeploymentRecord
from safeship.registry.records import StepResult
from safeship.routing.base import BackendStats

JUDGED = StepResult(
    step_index=0,
    weight=10,
    verdict="fail",
    score=42.0,
    canary_error_rate=0.2,
    stable_error_rate=0.0,
    error_p_value=0.0001,
    canary_requests=50,
    stable_requests=450,
    error_verdict="high",
)
FINAL = StepResult(
    step_index=1,
    weight=0,
    verdict="rolled_back",
    canary_requests=60,
    canary_errors=12,
    stable_requests=90,
    stable_errors=0,
)


def record(status: str = "succeeded", **fields: Any) -> DeploymentRecord:
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    terminal = status in ("succeeded", "failed", "rolled_back", "aborted")
    return DeploymentRecord(
        id="0123456789abcdef",
        environment="production",
        version="v2",
        commit_sha="c0ffee1",
        triggered_by="ci",
        status=status,
        started_at=started,
        completed_at=started + timedelta(seconds=12.5) if terminal else None,
        current_step=50 if status == "progressing" else None,
        health_score=fields.pop("health_score", None),
        error_count=fields.pop("error_count", 0),
        rollback_reason=None,
        **fields,
    )


def test_a_finished_deployment_reads_as_typed_fields() -> None:
    summary = core.deployment_summary(
        record(
            "rolled_back",
            stable_version="v1",
            steps=(JUDGED, FINAL),
            health_score=0.8,
            error_count=12,
        )
    )
    assert summary.state == "rolled_back" and summary.terminal
    assert summary.duration_seconds == 12.5
    assert summary.traffic == (
        core.ReleaseTraffic("v2", 60, 12),
        core.ReleaseTraffic("v1", 90, 0),
    )
    assert summary.analysis == core.AnalysisFigures(
        score=42.0,
        step=10,
        decision="fail",
        metrics=(core.MetricFigures("error_rate", "high", 0.2, 0.0, 50, 450, 0.0001),),
    )
    assert (summary.health_score, summary.error_count) == (0.8, 12)
    assert summary.health == "health 0.80, 12 errors"
    # The JSON form is the record as stored, its step results and health included.
    stored = summary.as_json()
    assert [s["verdict"] for s in stored["steps"]] == ["fail", "rolled_back"]
    assert (stored["health_score"], stored["error_count"]) == (0.8, 12)


def test_a_paused_or_progressing_deployment_says_where_it_is() -> None:
    paused = core.deployment_summary(record("progressing", paused_at=10))
    assert paused.state == "paused at 10%: safeship promote|abort"
    assert paused.where == "paused at 10%"
    moving = core.deployment_summary(record("progressing"))
    assert moving.state == "progressing at 50%" and moving.where == "progressing at 50%"
    assert moving.analysis is None and moving.traffic == ()
    running = core.deployment_summary(record("progressing", health_score=1.0))
    assert running.health == ""  # not final while it runs


def test_malformed_analysis_figures_become_none_not_an_error() -> None:
    figures = core.analysis_figures({"score": "high", "metrics": [{"n_canary": True}]})
    assert figures.score is None and figures.decision is None
    (metric,) = figures.metrics
    assert metric.n_canary is None and metric.canary is None


def test_traffic_rows_give_every_release_seen_sorted_with_its_weight() -> None:
    stats = {"v2": BackendStats(requests=10, responses_5xx=2)}
    rows = core.traffic_rows({"v1": 90, "v2": 10}, stats)
    assert [(r.release, r.weight, r.requests, r.errors) for r in rows] == [
        ("v1", 90, 0, 0),
        ("v2", 10, 10, 2),
    ]
    assert rows[0].error_rate is None and rows[1].error_rate == 0.2
    # A release rolled back (no weight any more) still shows what it answered.
    (gone,) = core.traffic_rows({}, stats)
    assert gone.weight == 0 and gone.requests == 10
