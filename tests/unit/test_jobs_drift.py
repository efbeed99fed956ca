"""The drift job's decisions: what ``env.drift`` says (names, never values), how severe, and
that an environment that cannot be read fails the run without stopping the others."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from safeship.alerts.conditions import assess
from safeship.config.models import SafeshipConfig
from safeship.events.model import Event
from safeship.jobs.drift import DriftFinding, DriftJob
from safeship.jobs.scheduler import JobFailed
from safeship.registry import Registry

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def config(**jobs: Any) -> SafeshipConfig:
    return SafeshipConfig.model_validate(
        {
            "environments": {
                name: {"port": 18200 + n, "target": {"command": ["true"]}}
                for n, name in enumerate(("production", "staging"))
            },
            "notify": {"webhook": {"url_env": "UNSET_JOBS_TEST_URL"}},
            "jobs": {"drift": {"at": "04:00", **jobs}},
        }
    )


@pytest.mark.parametrize(
    ("environment", "severity"), [("production", "error"), ("staging", "warning")]
)
def test_env_drifted_fires_env_drift_and_cleared_resolves_it(
    environment: str, severity: str
) -> None:
    drifted = Event(
        event="env.drifted", environment=environment,
        attributes={"summary": "env drift in 2 variables: A, B", "variables": "A, B",
                    "against_schema": 1, "since_snapshot": 1},
    )  # fmt: skip
    (alert,) = assess(drifted, ["production"]).alerts
    assert (alert.condition, alert.state, alert.severity) == ("env.drift", "firing", severity)
    assert alert.summary == f"{environment}: env drift in 2 variables: A, B"
    assert alert.details == {"variables": "A, B", "against_schema": "1", "since_snapshot": "1"}
    cleared = Event(event="env.drift_cleared", environment=environment)
    (resolved,) = assess(cleared, ["production"]).alerts
    assert (resolved.condition, resolved.state) == ("env.drift", "resolved")


def test_an_unreadable_environment_fails_the_run_and_the_others_are_checked(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"

    def check(environment: str) -> DriftFinding:
        if environment == "production":
            raise RuntimeError("railway API: 503 Service Unavailable")
        return DriftFinding(environment, ("GA_ID",), ("API_TOKEN", "GA_ID"))

    job = DriftJob(
        config(), url, lambda: ["production", "staging"], check, clock=lambda: NOW, holder="me"
    )
    with pytest.raises(JobFailed, match=r"^production: RuntimeError: railway API: 503"):
        job(threading.Event())
    assert job.last is not None and set(job.last.checked) == {"staging"}
    with Registry(url) as registry:
        (firing,) = registry.firing_alerts("staging")
        assert firing.condition == "env.drift" and firing.severity == "warning"
        failed = registry.job_run("drift", "production/2026-11-30T04:00")
        assert failed is not None and failed.ok is False
        assert failed.error == "RuntimeError: railway API: 503 Service Unavailable"
        assert registry.firing_alerts("production") == []
    # The period is done for staging (checked), and for production (tried): the scheduled
    # run does not repeat them; a run asked for does.
    again = DriftJob(config(), url, lambda: ["staging"], check, clock=lambda: NOW, holder="you")
    again(threading.Event())
    assert again.last is not None and again.last.skipped == {
        "staging": "checked this period already"
    }
    assert set(again.run(force=True).checked) == {"staging"}
