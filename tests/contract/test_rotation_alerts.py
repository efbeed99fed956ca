"""A secret rotation's alerts delivered through a real channel (the "webhook" channel to the
loopback CloudEvents receiver, webhook_api.py, which checks each event against the CloudEvents
1.0 specification cited there): the security team's route (``secret.*``) takes them, the
receiver sees the secret's name and fingerprints, and never a value, even one that slipped into
an attribute."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from webhook_api import WebhookServer

from safeship.alerts.dispatcher import Dispatcher
from safeship.alerts.routing import routes_from
from safeship.alerts.settings import AlertSettings, RouteSettings
from safeship.alerts.sink import AlertSink
from safeship.events.model import Event
from safeship.notify.webhook import WebhookNotifier
from safeship.redaction import register_secret
from safeship.registry import Registry

VALUE = "jwt-signing-key-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e"
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ROUTES = [{"conditions": ["secret.*"], "channels": ["security"]}]


def test_the_security_route_delivers_names_and_fingerprints_never_a_value(
    tmp_path: Path, webhook_api: WebhookServer
) -> None:
    register_secret(VALUE)  # as the protocol does the moment it holds a value
    settings = AlertSettings.model_validate(
        {"routes": ROUTES, "production": ["production"], "group_wait": 0.0}
    )
    notifier = WebhookNotifier(webhook_api.hook_url, service="shop", secret=None, timeout=2.0)
    errors = io.StringIO()
    with Registry(f"sqlite:///{tmp_path}/registry.db") as registry:
        routes = routes_from([RouteSettings.model_validate(r) for r in ROUTES], ["security"])
        sink = AlertSink(registry, routes, settings, None, errors)
        dispatcher = Dispatcher(registry, {"security": notifier}, settings, errors=errors)
        base = {
            "secret": "JWT_SECRET",
            "kind": "random",
            "category": "application",
            "rotation": 3,
            "environments": ["production"],
            "by": "cli:alice",
        }
        sink.handle(
            Event(
                event="secret.rotation_due",
                environment="production",
                timestamp=T0,
                triggered_by="the rotation job",
                attributes={**base, "state": "overdue", "next_due": "2026-11-30"},
            )
        )
        sink.handle(
            Event(
                event="secret.rotated",
                environment="production",
                timestamp=T0 + timedelta(seconds=1),
                triggered_by="cli:alice",
                attributes={
                    **base,
                    "fingerprints": {"new": "fp:1a2b3c4d", "previous": "fp:9f8e7d6c"},
                    "note": f"a value that slipped in: {VALUE}",
                },
            )
        )
        dispatcher.close(5.0)
        assert registry.firing_alerts("production") == []
    events = [event for batch in webhook_api.deliveries for event in batch]
    assert [(e["type"], e["data"]["subject"]) for e in events] == [
        ("dev.safeship.alert.secret.rotation_due.firing", "JWT_SECRET"),
        ("dev.safeship.alert.secret.rotated.firing", "JWT_SECRET"),
        ("dev.safeship.alert.secret.rotation_due.resolved", "JWT_SECRET"),
    ]
    rotated = events[1]["data"]
    assert rotated["key"] == "safeship/production/secret.rotated/JWT_SECRET"
    assert rotated["details"]["fingerprint new"] == "fp:1a2b3c4d"
    assert rotated["severity"] == "info" and rotated["triggered_by"] == "cli:alice"
    bodies = json.dumps([call.body for call in webhook_api.calls("/hooks/")])
    assert VALUE not in bodies and "JWT_SECRET" in bodies
    assert webhook_api.rejected == [] and errors.getvalue() == ""
