"""The secret rotation events as alerts (alerts/conditions.py): severities, texts without a
value, one due state per secret (resolved by its own rotation only), and the security team's
route through a ``secret.*`` family of conditions."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from safeship.alerts.conditions import STATEFUL, assess
from safeship.alerts.dispatcher import Dispatcher
from safeship.alerts.routing import routes_from
from safeship.alerts.settings import AlertSettings, RouteSettings
from safeship.alerts.sink import AlertSink
from safeship.config import ConfigError, parse_config
from safeship.events.model import Event
from safeship.notify.base import Notification
from safeship.registry import Registry
from safeship.registry.alert_states import CONDITION_LEN, state_key

PRODUCTION = ["production", "prod"]
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
FINGERPRINTS = {"new": "fp:1a2b3c4d", "previous": "fp:9f8e7d6c"}


def event(name: str, environment: str = "production", **attributes: Any) -> Event:
    return Event(
        event=name,  # type: ignore[arg-type]
        environment=environment,
        triggered_by="cli:alice",
        timestamp=T0,
        attributes=attributes,
    )


def rotation(name: str, environment: str = "production", **attributes: Any) -> Event:
    base: dict[str, Any] = {
        "secret": "JWT_SECRET",
        "kind": "random",
        "category": "application",
        "rotation": 7,
        "environments": ["staging", "production"],
        "by": "cli:alice",
    }
    return event(name, environment, **{**base, **attributes})


@pytest.mark.parametrize(
    ("name", "environment", "attributes", "expected"),
    [
        ("secret.rotation_started", "staging", {}, ("secret.rotation_started", "info")),
        ("secret.rotation_waiting", "production", {"checklist": ["a", "b"]},
         ("secret.rotation_waiting", "warning")),
        ("secret.rotation_deployed", "production", {"grace_until": "2026-12-02T02:00:00Z"},
         ("secret.rotation_deployed", "info")),
        ("secret.rotated", "production", {}, ("secret.rotated", "info")),
        ("secret.rotation_failed", "production", {"step": "test", "reason": "refused"},
         ("secret.rotation_failed", "critical")),
        ("secret.rotation_failed", "staging", {"step": "deploy", "reason": "rolled back"},
         ("secret.rotation_failed", "error")),
        ("secret.rotation_due", "staging", {"state": "due"}, ("secret.rotation_due", "warning")),
        ("secret.rotation_due", "staging", {"state": "overdue"}, ("secret.rotation_due", "error")),
        ("secret.rotation_due", "production", {"state": "never_rotated"},
         ("secret.rotation_due", "error")),
    ],
)  # fmt: skip
def test_each_rotation_event_raises_its_condition(
    name: str, environment: str, attributes: dict[str, Any], expected: tuple[str, str]
) -> None:
    first = assess(rotation(name, environment, **attributes), PRODUCTION).alerts[0]
    assert (first.condition, first.severity, first.state) == (*expected, "firing")
    assert first.subject == "JWT_SECRET" and first.environment == environment
    assert first.details["secret"] == "JWT_SECRET"
    assert first.details["environments"] == "staging, production"


def test_only_the_due_state_is_remembered() -> None:
    assert "secret.rotation_due" in STATEFUL
    news = ("started", "waiting", "deployed", "failed")
    assert not any(f"secret.rotation_{n}" in STATEFUL for n in news)
    assert "secret.rotated" not in STATEFUL


def test_the_texts_say_what_happened_and_show_fingerprints_only() -> None:
    waiting = assess(
        rotation("secret.rotation_waiting", checklist=["Create a key at the provider",
                                                       "Revoke the old key after finish"]),
        PRODUCTION,
    ).alerts[0]  # fmt: skip
    assert waiting.summary == (
        "production: rotation of JWT_SECRET waits for a person: Create a key at the provider; "
        "Revoke the old key after finish; then `safeship secrets set JWT_SECRET --environment "
        "production`"
    )
    assert waiting.details["checklist"].startswith("Create a key at the provider; ")
    rotated = assess(rotation("secret.rotated", fingerprints=FINGERPRINTS), PRODUCTION).alerts[0]
    assert rotated.summary == (
        "production: JWT_SECRET rotated in staging, production by cli:alice; "
        "the previous value revoked"
    )
    assert rotated.details["fingerprint new"] == "fp:1a2b3c4d"
    assert rotated.details["fingerprint previous"] == "fp:9f8e7d6c"
    assert rotated.details["rotation"] == "7" and rotated.details["by"] == "cli:alice"
    failed = assess(
        rotation("secret.rotation_failed", "staging", step="test", reason="login refused"),
        PRODUCTION,
    ).alerts[0]
    assert failed.summary == (
        "staging: rotation of JWT_SECRET failed at test: login refused; the current value stays"
    )
    due = assess(
        rotation("secret.rotation_due", state="overdue", next_due="2026-11-20", age_days=41.2),
        PRODUCTION,
    ).alerts[0]
    assert due.summary == (
        "production: JWT_SECRET is overdue for rotation since 2026-11-20 (last rotated 41 days ago)"
    )
    assert due.key == "safeship/production/secret.rotation_due/JWT_SECRET"


def test_a_value_that_slipped_into_an_attribute_is_masked() -> None:
    from safeship.redaction import register_secret

    value = "s3cr3t-value-that-must-never-show-0123456789"
    register_secret(value)
    failed = assess(
        rotation("secret.rotation_failed", step="apply", reason=f"bad {value}", note=value),
        PRODUCTION,
    ).alerts[0]
    assert value not in repr(failed)


def test_a_finished_rotation_resolves_its_secret_due_in_each_environment() -> None:
    alerts = assess(rotation("secret.rotated"), PRODUCTION).alerts
    assert [(a.condition, a.state, a.environment, a.subject) for a in alerts] == [
        ("secret.rotated", "firing", "production", "JWT_SECRET"),
        ("secret.rotation_due", "resolved", "staging", "JWT_SECRET"),
        ("secret.rotation_due", "resolved", "production", "JWT_SECRET"),
    ]
    cleared = assess(rotation("secret.rotation_due_cleared", "staging"), PRODUCTION).alerts
    assert [(a.condition, a.state, a.subject) for a in cleared] == [
        ("secret.rotation_due", "resolved", "JWT_SECRET")
    ]


def test_the_state_key_separates_subjects_and_fits_its_column() -> None:
    assert state_key("env.drift") == "env.drift"
    assert state_key("secret.rotation_due", "JWT_SECRET") == "secret.rotation_due/JWT_SECRET"
    long_a, long_b = "A" * 100 + "_ONE", "A" * 100 + "_TWO"
    key_a = state_key("secret.rotation_due", long_a)
    assert len(key_a) == CONDITION_LEN and key_a != state_key("secret.rotation_due", long_b)


# -- through the outbox: one state per secret, the security route ----------------------------


class Recorder:
    min_interval: ClassVar[float] = 0.0

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    def close(self) -> None:
        pass

    def seen(self) -> list[tuple[str, str, str | None]]:
        return [(a.condition, a.state, a.subject) for n in self.sent for a in n.alerts]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)  # rows written in order stay in order
        return self.now


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(f"sqlite:///{tmp_path}/registry.db", clock=Clock()) as reg:
        yield reg


SECURITY_ROUTES = [
    {"conditions": ["secret.*"], "channels": ["security"]},
    {"channels": ["team"]},
]


def harness(registry: Registry, channels: dict[str, Recorder]) -> tuple[AlertSink, Dispatcher]:
    settings = AlertSettings.model_validate(
        {"routes": SECURITY_ROUTES, "production": ["production"], "group_wait": 0.0,
         "group_interval": 0.0}
    )  # fmt: skip
    routes = routes_from([RouteSettings.model_validate(r) for r in SECURITY_ROUTES], channels)
    errors = io.StringIO()
    later = T0 + timedelta(days=1)
    dispatcher = Dispatcher(registry, channels, settings, errors=errors, now=lambda: later)
    return AlertSink(registry, routes, settings, None, errors), dispatcher


def test_two_secrets_due_are_two_alerts_and_each_resolves_alone(registry: Registry) -> None:
    security, team = Recorder(), Recorder()
    sink, dispatcher = harness(registry, {"security": security, "team": team})
    sink.handle(rotation("secret.rotation_due", state="due"))
    sink.handle(rotation("secret.rotation_due", state="overdue", secret="DATABASE_URL"))
    sink.handle(rotation("secret.rotation_due", state="due"))  # the next pass: folded
    firing = sorted(s.condition for s in registry.firing_alerts("production"))
    assert firing == ["secret.rotation_due/DATABASE_URL", "secret.rotation_due/JWT_SECRET"]
    sink.handle(rotation("secret.rotated"))  # JWT_SECRET's rotation: its own due resolves
    firing = [s.condition for s in registry.firing_alerts("production")]
    assert firing == ["secret.rotation_due/DATABASE_URL"]
    sink.handle(rotation("secret.rotation_due_cleared", secret="DATABASE_URL"))
    assert registry.firing_alerts("production") == []
    dispatcher.dispatch(wait=True)
    assert security.seen() == [
        ("secret.rotation_due", "firing", "JWT_SECRET"),
        ("secret.rotation_due", "firing", "DATABASE_URL"),
        ("secret.rotated", "firing", "JWT_SECRET"),
        ("secret.rotation_due", "resolved", "JWT_SECRET"),
        ("secret.rotation_due", "resolved", "DATABASE_URL"),
    ]
    assert team.sent == []  # the first matching route is the last (no `continue`)


def test_a_deploy_goes_past_the_security_route(registry: Registry) -> None:
    security, team = Recorder(), Recorder()
    sink, dispatcher = harness(registry, {"security": security, "team": team})
    sink.handle(event("deployment.started"))
    dispatcher.dispatch(wait=True)
    assert security.sent == [] and team.seen() == [("deployment.started", "firing", None)]


CONFIG = """\
[environments.production]
port = 9400
target = { type = "local", command = ["python", "app.py"] }

[notify.slack]
webhook_env = "SLACK_URL"

[[alerts.routes]]
conditions = ["{conditions}"]
channels = ["slack"]
"""


def test_a_route_takes_a_family_of_conditions_and_refuses_an_unknown_one() -> None:
    config = parse_config(CONFIG.replace("{conditions}", "secret.*"))
    assert config.alerts.routes[0].conditions == ["secret.*"]
    with pytest.raises(ConfigError) as error:
        parse_config(CONFIG.replace("{conditions}", "secrets.*"))
    (problem,) = error.value.problems
    assert problem.startswith("safeship.toml:9: alerts.routes.0.conditions.0: 'secrets.*' is not")
    assert "secret.*" in problem and "\n" not in problem


NAMED = """\
[environments.production]
port = 9400
target = { type = "local", command = ["python", "app.py"] }

[notify.security]
type = "slack"
webhook_env = "SECURITY_SLACK_URL"
"""


def test_a_channel_of_its_own_name_is_a_kind_with_that_kind_s_keys() -> None:
    from safeship.notify.settings import SlackSettings

    config = parse_config(NAMED + '\n[[alerts.routes]]\nchannels = ["security"]\n')
    assert config.notify.adapter("security") == "slack"
    assert isinstance(config.notify.sections()["security"], SlackSettings)
    for source, problem in [
        (NAMED.replace('"slack"', '"pigeon"'),
         "safeship.toml:5: notify: notify.security.type: no notifier 'pigeon' is installed "
         "(known: console, email, github-issue, pagerduty, slack, webhook)"),
        (NAMED.replace("webhook_env", "webhook_url"),
         "safeship.toml:5: notify: notify.security.webhook_url: Extra inputs are not permitted"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError) as error:
            parse_config(source)
        assert error.value.problems == [problem]


def test_the_security_route_of_docs_secrets_md_loads_and_routes_secrets_only() -> None:
    page = (Path(__file__).parents[2] / "docs" / "secrets.md").read_text(encoding="utf-8")
    block = next(b for b in page.split("```toml\n")[1:] if "[notify.security]" in b)
    config = parse_config(NAMED.split("[notify.security]")[0] + block.split("```")[0])
    security, team = (route.channels for route in config.alerts.routes)
    assert (security, team) == (["security"], ["slack"])
    assert config.alerts.routes[0].conditions == ["secret.*"]
    assert config.notify.adapter("security") == "slack"
