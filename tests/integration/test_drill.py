"""Rollback drills on the demo service, for real: the environment serving v2 (its previous
good version v1) is rolled back to v1 and forward to v2 again, each leg measured and recorded;
a forward leg whose version no longer starts fails the drill (an alert, exit 1) and leaves the
previous good version serving; an environment with one good version is refused in one line.

Each drill is two real deploys after the fixture's two (bake 0.2 s, all at once): 3-5 s a test."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from safeship import core
from safeship.config import load_config
from safeship.pipeline import operations
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace


@pytest.fixture
def serving_v2(workspace_factory: Callable[..., Workspace]) -> Workspace:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.2)
    for version in ("v1", "v2"):
        outcome = operations.deploy(ws.loaded, ENV, version, commit=f"{version}sha")
        assert outcome.status is Status.SUCCEEDED, outcome.reason
    return ws


def serving(ws: Workspace) -> list[str]:
    return [r.version for r in ws.environment().target.releases()]


def test_a_drill_rolls_back_and_forward_measuring_both_legs(serving_v2: Workspace) -> None:
    result = core.drill(serving_v2.loaded, ENV)

    assert result.ok, result.reason
    assert (result.serving_version, result.previous_version) == ("v2", "v1")
    back, forward = result.legs
    assert (back.name, back.version, back.ok, back.status) == ("back", "v1", True, "succeeded")
    assert (forward.name, forward.version, forward.ok) == ("forward", "v2", True)
    assert 0 < back.seconds < 30 and 0 < forward.seconds < 30
    assert serving(serving_v2) == ["v2"]
    with Registry(serving_v2.loaded.registry_url()) as registry:
        history = registry.history(ENV)
        events = [e.name for e in registry.events(None)]
        assert registry.firing_alerts(ENV) == []
    # newest first: the forward leg's v2, the back leg's v1, the first v2 (rolled back), v1
    assert [(d.version, d.status, d.triggered_by) for d in history] == [
        ("v2", "succeeded", "drill"),
        ("v1", "succeeded", "drill"),
        ("v2", "rolled_back", "cli"),
        ("v1", "succeeded", "cli"),
    ]
    assert history[0].commit_sha == "v2sha" and history[1].commit_sha == "v1sha"
    assert history[0].notes == f"rollback drill #{result.drill_id}: forward leg"
    assert history[1].notes == f"rollback drill #{result.drill_id}: back leg"
    assert (back.deployment_id, forward.deployment_id) == (history[1].id, history[0].id)
    assert "drill.succeeded" in events
    [recorded] = core.drill_history(serving_v2.loaded, ENV)
    assert (recorded.drill_id, recorded.outcome, recorded.triggered_by) == (
        result.drill_id, "passed", "drill",
    )  # fmt: skip
    assert recorded.legs == result.legs
    assert recorded.finished_at is not None


def test_a_failing_forward_leg_fails_the_drill_with_an_alert_and_exit_1(
    serving_v2: Workspace,
) -> None:
    # v2 no longer starts (e.g. a dependency it needs is gone): the way forward is broken.
    path = serving_v2.root / "safeship.toml"
    text = re.sub(r"(?m)^env = .*$", 'env = { DEMO_BEHAVIOUR_V2 = "crash_on_start" }',
                  path.read_text())  # fmt: skip
    path.write_text(text, encoding="utf-8")
    serving_v2.loaded = load_config(path)

    done = subprocess.run(
        [sys.executable, "-m", "safeship", "drill", ENV, "--config", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("back: v1 succeeded (")
    assert lines[1].startswith("forward: v2 FAILED (")
    assert lines[-1].startswith(f"{ENV}: rollback drill #1 failed: the forward leg to v2 failed:")
    assert serving(serving_v2) == ["v1"]  # the previous good version serves
    with Registry(serving_v2.loaded.registry_url()) as registry:
        firing = {alert.condition for alert in registry.firing_alerts(ENV)}
        assert firing == {"drill.failed", "deployment.failed"}  # the leg's deploy, the drill
        [drill] = registry.drills(ENV)
    assert drill.outcome == "failed"
    assert [(leg["name"], leg["ok"]) for leg in drill.legs] == [("back", True), ("forward", False)]
    history = subprocess.run(
        [sys.executable, "-m", "safeship", "drill", "--history", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert history.returncode == 0, history.stderr
    assert "#1 " in history.stdout and f"{ENV}: failed; v2 -> v1 -> v2 (back ok " in history.stdout


def test_no_previous_good_version_is_refused_in_one_line(
    workspace_factory: Callable[..., Workspace],
) -> None:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.2)
    assert operations.deploy(ws.loaded, ENV, "v1").status is Status.SUCCEEDED

    with pytest.raises(operations.RollbackImpossible) as refused:
        core.drill(ws.loaded, ENV)

    assert str(refused.value) == (
        f"{ENV} has no previous good version before v1: a drill needs two successful deployments"
    )
    assert serving(ws) == ["v1"]
    assert core.drill_history(ws.loaded, ENV) == []


def test_the_drill_job_runs_once_per_period_whichever_serve_claims_it(
    workspace_factory: Callable[..., Workspace],
) -> None:
    ws = workspace_factory(
        strategy="all-at-once",
        bake_time=0.2,
        tables=(
            '\n[jobs.drill]\nenvironments = ["local"]\nevery = 86400.0\n'
            "[jobs.outbox]\nenabled = false\n[jobs.drift]\nenabled = false\n"
            "[jobs.watch]\nenabled = false\n"
        ),
    )
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    first = core.background_jobs(ws.loaded, clock=lambda: now)
    second = core.background_jobs(ws.loaded, clock=lambda: now)  # another `safeship serve`

    assert first.run_due() == ["drill"]
    assert second.run_due() == ["drill"]

    failed = first.status("drill")
    assert failed.last_ok is False
    assert failed.last_error == f"{ENV}: {ENV} has no successful deployment to drill"
    assert second.status("drill").last_ok is True  # claimed already: not drilled twice
    assert failed.next_run == datetime(2026, 12, 1, tzinfo=UTC)
    with Registry(ws.loaded.registry_url()) as registry:
        run = registry.job_run("drill", f"{ENV}/2026-11-30T00:00")
    assert run is not None and run.ok is False
