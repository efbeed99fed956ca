"""pipeline.rollout.strategies: each strategy's plan of steps, pauses, judging and keep-warm."""

from __future__ import annotations

from typing import Any

import pytest

from safeship.config.models import EnvironmentSettings
from safeship.pipeline.rollout.strategies import (
    STRATEGIES,
    Plan,
    Step,
    UnknownStrategy,
    strategy_named,
)


def settings(**overrides: Any) -> EnvironmentSettings:
    return EnvironmentSettings.model_validate(
        {"target": {"command": ["app"]}, "port": 8000, **overrides}
    )


def test_canary_bakes_each_step_judges_below_100_and_pauses_where_asked() -> None:
    env = settings(steps=[10, 50, 100], pause_at=[50], analysis={}, monitor_time=20)
    plan = strategy_named("canary").plan(env, has_stable=True, bakes=True)
    assert plan == Plan(
        "canary",
        (Step(10, judged=True), Step(50, judged=True, pause=True), Step(100)),
        bakes=True,
        keep_warm=20,
    )


def test_canary_without_the_judge_judges_no_step() -> None:
    plan = strategy_named("canary").plan(settings(steps=[25, 100]), has_stable=True, bakes=True)
    assert [(s.weight, s.judged, s.pause) for s in plan.steps] == [
        (25, False, False),
        (100, False, False),
    ]


def test_a_first_deployment_gets_all_traffic_at_once_and_is_recorded_so() -> None:
    env = settings(strategy="canary", monitor_time=60, analysis={})
    for name in ("canary", "blue-green", "all-at-once"):
        plan = strategy_named(name).plan(env, has_stable=False, bakes=True)
        assert plan == Plan("all-at-once", (Step(100),), bakes=True, keep_warm=0.0)


def test_a_manual_rollback_moves_at_once_without_bake_or_monitoring() -> None:
    env = settings(steps=[10, 100], monitor_time=60, blue_green={"keep_warm": 90})
    for name in ("canary", "blue-green", "all-at-once"):
        plan = strategy_named(name).plan(env, has_stable=True, bakes=False)
        assert plan == Plan(name, (Step(100),), bakes=False, keep_warm=0.0)


@pytest.mark.parametrize(("monitor", "keep_warm", "expected"), [(0, 30, 30), (120, 30, 120)])
def test_blue_green_keeps_blue_warm_for_the_longer_of_keep_warm_and_monitoring(
    monitor: float, keep_warm: float, expected: float
) -> None:
    env = settings(strategy="blue-green", monitor_time=monitor, blue_green={"keep_warm": keep_warm})
    plan = strategy_named("blue-green").plan(env, has_stable=True, bakes=True)
    assert plan == Plan("blue-green", (Step(100),), bakes=True, keep_warm=expected)


def test_all_at_once_monitors_for_the_monitoring_window() -> None:
    plan = strategy_named("all-at-once").plan(
        settings(monitor_time=45), has_stable=True, bakes=True
    )
    assert plan == Plan("all-at-once", (Step(100),), bakes=True, keep_warm=45)


def test_every_configurable_strategy_has_one_object() -> None:
    field = EnvironmentSettings.model_fields["strategy"]
    assert set(STRATEGIES) == set(field.annotation.__args__)  # type: ignore[union-attr]


def test_an_unknown_name_is_a_one_line_error() -> None:
    with pytest.raises(UnknownStrategy) as caught:
        strategy_named("rainbow")
    assert str(caught.value) == (
        "unknown strategy 'rainbow' (one of: all-at-once, blue-green, canary)"
    )
