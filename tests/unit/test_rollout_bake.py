"""analysis.bake: the bake returns how it ended (healthy, promoted, or the rule that fired),
on in-memory traffic whose clock moves only when the bake sleeps."""

from __future__ import annotations

from collections.abc import Iterator

from safeship.analysis import CanaryBake, JudgeSettings
from safeship.analysis.bake import Bake, BakeOutcome, BakePhase, LatencyWatch, ManualRequest
from safeship.analysis.metrics import RouterMetrics
from safeship.config.models import RollbackRules
from safeship.deployment_status import Status
from safeship.pipeline.rollout.watchers import ProcessExit
from safeship.routing.base import Backend, BackendStats
from testing.fakes import Behaviour, FakeClock, FakeRouter, FakeTarget

RULES = RollbackRules()


def canary_router(
    clock: FakeClock, canary: Behaviour, stable: Behaviour | None = None
) -> FakeRouter:
    return FakeRouter(
        clock,
        rate=200,
        behaviours={"v2": canary, "v1": stable or Behaviour()},
        backends=[Backend("v2", "", 10), Backend("v1", "", 90)],
    )


def phase(seconds: float = 5, **extra: object) -> BakePhase:
    return BakePhase("v2", "v1", 10, Status.PROGRESSING, seconds, **extra)  # type: ignore[arg-type]


def test_a_healthy_release_bakes_for_its_time() -> None:
    clock = FakeClock()
    bake = Bake(canary_router(clock, Behaviour()), RULES, clock=clock)
    began = clock.now()
    outcome = bake.run(phase(5))
    assert outcome == BakeOutcome("healthy")
    assert 5 <= clock.now() - began < 5.5


def test_the_error_rate_rule_returns_its_verdict() -> None:
    clock = FakeClock()
    outcome = Bake(canary_router(clock, Behaviour(error_rate=0.5)), RULES, clock=clock).run(
        phase(30)
    )
    assert outcome.ending == "rollback" and outcome.verdict is not None
    assert outcome.verdict.rule == "error_rate"
    assert outcome.verdict.figures["requests"] >= RULES.min_requests
    assert outcome.verdict.figures["error_rate"] == 0.5


def test_a_slow_canary_rolls_back_once_latency_held_for_the_canary_window() -> None:
    clock = FakeClock()
    router = canary_router(clock, Behaviour(latency_ms=100), Behaviour(latency_ms=10))
    bake = Bake(router, RULES, watchers=[LatencyWatch(RULES, None)], clock=clock)
    began = clock.now()
    outcome = bake.run(phase(60))
    assert outcome.verdict is not None and outcome.verdict.rule == "latency"
    assert outcome.verdict.figures["window_s"] == RULES.canary_window
    assert RULES.canary_window <= clock.now() - began < RULES.canary_window + 2


def test_the_judge_rolls_back_a_canary_worse_than_stable_below_the_error_rule() -> None:
    clock = FakeClock()
    router = canary_router(clock, Behaviour(error_rate=0.03))
    judge = JudgeSettings()
    outcome = Bake(router, RULES, clock=clock).run(phase(30, analysis=CanaryBake(judge, 30)))
    assert outcome.ending == "rollback" and outcome.verdict is not None
    assert outcome.verdict.rule == "canary_analysis"
    assert outcome.verdict.reason.startswith("canary analysis failed: error_rate: high")
    assert outcome.decision is not None and outcome.decision.action == "rollback"


def test_the_judge_passing_ends_the_bake_with_its_decision() -> None:
    clock = FakeClock()
    polls: list[object] = []
    bake = Bake(
        canary_router(clock, Behaviour()),
        RULES,
        on_poll=lambda window, decision: polls.append(decision),
        clock=clock,
    )
    outcome = bake.run(phase(20, analysis=CanaryBake(JudgeSettings(), 20)))
    assert outcome.ending == "healthy"
    assert outcome.decision is not None and outcome.decision.action == "promote"
    assert polls and polls[-1] is outcome.decision


def requests(*answers: ManualRequest | None) -> Iterator[ManualRequest | None]:
    yield from answers
    while True:
        yield answers[-1]


def test_a_manual_abort_returns_a_manual_verdict_naming_the_command() -> None:
    clock = FakeClock()
    asked = requests(None, None, ManualRequest("abort", "rollback"))
    bake = Bake(canary_router(clock, Behaviour()), RULES, requests=lambda: next(asked), clock=clock)
    outcome = bake.run(phase(30))
    assert outcome.verdict is not None and outcome.verdict.rule == "manual"
    assert outcome.verdict.reason == "aborted at 10% by `safeship rollback`"
    assert outcome.verdict.figures == {
        "step": 10,
        "status": "progressing",
        "by": "safeship rollback",
    }


def test_an_abort_from_the_dashboard_names_the_person() -> None:
    clock = FakeClock()
    asked = requests(ManualRequest("abort", "dashboard:alice"))
    bake = Bake(canary_router(clock, Behaviour()), RULES, requests=lambda: next(asked), clock=clock)
    outcome = bake.run(phase(30))
    assert outcome.verdict is not None
    assert outcome.verdict.reason == "aborted at 10% by `dashboard:alice`"
    assert outcome.verdict.figures["by"] == "dashboard:alice"


def test_an_abort_while_monitoring_says_so() -> None:
    clock = FakeClock()
    bake = Bake(
        canary_router(clock, Behaviour()),
        RULES,
        requests=lambda: ManualRequest("abort", "abort"),
        clock=clock,
    )
    outcome = bake.run(BakePhase("v2", "v1", 100, Status.MONITORING, 30))
    assert outcome.verdict is not None
    assert outcome.verdict.reason == "aborted at 100% while monitoring by `safeship abort`"


def test_a_promote_ends_a_pause_and_is_ignored_outside_one() -> None:
    clock = FakeClock()
    asked = requests(None, ManualRequest("promote", "promote"))
    bake = Bake(canary_router(clock, Behaviour()), RULES, requests=lambda: next(asked), clock=clock)
    assert bake.run(phase(600, paused=True)).ending == "promoted"
    began = clock.now()
    assert bake.run(phase(3)) == BakeOutcome("healthy")  # the bake's own time ends it
    assert clock.now() - began >= 3


def test_a_pause_without_an_answer_rolls_back_at_its_timeout() -> None:
    clock = FakeClock()
    began = clock.now()
    outcome = Bake(canary_router(clock, Behaviour()), RULES, clock=clock).run(
        phase(60, paused=True)
    )
    assert outcome.verdict is not None and outcome.verdict.rule == "pause_timeout"
    assert outcome.verdict.reason == "paused at 10% for 60 s without `safeship promote`"
    assert 60 <= clock.now() - began < 61


def test_a_guard_fires_before_the_figures_are_judged() -> None:
    clock = FakeClock()
    target = FakeTarget(port=1)
    release = target.serving("v2")
    target.dead.add("v2")
    router = canary_router(clock, Behaviour(error_rate=1.0))
    bake = Bake(router, RULES, guards=[ProcessExit(target, lambda: release, RULES)], clock=clock)
    outcome = bake.run(phase(30))
    assert outcome.verdict is not None and outcome.verdict.rule == "process_exit"
    assert outcome.verdict.reason == "release v2 exited while serving traffic"


class CannedMetrics:
    """A MetricSource that is no router (as a Prometheus one): totals grow by a fixed window
    at every read."""

    def __init__(self, per_read: dict[str, BackendStats]) -> None:
        self.per_read = per_read
        self.reads = 0

    def totals(self) -> dict[str, BackendStats]:
        self.reads += 1
        return {
            name: BackendStats(
                requests=s.requests * self.reads, responses_5xx=s.responses_5xx * self.reads
            )
            for name, s in self.per_read.items()
        }


def test_the_rules_read_any_metric_source() -> None:
    source = CannedMetrics(
        {"v2": BackendStats(requests=10, responses_5xx=2), "v1": BackendStats(requests=90)}
    )
    outcome = Bake(source, RULES, clock=FakeClock()).run(phase(30))
    assert outcome.verdict is not None and outcome.verdict.rule == "error_rate"
    assert outcome.verdict.figures["error_rate"] == 0.2
    assert source.reads == 3  # the start, then two polls: 20 requests are enough to judge


def test_the_routers_stats_are_the_first_metric_source() -> None:
    router = canary_router(FakeClock(), Behaviour())
    router.clock.sleep(1)
    assert RouterMetrics(router).totals() == router.stats()
