"""Routing: the default routes, configured ones, and their validation (alerts/routing.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from safeship.alerts.routing import deliveries, routes_from
from safeship.alerts.settings import RouteSettings
from safeship.config import ConfigError, parse_config
from safeship.notify.base import Alert, Condition, Severity

PRODUCTION = ["production"]
CHANNELS = ["slack", "email", "pagerduty", "github-issue", "webhook"]


def alert(condition: Condition, severity: Severity, environment: str = "production") -> Alert:
    return Alert(
        id="", condition=condition, severity=severity, state="firing",
        environment=environment, summary="s", occurred_at=datetime.now(UTC),
    )  # fmt: skip


def first_channels(a: Alert, routes_settings: list[RouteSettings] | None = None) -> list[str]:
    routes = routes_from(routes_settings or [], CHANNELS)
    return [d[0] for d in deliveries(a, routes, PRODUCTION)]


@pytest.mark.parametrize(
    ("condition", "severity", "environment", "expected"),
    [
        ("rollback.triggered", "critical", "production",
         ["slack", "email", "pagerduty", "webhook"]),
        ("rollback.triggered", "error", "staging", ["slack", "email", "webhook"]),
        ("deployment.failed", "critical", "production",
         ["slack", "email", "pagerduty", "github-issue", "webhook"]),
        ("deployment.succeeded", "info", "production", ["slack", "email", "pagerduty", "webhook"]),
        ("deployment.started", "info", "production", ["slack", "email", "webhook"]),
        ("deployment.failed", "error", "staging", ["slack", "email", "github-issue", "webhook"]),
        ("latency.high", "critical", "production", ["slack", "email", "pagerduty", "webhook"]),
        ("latency.high", "error", "production", ["slack", "email", "webhook"]),
        ("path.failover", "warning", "staging", ["slack", "email", "webhook"]),
    ],
)  # fmt: skip
def test_default_routes_follow_the_architecture(
    condition: Condition, severity: Severity, environment: str, expected: list[str]
) -> None:
    assert first_channels(alert(condition, severity, environment)) == expected


def test_configured_routes_match_in_order_and_stop_unless_continue() -> None:
    routes = [
        RouteSettings.model_validate(
            {"conditions": ["rollback.triggered"], "environments": ["production"],
             "min_severity": "error", "channels": ["pagerduty", "slack"], "continue": True}
        ),
        RouteSettings.model_validate({"min_severity": "warning", "channels": ["email"]}),
        RouteSettings.model_validate({"channels": ["webhook"]}),
    ]  # fmt: skip
    routes_built = routes_from(routes, CHANNELS)
    rollback = deliveries(alert("rollback.triggered", "critical"), routes_built, PRODUCTION)
    assert rollback == [("pagerduty", "slack"), ("email",)]  # the fallback order kept
    staging = deliveries(alert("rollback.triggered", "error", "staging"), routes_built, PRODUCTION)
    assert staging == [("email",)]
    info = deliveries(alert("deployment.started", "info"), routes_built, PRODUCTION)
    assert info == [("webhook",)]


def test_two_routes_naming_one_channel_send_once() -> None:
    routes = [
        RouteSettings.model_validate({"channels": ["slack"], "continue": True}),
        RouteSettings.model_validate({"channels": ["slack", "email"]}),
    ]
    assert first_channels(alert("deployment.started", "info"), routes) == ["slack"]


CONFIG = """\
[environments.production]
port = 9400
target = { type = "local", command = ["python", "app.py"] }

[notify.slack]
webhook_env = "SLACK_URL"

[alerts]
group_wait = 0.5

[[alerts.routes]]
channels = ["slack", "pagerduty"]
"""


def test_a_route_naming_a_channel_not_configured_is_one_config_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(CONFIG)
    assert error.value.problems == [
        "safeship.toml:8: alerts: alerts.routes.0.channels: no channel 'pagerduty' is "
        "configured (configured: slack; add a [notify.pagerduty] table)"
    ]


def test_alert_settings_load_with_their_defaults() -> None:
    config = parse_config(CONFIG.replace(', "pagerduty"', ""))
    assert config.alerts.group_wait == 0.5 and config.alerts.production == ["production", "prod"]
    (route,) = config.alerts.routes
    assert route.channels == ["slack"] and route.continue_ is False
    assert route.min_severity == "info" and route.conditions == []
