"""Slack alerts against the loopback Slack webhook server: the webhook client, the event-bus
sink, and a real deploy that rolls back on the local target."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from slack_api import SECRET, SlackServer

from safeship.events import Event, EventBus, EventName
from safeship.httpapi import RetryPolicy
from safeship.notify.settings import SlackSettings
from safeship.notify.slack import SlackAlertSink, SlackWebhook, slack_sink
from safeship.pipeline import operations
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
DEFAULT = ("path.failover", "rollback.triggered", "deployment.failed")


def sink(
    url: str, errors: io.StringIO, sleeps: list[float] | None = None, max_wait: float = 10.0
) -> SlackAlertSink:
    webhook = SlackWebhook(
        url,
        timeout=1.0,
        retry=RetryPolicy(attempts=3, backoff=0.01, max_wait=max_wait),
        sleep=(sleeps if sleeps is not None else []).append,
    )
    return SlackAlertSink(webhook, DEFAULT, errors)


def event(name: EventName, **attributes: Any) -> Event:
    return Event(
        event=name, environment="production", version="v1.4.0", triggered_by="ci",
        attributes=attributes,
    )  # fmt: skip


def test_alerts_for_failover_rollback_and_failures_only(slack_api: SlackServer) -> None:
    errors = io.StringIO()
    alerts = sink(slack_api.webhook_url, errors)
    bus = EventBus([alerts])
    bus.publish(event("deployment.started"))
    bus.publish(
        event("path.failover", **{"from": "github-actions", "to": "circleci", "reason": "billing"})
    )
    bus.publish(event("rollback.triggered", reason="error rate 12% > 5% <at step 10>"))
    bus.publish(event("deployment.failed", status="rolled_back", reason="error rate 12%"))
    bus.publish(event("path.completed", path="circleci", ok=True, run_id="p1"))
    bus.publish(
        event("path.completed", path="railway-native", ok=False, run_id="d-9", detail="FAILED")
    )
    # A path whose deployment ran here (local) already alerted as deployment.failed: not twice.
    bus.publish(
        event("path.completed", path="local", ok=False, run_id="local-1", deployment_id="d-1")
    )
    bus.publish(event("deployment.succeeded"))
    alerts.close()

    assert [m.text for m in slack_api.messages] == [
        "safeship: production: deploy path github-actions failed over to circleci "
        "(deploying v1.4.0): billing (triggered by ci)",
        # Slack's control characters are escaped.
        "safeship: production: rolling back v1.4.0: error rate 12% &gt; 5% &lt;at step 10&gt; "
        "(triggered by ci)",
        "safeship: production: v1.4.0 rolled_back: error rate 12% (triggered by ci)",
        # A remote path's failed run has no deployment.failed here: it alerts in its place.
        "safeship: production: v1.4.0 failed through railway-native (run d-9): FAILED "
        "(triggered by ci)",
    ]
    post = slack_api.calls("/services/")[0]
    assert post.headers["Content-Type"] == "application/json"
    assert errors.getvalue() == ""


def test_429_waits_for_retry_after_then_delivers(slack_api: SlackServer) -> None:
    slack_api.rate_limit_next, slack_api.retry_after = 1, 2
    errors, sleeps = io.StringIO(), list[float]()
    alerts = sink(slack_api.webhook_url, errors, sleeps)
    EventBus([alerts]).publish(event("rollback.triggered", reason="p99 latency"))
    alerts.close()
    assert len(slack_api.calls("/services/")) == 2
    assert sleeps == [2.0]  # the server's Retry-After, not our backoff
    assert len(slack_api.messages) == 1 and errors.getvalue() == ""


def test_a_long_retry_after_drops_the_alert_with_one_warning(slack_api: SlackServer) -> None:
    slack_api.rate_limit_next, slack_api.retry_after = 5, 120
    errors = io.StringIO()
    alerts = sink(slack_api.webhook_url, errors, max_wait=10.0)
    EventBus([alerts]).publish(event("rollback.triggered", reason="p99 latency"))
    alerts.close()
    assert errors.getvalue().splitlines() == [
        "safeship: slack alert: rollback.triggered not reported: slack: rate limited "
        "(HTTP 429); the server asks to retry after 120 s"
    ]
    assert slack_api.messages == []


def test_a_revoked_webhook_is_one_warning_without_the_url(slack_api: SlackServer) -> None:
    revoked = slack_api.webhook_url.replace(SECRET, "Wr0ngSecretWr0ngSecret12")
    errors = io.StringIO()
    alerts = sink(revoked, errors)
    bus = EventBus([alerts])
    bus.publish(event("deployment.failed", status="failed", reason="env check failed"))
    alerts.close()
    assert bus.failures == 0
    assert errors.getvalue().splitlines() == [
        "safeship: slack alert: deployment.failed not reported: slack: HTTP 404: no_service"
    ]
    assert len(slack_api.calls("/services/")) == 1  # a 4xx is not retried


def test_a_hanging_or_failing_slack_never_blocks_the_deploy(slack_api: SlackServer) -> None:
    slack_api.hang_seconds = 2.0
    slack_api.fail("hang", times=1)
    slack_api.fail("500", times=None)
    errors = io.StringIO()
    alerts = sink(slack_api.webhook_url, errors)
    bus = EventBus([alerts])
    bus.publish(event("rollback.triggered", reason="crash"))
    bus.publish(event("deployment.failed", status="rolled_back", reason="crash"))
    # Queued, not sent on the deploy's thread: sending here would have returned only after the
    # hanging attempt's 1 s timeout and the retries, with both failures reported.
    assert errors.getvalue() == ""
    alerts.close(timeout=20)
    lines = errors.getvalue().splitlines()
    assert len(lines) == 2 and all("gave up after 3 attempts" in line for line in lines)
    assert SECRET not in errors.getvalue()


def test_settings_without_the_variable_disable_alerts_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, slack_api: SlackServer
) -> None:
    settings = SlackSettings(webhook_env="SAFESHIP_TEST_SLACK")
    assert list(settings.events) == list(DEFAULT)
    errors = io.StringIO()
    monkeypatch.delenv("SAFESHIP_TEST_SLACK", raising=False)
    assert slack_sink(settings, errors) is None
    assert errors.getvalue() == (
        "safeship: warning: [notify.slack] is configured but SAFESHIP_TEST_SLACK is not set; "
        "no Slack alerts\n"
    )
    assert slack_sink(None) is None
    monkeypatch.setenv("SAFESHIP_TEST_SLACK", slack_api.webhook_url)
    alerts = slack_sink(settings, errors)
    assert alerts is not None
    alerts.close()


def test_a_rolled_back_deploy_alerts_through_the_event_bus(
    monkeypatch: pytest.MonkeyPatch,
    slack_api: SlackServer,
    workspace_factory: WorkspaceFactory,
) -> None:
    monkeypatch.setenv("SAFESHIP_TEST_SLACK", slack_api.webhook_url)
    ws = workspace_factory(
        behaviours={"v2": "crash_after=0.5"},
        bake_time=3.0,
        tables='[notify.slack]\nwebhook_env = "SAFESHIP_TEST_SLACK"\n',
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    assert slack_api.messages == []  # a success is not an alert
    outcome = operations.deploy(ws.loaded, ENV, "v2", triggered_by="alice")
    assert outcome.status.value == "rolled_back"
    texts = [m.text for m in slack_api.messages]
    assert texts == [
        f"safeship: {ENV}: rolling back v2: {outcome.reason} (triggered by alice)",
        f"safeship: {ENV}: v2 rolled_back: {outcome.reason} (triggered by alice)",
    ]
