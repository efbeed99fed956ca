"""The event-bus sink of the alerts core: each event becomes its alerts, routed and written to
the outbox, and the dispatcher is woken. It never raises and never waits for a channel: a
registry failure is one warning line, and the deploy goes on."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

from safeship.alerts.codec import alert_json
from safeship.alerts.conditions import STATEFUL, assess
from safeship.alerts.routing import Route, deliveries
from safeship.alerts.settings import AlertSettings
from safeship.events.model import Event
from safeship.notify.base import Alert
from safeship.redaction import redact

if TYPE_CHECKING:
    from safeship.alerts.dispatcher import Dispatcher
    from safeship.registry import Registry


class AlertSink:
    def __init__(
        self,
        registry: Registry,
        routes: Sequence[Route],
        settings: AlertSettings,
        dispatcher: Dispatcher | None = None,
        errors: TextIO | None = None,
    ) -> None:
        self._registry = registry
        self._routes = list(routes)
        self._settings = settings
        self._dispatcher = dispatcher
        self._errors = errors
        self.written: list[str] = []  # the outbox ids this sink wrote, in order

    def handle(self, event: Event) -> None:
        try:
            self.written.extend(self.raise_alerts(event))
        except Exception as exc:  # an alert must never stop a deploy or a rollback
            text = " ".join(str(exc).split()) or type(exc).__name__
            print(
                redact(f"safeship: warning: alerts: {event.event} not recorded: {text}"),
                file=self._errors or sys.stderr,
            )
        if self._dispatcher is not None:
            self._dispatcher.wake()

    def raise_alerts(self, event: Event) -> list[str]:
        """Write ``event``'s alerts to the outbox; their rows' ids."""
        production = self._settings.production
        assessment = assess(event, production)
        alerts = list(assessment.alerts)
        if assessment.resolves:
            for firing in self._registry.firing_alerts(event.environment):
                if firing.condition in assessment.resolves:
                    alerts.append(_resolved(alerts[0], firing.condition, firing.severity))
        if self._settings.dashboard_url:
            alerts = [_with_link(a, self._settings.dashboard_url) for a in alerts]
        written: list[tuple[dict[str, Any], list[tuple[str, ...]], bool]] = []
        for alert in alerts:
            resolved = alert.state == "resolved"
            routed = [] if resolved else deliveries(alert, self._routes, production)
            stateful = alert.condition in STATEFUL
            if routed or resolved or stateful:  # else news no channel takes: nothing to write
                written.append((alert_json(alert), routed, stateful))
        # One transaction for the event's alerts (a rollback raises two or three).
        ids = (
            self._registry.enqueue_alerts(written, self._settings.repeat_interval)
            if written
            else []
        )
        return ids


def _with_link(alert: Alert, template: str) -> Alert:
    url = template.replace("{environment}", quote(alert.environment, safe=""))
    if alert.deployment_id:
        url = url.replace("{deployment_id}", quote(alert.deployment_id, safe=""))
    else:
        url = url.split("{deployment_id}", 1)[0]
    return dataclasses.replace(alert, dashboard_url=redact(url))


def _resolved(news: Alert, condition: str, severity: str) -> Alert:
    """The resolved alert of ``condition``, cleared by the deploy ``news`` is about."""
    version = f" by deploying {news.version}" if news.version else ""
    return dataclasses.replace(
        news,
        condition=condition,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        state="resolved",
        summary=f"{news.environment}: {condition} resolved{version}",
        details={},
    )
