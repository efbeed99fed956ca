"""A secret rotation's alerts delivered through a real channel (a webhook channel to the
loopback CloudEvents receiver, webhook_api.py, which checks each event against the CloudEvents
1.0 specification cited there), configured as docs/secrets.md shows: a channel of its own,
``[notify.security]``, and the security team's route (``secret.*``). The receiver sees the
secret's name and fingerprints, and never a value, even one that slipped into an attribute."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from webhook_api import WebhookServer

from safeship.alerts.service import start_alerting
from safeship.config import parse_config
from safeship.events.model import Event
from safeship.redaction import register_secret
from safeship.registry import Registry

VALUE = "jwt-signing-key-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e"
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
CONFIG = """\
[environments.production]
port = 9400
target = { type = "local", command = ["python", "app.py"] }

[notify.security]
type = "webhook"
url_env = "SECURITY_HOOK_URL"

[notify.slack]
webhook_env = "TEAM_SLACK_URL"

[alerts]
group_wait = 0.0
# No gap between a group's messages: close() delivers what is ripe, and under a loaded
# machine's delays a 1 s gap left the later alerts unripe (pending for the next process).
group_interval = 0.0

[[alerts.routes]]
conditions = ["secret.*"]
channels = ["security"]

[[alerts.routes]]
channels = ["slack"]
"""


def test_the_security_route_delivers_names_and_fingerprints_never_a_value(
    tmp_path: Path, webhook_api: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_secret(VALUE)  # as the protocol does the moment it holds a value
    monkeypatch.setenv("SECURITY_HOOK_URL", webhook_api.hook_url)
    monkeypatch.delenv("TEAM_SLACK_URL", raising=False)
    config = parse_config(CONFIG)
    errors = io.StringIO()
    with Registry(f"sqlite:///{tmp_path}/registry.db") as registry:
        alerting = start_alerting(config, registry, errors)
        sink = alerting.sink
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
        # The background sender delivers them (a send that failed on a loaded machine is
        # retried when due); close() only delivers what is ripe when it is called.
        deadline = time.monotonic() + 30
        while registry.outbox_counts()["delivered"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        alerting.close(5.0)
        assert registry.firing_alerts("production") == []
        assert registry.outbox_counts()["delivered"] == 3, (
            registry.outbox_counts(),
            errors.getvalue(),
        )
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
    assert webhook_api.rejected == []
    # The team's Slack is not configured here: said once; the secret alerts never went there.
    assert errors.getvalue().splitlines() == [
        "safeship: warning: [notify.slack] is configured but TEAM_SLACK_URL is not set; "
        "no Slack notifications"
    ]
