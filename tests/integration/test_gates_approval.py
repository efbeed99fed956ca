"""The approval gate, run for real: a deploy waits in awaiting_approval until approvers answer
(from another OS process through the CLI, or from a thread through the core), a rejection, an
abort or the timeout ends it aborted before any release starts, the requester cannot approve
their own deploy, a viewer cannot approve at all, and two approvals mean two distinct people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from safeship import core
from safeship._processes import free_port
from safeship.auth import AuthError
from safeship.cli import approve_cmd, deploy_cmd
from safeship.config import load_config
from safeship.gates import runner
from safeship.gates.base import GateContext, GateVerdict, passed
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

APPROVAL = """
[environments.local.gates.approval]
required = {required}
timeout = {timeout}
"""
WAIT_LIMIT = 20.0  # seconds a test waits for the deploy to reach awaiting_approval


@dataclass
class RunningDeploy:
    """A deploy in a thread of this process (it waits in the approval gate)."""

    thread: threading.Thread
    result: list[DeploymentOutcome] = field(default_factory=list)

    def outcome(self, timeout: float = 30.0) -> DeploymentOutcome:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the deploy did not end"
        [outcome] = self.result
        return outcome


def add_user(ws: Workspace, name: str, role: str) -> str:
    """A user with ``role`` and an API token (the password hash is not used by these tests:
    a placeholder keeps argon2's cost out of them); the token."""
    now = datetime.now(UTC)
    with Registry(ws.loaded.registry_url()) as registry:
        assert registry.add_user(name, role, "not-a-password-hash", now)
    _, token = core.token_create(ws.loaded, name)
    return token


def start_deploy(ws: Workspace, version: str = "v1", by: str = "alice") -> RunningDeploy:
    running = RunningDeploy(threading.Thread(target=lambda: None))

    def deploy() -> None:
        running.result.append(operations.deploy(ws.loaded, ENV, version, triggered_by=by))

    running.thread = threading.Thread(target=deploy, name="deploy-awaiting-approval")
    running.thread.start()
    return running


def awaiting(ws: Workspace) -> core.PendingApproval:
    """The deployment once it waits for approval (bounded)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        waiting = core.pending_approvals(ws.loaded, ENV)
        if waiting:
            return waiting[0]
        time.sleep(0.05)
    raise AssertionError("the deployment never reached awaiting_approval")


def approval_gate(ws: Workspace, deployment_id: str) -> tuple[str | None, str | None, dict]:
    with Registry(ws.loaded.registry_url()) as registry:
        [gate] = [g for g in registry.gate_results(deployment_id) if g.gate == "approval"]
        return gate.outcome, gate.reason, dict(gate.figures)


def event_names(ws: Workspace, deployment_id: str) -> list[str]:
    with Registry(ws.loaded.registry_url()) as registry:
        return [e.name for e in registry.events(deployment_id)]


@pytest.fixture
def gated(workspace_factory: Callable[..., Workspace]) -> Iterator[Callable[..., Workspace]]:
    def make(required: int = 1, timeout: float = 30.0) -> Workspace:
        return workspace_factory(
            strategy="all-at-once",
            bake_time=0.2,
            tables=APPROVAL.format(required=required, timeout=timeout),
        )

    yield make


def test_an_approver_in_another_process_lets_the_waiting_deploy_go_on(
    gated: Callable[..., Workspace],
) -> None:
    ws = gated()
    token = add_user(ws, "bob", "approver")
    running = start_deploy(ws, by="alice")
    pending = awaiting(ws)
    assert pending.deployment.status == "awaiting_approval"
    assert pending.required == 1
    assert not ws.environment().target.releases()  # nothing started before the approval

    prefix = pending.deployment.id[:8]
    answer = subprocess.run(
        [*ws.cli(), "approve", prefix, "--reason", "looks fine"],
        cwd=ws.root,
        env={**os.environ, "SAFESHIP_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == f"approved {prefix} (v1 to local) as bob: 1 of 1 approvals"

    outcome = running.outcome()
    assert outcome.status is Status.SUCCEEDED, outcome.reason
    gate_outcome, reason, figures = approval_gate(ws, outcome.deployment_id)
    assert (gate_outcome, reason) == ("passed", "approved by bob")
    assert figures["approvers"] == ["bob"]
    assert figures["approver_reasons"] == {"bob": "looks fine"}
    assert core.deployment_detail(ws.loaded, outcome.deployment_id).approved_by == ("bob",)
    names = event_names(ws, outcome.deployment_id)
    assert names.index("approval.requested") < names.index("approval.granted")
    assert names.index("approval.granted") < names.index("deployment.succeeded")


def test_a_rejection_aborts_the_deploy_before_any_release_starts(
    gated: Callable[..., Workspace],
) -> None:
    ws = gated()
    add_user(ws, "bob", "approver")
    running = start_deploy(ws)
    pending = awaiting(ws)

    core.reject(ws.loaded, pending.deployment.id, user="bob", reason="not during the sale")

    outcome = running.outcome()
    assert outcome.status is Status.ABORTED
    assert outcome.reason == "approval gate: rejected by bob: not during the sale"
    assert "approval.rejected" in event_names(ws, outcome.deployment_id)
    assert not ws.environment().target.releases()
    with pytest.raises(core.ApprovalRefused, match="is not awaiting approval: it is aborted"):
        core.approve(ws.loaded, pending.deployment.id, user="bob")


def test_no_answer_within_the_timeout_aborts(gated: Callable[..., Workspace]) -> None:
    ws = gated(timeout=1.0)
    started = time.monotonic()
    outcome = operations.deploy(ws.loaded, ENV, "v1", triggered_by="alice")
    assert outcome.status is Status.ABORTED
    assert outcome.reason == "approval gate: no approval within 1 s (0 of 1)"
    assert 1.0 <= time.monotonic() - started < 10.0
    assert approval_gate(ws, outcome.deployment_id)[0] == "aborted"


def test_an_abort_request_ends_the_wait(gated: Callable[..., Workspace]) -> None:
    ws = gated()
    running = start_deploy(ws)
    awaiting(ws)

    core.abort(ws.loaded, ENV)

    outcome = running.outcome()
    assert outcome.status is Status.ABORTED
    assert outcome.reason == "approval gate: aborted by safeship abort while awaiting approval"


def test_two_approvals_by_two_people_other_than_the_requester(
    gated: Callable[..., Workspace],
) -> None:
    ws = gated(required=2)
    for name in ("alice", "bob", "carol"):
        add_user(ws, name, "approver")
    add_user(ws, "victor", "viewer")
    running = start_deploy(ws, by="dashboard:alice")
    deployment_id = awaiting(ws).deployment.id

    with pytest.raises(core.ApprovalRefused, match="alice asked for this deploy"):
        core.approve(ws.loaded, deployment_id, user="alice")
    with pytest.raises(core.ApprovalRefused, match="victor is a viewer"):
        core.approve(ws.loaded, deployment_id, user="victor")
    pending = core.approve(ws.loaded, deployment_id, user="bob")
    assert [a.user for a in pending.answers] == ["bob"]
    with pytest.raises(core.ApprovalRefused, match=r"bob has answered .* already"):
        core.approve(ws.loaded, deployment_id, user="bob")  # twice acts once
    time.sleep(0.6)  # the gate reads the answers twice: one approval is not two
    assert core.pending_approvals(ws.loaded, ENV)[0].deployment.status == "awaiting_approval"
    core.approve(ws.loaded, deployment_id[:8], user="carol", via="dashboard")

    outcome = running.outcome()
    assert outcome.status is Status.SUCCEEDED, outcome.reason
    assert approval_gate(ws, deployment_id)[:2] == ("passed", "approved by bob, carol")


def test_the_cli_identity_is_the_token_user_with_the_approver_role(
    gated: Callable[..., Workspace],
) -> None:
    ws = gated()
    viewer = add_user(ws, "victor", "viewer")
    approver = add_user(ws, "bob", "approver")

    with pytest.raises(AuthError, match="set SAFESHIP_TOKEN"):
        core.identify(ws.loaded, None, "approver", "approving")
    with pytest.raises(AuthError, match="not a valid API token"):
        core.identify(ws.loaded, approver[:-2] + "xx", "approver", "approving")
    with pytest.raises(AuthError, match="victor is a viewer: approving needs the approver role"):
        core.identify(ws.loaded, viewer, "approver", "approving")
    assert core.identify(ws.loaded, approver, "approver", "approving").name == "bob"


OVERRIDE = """
[environments.staging]
port = {port}
strategy = "all-at-once"
bake_time = 0.2

[environments.staging.target]
command = ["python", "-m", "safeship.demo.demo_app", "--port", "{{port}}"]

[alerts]
production = ["local"]
close_timeout = 2.0

[notify.console]
file = "{alerts}"
"""


def test_override_gates_needs_an_approver_and_is_recorded_and_alerted(
    workspace_factory: Callable[..., Workspace],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alerts = tmp_path / "alerts.jsonl"
    ws = workspace_factory(
        strategy="all-at-once",
        bake_time=0.2,
        settings='requires = ["staging"]',
        tables=OVERRIDE.format(port=free_port(), alerts=alerts),
    )
    viewer = add_user(ws, "victor", "viewer")
    approver = add_user(ws, "bob", "approver")
    config = ws.root / "safeship.toml"
    request = core.DeployRequest(ENV, "v1")

    monkeypatch.setenv("SAFESHIP_TOKEN", viewer)
    with pytest.raises(AuthError, match="victor is a viewer: --override-gates needs the approver"):
        deploy_cmd.run(config, request, "json", "the outage")
    assert core.history(ws.loaded, core.HistoryQuery(ENV)) == []  # refused before anything ran

    result = subprocess.run(
        [*ws.cli(), "deploy", ENV, "--version", "v1", "--override-gates", "--reason", "outage"],
        cwd=ws.root,
        env={**os.environ, "SAFESHIP_TOKEN": approver},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [deployed] = core.history(ws.loaded, core.HistoryQuery(ENV))
    with Registry(ws.loaded.registry_url()) as registry:
        gates = [(g.gate, g.outcome, g.reason) for g in registry.gate_results(deployed.id)]
        events = registry.events(deployed.id)
    assert gates == [
        ("chain", "overridden", "v1 has not succeeded in staging"),
        ("approval", "skipped", "no approval required"),
    ]
    [overridden] = [e.attributes["attributes"] for e in events if e.name == "gate.overridden"]
    assert overridden == {"gate": "chain", "reason": "outage", "by": "bob"}
    [alert] = [
        json.loads(line) for line in alerts.read_text().splitlines() if '"gate.overridden"' in line
    ]
    assert alert["severity"] == "warning"
    [sent] = [a for a in alert["alerts"] if a["condition"] == "gate.overridden"]
    assert sent["summary"] == "local: v1: chain gate overridden by bob: outage"
    assert sent["details"] == {"gate": "chain", "by": "bob"}


def test_a_gate_that_asks_for_approval_makes_one_needed_where_none_is_required(
    gated: Callable[..., Workspace],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = gated(required=0, timeout=0.5)
    # A migration is configured (so a gate may ask for approval: the approval gate exists);
    # its dry run is this test's gate, which asks.
    config = ws.root / "safeship.toml"
    config.write_text(
        config.read_text() + '\n[environments.local.gates.migration]\ncommand = ["true"]\n'
    )
    ws.loaded = load_config(config)

    @dataclass(frozen=True)
    class AskingGate:
        name: str = "migration"

        def check(self, context: GateContext) -> GateVerdict:
            context.needs_approval.append("drops column users.email, read by v0")
            return passed("dry run passed")

    asking = types.ModuleType("asking_gate")
    asking.gate = lambda settings: AskingGate()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "asking_gate", asking)
    monkeypatch.setitem(runner.GATE_MODULES, "migration", "asking_gate")
    monkeypatch.delitem(runner.GATE_MODULES, "rollback_plan")
    running = start_deploy(ws)
    pending = awaiting(ws)
    assert (pending.required, pending.reasons) == (1, ("drops column users.email, read by v0",))
    assert [(g.gate, g.outcome, g.reason) for g in pending.gates] == [
        ("migration", "passed", "dry run passed")
    ]
    assert approve_cmd.run_list(ws.root / "safeship.toml", ENV) == 0  # `safeship approvals`
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"{pending.deployment.id[:8]} local v1 asked by alice")
    assert listed[0].endswith(": 0 of 1 approvals")
    assert listed[1:3] == [
        "  needs approval: drops column users.email, read by v0",
        "  migration: passed: dry run passed",
    ]

    outcome = running.outcome()
    assert outcome.reason == "approval gate: no approval within 0.5 s (0 of 1)"


def test_a_deploy_killed_while_awaiting_approval_is_closed_by_recover(
    gated: Callable[..., Workspace],
) -> None:
    ws = gated()
    add_user(ws, "bob", "approver")
    deploy = [*ws.cli(), "deploy", ENV, "--version", "v1", "--triggered-by", "alice"]
    process = subprocess.Popen(
        deploy, cwd=ws.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deployment_id = awaiting(ws).deployment.id
    finally:
        process.kill()
        process.wait(10)

    core.recover(ws.loaded, ENV)

    [record] = core.history(ws.loaded, core.HistoryQuery(ENV))
    assert (record.id, record.terminal) == (deployment_id, True)
    assert record.status == "aborted", record.rollback_reason
    with pytest.raises(core.ApprovalRefused, match="is not awaiting approval"):
        core.approve(ws.loaded, deployment_id, user="bob")
    assert not ws.environment().target.releases()  # nothing was started, nothing is left
