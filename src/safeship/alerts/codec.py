"""An alert as the outbox stores it (JSON), and a notification as a JSON document."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from safeship.notify.base import Alert, Notification


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as JSON, without its id (the outbox row's id is it)."""
    data = asdict(alert)
    data.pop("id")
    data["occurred_at"] = alert.occurred_at.isoformat()
    data["details"] = dict(alert.details)
    return data


def alert_from_json(row_id: str, data: dict[str, Any]) -> Alert:
    fields = dict(data)
    fields["occurred_at"] = datetime.fromisoformat(str(fields["occurred_at"]))
    fields["details"] = {str(k): str(v) for k, v in (fields.get("details") or {}).items()}
    known = set(Alert.__dataclass_fields__)
    return Alert(id=row_id, **{k: v for k, v in fields.items() if k in known})


def notification_json(notification: Notification) -> dict[str, Any]:
    """One message as a document: what the console channel writes, a line each."""
    return {
        "id": notification.id,
        "channel": notification.channel,
        "environment": notification.environment,
        "severity": notification.severity,
        "alerts": [{"id": a.id, **alert_json(a)} for a in notification.alerts],
    }
