"""The Notifier port: one alert channel (Slack, email, PagerDuty, a GitHub issue, a webhook...).

The alerts core (``safeship.alerts``) turns events into alerts (a *condition* such as
``rollback.triggered`` in an environment, with a severity, firing or resolved), routes each to
channels, writes it to the registry's outbox *before* anything is sent, groups a burst for one
environment into one ``Notification``, and hands it to a channel's ``send``. Retries (with the
server's Retry-After), falling back to the route's next channel, and marking rows delivered are
the core's: a channel makes one attempt and says how it went.

Constructor contract (what the ``safeship.notifiers`` entry point names): a class with
``configured(settings, errors) -> Notifier | None``. ``settings`` is the channel's table of
safeship.toml, ``[notify.NAME]`` (a built-in's as its model, a third party's as the table's
dict); ``errors`` is where warnings go (stderr when None). None means it cannot run now (its
token or URL is not set): it says so in one warning line, and nothing else is held up. A deploy
never fails, and a rollback is never delayed, for want of a notification.

Every text a channel receives is already redacted; a channel that builds its own texts from
figures runs them through ``safeship.redaction.redact`` too, and never prints its credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Final, Literal, Protocol, TextIO

Severity = Literal["critical", "error", "warning", "info"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "warning", "error", "critical")  # low → high

# What an alert is about (the architecture's list of conditions). A "deployment.*" condition is
# the deploy's own news; the others are states of an environment that fire and later resolve.
Condition = Literal[
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",  # never took traffic, or rolled back (``Alert.status`` says which)
    "rollback.triggered",
    "health.degraded",
    "error_rate.high",  # over 5% (the rule's or watch's threshold)
    "latency.high",  # over 2x the baseline
    "path.failover",
    "env.drift",
    "secret.rotation_due",  # a secret due, overdue or never rotated (one state per secret)
    "secret.rotation_started",  # a rotation's news (docs/secrets.md): started, ...
    "secret.rotation_waiting",  # ... waiting for a person (`safeship secrets set`), ...
    "secret.rotation_deployed",  # ... every environment runs the new value, ...
    "secret.rotated",  # ... finished: the previous value revoked
    "secret.rotation_failed",  # a step failed; the current value stays in place
    "deployment.released",  # after a deploy: the tag, the artifacts (for stakeholders)
    "drill.failed",  # a rollback drill's leg failed (`safeship drill`)
    "outage.paused",  # the availability probe fails: deploys paused
    "gate.overridden",  # --override-gates let a failed gate pass
    "test",  # `safeship notify test`
]
CONDITIONS: Final[tuple[Condition, ...]] = (
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "rollback.triggered",
    "health.degraded",
    "error_rate.high",
    "latency.high",
    "path.failover",
    "env.drift",
    "secret.rotation_due",
    "secret.rotation_started",
    "secret.rotation_waiting",
    "secret.rotation_deployed",
    "secret.rotated",
    "secret.rotation_failed",
    "deployment.released",
    "drill.failed",
    "outage.paused",
    "gate.overridden",
    "test",
)

State = Literal["firing", "resolved"]


def severity_rank(severity: Severity) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Alert:
    """One alert, as it sits in the outbox. Every text is redacted and on one line."""

    id: str  # the outbox row's id: the same across retries and processes (receivers dedup on it)
    condition: Condition
    severity: Severity
    state: State
    environment: str
    summary: str  # one line: what happened ("rolling back v2: error rate 12.0% > 5.0%")
    occurred_at: datetime  # aware, UTC
    deployment_id: str | None = None
    version: str | None = None
    commit: str | None = None
    triggered_by: str | None = None
    status: str | None = None  # the deployment's status when known ("rolled_back", "failed")
    duration_s: float | None = None
    health_score: float | None = None  # 0.00-1.00 (docs/registry.md)
    rollback_reason: str | None = None
    rollback_rule: str | None = None
    path: str | None = None  # the deploy path it came through
    dashboard_url: str | None = None  # a link to the deployment's page, when one is configured
    # Further figures by name ("error_rate": "12.0%", "baseline_p95_ms": "40"), already texts.
    details: Mapping[str, str] = field(default_factory=dict)
    # What in the environment the condition is about when it can fire for several things at
    # once (a secret's name for secret.rotation_due): each subject fires and resolves alone.
    subject: str | None = None

    @property
    def key(self) -> str:
        """What identifies the condition across alerts: PagerDuty's dedup_key, the GitHub
        issue's marker. Stable: ``safeship/<environment>/<condition>``, and ``/<subject>``
        when it has one."""
        tail = f"/{self.subject}" if self.subject else ""
        return f"safeship/{self.environment}/{self.condition}{tail}"


@dataclass(frozen=True)
class Notification:
    """One message on one channel: one or more alerts (a grouped burst) for one environment,
    oldest first. Its ``id`` is the first alert's outbox id (the group is claimed as a unit)."""

    id: str
    channel: str
    environment: str
    alerts: tuple[Alert, ...]

    @property
    def severity(self) -> Severity:
        return max((a.severity for a in self.alerts), key=severity_rank)

    @property
    def lead(self) -> Alert:
        """The alert a one-line title is about: the most severe, the newest of those."""
        top = severity_rank(self.severity)
        return [a for a in self.alerts if severity_rank(a.severity) == top][-1]


class DeliveryError(Exception):
    """One attempt failed. The message is one line without credentials.

    ``retry_after``: the server said when to try again (429/503 Retry-After), in seconds.
    ``permanent``: trying again cannot help (a 4xx other than 408/429: the URL, the token or the
    payload is wrong); the core goes straight to the route's next channel.
    ``maybe_delivered``: it was sent and no answer came (a timeout, a dropped connection, a
    5xx): the receiver may have it. The core retries anyway (a duplicate, which receivers drop
    by ``Alert.id``, costs less than a lost alert) but counts it.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.maybe_delivered = maybe_delivered


@dataclass(frozen=True)
class RouteDefaults:
    """Which alerts a channel takes when safeship.toml names no ``[[alerts.routes]]`` (the
    architecture's defaults: everything to Slack, pages for critical production alerts only)."""

    conditions: frozenset[Condition] = frozenset()  # empty: every condition
    min_severity: Severity = "info"
    production_only: bool = False
    # Conditions taken whatever their severity (a deploy's news for PagerDuty's change events).
    also: frozenset[Condition] = frozenset()


EVERYTHING: Final = RouteDefaults()


class Notifier(Protocol):
    # The alerts this channel takes without configured routes (``EVERYTHING`` for most).
    default_route: ClassVar[RouteDefaults]
    # Shortest gap between two messages to one destination (Slack: 1 s per webhook); the core
    # waits it out rather than be throttled.
    min_interval: ClassVar[float]

    def send(self, notification: Notification) -> None:
        """Deliver ``notification`` in one attempt (a bounded timeout); DeliveryError when it
        did not go. Called from the core's delivery thread, never from the deploy's."""
        ...

    def close(self) -> None:
        """Release connections; nothing is queued here (the outbox holds what is pending)."""
        ...


class NotifierClass(Protocol):
    def configured(self, settings: Any, errors: TextIO | None = None) -> Notifier | None: ...
