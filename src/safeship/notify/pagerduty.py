"""Alerts to PagerDuty: Events API v2 alert events, and Change Events for production deploys.

API: https://developer.pagerduty.com/docs/events-api-v2/overview (POST
https://events.pagerduty.com/v2/enqueue: routing_key, event_action trigger | acknowledge |
resolve, dedup_key (at most 255 characters), payload {summary (at most 1,024 characters), source,
severity critical | error | warning | info, timestamp, component, group, class, custom_details},
links [{href, text}], client, client_url; 202 {"status": "success", "dedup_key", "message"};
400 invalid event {"status", "message", "errors"}; 429 too many events, retried "preferably
with a backoff of a few minutes" and without Retry-After; 5xx retried) and
https://developer.pagerduty.com/docs/send-change-events-to-pagerduty (POST /v2/change/enqueue:
routing_key, payload {summary, source, timestamp, custom_details}, links; same answers).

Decisions:

- ``dedup_key`` is ``Alert.key`` (``safeship/<environment>/<condition>``): a trigger repeated
  (a retry, a grouped burst, the next rollback) lands on the open alert, and a resolved alert
  resolves it, from any process, without state here.
- A firing alert of severity warning, error or critical triggers; an info one does not (it is
  news, not a page). A resolved alert resolves whatever its severity (PagerDuty drops a resolve
  that matches no open alert).
- A deploy's own news in one of ``change_environments`` (``deployment.succeeded``,
  ``deployment.failed``) is also a Change Event: context on the service's timeline, no page. A
  failed production deploy is therefore both a trigger (when routed here as a page) and a
  change. ``safeship notify test`` sends a change event: it checks the key and pages no one.
- One API call per event, in the notification's order; the first failure stops the send and
  the core retries it whole. Triggers and resolves are idempotent by dedup_key; a change event
  has no key and may appear twice after a retry (a duplicate timeline entry costs less than a
  lost one).
- 429 carries no Retry-After: the retry hint is ``THROTTLE_BACKOFF``. The routing key is a
  credential: read from ``routing_key_env``, registered with redaction, never in a message.
"""

from __future__ import annotations

import os
import sys
from typing import Any, ClassVar, Final, TextIO

import httpx

from safeship.httpapi import one_line
from safeship.notify.base import Alert, Condition, Notification, RouteDefaults
from safeship.notify.http_delivery import OneAttemptApi
from safeship.notify.settings import PagerDutySettings

ENQUEUE: Final = "/v2/enqueue"
CHANGE_ENQUEUE: Final = "/v2/change/enqueue"
MAX_SUMMARY: Final = 1024
# PagerDuty asks for "a backoff of a few minutes" after a 429 and sends no Retry-After.
THROTTLE_BACKOFF: Final = 60.0
PAGING_SEVERITIES: Final = frozenset({"warning", "error", "critical"})
CHANGE_CONDITIONS: Final[frozenset[Condition]] = frozenset(
    {"deployment.succeeded", "deployment.failed"}
)


class _EventsApi(OneAttemptApi):
    """PagerDuty's 400 says what is wrong in ``errors``, not in ``message``."""

    def _body(self, response: httpx.Response) -> Any:
        if response.status_code == 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("errors"), list):
                message = str(body.get("message") or "invalid event")
                errors = "; ".join(str(e) for e in body["errors"][:3])
                raise self._fail(f"HTTP 400: {message}: {errors}", 400)
        return super()._body(response)


def custom_details(alert: Alert) -> dict[str, Any]:
    """The alert's figures, the ones it has: what a responder reads in the incident."""
    known: dict[str, Any] = {
        "alert_id": alert.id,
        "condition": alert.condition,
        "state": alert.state,
        "environment": alert.environment,
        "deployment_id": alert.deployment_id,
        "version": alert.version,
        "commit": alert.commit,
        "triggered_by": alert.triggered_by,
        "status": alert.status,
        "duration_s": alert.duration_s,
        "health_score": alert.health_score,
        "rollback_reason": alert.rollback_reason,
        "rollback_rule": alert.rollback_rule,
        "path": alert.path,
    }
    found = {k: (one_line(v, 500) if isinstance(v, str) else v) for k, v in known.items()}
    found.update({k: one_line(v, 500) for k, v in alert.details.items()})
    return {k: v for k, v in found.items() if v is not None}


def _links(alert: Alert) -> list[dict[str, str]]:
    if not alert.dashboard_url:
        return []
    return [{"href": alert.dashboard_url, "text": f"safeship: {alert.environment}"}]


def summary(alert: Alert) -> str:
    return one_line(f"{alert.environment}: {alert.summary}", MAX_SUMMARY)


def alert_event(alert: Alert, routing_key: str, group: str) -> dict[str, Any] | None:
    """The Events API v2 body for ``alert`` (trigger or resolve), or None when it pages no
    one (a firing info alert)."""
    if alert.state == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.key}
    if alert.severity not in PAGING_SEVERITIES or alert.condition in CHANGE_CONDITIONS:
        return None  # info; or a deploy's news: a change event (its rollback is what pages)
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.key,
        "payload": {
            "summary": summary(alert),
            "source": alert.environment,
            "severity": alert.severity,
            "timestamp": alert.occurred_at.isoformat(),
            "component": alert.version or "deployment",
            "group": group,
            "class": alert.condition,
            "custom_details": custom_details(alert),
        },
        "client": "safeship",
    }
    if alert.dashboard_url:
        body["client_url"] = alert.dashboard_url
        body["links"] = _links(alert)
    return body


def change_event(alert: Alert, routing_key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "payload": {
            "summary": summary(alert),
            "source": alert.environment,
            "timestamp": alert.occurred_at.isoformat(),
            "custom_details": custom_details(alert),
        },
    }
    if alert.dashboard_url:
        body["links"] = _links(alert)
    return body


class PagerDutyNotifier:
    """The "pagerduty" notifier (``safeship.notify.base.Notifier``), configured by
    ``[notify.pagerduty]``."""

    # PagerDuty throttles per integration key dynamically; a short gap keeps bursts polite.
    min_interval: ClassVar[float] = 0.1
    # Pages for critical production alerts only; a production deploy's news as change events.
    default_route: ClassVar[RouteDefaults] = RouteDefaults(
        min_severity="critical", production_only=True, also=CHANGE_CONDITIONS
    )

    @classmethod
    def configured(
        cls, settings: PagerDutySettings, errors: TextIO | None = None
    ) -> PagerDutyNotifier | None:
        """None, with one warning line, when the routing key's variable is not set."""
        key = os.environ.get(settings.routing_key_env, "").strip()
        if not key:
            print(
                f"safeship: warning: [notify.pagerduty] is configured but "
                f"{settings.routing_key_env} is not set; no PagerDuty alerts",
                file=errors or sys.stderr,
            )
            return None
        return cls(key, settings)

    def __init__(self, routing_key: str, settings: PagerDutySettings) -> None:
        self._key = routing_key
        self._settings = settings
        self._url = settings.api_url.rstrip("/")
        self._api = _EventsApi(
            "pagerduty",
            {"Content-Type": "application/json", "User-Agent": "safeship"},
            timeout=settings.request_timeout,
            secrets=[routing_key],
            throttle_backoff=THROTTLE_BACKOFF,
        )

    def events(self, notification: Notification) -> list[tuple[str, dict[str, Any]]]:
        """Each API call ``notification`` makes: (endpoint path, JSON body), in order."""
        calls: list[tuple[str, dict[str, Any]]] = []
        for alert in notification.alerts:
            if alert.condition == "test":
                calls.append((CHANGE_ENQUEUE, change_event(alert, self._key)))
                continue
            body = alert_event(alert, self._key, self._settings.group)
            if body is not None:
                calls.append((ENQUEUE, body))
            deploy_news = alert.condition in CHANGE_CONDITIONS and alert.state == "firing"
            if deploy_news and alert.environment in self._settings.change_environments:
                calls.append((CHANGE_ENQUEUE, change_event(alert, self._key)))
        return calls

    def send(self, notification: Notification) -> None:
        for path, body in self.events(notification):
            self._api.attempt("POST", self._url + path, json=body)

    def close(self) -> None:
        self._api.close()
