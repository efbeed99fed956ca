"""The "webhook" channel against a loopback CloudEvents receiver: the document attribute by
attribute, CDEvents where they fit, batches for groups, the HMAC signature, and each answer
mapped to the right DeliveryError."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from sample_alerts import burst, rollback, single
from webhook_api import WebhookServer

from safeship.notify.base import DeliveryError, Notification
from safeship.notify.settings import WebhookSettings
from safeship.notify.webhook import WebhookNotifier, cloud_event, signature

SECRET = "Hm4cS3cr3tHm4cS3cr3t77"


def send(
    url: str, notification: Notification, secret: str | None = None, timeout: float = 2.0
) -> None:
    notifier = WebhookNotifier(url, service="shop", secret=secret, timeout=timeout)
    try:
        notifier.send(notification)
    finally:
        notifier.close()


@pytest.fixture
def signed_api() -> Iterator[WebhookServer]:
    server = WebhookServer(secret=SECRET)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_rollback_is_a_cdevents_service_rolledback(webhook_api: WebhookServer) -> None:
    send(webhook_api.hook_url, single(rollback(), "webhook"))
    [[event]] = webhook_api.deliveries
    post = webhook_api.calls("/hooks/")[0]
    assert post.headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
    assert {k: v for k, v in event.items() if k != "data"} == {
        "specversion": "1.0",
        "id": "ntf-0001",
        "source": "/safeship/production",
        "type": "dev.cdevents.service.rolledback.0.2.0",
        "subject": "deployment.failed",
        "time": "2026-11-30T18:00:00Z",
        "datacontenttype": "application/json",
    }
    data = event["data"]
    assert data["context"] == {
        "version": "0.4.1",
        "id": "ntf-0001",
        "source": "/safeship/production",
        "type": "dev.cdevents.service.rolledback.0.2.0",
        "timestamp": "2026-11-30T18:00:00Z",
    }
    assert data["subject"] == {
        "id": "production/shop",
        "source": "/safeship/production",
        "type": "service",
        "content": {
            "environment": {"id": "production", "source": "/safeship/production"},
            "artifactId": "pkg:generic/shop@v2.4.0",
        },
    }
    assert data["customDataContentType"] == "application/json"
    fields = data["customData"]
    assert fields["summary"] == "v2.4.0 rolled back: error rate 12.0% > 5.0% <at step 2>"
    assert (fields["severity"], fields["state"], fields["status"]) == (
        "critical",
        "firing",
        "rolled_back",
    )
    assert (fields["commit"], fields["triggered_by"]) == (
        "0123456789abcdef0123456789abcdef01234567",
        "alice",
    )
    assert (fields["duration_s"], fields["health_score"]) == (83.4, 0.875)
    assert (fields["rollback_reason"], fields["rollback_rule"]) == (
        "error rate 12.0% > 5.0% & rising",
        "error_rate",
    )
    assert fields["key"] == "safeship/production/deployment.failed"
    assert fields["details"] == {"error_rate": "12.0%", "baseline_p95_ms": "40"}
    assert webhook_api.rejected == []


def test_types_cdevents_where_they_fit_else_safeship_alert() -> None:
    assert cloud_event(
        rollback(condition="deployment.succeeded", severity="info", status="succeeded")
    )["type"] == ("dev.cdevents.service.deployed.0.2.0")
    assert (
        cloud_event(rollback(status="failed"))["type"]
        == "dev.safeship.alert.deployment.failed.firing"
    )
    resolved = cloud_event(rollback(condition="latency.high", state="resolved"))
    assert resolved["type"] == "dev.safeship.alert.latency.high.resolved"
    assert resolved["data"]["condition"] == "latency.high"  # not a CDEvent: the alert's fields


def test_a_group_is_one_batch_and_a_retry_is_dropped_by_id(webhook_api: WebhookServer) -> None:
    group = burst(3, "webhook")
    send(webhook_api.hook_url, group)
    send(webhook_api.hook_url, group)  # the core retried after an unknown outcome
    post = webhook_api.calls("/hooks/")[0]
    assert post.headers["Content-Type"] == "application/cloudevents-batch+json; charset=utf-8"
    assert [e["id"] for e in webhook_api.deliveries[0]] == ["ntf-0000", "ntf-0001", "ntf-0002"]
    assert len(webhook_api.events) == 3 and webhook_api.duplicates == 3
    assert webhook_api.rejected == []


def test_the_body_is_signed_with_the_secret(signed_api: WebhookServer) -> None:
    send(signed_api.hook_url, single(rollback(), "webhook"), secret=SECRET)
    post = signed_api.calls("/hooks/")[0]
    assert post.headers["X-Safeship-Signature"].startswith("sha256=")
    assert len(signed_api.deliveries) == 1
    with pytest.raises(DeliveryError) as failed:  # a wrong secret: the receiver refuses it
        send(signed_api.hook_url, single(rollback(), "webhook"), secret="n0t-the-r1ght-secret")
    assert (
        failed.value.permanent
        and str(failed.value) == 'webhook: HTTP 401: {"error": "bad signature"}'
    )
    # HMAC-SHA256's published example (RFC 2104 construction; Wikipedia's test vector).
    assert signature("key", b"The quick brown fox jumps over the lazy dog") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_429_500_and_hang_map_to_the_right_delivery_error(webhook_api: WebhookServer) -> None:
    notification = single(rollback(), "webhook")
    webhook_api.fail("429")
    with pytest.raises(DeliveryError) as throttled:
        send(webhook_api.hook_url, notification)
    assert throttled.value.retry_after == 1.0 and not throttled.value.permanent
    webhook_api.fail("500")
    with pytest.raises(DeliveryError) as failed:
        send(webhook_api.hook_url, notification)
    assert failed.value.maybe_delivered
    webhook_api.hang_seconds = 2.0
    webhook_api.fail("hang")
    started = time.monotonic()
    with pytest.raises(DeliveryError) as hung:
        send(webhook_api.hook_url, notification, timeout=0.3)
    assert time.monotonic() - started < 1.5 and hung.value.maybe_delivered
    assert webhook_api.events == {}


def test_configured_needs_its_variables_and_never_prints_them(
    monkeypatch: pytest.MonkeyPatch, signed_api: WebhookServer
) -> None:
    settings = WebhookSettings(url_env="SAFESHIP_TEST_HOOK", secret_env="SAFESHIP_TEST_HOOK_SECRET")
    errors = io.StringIO()
    monkeypatch.delenv("SAFESHIP_TEST_HOOK", raising=False)
    monkeypatch.delenv("SAFESHIP_TEST_HOOK_SECRET", raising=False)
    assert WebhookNotifier.configured(settings, errors) is None
    monkeypatch.setenv("SAFESHIP_TEST_HOOK", signed_api.hook_url)
    assert WebhookNotifier.configured(settings, errors) is None
    assert errors.getvalue().splitlines() == [
        "safeship: warning: [notify.webhook] is configured but SAFESHIP_TEST_HOOK is not set; "
        "no webhook notifications",
        "safeship: warning: [notify.webhook] signs with SAFESHIP_TEST_HOOK_SECRET, which is not "
        "set; no webhook notifications",
    ]
    monkeypatch.setenv("SAFESHIP_TEST_HOOK_SECRET", SECRET)
    notifier = WebhookNotifier.configured(settings, errors)
    assert notifier is not None
    notifier.send(single(rollback(summary=f"leaked {SECRET}"), "webhook"))
    notifier.close()
    [[event]] = signed_api.deliveries
    assert SECRET not in str(event)
