"""`safeship serve`'s background jobs for real: a local environment whose variables drift, the
SQLite registry, the outbox delivered to a loopback CloudEvents receiver.

The drift job raises ``env.drift`` into the outbox naming the variables only (neither the
public value nor the secret's), the outbox job delivers it once, and the drift's undoing
resolves it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from webhook_api import WebhookServer

from safeship import core
from safeship.config import load_config
from safeship.registry import Registry

SCHEMA = """[production]
GA_ID = { type = "string", pattern = "^G-[A-Z0-9]+$" }
API_TOKEN = { type = "string", min_length = 8, secret = true }
"""
SECRET = "tok-0123456789-very-secret"
CHANGED_SECRET = "tok-9876543210-also-secret"


def write_project(root: Path, ga_id: str, token: str, extra: str = "") -> Path:
    (root / "env.schema.toml").write_text(SCHEMA)
    config = root / "safeship.toml"
    config.write_text(
        '[project]\nname = "t"\n\n'
        "[environments.production]\nport = 18191\n"
        "[environments.production.target]\n"
        'command = ["python", "-m", "http.server", "{port}"]\n'
        "[environments.production.target.env]\n"
        f'GA_ID = "{ga_id}"\nAPI_TOKEN = "{token}"\n{extra}\n'
        "[notify.webhook]\n"
        'url_env = "JOBS_TEST_WEBHOOK_URL"\n\n'
        "[alerts]\ngroup_wait = 0.0\n\n"
        "[jobs.outbox]\nevery = 0.5\n\n"
        '[jobs.drift]\nat = ""\nevery = 3600.0\n\n'
        "[jobs.watch]\nenabled = false\n"
    )
    return config


def test_drift_raises_and_resolves_env_drift_delivered_once_by_the_outbox_job(
    tmp_path: Path, webhook_api: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBS_TEST_WEBHOOK_URL", webhook_api.hook_url)
    monkeypatch.chdir(tmp_path)
    config = write_project(tmp_path, "G-ABC", SECRET)
    project = core.EnvProject(config=config)
    core.env_snapshot(project, "production", core.EnvSources(), taken_by="test")

    loaded = load_config(config)
    jobs = core.background_jobs(loaded)
    assert [s.name for s in jobs.statuses()] == ["outbox", "drift", "watch:production"]
    clean = jobs.run_now("drift")
    assert clean.last_ok is True and clean.last_error is None
    with Registry(loaded.registry_url()) as registry:
        assert registry.outbox_counts()["pending"] == 0
        assert registry.firing_alerts("production") == []

    # The environment drifts: GA_ID no longer matches its pattern, the secret changed, and a
    # variable the schema does not know appeared.
    write_project(tmp_path, "UA-1", CHANGED_SECRET, 'STRAY = "stray-value"')
    loaded = load_config(config)
    jobs = core.background_jobs(loaded)
    drifted = jobs.run_now("drift")
    assert drifted.last_ok is True, drifted.last_error
    with Registry(loaded.registry_url()) as registry:
        assert [s.condition for s in registry.firing_alerts("production")] == ["env.drift"]
        assert registry.outbox_counts()["pending"] == 1

    # Started as `safeship serve` starts them: the outbox job delivers it in the background.
    jobs.start()
    try:
        deadline = time.monotonic() + 10
        while not webhook_api.deliveries and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        jobs.stop()
    assert jobs.status("outbox").last_ok is True, jobs.status("outbox").last_error
    assert len(webhook_api.deliveries) == 1
    body = json.dumps(webhook_api.deliveries[0])
    assert "env.drift" in body
    for name in ("GA_ID", "API_TOKEN", "STRAY"):
        assert name in body
    for value in ("UA-1", SECRET, CHANGED_SECRET, "stray-value", "G-ABC"):
        assert value not in body

    # Delivered once: another pass sends nothing again.
    assert jobs.run_now("outbox").last_ok is True
    assert len(webhook_api.deliveries) == 1 and webhook_api.duplicates == 0

    # Undone: the next check resolves it, and the resolution is delivered.
    write_project(tmp_path, "G-ABC", SECRET)
    loaded = load_config(config)
    jobs = core.background_jobs(loaded)
    assert jobs.run_now("drift").last_ok is True
    assert jobs.run_now("outbox").last_ok is True
    with Registry(loaded.registry_url()) as registry:
        assert registry.firing_alerts("production") == []
        assert registry.outbox_counts()["pending"] == 0
    assert len(webhook_api.deliveries) == 2
    resolved = json.dumps(webhook_api.deliveries[1])
    assert "env.drift" in resolved and "resolved" in resolved


def test_the_scheduled_drift_check_runs_once_per_period_across_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBS_TEST_WEBHOOK_URL", "http://127.0.0.1:9/unused")
    monkeypatch.chdir(tmp_path)
    config = write_project(tmp_path, "UA-1", SECRET)
    loaded = load_config(config)
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    # Two `safeship serve` on one registry: the first to claim the period checks it.
    first = core.background_jobs(loaded, clock=lambda: now)
    second = core.background_jobs(loaded, clock=lambda: now)
    assert "drift" in first.run_due()
    assert "drift" in second.run_due()
    with Registry(loaded.registry_url()) as registry:
        run = registry.job_run("drift", "production/2026-11-30T10:00")
        assert run is not None and run.ok is True and run.finished_at is not None
        # One alert, raised by the first; the second found the period checked.
        assert registry.outbox_counts()["pending"] == 1
    status = second.status("drift")
    assert status.last_ok is True
    assert status.next_run == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


def test_a_watch_check_of_an_environment_with_nothing_deployed_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_config(write_project(tmp_path, "G-ABC", SECRET))
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    jobs = core.background_jobs(loaded, clock=lambda: now)
    watched = jobs.run_now("watch:production")  # switched off in the file: asked, it runs
    assert watched.last_ok is True, watched.last_error
    assert watched.enabled is False and watched.next_run is None
    assert watched.every_seconds == loaded.config.watch.interval
