"""pipeline.rollout.state: the run's record in a real registry (a temporary SQLite file):
write-ahead transitions, the manual requests, a pause, the judge's figures, events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from safeship.analysis.bake import ManualRequest
from safeship.events import EventBus
from safeship.health.base import CheckResult
from safeship.pipeline.rollout.outcome import LiveSnapshot
from safeship.pipeline.rollout.state import JUDGEMENT_SAVE_INTERVAL, RunState
from safeship.pipeline.states import InvalidTransition, Status
from safeship.registry import Registry, RegistryError
from safeship.registry.records import BaselineRecord, DeploymentNotes
from safeship.routing.base import Backend
from testing.fakes import EventRecorder, FakeClock, FakeRouter


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as registry:
        yield registry


def new_state(
    registry: Registry, recorder: EventRecorder | None = None, clock: FakeClock | None = None
) -> RunState:
    clock = clock or FakeClock()
    router = FakeRouter(clock, backends=[Backend("v1", "", 100)])
    state = RunState(
        "prod",
        "v2",
        commit="abc123",
        triggered_by="test",
        registry=registry,
        bus=EventBus([recorder] if recorder else []),
        router=router,
        clock=clock,
    )
    state.create(DeploymentNotes(strategy="canary", stable_version="v1"))
    return state


def test_a_transition_is_recorded_before_the_caller_acts(registry: Registry) -> None:
    state = new_state(registry)
    record = registry.get(state.deployment_id)
    assert record is not None and record.status == "pending"
    assert (record.strategy, record.stable_version) == ("canary", "v1")
    assert state.advance(Status.DEPLOYING)
    record = registry.get(state.deployment_id)
    assert record is not None and record.status == "deploying"
    assert state.status is Status.DEPLOYING


def test_a_transition_the_state_machine_forbids_writes_nothing(registry: Registry) -> None:
    state = new_state(registry)
    with pytest.raises(InvalidTransition):
        state.advance(Status.SUCCEEDED)
    record = registry.get(state.deployment_id)
    assert record is not None and record.status == "pending"
    assert state.status is Status.PENDING


def test_a_best_effort_transition_survives_a_registry_outage(registry: Registry) -> None:
    state = new_state(registry)
    state.advance(Status.DEPLOYING)
    state.deployment_id = "no-such-deployment"  # every update now fails
    with pytest.raises(RegistryError, match="no deployment 'no-such-deployment'"):
        state.advance(Status.VERIFYING)
    assert not state.advance(Status.ABORTED, best_effort=True)
    assert state.status is Status.ABORTED


def test_a_manual_request_is_marked_handled_before_it_is_acted_on(registry: Registry) -> None:
    state = new_state(registry)
    assert state.read_request() is None
    registry.add_request(state.deployment_id, "abort", "safeship rollback")
    assert state.read_request() == ManualRequest("abort", "rollback")
    assert state.read_request() is None  # handled: never acted on twice
    [request] = registry.requests(state.deployment_id)
    assert request.handled_at is not None


def test_a_promote_counts_at_a_pause_and_an_abort_at_any_time(registry: Registry) -> None:
    state = new_state(registry)
    registry.add_request(state.deployment_id, "promote", "safeship promote")
    assert state.read_request() is None  # no pause yet: it waits for one
    state.mark_paused(50)
    assert state.read_request() == ManualRequest("promote", "promote")
    assert state.read_request() is None
    state.clear_pause()
    registry.add_request(state.deployment_id, "promote", "safeship promote")
    registry.add_request(state.deployment_id, "abort", "safeship abort")
    assert state.read_request() == ManualRequest("abort", "abort")  # not behind the promote


def test_a_pause_is_recorded_and_cleared(registry: Registry) -> None:
    state = new_state(registry)
    state.mark_paused(50)
    record = registry.get(state.deployment_id)
    assert record is not None and record.paused_at == 50 and state.paused
    state.clear_pause()
    record = registry.get(state.deployment_id)
    assert record is not None and not state.paused and record.paused_at is None


def test_checks_are_recorded_with_their_score_and_one_event_each(registry: Registry) -> None:
    recorder = EventRecorder()
    state = new_state(registry, recorder)
    state.record_checks(
        [CheckResult("health", "ok", 12.0, ""), CheckResult("db", "failed", 3.0, "down")]
    )
    record = registry.get(state.deployment_id)
    assert record is not None
    checks = registry.check_results(state.deployment_id)
    assert [(c.name, c.status, c.detail) for c in checks] == [
        ("health", "ok", ""),
        ("db", "failed", "down"),
    ]
    assert record.health_score is not None and record.health_score < 1
    events = recorder.named("check.completed")
    assert [e.attributes["check"] for e in events] == ["health", "db"]
    assert all(e.deployment_id == state.deployment_id for e in events)


def test_the_stored_baseline_p95_is_the_last_good_deployments(registry: Registry) -> None:
    previous = new_state(registry)
    for status in (Status.DEPLOYING, Status.VERIFYING, Status.PROGRESSING, Status.SUCCEEDED):
        previous.advance(status)
    registry.save_baseline(
        BaselineRecord("prod", "v2", "/", 100, 0, 0.0, 10.0, 9.0, 42.5, 60.0, 5.0)
    )
    state = new_state(registry)
    assert state.stored_baseline_p95() == 42.5


def test_live_snapshots_carry_the_router_weights_and_the_run(registry: Registry) -> None:
    clock = FakeClock()
    frames: list[LiveSnapshot] = []
    state = new_state(registry, clock=clock)
    state.on_progress = frames.append
    clock.sleep(2.5)
    state.step = 10
    state.progress()
    assert frames[-1].weights == {"v1": 100} and frames[-1].step == 10
    assert frames[-1].elapsed == 2.5 and frames[-1].deployment_id == state.deployment_id


def test_the_judges_figures_are_saved_at_most_once_a_second(registry: Registry) -> None:
    from safeship.analysis.judge import BakeDecision, Judgement

    clock = FakeClock()
    state = new_state(registry, clock=clock)
    state.step = 10
    state.judgement = BakeDecision("wait", "baking", Judgement((), None, "nodata"))
    state.save_judgement()
    assert [s.reason for s in registry.step_results(state.deployment_id)] == ["baking"]
    state.judgement = BakeDecision("wait", "later", Judgement((), None, "nodata"))
    state.save_judgement()  # too soon: not written
    assert [s.reason for s in registry.step_results(state.deployment_id)] == ["baking"]
    clock.sleep(JUDGEMENT_SAVE_INTERVAL)
    state.save_judgement()
    assert [s.reason for s in registry.step_results(state.deployment_id)] == ["later"]
    # The next step gets a row of its own; the first keeps its last figures.
    state.step = 50
    clock.sleep(JUDGEMENT_SAVE_INTERVAL)
    state.save_judgement()
    steps = registry.step_results(state.deployment_id)
    assert [(s.step_index, s.weight, s.reason) for s in steps] == [
        (0, 10, "later"),
        (1, 50, "later"),
    ]
