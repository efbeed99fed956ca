"""Grouping, retries, fallback, folding and resolving, on a real SQLite registry with a fake
clock shared by the registry and the dispatcher (``dispatch(wait=True)`` sends on this thread)."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from safeship.alerts.dispatcher import Dispatcher
from safeship.alerts.routing import routes_from
from safeship.alerts.settings import AlertSettings, RouteSettings
from safeship.alerts.sink import AlertSink
from safeship.events.model import Event
from safeship.notify.base import DeliveryError, Notification
from safeship.registry import Registry

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEPLOYMENT = "00000000-0000-4000-8000-000000000001"


class Clock:
    """Stands still but for a microsecond a reading, so rows written at "one" moment keep
    their order, as on a real clock."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def at(self, seconds: float) -> None:
        self.now = max(self.now, T0 + timedelta(seconds=seconds))


class Recorder:
    """A channel that keeps what it was sent; ``failures`` are raised first, in order."""

    min_interval: ClassVar[float] = 0.0

    def __init__(self, *failures: DeliveryError) -> None:
        self.sent: list[Notification] = []
        self.failures = list(failures)
        self.attempts = 0

    def send(self, notification: Notification) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(notification)

    def close(self) -> None:
        pass

    def conditions(self) -> list[list[tuple[str, str]]]:
        return [[(a.condition, a.state) for a in n.alerts] for n in self.sent]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(tmp_path: Path, clock: Clock) -> Iterator[Registry]:
    with Registry(f"sqlite:///{tmp_path}/registry.db", clock=clock) as reg:
        yield reg


class Harness:
    def __init__(
        self,
        registry: Registry,
        clock: Clock,
        channels: dict[str, Recorder],
        routes: list[dict[str, Any]] | None = None,
        **settings: Any,
    ) -> None:
        self.settings = AlertSettings.model_validate(
            {"routes": routes or [], "production": ["production"], **settings}
        )
        self.errors = io.StringIO()
        self.dispatcher = Dispatcher(
            registry, channels, self.settings, errors=self.errors, now=clock
        )
        built = routes_from([RouteSettings.model_validate(r) for r in routes or []], list(channels))
        self.sink = AlertSink(registry, built, self.settings, None, self.errors)
        self.clock = clock

    def publish(self, at: float, name: str, environment: str = "production", **attrs: Any) -> None:
        self.clock.at(at)
        deployment = attrs.pop("deployment_id", DEPLOYMENT)
        self.sink.handle(
            Event(
                event=name,  # type: ignore[arg-type]
                environment=environment,
                version=attrs.pop("version", "v2"),
                deployment_id=deployment,
                timestamp=self.clock.now,
                attributes=attrs,
            )
        )

    def dispatch(self, at: float) -> float:
        self.clock.at(at)
        return self.dispatcher.dispatch(wait=True)


def test_a_burst_for_one_environment_is_one_message_after_group_wait(
    registry: Registry, clock: Clock
) -> None:
    slack = Recorder()
    h = Harness(registry, clock, {"slack": slack}, group_wait=1.0, group_interval=5.0)
    h.publish(0.0, "deployment.started")
    h.publish(0.3, "rollback.triggered", reason="errors", rule="error_rate")
    h.publish(0.4, "deployment.started", environment="staging")
    assert h.dispatch(0.5) == pytest.approx(0.5, abs=1e-3)  # the oldest waits its group_wait
    assert slack.sent == []
    h.dispatch(1.0)
    assert slack.conditions() == [
        [("deployment.started", "firing"), ("rollback.triggered", "firing"),
         ("error_rate.high", "firing")],
    ]  # fmt: skip
    (message,) = slack.sent
    assert message.environment == "production" and message.id == message.alerts[0].id
    assert message.severity == "critical" and message.lead.condition == "rollback.triggered"
    h.dispatch(1.4)  # staging's group is its own message
    assert [n.environment for n in slack.sent] == ["production", "staging"]
    # The next production message waits for group_interval since the last one.
    h.publish(2.0, "deployment.failed", status="rolled_back", reason="errors")
    assert h.dispatch(3.0) == pytest.approx(3.0, abs=1e-3)
    h.dispatch(6.01)
    assert slack.conditions()[-1] == [("deployment.failed", "firing")]
    assert registry.outbox_counts() == {"pending": 0, "delivered": 5, "failed": 0, "dropped": 0}


def test_a_message_carries_at_most_50_alerts_and_the_rest_follow(
    registry: Registry, clock: Clock
) -> None:
    slack = Recorder()
    h = Harness(registry, clock, {"slack": slack}, group_wait=0.0, group_interval=0.0)
    for n in range(70):
        h.publish(0.0, "deployment.started", version=f"v{n}")
    for step in range(2):
        h.dispatch(1.0 + step)
    assert [len(n.alerts) for n in slack.sent] == [50, 20]
    versions = [a.version for n in slack.sent for a in n.alerts]
    assert versions == [f"v{n}" for n in range(70)]  # oldest first, none lost or repeated


def test_retry_after_is_honoured_and_bounded(registry: Registry, clock: Clock) -> None:
    slack = Recorder(
        DeliveryError("429 Too Many Requests", retry_after=7.0),
        DeliveryError("429 Too Many Requests", retry_after=600.0),
    )
    h = Harness(registry, clock, {"slack": slack}, group_wait=0.0, max_retry_wait=20.0)
    h.publish(0.0, "deployment.started")
    h.dispatch(0.0)
    assert h.dispatch(6.9) == pytest.approx(0.1, abs=1e-3) and slack.attempts == 1
    h.dispatch(7.01)  # the second attempt: Retry-After 600 s, capped at 20
    assert slack.attempts == 2 and h.dispatch(26.91) == pytest.approx(0.1, abs=1e-3)
    h.dispatch(27.02)
    assert slack.attempts == 3 and len(slack.sent) == 1
    assert registry.outbox_counts()["delivered"] == 1


def test_a_channel_that_keeps_failing_falls_back_to_the_routes_next(
    registry: Registry, clock: Clock
) -> None:
    pagerduty = Recorder(*(DeliveryError("503 from https://x/?k=secret") for _ in range(3)))
    slack = Recorder(DeliveryError("invalid_payload", permanent=True))
    email = Recorder()
    routes = [{"channels": ["pagerduty", "slack", "email"]}]
    h = Harness(
        registry, clock, {"pagerduty": pagerduty, "slack": slack, "email": email},
        routes, group_wait=0.0, retries=2,
    )  # fmt: skip
    h.publish(0.0, "rollback.triggered", reason="health", rule="health")
    for t in (0.0, 0.6, 1.7):  # backoff 0.5 s, then 1 s
        h.dispatch(t)
    assert pagerduty.attempts == 3 and slack.attempts == 0
    h.dispatch(1.8)  # moved to slack: a permanent error skips its retries
    assert slack.attempts == 1
    h.dispatch(1.9)
    assert [n.channel for n in email.sent] == ["email"]
    (delivered,) = email.sent[0].alerts
    assert delivered.condition == "rollback.triggered"
    assert "falling back" in h.errors.getvalue()


def test_a_row_with_no_channel_left_is_kept_as_failed_with_its_error(
    registry: Registry, clock: Clock
) -> None:
    slack = Recorder(DeliveryError("404 no_service\nsecond line", permanent=True))
    h = Harness(registry, clock, {"slack": slack}, group_wait=0.0)
    h.publish(0.0, "deployment.failed", status="failed", reason="health")
    h.dispatch(0.0)
    assert registry.outbox_counts()["failed"] == 1
    assert registry.outbox_failures() == [
        ("slack", "production", "deployment.failed", "slack: 404 no_service second line")
    ]
    assert h.errors.getvalue().count("\n") == 1 and "giving up" in h.errors.getvalue()


def test_a_channel_that_is_down_keeps_its_rows_until_it_is_back_or_too_late(
    registry: Registry, clock: Clock
) -> None:
    down = DeliveryError("slack: cannot connect (ConnectError)")
    slack = Recorder(down, down, down)  # the first attempt and its two retries fail
    h = Harness(
        registry, clock, {"slack": slack}, group_wait=0.0, retries=2, max_retry_wait=30.0,
        give_up_after=600.0,
    )  # fmt: skip
    h.publish(0.0, "deployment.failed", status="failed", reason="health")
    for t in (0.0, 0.6, 1.7):  # the first attempt, then backoff 0.5 s, then 1 s
        h.dispatch(t)
    assert slack.attempts == 3
    assert registry.outbox_counts()["pending"] == 1  # kept: the channel is down, not refusing
    assert "kept to retry" in h.errors.getvalue()
    h.dispatch(20.0)
    assert slack.attempts == 3  # not before max_retry_wait
    h.dispatch(32.0)  # back: delivered once
    assert slack.attempts == 4 and len(slack.sent) == 1
    assert registry.outbox_counts() == {"pending": 0, "delivered": 1, "failed": 0, "dropped": 0}
    # Down for longer than give_up_after: failed, its last error kept.
    slack.failures = [down] * 100
    h.publish(40.0, "deployment.failed", status="failed", reason="health", deployment_id="d-2")
    for t in range(40, 700, 31):
        h.dispatch(float(t))
    assert registry.outbox_counts()["failed"] == 1 and registry.outbox_counts()["pending"] == 0


def test_a_condition_still_firing_is_folded_until_repeat_interval(
    registry: Registry, clock: Clock
) -> None:
    slack = Recorder()
    h = Harness(registry, clock, {"slack": slack}, group_wait=0.0, repeat_interval=60.0)
    degraded: dict[str, Any] = {
        "condition": "latency.high",
        "severity": "warning",
        "deployment_id": None,
    }
    h.publish(0.0, "watch.degraded", **degraded)
    h.publish(10.0, "watch.degraded", **degraded)  # folded: still firing, 10 s later
    h.publish(20.0, "watch.degraded", **{**degraded, "severity": "error"})  # worse: sent
    h.publish(30.0, "watch.degraded", **degraded)  # folded
    h.publish(81.0, "watch.degraded", **degraded)  # repeat_interval passed since the last
    h.dispatch(100.0)
    severities = [a.severity for n in slack.sent for a in n.alerts]
    assert severities == ["warning", "error", "warning"]
    # A rollback of another deployment is news, not a repeat.
    h.publish(101.0, "rollback.triggered", reason="r", rule="health")
    h.publish(102.0, "rollback.triggered", reason="r", rule="health")  # the same one: folded
    other = "00000000-0000-4000-8000-000000000002"
    h.publish(103.0, "rollback.triggered", reason="r", rule="health", deployment_id=other)
    h.dispatch(200.0)
    assert [a.condition for a in slack.sent[-1].alerts] == ["rollback.triggered"] * 2


def test_a_resolved_alert_goes_where_its_firing_one_went(
    registry: Registry, clock: Clock, tmp_path: Path
) -> None:
    pagerduty, slack = Recorder(), Recorder()
    routes = [
        {"conditions": ["rollback.triggered"], "channels": ["pagerduty"]},
        {"conditions": ["deployment.succeeded"], "channels": ["slack"]},
    ]
    h = Harness(registry, clock, {"pagerduty": pagerduty, "slack": slack}, routes, group_wait=0)
    h.publish(0.0, "rollback.triggered", reason="r", rule="health")
    h.dispatch(0.0)
    # Another process, whose routes send nothing to pagerduty, resolves it by a good deploy.
    later = Harness(
        registry, clock, {"pagerduty": pagerduty, "slack": slack},
        [{"channels": ["slack"]}], group_wait=0,
    )  # fmt: skip
    later.publish(5.0, "deployment.succeeded", version="v3")
    later.dispatch(5.0)
    assert pagerduty.conditions() == [
        [("rollback.triggered", "firing")],
        [("rollback.triggered", "resolved")],
    ]
    assert slack.conditions() == [[("deployment.succeeded", "firing")]]
    assert registry.firing_alerts("production") == []
    # Resolving what is not firing sends nothing.
    later.publish(6.0, "watch.recovered", condition="latency.high", deployment_id=None)
    assert registry.outbox_counts()["pending"] == 0


def test_close_cuts_group_wait_short_and_leaves_the_rest_pending(
    registry: Registry, clock: Clock
) -> None:
    slack, email = Recorder(), Recorder()
    h = Harness(registry, clock, {"slack": slack}, group_wait=60.0)
    h.publish(0.0, "deployment.started")
    h.dispatcher.close(timeout=2.0)
    assert len(slack.sent) == 1
    # A channel another process has: its rows wait for it.
    other = Harness(registry, clock, {"slack": slack, "email": email}, group_wait=60.0)
    other.publish(1.0, "deployment.started")
    Dispatcher(registry, {"slack": slack}, other.settings, now=clock).close(timeout=2.0)
    assert registry.outbox_counts()["pending"] == 1
    Dispatcher(registry, {"email": email}, other.settings, now=clock).close(timeout=2.0)
    assert registry.outbox_counts() == {"pending": 0, "delivered": 3, "failed": 0, "dropped": 0}


def test_the_sink_never_raises_when_the_registry_fails(tmp_path: Path) -> None:
    errors = io.StringIO()
    path = tmp_path / "broken.db"
    with Registry(f"sqlite:///{path}") as broken:
        sink = AlertSink(broken, routes_from([], ["slack"]), AlertSettings(), None, errors)
        sink.handle(Event(event="deployment.started", environment="production", version="v2"))
        with sqlite3.connect(path) as db:  # someone dropped the table behind its back
            db.execute("DROP TABLE notifications")
        sink.handle(Event(event="rollback.triggered", environment="production", version="v2"))
    (line,) = errors.getvalue().splitlines()
    assert line.startswith("safeship: warning: alerts: rollback.triggered not recorded:")


def test_each_alert_links_to_its_deployments_page(registry: Registry, clock: Clock) -> None:
    slack = Recorder()
    url = "https://ship.example/{environment}/deployments/{deployment_id}"
    h = Harness(registry, clock, {"slack": slack}, group_wait=0.0, dashboard_url=url)
    h.publish(0.0, "deployment.started")
    h.publish(0.0, "path.failover", deployment_id=None, **{"from": "ci", "to": "local"})
    h.dispatch(0.0)
    links = [a.dashboard_url for a in slack.sent[0].alerts]
    assert links == [
        f"https://ship.example/production/deployments/{DEPLOYMENT}",
        "https://ship.example/production/deployments/",
    ]
