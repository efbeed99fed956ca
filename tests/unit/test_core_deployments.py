"""safeship.core's deployment operations called directly on a temporary project: the demo
service deployed for real (processes, the builtin router, a SQLite registry); no CLI process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from safeship import core
from safeship.config import ConfigError
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]


def deploy(ws: Workspace, version: str) -> core.DeployResult:
    return core.deploy(ws.loaded, core.DeployRequest(ENV, version, commit="c0ffee1"))


def test_deploy_status_history_and_rollback(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.3)
    finished: list[bool] = []
    first = core.deploy(
        ws.loaded,
        core.DeployRequest(ENV, "v1", triggered_by="test"),
        on_finished=lambda: finished.append(True),
    )
    assert first == core.DeployResult(
        version="v1", ok=True, status="succeeded", deployment_id=first.deployment_id
    )
    assert finished == [True]
    assert deploy(ws, "v2").ok

    (status,) = core.status(ws.loaded, ENV)
    assert status.environment == ENV and status.port == ws.port and status.router_running
    assert [(r.version, r.alive) for r in status.releases] == [("v2", True)]
    assert [(row.release, row.weight) for row in status.traffic] == [("v2", 100)]
    assert status.serving == ("v2",)
    assert status.last is not None and status.last.version == "v2"
    assert status.last.state == "succeeded" and status.target_error is None

    rolled = core.rollback(ws.loaded, ENV)
    assert rolled.abort_requested is None and not rolled.recovered
    assert rolled.deployed is not None and rolled.deployed.ok
    assert rolled.deployed.version == "v1"

    history = core.history(ws.loaded, core.HistoryQuery(ENV, limit=10))
    assert [(d.version, d.status) for d in history] == [
        ("v1", "succeeded"),
        ("v2", "rolled_back"),
        ("v1", "succeeded"),
    ]
    assert history[1].rollback_reason == "rolled back to v1 by safeship rollback"
    assert history[1].as_json()["version"] == "v2"


def test_requests_without_a_running_deployment_are_refused(workspace: Workspace) -> None:
    with pytest.raises(core.RequestRefused, match=f"no deployment of {ENV} is paused"):
        core.promote(workspace.loaded, ENV)
    with pytest.raises(core.RequestRefused, match=f"no deployment of {ENV} is running"):
        core.abort(workspace.loaded, ENV)
    assert core.abort_running(workspace.loaded, ENV) is None
    assert core.recover(workspace.loaded, ENV) == []


def test_rollback_without_two_good_deployments_is_impossible(workspace: Workspace) -> None:
    with pytest.raises(Exception, match="has no successful deployment to roll back") as raised:
        core.rollback(workspace.loaded, ENV)
    assert type(raised.value).__name__ == "RollbackImpossible"


def test_status_before_anything_ran_and_an_unknown_environment(workspace: Workspace) -> None:
    (status,) = core.status(workspace.loaded)  # every environment: the one configured
    assert not status.router_running and status.releases == () and status.traffic == ()
    assert status.serving == ()
    assert status.last is None
    with pytest.raises(ConfigError):
        core.history(workspace.loaded, core.HistoryQuery("nope"))
    assert core.history(workspace.loaded, core.HistoryQuery()) == []


def test_up_gives_the_port_and_down_counts_what_it_stopped(workspace: Workspace) -> None:
    assert core.up(workspace.loaded, ENV) == workspace.port
    assert core.down(workspace.loaded, ENV) == 1  # the router; no release yet


def test_both_deploy_modes_at_once_are_refused() -> None:
    assert core.deploy_mode(via_paths=False, emergency=False) is core.DeployMode.LOCAL
    assert core.deploy_mode(via_paths=True, emergency=False) is core.DeployMode.PATHS
    with pytest.raises(core.DeployRefused, match="exclude each other"):
        core.deploy_mode(via_paths=True, emergency=True)
