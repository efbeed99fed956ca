"""A whole rollout on in-memory ports (fake target, router and clock; a real registry on a
temporary SQLite file; the health endpoint a thread): the stages in order, write-ahead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from safeship.config.models import EnvironmentSettings
from safeship.events import EventBus
from safeship.pipeline.deploy import Deployer, DeployRefused, Interrupted, LiveSnapshot
from safeship.pipeline.states import Status
from safeship.registry import Registry
from safeship.routing.base import Backend
from safeship.targets.base import Release
from testing.fakes import Behaviour, EventRecorder, FakeClock, FakeRouter, FakeTarget, health_server


@pytest.fixture
def port() -> Iterator[int]:
    with health_server() as port:
        yield port


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as registry:
        yield registry


class World:
    """v1 serving prod through a fake router; a Deployer of prod."""

    def __init__(self, port: int, registry: Registry, **settings: Any) -> None:
        self.clock = FakeClock()
        self.target = FakeTarget(port=port)
        stable = self.target.serving("v1")
        self.router = FakeRouter(self.clock, rate=200, backends=[Backend("v1", stable.url, 100)])
        self.recorder = EventRecorder()
        self.frames: list[LiveSnapshot] = []
        self.registry = registry
        self.settings = EnvironmentSettings.model_validate(
            {
                "target": {"command": ["app"]},
                "port": 8000,
                "bake_time": 5,
                "drain_timeout": 0,
                "health": {"interval": 0.5},
                **settings,
            }
        )
        self.deployer = Deployer(
            "prod",
            self.settings,
            self.target,
            self.router,
            registry,
            EventBus([self.recorder]),
            on_progress=self.frames.append,
            metrics=self.router,
            clock=self.clock,
        )


def test_a_canary_moves_step_by_step_and_promotes(port: int, registry: Registry) -> None:
    world = World(port, registry, steps=[10, 50, 100])
    outcome = world.deployer.deploy("v2")
    assert outcome.status is Status.SUCCEEDED
    assert world.router.weights_set == [
        {"v2": 10, "v1": 90},
        {"v2": 50, "v1": 50},
        {"v2": 100},
    ]
    record = registry.get(outcome.deployment_id)
    assert record is not None and record.status == "succeeded"
    assert record.strategy == "canary" and record.stable_version == "v1"
    assert world.target.stopped == ["v1"]
    stages = [e.attributes["stage"] for e in world.recorder.named("stage.started")]
    assert stages == ["deploy", "verify"]
    assert world.frames[-1].status is Status.SUCCEEDED


def test_each_status_is_recorded_before_its_action(port: int, registry: Registry) -> None:
    world = World(port, registry, steps=[100])
    seen: list[str] = []

    def deploying(version: str) -> None:
        (record,) = registry.active("prod")
        seen.append(record.status)

    world.target.on_deploy = deploying
    world.deployer.deploy("v2")
    assert seen == ["deploying"]


def test_a_failing_canary_rolls_back_at_its_first_step(port: int, registry: Registry) -> None:
    world = World(port, registry, steps=[10, 100])
    world.router.behaviours["v2"] = Behaviour(error_rate=0.5)
    outcome = world.deployer.deploy("v2")
    assert outcome.status is Status.ROLLED_BACK
    assert world.router.weights_set == [{"v2": 10, "v1": 90}, {"v1": 100}]
    record = registry.get(outcome.deployment_id)
    assert record is not None and record.rollback_rule == "error_rate"
    assert world.target.stopped == ["v2"]


def test_a_pause_waits_for_promote(port: int, registry: Registry) -> None:
    world = World(port, registry, steps=[10, 100], pause_at=[10])

    def promote_ahead(version: str) -> None:  # left before the pause: it counts there
        (record,) = registry.active("prod")
        registry.add_request(record.id, "promote", "safeship promote")

    world.target.on_deploy = promote_ahead
    outcome = world.deployer.deploy("v2")
    assert outcome.status is Status.SUCCEEDED
    passed = [e.attributes.get("stage") for e in world.recorder.named("stage.passed")]
    assert "pause" in passed
    record = registry.get(outcome.deployment_id)
    assert record is not None and record.paused_at is None
    [promote] = registry.requests(record.id)
    assert promote.handled_at is not None


def test_a_manual_rollback_moves_all_traffic_at_once_without_a_bake(
    port: int, registry: Registry
) -> None:
    world = World(port, registry, steps=[10, 50, 100], monitor_time=60)
    began = world.clock.now()
    outcome = world.deployer.deploy("v2", strategy="all-at-once", bake=False)
    assert outcome.status is Status.SUCCEEDED
    assert world.router.weights_set == [{"v2": 100}]
    assert world.clock.now() == began  # nothing baked, nothing monitored


def test_a_version_already_serving_is_refused_before_any_record(
    port: int, registry: Registry
) -> None:
    world = World(port, registry)
    with pytest.raises(DeployRefused, match=r"^v1 is already serving prod$"):
        world.deployer.deploy("v1")
    assert registry.history("prod") == []


def test_an_invalid_environment_fails_before_a_release_starts(
    port: int, registry: Registry
) -> None:
    world = World(port, registry)
    world.deployer.env_gate = lambda: ["DATABASE_URL: missing"]
    outcome = world.deployer.deploy("v2")
    assert outcome.status is Status.FAILED
    assert outcome.reason == "environment check failed (1 problem): DATABASE_URL: missing"
    assert list(world.target.running) == ["v1"] and world.router.weights_set == []


class InterruptedTarget(FakeTarget):
    """Ctrl-C arrives while the release is watched once traffic has moved."""

    def __init__(self, port: int, router: FakeRouter) -> None:
        super().__init__(port=port)
        self.router = router

    def is_alive(self, release: Release) -> bool:
        if self.router.weights_set:
            raise KeyboardInterrupt
        return super().is_alive(release)


def test_ctrl_c_while_taking_traffic_rolls_back_and_says_how(port: int, registry: Registry) -> None:
    world = World(port, registry, steps=[10, 100])
    target = InterruptedTarget(port, world.router)
    target.running = world.target.running
    world.deployer.target = target
    with pytest.raises(Interrupted) as caught:
        world.deployer.deploy("v2")
    outcome = caught.value.outcome
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "deploy interrupted (SIGINT/SIGTERM)"
    assert world.router.weights_set[-1] == {"v1": 100}
    record = registry.get(outcome.deployment_id)
    assert record is not None and record.rollback_rule == "interrupted"


def test_ctrl_c_before_traffic_aborts(port: int, registry: Registry) -> None:
    world = World(port, registry)

    def interrupt(version: str) -> None:
        raise KeyboardInterrupt

    world.target.on_deploy = interrupt
    with pytest.raises(Interrupted) as caught:
        world.deployer.deploy("v2")
    assert caught.value.outcome.status is Status.ABORTED
    record = registry.get(caught.value.outcome.deployment_id)
    assert record is not None and record.status == "aborted"
    assert world.router.weights_set == []
