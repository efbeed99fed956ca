"""The gates before a release, run for real: the chain of environments (``requires``) refuses a
version that has not succeeded in staging, lets it in once it has, and an approver's override
lets it through with the override recorded; every gate's verdict is in the registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from safeship.gates.base import GateOverride
from safeship.pipeline import operations
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, REQUIRES_STAGING, Workspace, staging_table


@pytest.fixture
def chained(workspace_factory: Callable[..., Workspace]) -> Iterator[Workspace]:
    ws = workspace_factory(
        strategy="all-at-once",
        bake_time=0.2,
        settings=REQUIRES_STAGING,
        tables=staging_table(),
    )
    try:
        yield ws
    finally:
        operations.down(ws.loaded, "staging")


def gates_of(ws: Workspace, deployment_id: str) -> list[tuple[str, str | None, str | None]]:
    with Registry(ws.loaded.registry_url()) as registry:
        return [(g.gate, g.outcome, g.reason) for g in registry.gate_results(deployment_id)]


def test_production_refuses_a_version_staging_has_not_passed(chained: Workspace) -> None:
    outcome = operations.deploy(chained.loaded, ENV, "v1", commit="abc123")

    assert outcome.status is Status.FAILED
    assert outcome.reason == "chain gate: v1 has not succeeded in staging"
    assert gates_of(chained, outcome.deployment_id) == [
        ("chain", "failed", "v1 has not succeeded in staging")
    ]
    assert not chained.environment().target.releases()  # no release was started


def test_a_version_staging_passed_is_let_in_at_the_same_commit_only(chained: Workspace) -> None:
    staged = operations.deploy(chained.loaded, "staging", "v1", commit="abc123")
    assert staged.status is Status.SUCCEEDED

    other = operations.deploy(chained.loaded, ENV, "v1", commit="def456")
    assert other.status is Status.FAILED
    assert other.reason == "chain gate: v1 succeeded in staging, but not at commit def456"

    outcome = operations.deploy(chained.loaded, ENV, "v1", commit="abc123")
    assert outcome.status is Status.SUCCEEDED, outcome.reason
    (gate, verdict, reason), approval = gates_of(chained, outcome.deployment_id)
    assert approval == ("approval", "skipped", "no approval required")
    assert (gate, verdict) == ("chain", "passed")
    assert reason == f"succeeded in staging ({staged.deployment_id[:8]})"


def test_an_override_lets_the_version_in_and_says_so(chained: Workspace) -> None:
    override = GateOverride(reason="hotfix for the outage", by="alice")
    outcome = operations.deploy(chained.loaded, ENV, "v1", gate_override=override)

    assert outcome.status is Status.SUCCEEDED, outcome.reason
    assert gates_of(chained, outcome.deployment_id) == [
        ("chain", "overridden", "v1 has not succeeded in staging"),
        ("approval", "skipped", "no approval required"),
    ]
    with Registry(chained.loaded.registry_url()) as registry:
        events = registry.events(outcome.deployment_id)
    [overridden] = [e for e in events if e.name == "gate.overridden"]
    assert overridden.attributes["attributes"] == {
        "gate": "chain",
        "reason": "hotfix for the outage",
        "by": "alice",
    }
