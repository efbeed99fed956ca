"""What the drills and outage mode alert: ``drill.failed`` and ``outage.paused`` fire (critical
in production, error elsewhere) with the event's summary, and resolve on ``drill.succeeded``
and ``outage.resumed``; their settings refuse what they cannot use, in one line."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from safeship.alerts.conditions import STATEFUL, assess
from safeship.config.models import SafeshipConfig
from safeship.events.model import Event


@pytest.mark.parametrize(
    ("fires", "resolves", "condition"),
    [("drill.failed", "drill.succeeded", "drill.failed"),
     ("outage.paused", "outage.resumed", "outage.paused")],
)  # fmt: skip
@pytest.mark.parametrize(("environment", "severity"), [("production", "critical"), ("qa", "error")])
def test_fires_then_resolves(
    fires: Any, resolves: Any, condition: str, environment: str, severity: str
) -> None:
    attributes = {"summary": "the forward leg to v2 failed: crashed", "back_seconds": 3.2}
    fired = assess(Event(event=fires, environment=environment, attributes=attributes),
                   production={"production"})  # fmt: skip
    [alert] = fired.alerts
    assert (alert.condition, alert.state, alert.severity) == (condition, "firing", severity)
    assert alert.summary == f"{environment}: the forward leg to v2 failed: crashed"
    assert alert.details == {"back_seconds": "3.2"}
    assert condition in STATEFUL

    resolved = assess(Event(event=resolves, environment=environment, attributes={}),
                      production={"production"})  # fmt: skip
    [cleared] = resolved.alerts
    assert (cleared.condition, cleared.state) == (condition, "resolved")


def config(outage: dict[str, Any], jobs: dict[str, Any] | None = None) -> SafeshipConfig:
    return SafeshipConfig.model_validate(
        {
            "environments": {
                "production": {"port": 18300, "target": {"command": ["true"]}, "outage": outage}
            },
            "jobs": jobs or {},
        }
    )


def test_outage_and_job_settings_have_their_defaults_and_limits() -> None:
    loaded = config({"status_url": "https://status.example.com/api/v2/status.json"})
    outage = loaded.environments["production"].outage
    assert (outage.failures, outage.probe_timeout, outage.statuspage) == (3, 5.0, False)
    assert (loaded.jobs.drill.every, loaded.jobs.drill.environments) == (2_592_000.0, ["staging"])
    assert loaded.jobs.outage.every == 60.0
    with pytest.raises(ValidationError, match="is not an http:// or https:// URL"):
        config({"status_url": "status.example.com"})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        config({"failures": 0})
    with pytest.raises(ValidationError, match="no environment 'staging' is configured"):
        config({}, {"outage": {"environments": ["staging"]}})
