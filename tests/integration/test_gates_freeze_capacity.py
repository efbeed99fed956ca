"""The freeze and capacity gates in real deploys of the demo service: a deploy inside a freeze
window is refused before any release starts, an approver's override lets it through (recorded
and announced); the capacity gate measures this machine, passes with its figures (the serving
release's resident memory as the estimate) and fails a need above what is free."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from safeship import core
from safeship.gates.base import GateOverride
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome
from safeship.pipeline.states import Status
from safeship.registry import Registry
from safeship.registry.gate_rows import GateResult
from testing.fixtures import ENV, Workspace

FROZEN = """
[[environments.local.gates.freeze]]
name = "year-end"
start = "2020-01-01"
end = "2100-01-01"
timezone = "Europe/Berlin"
reason = "holidays"
"""
REASON = "frozen by 'year-end' until 2100-01-01 00:00 Europe/Berlin (holidays)"


def capacity(memory_mb: float, disk_mb: float = 1.0) -> str:
    return f"""
[environments.local.gates.capacity]
enabled = true
memory_mb = {memory_mb}
disk_mb = {disk_mb}
"""


def gate_results(ws: Workspace, deployment_id: str) -> list[GateResult]:
    with Registry(ws.loaded.registry_url()) as registry:
        return registry.gate_results(deployment_id)


def test_a_deploy_in_a_freeze_is_refused_before_any_release_starts(
    workspace_factory: Callable[..., Workspace],
) -> None:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.2, tables=FROZEN)
    outcome = operations.deploy(ws.loaded, ENV, "v1")

    assert outcome.status is Status.FAILED
    assert outcome.reason == f"freeze gate: {REASON}"
    [result] = gate_results(ws, outcome.deployment_id)
    assert (result.gate, result.outcome, result.reason) == ("freeze", "failed", REASON)
    assert result.figures["in_force"][0]["end"] == "2099-12-31T23:00:00+00:00"
    assert not ws.environment().target.releases()


def test_an_override_deploys_during_the_freeze_once_a_second_person_approves(
    workspace_factory: Callable[..., Workspace],
) -> None:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.2, tables=FROZEN)
    with Registry(ws.loaded.registry_url()) as registry:
        assert registry.add_user("bob", "approver", "not-a-password-hash", datetime.now(UTC))
    override = GateOverride(reason="payment outage fix", by="alice")
    outcomes: list[DeploymentOutcome] = []
    deploy = threading.Thread(
        target=lambda: outcomes.append(
            operations.deploy(ws.loaded, ENV, "v1", triggered_by="alice", gate_override=override)
        )
    )
    deploy.start()
    try:
        waiting = _awaiting_approval(ws)
        assert waiting.reasons == ("deploying during freeze 'year-end': payment outage fix",)
        core.approve(ws.loaded, waiting.deployment.id, user="bob", reason="agreed on the call")
    finally:
        deploy.join(30)
    [outcome] = outcomes

    assert outcome.status is Status.SUCCEEDED, outcome.reason
    freeze, approval = gate_results(ws, outcome.deployment_id)
    assert (freeze.gate, freeze.outcome, freeze.reason) == ("freeze", "overridden", REASON)
    assert (approval.gate, approval.outcome) == ("approval", "passed")
    with Registry(ws.loaded.registry_url()) as registry:
        events = registry.events(outcome.deployment_id)
    [overridden] = [e for e in events if e.name == "gate.overridden"]
    assert overridden.attributes["attributes"] == {
        "gate": "freeze",
        "reason": "payment outage fix",
        "by": "alice",
    }


def _awaiting_approval(ws: Workspace) -> core.PendingApproval:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = core.pending_approvals(ws.loaded, ENV)
        if waiting:
            return waiting[0]
        time.sleep(0.05)
    raise AssertionError("the deployment never reached awaiting_approval")


def test_capacity_passes_with_the_serving_release_as_the_estimate(
    workspace_factory: Callable[..., Workspace],
) -> None:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.2, tables=capacity(0.0))
    first = operations.deploy(ws.loaded, ENV, "v1")
    assert first.status is Status.SUCCEEDED, first.reason
    [alone] = gate_results(ws, first.deployment_id)
    assert alone.figures["memory_estimate"] == "none configured, no serving release to measure"
    assert alone.figures["memory_needed_mb"] == 64.0  # the margin alone

    second = operations.deploy(ws.loaded, ENV, "v2")
    assert second.status is Status.SUCCEEDED, second.reason
    [result] = gate_results(ws, second.deployment_id)
    assert (result.gate, result.outcome) == ("capacity", "passed")
    figures = result.figures
    assert figures["memory_estimate"] == "resident memory of the serving v1"
    # The demo app (a Python process) holds some MB; the need is that plus the margin.
    assert 64.0 + 5 < figures["memory_needed_mb"] < 64.0 + 500
    assert figures["memory_available_mb"] >= figures["memory_needed_mb"]
    assert figures["disk_needed_mb"] == 101.0
    assert figures["disk_path"] == str(ws.environment().run_dir)
    assert result.reason is not None and result.reason.startswith(
        f"{figures['memory_available_mb']:.0f} MB of memory free (needs "
    )


def test_capacity_fails_a_need_above_what_is_free_with_the_figures(
    workspace_factory: Callable[..., Workspace],
) -> None:
    ws = workspace_factory(
        strategy="all-at-once", bake_time=0.2, tables=capacity(16e6, disk_mb=1e9)
    )
    outcome = operations.deploy(ws.loaded, ENV, "v1")

    assert outcome.status is Status.FAILED
    [result] = gate_results(ws, outcome.deployment_id)
    figures = result.figures
    assert (result.gate, result.outcome) == ("capacity", "failed")
    assert result.reason == (
        f"needs 16000064 MB of memory, {figures['memory_available_mb']:.0f} MB free; "
        f"needs 1000000100 MB of disk in {ws.environment().run_dir}, "
        f"{figures['disk_free_mb']:.0f} MB free on {figures['host']}"
    )
    assert outcome.reason == f"capacity gate: {result.reason}"
    assert figures["memory_estimate"] == "configured"
    assert not ws.environment().target.releases()


def test_freeze_status_on_the_command_line(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(strategy="all-at-once", bake_time=0.2, tables=FROZEN)
    shown = subprocess.run(
        [*ws.cli(), "freeze", "status", ENV],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"{ENV}: {REASON}\n"
