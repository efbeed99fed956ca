"""A project with a seeded SQLite registry for the dashboard's tests: two environments, a
handful of deployments (succeeded, rolled back with a rule and figures, failed, one running),
check results, a firing alert, and hostile text (``<script>``) where people's text lands.

Nothing runs: no release, no router (the pages read the registry; a stopped router is the
"no router running" case). The registry is written through its public facade with a fake
clock, so the figures (today, this week, durations, recovery) are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safeship._processes import free_port
from safeship.config import LoadedConfig, load_config
from safeship.registry import Registry
from safeship.registry.records import CheckResultRecord, StepResult

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'

CONFIG = """\
[project]
name = "dash"

[registry]
url = "sqlite:///registry.db"

[environments.staging]
port = {staging_port}
strategy = "canary"
steps = [10, 50, 100]
router = {{ type = "builtin" }}

[environments.staging.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]

[environments.production]
port = {production_port}
strategy = "canary"
steps = [10, 50, 100]
router = {{ type = "builtin" }}

[environments.production.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]

[[environments.production.health.checks]]
name = "db"
type = "postgres"
url = "postgresql://127.0.0.1:1/app"

[[environments.production.health.checks]]
name = "cache"
type = "redis"
url = "redis://127.0.0.1:1/0"

[[environments.production.health.checks]]
name = "payments"
type = "http"
url = "http://127.0.0.1:1/health"
"""


@dataclass(frozen=True)
class SeededProject:
    loaded: LoadedConfig
    now: datetime  # the clock the seeding used for its last write
    succeeded: str  # production v1.0.0, succeeded
    rolled_back: str  # production v1.1.0, rolled back by the error-rate rule (hostile reason)
    failed: str  # staging v2.0.0, failed
    running: str  # production v1.2.0, progressing at 50 %
    hostile_version: str  # staging: a version and a trigger name with markup in them


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def seed_project(root: Path, *, hostile: bool = True) -> SeededProject:
    """``hostile``: markup in a version, a trigger name and a rollback reason (the escaping
    tests); without it plain text (the documentation's screenshots)."""
    evil = HOSTILE if hostile else ""
    text = CONFIG.format(staging_port=free_port(), production_port=free_port())
    (root / "safeship.toml").write_text(text, encoding="utf-8")
    loaded = load_config(root / "safeship.toml")
    # Today at 00:10 UTC or an hour ago, whichever is later: every deployment below is "today".
    real_now = datetime.now(UTC)
    start = max(real_now.replace(hour=0, minute=10, second=0, microsecond=0),
                real_now - timedelta(hours=1))  # fmt: skip
    clock = _Clock(start)
    with Registry(loaded.registry_url(), clock=clock) as registry:
        ok = registry.create_deployment(
            "production", "v1.0.0", "a" * 40, "alice", strategy="canary"
        )
        clock.advance(120)
        registry.add_check_results(
            ok,
            [
                CheckResultRecord(2, "db", "ok", 3.0),
                CheckResultRecord(2, "cache", "degraded", 80.0, "slow PING"),
                CheckResultRecord(2, "payments", "ok", 20.0),
            ],
        )
        registry.update_deployment(ok, status="succeeded", completed=True, health_score=1.0)

        clock.advance(60)
        bad = registry.create_deployment(
            "production", "v1.1.0", "b" * 40, "bob", strategy="canary", stable_version="v1.0.0"
        )
        clock.advance(30)
        registry.add_step_result(
            bad,
            StepResult(
                0, 10, "fail", score=0.1, reason="error rate above threshold",
                canary_error_rate=0.2, stable_error_rate=0.0, canary_latency_ms=40.0,
                stable_latency_ms=35.0, canary_requests=50, canary_errors=10,
                stable_requests=450, stable_errors=0, error_verdict="high",
                latency_verdict="pass",
            ),
        )  # fmt: skip
        registry.add_event(bad, "rollback.triggered", clock(), {"rule": "error_rate"})
        registry.update_deployment(
            bad,
            status="rolled_back",
            completed=bool(clock.advance(10)),
            rollback_rule="error_rate",
            rollback_reason=f"error rate 20% > 5% {evil}".strip(),
            health_score=0.8,
        )

        clock.advance(60)
        recovered = registry.create_deployment("production", "v1.0.1", "c" * 40, "alice")
        registry.update_deployment(
            recovered, status="succeeded", completed=bool(clock.advance(90)), health_score=1.0
        )

        clock.advance(30)
        failed = registry.create_deployment("staging", "v2.0.0", None, "ci")
        registry.update_deployment(failed, status="failed", completed=bool(clock.advance(5)))

        clock.advance(5)
        marked = registry.create_deployment(
            "staging", f"v3{evil}"[:255], None, HOSTILE if hostile else "dave"
        )
        registry.update_deployment(marked, status="aborted", completed=bool(clock.advance(1)))

        clock.advance(30)
        running = registry.create_deployment(
            "production", "v1.2.0", "d" * 40, "carol", stable_version="v1.0.1"
        )
        registry.update_deployment(running, status="deploying")
        registry.update_deployment(running, status="verifying")
        registry.update_deployment(running, status="progressing", current_step=50)
        registry.enqueue_alerts(
            [
                (
                    {"environment": "production", "condition": "deployment.failed",
                     "severity": "error", "state": "firing", "summary": "v1.1.0 rolled back"},
                    [],
                    True,
                )
            ],
            repeat_interval=3600,
        )  # fmt: skip
    return SeededProject(loaded, clock.now, ok, bad, failed, running, marked)


@pytest.fixture(scope="session")
def seeded_project(tmp_path_factory: pytest.TempPathFactory) -> SeededProject:
    """One seeded project per worker, for tests that only read it (creating the registry
    runs its migrations: ~1 s). A test that writes seeds its own with ``seed_project``."""
    return seed_project(tmp_path_factory.mktemp("dashboard"))
