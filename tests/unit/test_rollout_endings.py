"""pipeline.rollout.endings: promote, roll back, fail and abort, each on in-memory ports and
a real registry (a temporary SQLite file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from safeship.analysis.rules import Verdict
from safeship.events import EventBus
from safeship.pipeline.intent import pending
from safeship.pipeline.rollout import endings
from safeship.pipeline.rollout.endings import Releases
from safeship.pipeline.rollout.state import RunState
from safeship.pipeline.states import Status
from safeship.registry import Registry
from safeship.registry.records import DeploymentNotes
from safeship.routing.base import Backend
from testing.fakes import Behaviour, EventRecorder, FakeClock, FakeRouter, FakeTarget


class Run:
    """A deployment of v2 over a serving v1, taking traffic at 50%."""

    def __init__(self, registry: Registry, status: Status = Status.PROGRESSING) -> None:
        self.clock = FakeClock()
        self.recorder = EventRecorder()
        self.target = FakeTarget(port=1)
        stable = self.target.serving("v1")
        self.router = FakeRouter(
            self.clock,
            rate=100,
            behaviours={"v2": Behaviour(error_rate=0.1)},
            backends=[Backend("v1", stable.url, 100)],
        )
        self.state = RunState(
            "prod",
            "v2",
            commit=None,
            triggered_by="test",
            registry=registry,
            bus=EventBus([self.recorder]),
            router=self.router,
            clock=self.clock,
        )
        self.state.create(DeploymentNotes(stable_version="v1"))
        self.releases = Releases(
            "v2",
            self.target,
            self.router,
            self.router,
            drain_timeout=0,
            stable=Backend("v1", stable.url, 100),
        )
        path = (Status.DEPLOYING, Status.VERIFYING, Status.PROGRESSING, Status.MONITORING)
        for step in path[: path.index(status) + 1]:
            self.state.advance(step)
            if step is Status.DEPLOYING:
                self.releases.release = self.target.deploy("v2")
        if status in (Status.PROGRESSING, Status.MONITORING):
            self.state.step = 50
            self.releases.stats_at_start = self.router.totals()
            self.router.set_backends([Backend("v2", "", 50), Backend("v1", "", 50)])
            self.clock.sleep(10)  # 500 requests each, v2 failing 10%


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as registry:
        yield registry


def test_promote_records_success_with_the_traffic_then_stops_the_old_release(
    registry: Registry,
) -> None:
    run = Run(registry)
    outcome = endings.promote(run.state, run.releases)
    assert outcome.status is Status.SUCCEEDED and outcome.ok
    assert outcome.traffic == {
        "v2": {"requests": 500, "errors": 50},
        "v1": {"requests": 500, "errors": 0},
    }
    record = registry.get(run.state.deployment_id)
    assert record is not None and record.status == "succeeded"
    assert record.error_count == 50 and record.health_score == 0.9
    [final] = record.steps  # the traffic totals, as the deployment's last step result
    assert (final.verdict, final.weight) == ("promoted", 100)
    assert (final.canary_requests, final.canary_errors) == (500, 50)
    assert (final.stable_requests, final.stable_errors) == (500, 0)
    assert run.target.stopped == ["v1"]
    succeeded = run.recorder.named("deployment.succeeded")
    assert len(succeeded) == 1 and succeeded[0].attributes["drained"]["release"] == "v1"


def test_roll_back_moves_traffic_back_records_the_rule_and_stops_the_release(
    registry: Registry, tmp_path: Path
) -> None:
    run = Run(registry)
    verdict = Verdict("error_rate", "error rate 10.0% over 500 requests", {"errors": 50})
    outcome = endings.roll_back(run.state, run.releases, verdict, tmp_path)
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "error rate 10.0% over 500 requests"
    assert run.router.weights_set[-1] == {"v1": 100}
    record = registry.get(run.state.deployment_id)
    assert record is not None and record.status == "rolled_back"
    assert record.rollback_rule == "error_rate"
    [final] = record.steps
    assert (final.verdict, final.weight, final.canary_requests, final.canary_errors) == (
        "rolled_back",
        0,
        500,
        50,
    )
    assert pending(tmp_path) == []  # recorded: the intent is cleared
    assert run.target.stopped == ["v2"]
    assert run.recorder.names()[-3:] == [
        "rollback.triggered",
        "rollback.completed",
        "deployment.failed",
    ]


def test_roll_back_still_switches_traffic_when_the_registry_is_gone(
    registry: Registry, tmp_path: Path
) -> None:
    run = Run(registry)
    deployment_id = run.state.deployment_id
    run.state.deployment_id = "gone"  # every registry write now fails
    outcome = endings.roll_back(run.state, run.releases, Verdict("manual", "aborted"), tmp_path)
    assert outcome.status is Status.ROLLED_BACK
    assert run.router.weights_set[-1] == {"v1": 100}
    assert run.target.stopped == ["v2"]
    assert [id for id, _ in pending(tmp_path)] == ["gone"]  # left for recovery
    record = registry.get(deployment_id)
    assert record is not None and record.status == "progressing"


def test_fail_records_a_release_that_never_took_traffic(registry: Registry) -> None:
    run = Run(registry, Status.VERIFYING)
    outcome = endings.fail(run.state, "health check failed: HTTP 500")
    assert (outcome.status, outcome.reason) == (Status.FAILED, "health check failed: HTTP 500")
    record = registry.get(run.state.deployment_id)
    assert record is not None and record.status == "failed"
    assert record.rollback_reason == "health check failed: HTTP 500"
    assert run.router.weights_set == []  # traffic never moved


def test_abort_stops_the_release_and_records_why(registry: Registry) -> None:
    run = Run(registry, Status.VERIFYING)
    outcome = endings.abort(run.state, run.releases, "deploy interrupted (SIGINT/SIGTERM)")
    assert outcome.status is Status.ABORTED
    record = registry.get(run.state.deployment_id)
    assert record is not None and record.status == "aborted"
    assert run.target.stopped == ["v2"]
    assert run.recorder.names()[-1] == "deployment.aborted"
