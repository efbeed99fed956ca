"""The drills and environment_pauses repositories on both backends (SQLite, PostgreSQL):
a drill's row written before its legs and finished with them; an environment's probe
failures counted to a pause, a failure of the same period not counted twice, the pause lifted
by an answer, and the history kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from safeship.registry import Registry, RegistryError

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class ManualClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(registry_url: str, clock: ManualClock) -> Iterator[Registry]:
    with Registry(registry_url, clock=clock) as opened:
        yield opened


def test_a_drill_is_written_before_its_legs_and_finished_with_them(
    registry: Registry, clock: ManualClock
) -> None:
    drill_id = registry.start_drill("staging", "v2", "v1", "drill")
    [running] = registry.drills("staging")
    assert (running.id, running.outcome, running.legs, running.finished_at) == (
        drill_id, None, (), None,
    )  # fmt: skip
    back = {"name": "back", "version": "v1", "ok": True, "seconds": 2.5}
    registry.record_drill_legs(drill_id, [back])
    assert registry.drills()[0].legs == (back,)
    clock.advance(5)
    forward = {"name": "forward", "version": "v2", "ok": False, "reason": "crashed"}
    registry.finish_drill(drill_id, "failed", "the forward leg failed", [back, forward])

    [done] = registry.drills("staging")
    assert (done.outcome, done.reason, done.legs) == (
        "failed", "the forward leg failed", (back, forward),
    )  # fmt: skip
    assert (done.started_at, done.finished_at) == (T0, T0 + timedelta(seconds=5))
    assert registry.drills("production") == []
    with pytest.raises(RegistryError, match="no drill 999"):
        registry.finish_drill(999, "passed", None, [])


def test_failures_pause_an_environment_and_an_answer_lifts_it(
    registry: Registry, clock: ManualClock
) -> None:
    first = registry.record_probe_failure("production", "status: HTTP 503", 3, min_gap=30)
    assert first.pause is not None and (first.pause.failures, first.paused_now) == (1, False)
    clock.advance(10)  # another process's probe of the same minute: not counted again
    same = registry.record_probe_failure("production", "status: HTTP 503", 3, min_gap=30)
    assert same.pause is not None and same.pause.failures == 1
    clock.advance(60)
    registry.record_probe_failure("production", "status: HTTP 503", 3, min_gap=30)
    assert registry.environment_pause("production") is None  # counting, not paused yet
    clock.advance(60)
    third = registry.record_probe_failure("production", "status: no answer", 3, min_gap=30)
    assert third.paused_now and third.pause is not None
    assert (third.pause.failures, third.pause.reason) == (3, "status: no answer")
    assert third.pause.since == T0 + timedelta(seconds=130)
    clock.advance(60)
    fourth = registry.record_probe_failure("production", "status: no answer", 3)
    assert not fourth.paused_now and fourth.pause is not None
    assert fourth.pause.since == T0 + timedelta(seconds=130)  # paused since the third

    paused = registry.environment_pause("production")
    assert paused is not None and paused.paused and paused.failures == 4
    assert registry.environment_pause("staging") is None

    clock.advance(60)
    answered = registry.record_probe_success("production")
    assert answered.lifted is not None and answered.lifted.lifted_at == T0 + timedelta(seconds=250)
    assert registry.environment_pause("production") is None
    assert registry.record_probe_success("production").lifted is None  # nothing open

    # A streak that never reached the threshold closes without having paused anything.
    registry.record_probe_failure("production", "status: HTTP 502", 3)
    assert registry.record_probe_success("production").lifted is None
    history = registry.environment_pauses("production")
    assert [(p.failures, p.since is not None, p.lifted_at is not None) for p in history] == [
        (1, False, True),
        (4, True, True),
    ]


def test_a_threshold_of_one_pauses_at_the_first_failure(registry: Registry) -> None:
    recorded = registry.record_probe_failure("production", "platform API: HTTP 502", 1)
    assert recorded.paused_now
    assert registry.environment_pause("production") is not None
