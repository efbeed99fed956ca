"""Deployments of the real demo service through the real router, in-process orchestrator."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable

import httpx

from safeship.demo.load import NO_RELEASE, LoadGenerator
from safeship.pipeline import operations
from safeship.pipeline.deploy import LiveSnapshot
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
LoadFactory = Callable[..., LoadGenerator]


def serving(ws: Workspace) -> dict[str, int]:
    return {b.name: b.weight for b in ws.environment().router.backends()}


def get_release(ws: Workspace) -> str:
    response = httpx.get(ws.url + "/api/v1/items", timeout=5)
    assert response.status_code == 200
    return response.headers["X-Safeship-Release"]


def test_first_deploy_all_at_once_then_canary_promotes(workspace: Workspace) -> None:
    first = operations.deploy(workspace.loaded, ENV, "v1", commit="c1")
    assert first.status is Status.SUCCEEDED
    assert serving(workspace) == {"v1": 100}
    assert get_release(workspace) == "v1"

    steps: list[int | None] = []

    def watch(s: LiveSnapshot) -> None:
        if s.status is Status.PROGRESSING and (not steps or steps[-1] != s.step):
            steps.append(s.step)

    second = operations.deploy(workspace.loaded, ENV, "v2", on_progress=watch)
    assert second.status is Status.SUCCEEDED
    assert steps == [10, 50, 100]
    assert serving(workspace) == {"v2": 100}
    assert [r.version for r in workspace.environment().target.releases()] == ["v2"]

    with Registry(workspace.loaded.registry_url()) as registry:
        history = registry.history(ENV)
        assert [(r.version, r.status) for r in history] == [
            ("v2", "succeeded"),
            ("v1", "succeeded"),
        ]
        assert history[0].health_score == 1.0
        assert history[0].strategy == "canary" and history[0].stable_version == "v1"
        assert history[1].strategy == "all-at-once" and history[1].stable_version is None
        names = [e.name for e in registry.events(second.deployment_id)]
    assert names[0] == "deployment.started"
    assert names.count("traffic.shifted") == 3
    assert names[-1] == "deployment.succeeded"


def test_release_crashing_on_start_fails_and_never_takes_traffic(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(behaviours={"v2": "crash_on_start"})
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    before = ws.environment().router.stats()
    outcome = operations.deploy(ws.loaded, ENV, "v2")
    assert outcome.status is Status.FAILED
    assert outcome.reason is not None and "exited" in outcome.reason
    assert serving(ws) == {"v1": 100}
    assert "v2" not in ws.environment().router.stats()
    assert before.keys() == ws.environment().router.stats().keys()
    assert [r.version for r in ws.environment().target.releases()] == ["v1"]


def test_kill_9_during_canary_rolls_back_within_5s_without_failing_clients(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(bake_time=0.2)  # a first deploy bakes too: v1 goes in quickly
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(3.0)
    load = load_factory(ws.url, rate=100)
    killed: list[float] = []

    def kill_canary(s: LiveSnapshot) -> None:
        if s.status is Status.PROGRESSING and s.step == 10 and not killed and s.elapsed > 0.5:
            (canary,) = [r for r in ws.environment().target.releases() if r.version == "v2"]
            assert canary.pid is not None
            os.kill(canary.pid, signal.SIGKILL)
            killed.append(time.monotonic())

    outcome = operations.deploy(ws.loaded, ENV, "v2", on_progress=kill_canary)
    recovered = time.monotonic() - killed[0]
    totals = load.stop()
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "release v2 exited while serving traffic"
    assert serving(ws) == {"v1": 100}
    assert recovered < 5.0
    assert totals.failed["v1"] == 0 and totals.failed[NO_RELEASE] == 0
    assert totals.ok["v1"] > 0


def test_error_rate_under_load_rolls_back_and_counts_requests_per_release(
    workspace: Workspace, load_factory: LoadFactory
) -> None:
    assert operations.deploy(workspace.loaded, ENV, "good").ok
    load = load_factory(workspace.url, rate=100)
    outcome = operations.deploy(workspace.loaded, ENV, "bad")
    totals = load.stop()
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason is not None
    assert re.fullmatch(
        r"error rate \d+\.\d% over \d+ requests exceeds the 5\.0% threshold", outcome.reason
    )
    assert serving(workspace) == {"good": 100}
    # The stable release answered every request it got.
    assert totals.failed["good"] == 0 and totals.failed[NO_RELEASE] == 0
    assert totals.failed["bad"] > 0
    with Registry(workspace.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
    assert record is not None and record.status == "rolled_back"
    assert record.rollback_reason == outcome.reason
    final = record.steps[-1]  # the traffic totals: bad is the canary, good the stable
    assert final.verdict == "rolled_back"
    assert final.canary_requests is not None and final.canary_requests >= 10
    assert final.canary_errors is not None and final.canary_errors >= 2
    assert final.stable_requests is not None and final.stable_requests > final.canary_requests
    assert record.error_count == final.canary_errors


def test_health_turning_5xx_mid_canary_rolls_back(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory(behaviours={"v2": "unhealthy_after=0.8"}, bake_time=0.2)
    assert operations.deploy(ws.loaded, ENV, "v1").ok  # a first deploy bakes too: quickly
    ws.set_bake_time(2.0)
    outcome = operations.deploy(ws.loaded, ENV, "v2")
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "health check answered HTTP 500"
    assert serving(ws) == {"v1": 100}


def test_unhealthy_release_fails_verification(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory(behaviours={"v1": "health_status=503"})
    outcome = operations.deploy(ws.loaded, ENV, "v1")
    assert outcome.status is Status.FAILED
    assert outcome.reason == "health check failed: HTTP 503"
    assert ws.environment().target.releases() == []


def test_rollback_puts_the_previous_version_back(workspace: Workspace) -> None:
    assert operations.deploy(workspace.loaded, ENV, "v1").ok
    assert operations.deploy(workspace.loaded, ENV, "v2").ok
    outcome = operations.rollback(workspace.loaded, ENV)
    assert outcome is not None and outcome.ok and outcome.version == "v1"
    assert serving(workspace) == {"v1": 100}
    statuses = [(r.version, r.status) for r in operations.history(workspace.loaded, ENV)]
    assert statuses == [("v1", "succeeded"), ("v2", "rolled_back"), ("v1", "succeeded")]


def test_redeploying_the_serving_version_is_refused(workspace: Workspace) -> None:
    assert operations.deploy(workspace.loaded, ENV, "v1").ok
    try:
        operations.deploy(workspace.loaded, ENV, "v1")
    except Exception as exc:
        assert str(exc) == "v1 is already serving local"
    else:
        raise AssertionError("a second deploy of the serving version went ahead")


def test_canary_and_automatic_rollback_through_nginx(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(behaviours={"v3": "error_rate=0.2"}, router="nginx")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    load = load_factory(ws.url, rate=100)
    assert operations.deploy(ws.loaded, ENV, "v2").ok
    assert serving(ws) == {"v2": 100}
    outcome = operations.deploy(ws.loaded, ENV, "v3")
    totals = load.stop()
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason is not None and outcome.reason.startswith("error rate ")
    assert serving(ws) == {"v2": 100}
    assert outcome.traffic["v3"]["requests"] >= 10 and outcome.traffic["v3"]["errors"] >= 2
    # nginx names the release that answered (X-Safeship-Release): the stable release failed
    # no request, and every failure the clients saw came from the bad one.
    assert totals.failed["v2"] == 0 and totals.failed[NO_RELEASE] == 0, totals.failed
    assert {release for release, n in totals.failed.items() if n} == {"v3"}, totals.failed
