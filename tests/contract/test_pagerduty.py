"""The PagerDuty channel against the loopback Events API v2 server: trigger and resolve by
dedup_key, change events for production deploys, and each answer said as a DeliveryError."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pagerduty_api import ROUTING_KEY, PagerDutyServer

from safeship.notify.base import Alert, DeliveryError, Notification, NotifierClass
from safeship.notify.pagerduty import THROTTLE_BACKOFF, PagerDutyNotifier
from safeship.notify.settings import PagerDutySettings
from safeship.redaction import MASK, redact

WHEN = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)
ROLLBACK = Alert(
    id="0b1c7f9e-0001",
    condition="rollback.triggered",
    severity="critical",
    state="firing",
    environment="production",
    summary="rolling back v2: error rate 12.0% > 5.0%",
    occurred_at=WHEN,
    deployment_id="d-42",
    version="v2",
    commit="a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
    triggered_by="ci",
    status="rolled_back",
    duration_s=93.5,
    health_score=0.41,
    rollback_reason="error rate 12.0% > 5.0%",
    rollback_rule="error_rate",
    path="local",
    dashboard_url="https://safeship.acme.example/production/d-42",
    details={"error_rate": "12.0%", "baseline_error_rate": "0.4%"},
)


def notifier(server: PagerDutyServer, **settings: Any) -> PagerDutyNotifier:
    merged = {"api_url": server.url, "request_timeout": 0.5} | settings
    return PagerDutyNotifier(ROUTING_KEY, PagerDutySettings.model_validate(merged))


def notification(*alerts: Alert) -> Notification:
    return Notification(alerts[0].id, "pagerduty", alerts[0].environment, alerts)


def deploy_failed(state: str = "firing", environment: str = "production", **fields: Any) -> Alert:
    alert = replace(
        ROLLBACK, id=f"0b1c7f9e-{state}", condition="deployment.failed", severity="error",
        environment=environment, summary="v2 rolled_back: error rate 12.0% > 5.0%", **fields,
    )  # fmt: skip
    return replace(alert, state=state)  # type: ignore[arg-type]


def test_a_trigger_then_a_resolve_with_the_same_dedup_key_field_by_field(
    pagerduty_api: PagerDutyServer,
) -> None:
    channel = notifier(pagerduty_api, group="shop")
    try:
        channel.send(notification(ROLLBACK))
        channel.send(notification(replace(ROLLBACK, id="0b1c7f9e-0002", state="resolved")))
    finally:
        channel.close()
    [alert] = pagerduty_api.alerts
    assert alert.dedup_key == "safeship/production/rollback.triggered"
    assert alert.status == "resolved"
    trigger, resolve = alert.events
    assert trigger == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "safeship/production/rollback.triggered",
        "payload": {
            "summary": "production: rolling back v2: error rate 12.0% > 5.0%",
            "source": "production",
            "severity": "critical",
            "timestamp": "2026-03-01T10:00:05+00:00",
            "component": "v2",
            "group": "shop",
            "class": "rollback.triggered",
            "custom_details": {
                "alert_id": "0b1c7f9e-0001",
                "condition": "rollback.triggered",
                "state": "firing",
                "environment": "production",
                "deployment_id": "d-42",
                "version": "v2",
                "commit": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
                "triggered_by": "ci",
                "status": "rolled_back",
                "duration_s": 93.5,
                "health_score": 0.41,
                "rollback_reason": "error rate 12.0% > 5.0%",
                "rollback_rule": "error_rate",
                "path": "local",
                "error_rate": "12.0%",
                "baseline_error_rate": "0.4%",
            },
        },
        "client": "safeship",
        "client_url": "https://safeship.acme.example/production/d-42",
        "links": [
            {
                "href": "https://safeship.acme.example/production/d-42",
                "text": "safeship: production",
            }
        ],
    }
    assert resolve == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": "safeship/production/rollback.triggered",
    }
    assert pagerduty_api.changes == []  # a rollback is not a deploy's end: no change event


def test_a_repeated_trigger_lands_on_the_open_alert_and_a_later_one_opens_a_new_one(
    pagerduty_api: PagerDutyServer,
) -> None:
    channel = notifier(pagerduty_api)
    again = replace(ROLLBACK, id="0b1c7f9e-0003", summary="rolling back v3: latency 2.4x")
    try:
        # A grouped burst: one call per alert, both on one dedup_key.
        channel.send(notification(ROLLBACK, again))
        channel.send(notification(replace(again, id="0b1c7f9e-0004", state="resolved")))
        channel.send(notification(replace(ROLLBACK, id="0b1c7f9e-0005")))
    finally:
        channel.close()
    first, second = pagerduty_api.alerts
    assert [e["event_action"] for e in first.events] == ["trigger", "trigger", "resolve"]
    assert first.events[1]["payload"]["summary"] == "production: rolling back v3: latency 2.4x"
    assert (first.status, second.status) == ("resolved", "triggered")
    assert second.dedup_key == first.dedup_key


def test_a_production_deploy_is_a_change_event_and_a_staging_one_is_not(
    pagerduty_api: PagerDutyServer,
) -> None:
    succeeded = replace(
        ROLLBACK, id="0b1c7f9e-0006", condition="deployment.succeeded", severity="info",
        summary="v3 deployed", status="succeeded", rollback_reason=None, rollback_rule=None,
        details={},
    )  # fmt: skip
    channel = notifier(pagerduty_api)
    try:
        channel.send(notification(succeeded))
        channel.send(notification(replace(succeeded, id="0b1c7f9e-0007", environment="staging")))
        channel.send(notification(deploy_failed()))
    finally:
        channel.close()
    change, failed_change = pagerduty_api.changes
    assert change == {
        "routing_key": ROUTING_KEY,
        "payload": {
            "summary": "production: v3 deployed",
            "source": "production",
            "timestamp": "2026-03-01T10:00:05+00:00",
            "custom_details": {
                "alert_id": "0b1c7f9e-0006",
                "condition": "deployment.succeeded",
                "state": "firing",
                "environment": "production",
                "deployment_id": "d-42",
                "version": "v2",
                "commit": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
                "triggered_by": "ci",
                "status": "succeeded",
                "duration_s": 93.5,
                "health_score": 0.41,
                "path": "local",
            },
        },
        "links": [
            {
                "href": "https://safeship.acme.example/production/d-42",
                "text": "safeship: production",
            }
        ],
    }
    # A failed production deploy is a change on the timeline, not a page (its rollback's own
    # alert, rollback.triggered, is what pages).
    assert (
        failed_change["payload"]["summary"] == "production: v2 rolled_back: error rate 12.0% > 5.0%"
    )
    assert pagerduty_api.alerts == []
    # The info-level success paged no one.
    assert [r.path for r in pagerduty_api.received] == [
        "/v2/change/enqueue", "/v2/change/enqueue",
    ]  # fmt: skip


def test_an_info_alert_pages_no_one_and_a_test_is_a_change_event(
    pagerduty_api: PagerDutyServer,
) -> None:
    channel = notifier(pagerduty_api, change_environments=[])
    test = replace(ROLLBACK, id="t-1", condition="test", severity="info", summary="a test")
    try:
        channel.send(notification(replace(ROLLBACK, severity="info")))
        channel.send(notification(test))
    finally:
        channel.close()
    assert pagerduty_api.alerts == []
    [change] = pagerduty_api.changes
    assert change["payload"]["summary"] == "production: a test"


def test_a_long_summary_is_cut_to_1024_characters(pagerduty_api: PagerDutyServer) -> None:
    channel = notifier(pagerduty_api)
    try:
        channel.send(notification(replace(ROLLBACK, summary="x" * 3000)))
    finally:
        channel.close()
    [alert] = pagerduty_api.alerts
    assert len(alert.events[0]["payload"]["summary"]) == 1024


def failure(server: PagerDutyServer, mode: str) -> DeliveryError:
    server.fail(mode)
    channel = notifier(server)
    try:
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification(ROLLBACK))
    finally:
        channel.close()
    return caught.value


def test_answers_become_delivery_errors_the_core_can_act_on(
    pagerduty_api: PagerDutyServer,
) -> None:
    throttled = failure(pagerduty_api, "429")
    assert throttled.retry_after == THROTTLE_BACKOFF  # PagerDuty sends no Retry-After
    assert not (throttled.permanent or throttled.maybe_delivered)
    assert "429" in str(throttled)

    outage = failure(pagerduty_api, "500")
    assert outage.maybe_delivered and not outage.permanent

    page = failure(pagerduty_api, "html")  # a CDN's 503 page with Retry-After unknown
    assert page.retry_after == THROTTLE_BACKOFF and not page.permanent

    hung = failure(pagerduty_api, "hang")
    assert hung.maybe_delivered and "no answer within 0.5 s" in str(hung)
    assert pagerduty_api.alerts == []  # nothing got through: the core retries


def test_a_rejected_event_is_permanent_and_says_why(pagerduty_api: PagerDutyServer) -> None:
    channel = PagerDutyNotifier(
        "not-the-key-" + "k" * 20, PagerDutySettings(api_url=pagerduty_api.url)
    )
    try:
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification(ROLLBACK))
    finally:
        channel.close()
    assert caught.value.permanent
    assert str(caught.value) == (
        "pagerduty: HTTP 400: Event object is invalid: 'routing_key' is invalid"
    )


def test_an_unreachable_pagerduty_is_retried_not_maybe_delivered() -> None:
    channel = PagerDutyNotifier(ROUTING_KEY, PagerDutySettings(api_url="http://127.0.0.1:9"))
    try:
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification(ROLLBACK))
    finally:
        channel.close()
    assert not (caught.value.permanent or caught.value.maybe_delivered)
    assert "cannot reach 127.0.0.1" in str(caught.value)


def test_configured_reads_the_key_from_its_variable_and_never_prints_it(
    pagerduty_api: PagerDutyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = io.StringIO()
    settings = PagerDutySettings(routing_key_env="PD_KEY_FOR_TEST", api_url=pagerduty_api.url)
    monkeypatch.delenv("PD_KEY_FOR_TEST", raising=False)
    kind: NotifierClass = PagerDutyNotifier  # the port, as the plugin registry loads it
    assert kind.configured(settings, errors) is None
    assert errors.getvalue() == (
        "safeship: warning: [notify.pagerduty] is configured but PD_KEY_FOR_TEST is not set; "
        "no PagerDuty alerts\n"
    )
    monkeypatch.setenv("PD_KEY_FOR_TEST", ROUTING_KEY)
    channel = kind.configured(settings, errors)
    assert channel is not None
    pagerduty_api.fail("500")
    try:
        with pytest.raises(DeliveryError) as caught:
            channel.send(notification(ROLLBACK))
    finally:
        channel.close()
    assert ROUTING_KEY not in str(caught.value) + errors.getvalue()
    assert redact(f"key={ROUTING_KEY}") == f"key={MASK}"  # registered: masked anywhere
