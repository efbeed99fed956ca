"""The core's interpretation of stored records and router figures: the one place a face's
typed fields come from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from safeship import core
from safeship.registry import DeploymentRecord
from safeship.routing.base import BackendStats

ANALYSIS = {
    "score": 42.0,
    "step": 10,
    "decision": "fail",
    "metrics": [
        {
            "name": "error_rate",
            "verdict": "high",
            "canary": 0.2,
            "stable": 0.0,
            "n_canary": 50,
            "n_stable": 450,
            "p_high": 0.0001,
        },
        "not a metric",
    ],
}


def record(status: str = "succeeded", **metadata: Any) -> DeploymentRecord:
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
        health_score=None,
        error_count=0,
        rollback_reason=None,
        metadata=metadata,
    )


def test_a_finished_deployment_reads_as_typed_fields() -> None:
    summary = core.deployment_summary(
        record(analysis=ANALYSIS, traffic={"v1": {"requests": 90, "errors": 0}})
    )
    assert summary.state == "succeeded" and summary.terminal
    assert summary.duration_seconds == 12.5
    assert summary.traffic == (core.ReleaseTraffic("v1", 90, 0),)
    assert summary.analysis == core.AnalysisFigures(
        score=42.0,
        step=10,
        decision="fail",
        metrics=(core.MetricFigures("error_rate", "high", 0.2, 0.0, 50, 450, 0.0001),),
    )
    # The JSON form is the record as stored.
    assert summary.as_json()["metadata"]["analysis"] == ANALYSIS


def test_a_paused_or_progressing_deployment_says_where_it_is() -> None:
    paused = core.deployment_summary(record("progressing", paused_at=10))
    assert paused.state == "paused at 10%: safeship promote|abort"
    assert paused.where == "paused at 10%"
    moving = core.deployment_summary(record("progressing"))
    assert moving.state == "progressing at 50%" and moving.where == "progressing at 50%"
    assert moving.analysis is None and moving.traffic == ()


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
