"""Alerts and notifications as the alerts core hands them to a channel, for the channels'
contract tests (test_alerts.py for Slack, test_email.py, test_webhook.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from safeship.notify.base import Alert, Notification

AT = datetime(2026, 11, 30, 18, 0, 0, tzinfo=UTC)


def rollback(**changes: Any) -> Alert:
    """A rolled-back production deploy with every figure known."""
    alert = Alert(
        id="ntf-0001",
        condition="deployment.failed",
        severity="critical",
        state="firing",
        environment="production",
        summary="v2.4.0 rolled back: error rate 12.0% > 5.0% <at step 2>",
        occurred_at=AT,
        deployment_id="d-42",
        version="v2.4.0",
        commit="0123456789abcdef0123456789abcdef01234567",
        triggered_by="alice",
        status="rolled_back",
        duration_s=83.4,
        health_score=0.875,
        rollback_reason="error rate 12.0% > 5.0% & rising",
        rollback_rule="error_rate",
        path="local",
        dashboard_url="https://deploys.acme.example/d/42?env=production&tab=health",
        details={"error_rate": "12.0%", "baseline_p95_ms": "40"},
    )
    return replace(alert, **changes)


def burst(count: int, channel: str = "slack") -> Notification:
    """A grouped notification: ``count`` alerts for production, oldest first."""
    alerts = tuple(
        rollback(
            id=f"ntf-{index:04d}",
            condition="latency.high",
            severity="warning",
            status=None,
            summary=f"p95 latency {80 + index} ms > 2x baseline 40 ms",
            occurred_at=AT + timedelta(seconds=index),
        )
        for index in range(count)
    )
    return Notification(alerts[0].id, channel, "production", alerts)


def single(alert: Alert, channel: str = "slack") -> Notification:
    return Notification(alert.id, channel, alert.environment, (alert,))
