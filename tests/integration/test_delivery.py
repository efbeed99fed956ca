"""Progressive delivery with real deploys: the canary judge, monitoring after full traffic."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

from safeship.config import load_config
from safeship.demo.load import NO_RELEASE, LoadGenerator
from safeship.pipeline import operations
from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
from safeship.pipeline.states import Status
from safeship.registry import Registry
from safeship.registry.records import RequestRecord
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
LoadFactory = Callable[..., LoadGenerator]

# Small samples and short waits, so a judged canary step takes a few seconds at 100 req/s.
JUDGE = """
[environments.local.analysis]
min_requests = 20
min_latency_samples = 20
warmup = 0.5
sustain = 0.5
nodata_extension = 5
"""
# The fixed error-rate rule needs more requests than a test sends: only the judge can act.
FIXED_RULE_OFF = 100_000


def serving(ws: Workspace) -> dict[str, int]:
    return {b.name: b.weight for b in ws.environment().router.backends()}


def versions_running(ws: Workspace) -> list[str]:
    return sorted(r.version for r in ws.environment().target.releases())


def test_judge_rolls_back_a_canary_with_more_errors_than_stable(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(
        behaviours={"bad": "error_rate=0.2"},
        min_requests=FIXED_RULE_OFF,
        tables=JUDGE,
        bake_time=0.2,  # a first deploy bakes too: the stable goes in quickly
    )
    assert operations.deploy(ws.loaded, ENV, "good").ok
    ws.set_bake_time(1.0)
    load = load_factory(ws.url, rate=100)
    judged: list[LiveSnapshot] = []

    def watch(s: LiveSnapshot) -> None:
        if s.judgement is not None:
            judged.append(s)

    outcome = operations.deploy(ws.loaded, ENV, "bad", on_progress=watch)
    totals = load.stop()
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason is not None
    assert outcome.reason.startswith("canary analysis failed: error_rate: high (canary ")
    assert "vs stable 0.00%" in outcome.reason
    assert serving(ws) == {"good": 100}
    assert versions_running(ws) == ["good"]
    assert judged and {s.step for s in judged} == {10}
    assert totals.failed["good"] == 0 and totals.failed[NO_RELEASE] == 0
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
    assert record is not None and record.rollback_reason == outcome.reason
    [judged_step, _] = record.steps  # the judged step, then the final traffic totals
    assert judged_step.weight == 10 and judged_step.verdict == "fail"
    assert judged_step.error_verdict == "high"
    assert judged_step.canary_error_rate is not None and judged_step.canary_error_rate > 0.1
    assert judged_step.stable_error_rate == 0.0
    assert judged_step.canary_requests is not None and judged_step.canary_requests >= 20
    status = subprocess.run(
        [*ws.cli(), "status", ENV],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "COLUMNS": "160"},
    ).stdout
    assert "canary analysis at 10%: score" in status
    assert "error_rate" in status and "latency" in status and "high" in status


def test_judge_passes_a_healthy_canary_through_every_step(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(tables=JUDGE, bake_time=0.2)  # a first deploy bakes too: quickly
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    ws.set_bake_time(1.0)
    load = load_factory(ws.url, rate=100)
    decisions: dict[int | None, str] = {}

    def watch(s: LiveSnapshot) -> None:
        if s.judgement is not None:
            decisions[s.step] = s.judgement.decision

    outcome = operations.deploy(ws.loaded, ENV, "v2", on_progress=watch)
    load.stop()
    assert outcome.status is Status.SUCCEEDED, outcome.reason
    assert decisions == {10: "pass", 50: "pass"}  # 100% has no stable traffic to compare
    assert serving(ws) == {"v2": 100}
    assert versions_running(ws) == ["v2"]
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
        events = registry.events(outcome.deployment_id)
    assert record is not None
    # One row per judged step (10 and 50), then the final traffic totals.
    *judged_steps, final = record.steps
    assert [(s.step_index, s.weight, s.verdict) for s in judged_steps] == [
        (0, 10, "pass"),
        (1, 50, "pass"),
    ]
    assert judged_steps[-1].score == 100.0
    assert (judged_steps[-1].reason or "").startswith("canary analysis passed: score 100")
    assert final.verdict == "promoted" and final.canary_requests
    assert record.health_score is not None and record.error_count == 0
    passed = [
        e.attributes["attributes"]
        for e in events
        if e.name == "stage.passed" and e.attributes["attributes"]["stage"] == "analysis"
    ]
    assert [p["step"] for p in passed] == [10, 50]
    assert all(p["reason"].startswith("canary analysis passed") for p in passed)


def test_release_turning_unhealthy_while_monitoring_rolls_back_to_the_previous(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(
        # Late enough to be reached in the monitor window even on a loaded machine (at 2.5 s
        # v2 sometimes turned unhealthy before its step's bake was over).
        behaviours={"v2": "unhealthy_after=6"},
        steps=(100,),
        bake_time=0.5,
        settings="monitor_time = 15",
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    running_while_monitoring: list[list[str]] = []

    def watch(s: LiveSnapshot) -> None:
        if s.status is Status.MONITORING and not running_while_monitoring:
            running_while_monitoring.append(versions_running(ws))
            assert s.weights == {"v2": 100}

    outcome = operations.deploy(ws.loaded, ENV, "v2", on_progress=watch)
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "health check answered HTTP 500"
    # The previous release kept running through the window, so the rollback had it at hand.
    assert running_while_monitoring == [["v1", "v2"]]
    assert serving(ws) == {"v1": 100}
    assert versions_running(ws) == ["v1"]
    with Registry(ws.loaded.registry_url()) as registry:
        events = registry.events(outcome.deployment_id)
    stages = [e.attributes["attributes"]["stage"] for e in events if e.name == "stage.started"]
    assert stages[-1] == "monitor"
    rollback = next(e for e in events if e.name == "rollback.triggered")
    assert rollback.attributes["attributes"]["reason"] == outcome.reason
    assert rollback.attributes["attributes"]["rule"] == "health_5xx"
    assert rollback.attributes["attributes"]["figures"]["http_status"] == 500


def test_blue_green_switches_at_once_and_stops_blue_after_keeping_it_warm(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(
        strategy="blue-green",
        bake_time=0.5,
        tables="[environments.local.blue_green]\nkeep_warm = 1.5\n",
    )
    assert operations.deploy(ws.loaded, ENV, "blue").ok
    load = load_factory(ws.url, rate=50)
    seen: list[tuple[Status, int | None, dict[str, int]]] = []
    warm: list[list[str]] = []

    def watch(s: LiveSnapshot) -> None:
        if not seen or seen[-1][:2] != (s.status, s.step):
            seen.append((s.status, s.step, s.weights))
        if s.status is Status.MONITORING and not warm:
            warm.append(versions_running(ws))

    outcome = operations.deploy(ws.loaded, ENV, "green", on_progress=watch)
    totals = load.stop()
    assert outcome.status is Status.SUCCEEDED, outcome.reason
    traffic = [(status, step, weights) for status, step, weights in seen if weights]
    assert (Status.PROGRESSING, 100, {"green": 100}) in traffic
    assert (Status.MONITORING, 100, {"green": 100}) in traffic
    assert all(weights.get("green") in (None, 100) for _, _, weights in traffic)
    assert warm == [["blue", "green"]]
    assert serving(ws) == {"green": 100}
    assert versions_running(ws) == ["green"]
    assert sum(totals.failed.values()) == 0 and totals.ok["green"] > 0
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
    assert record is not None and record.strategy == "blue-green"


def test_blue_green_rolls_back_a_crashing_green_to_warm_blue(
    workspace_factory: WorkspaceFactory, load_factory: LoadFactory
) -> None:
    ws = workspace_factory(
        # Late enough that green is switched to and kept-warm blue waits (monitor) when it
        # crashes, even on a loaded machine (at 2 s it sometimes crashed while being verified).
        behaviours={"green": "crash_after=6"},
        strategy="blue-green",
        bake_time=0.5,
        # Requests cut by the crash must not trip the error-rate rule before the exit is seen
        # (a race a loaded machine loses): the rollback is the crash watcher's.
        min_requests=FIXED_RULE_OFF,
        tables="[environments.local.blue_green]\nkeep_warm = 15\n",
    )
    assert operations.deploy(ws.loaded, ENV, "blue").ok
    (blue,) = ws.environment().target.releases()
    load = load_factory(ws.url, rate=50)
    outcome = operations.deploy(ws.loaded, ENV, "green")
    totals = load.stop()
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "release green exited while serving traffic"
    assert serving(ws) == {"blue": 100}
    # The same blue process, kept warm: nothing had to start for the rollback.
    assert ws.environment().target.releases() == [blue]
    assert totals.failed["blue"] == 0 and totals.failed[NO_RELEASE] == 0
    assert totals.ok["blue"] > 0 and totals.ok["green"] > 0
    with Registry(ws.loaded.registry_url()) as registry:
        events = registry.events(outcome.deployment_id)
    stages = [e.attributes["attributes"]["stage"] for e in events if e.name == "stage.started"]
    assert stages[-1] == "monitor"  # green crashed while blue was kept warm
    triggered = next(e for e in events if e.name == "rollback.triggered").timestamp
    completed = next(e for e in events if e.name == "rollback.completed").timestamp
    assert (completed - triggered).total_seconds() < 1.0


def paused_deploy(ws: Workspace, answer: str) -> tuple[DeploymentOutcome, str]:
    """Deploy v2 in a thread; once it is paused, answer with the CLI; its outcome and output."""
    paused = threading.Event()

    def watch(s: LiveSnapshot) -> None:
        if s.paused:
            assert s.step == 10 and s.weights == {"v1": 90, "v2": 10}
            paused.set()

    outcomes: list[DeploymentOutcome] = []
    deploy = threading.Thread(
        target=lambda: outcomes.append(operations.deploy(ws.loaded, ENV, "v2", on_progress=watch))
    )
    deploy.start()
    try:
        assert paused.wait(timeout=120), "the deployment never paused"
        answered = subprocess.run(
            [*ws.cli(), answer, ENV],
            cwd=ws.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        deploy.join(timeout=120)
    assert not deploy.is_alive() and len(outcomes) == 1
    return outcomes[0], answered.stdout


def test_pause_at_a_step_waits_for_safeship_promote(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory(bake_time=0.3, settings="pause_at = [10]")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    not_paused = subprocess.run(
        [*ws.cli(), "promote", ENV], cwd=ws.root, capture_output=True, text=True, timeout=120
    )
    assert not_paused.returncode == 1 and "no deployment of local is paused" in not_paused.stderr
    outcome, output = paused_deploy(ws, "promote")
    assert "promote requested for v2 (paused at 10%)" in output
    assert outcome.status is Status.SUCCEEDED, outcome.reason
    assert serving(ws) == {"v2": 100}
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
    assert record is not None
    assert record.paused_at is None
    [promote] = registry_requests(ws, record.id)
    assert promote.kind == "promote" and promote.handled_at is not None


def registry_requests(ws: Workspace, deployment_id: str) -> list[RequestRecord]:
    with Registry(ws.loaded.registry_url()) as registry:
        return registry.requests(deployment_id)


def rollback_figures(ws: Workspace, deployment_id: str) -> object:
    """The figures of the deployment's rollback.triggered event (the rule's evidence)."""
    with Registry(ws.loaded.registry_url()) as registry:
        events = registry.events(deployment_id)
    [triggered] = [e for e in events if e.name == "rollback.triggered"]
    return triggered.attributes["attributes"]["figures"]


def test_safeship_abort_at_a_pause_rolls_back(workspace_factory: WorkspaceFactory) -> None:
    ws = workspace_factory(bake_time=0.3, settings="pause_at = [10]")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    outcome, output = paused_deploy(ws, "abort")
    assert "abort requested for v2 (paused at 10%)" in output
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "aborted at 10% by `safeship abort`"
    assert serving(ws) == {"v1": 100}
    assert versions_running(ws) == ["v1"]
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
    assert record is not None and record.rollback_rule == "manual"
    assert rollback_figures(ws, record.id) == {
        "step": 10,
        "status": "progressing",
        "by": "safeship abort",
    }


def test_pause_without_an_answer_rolls_back_after_its_timeout(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory(bake_time=0.3, settings="pause_at = [10]\npause_timeout = 1")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    outcome = operations.deploy(ws.loaded, ENV, "v2")
    assert outcome.status is Status.ROLLED_BACK
    assert outcome.reason == "paused at 10% for 1 s without `safeship promote`"
    assert serving(ws) == {"v1": 100}
    with Registry(ws.loaded.registry_url()) as registry:
        record = registry.get(outcome.deployment_id)
    assert record is not None and record.rollback_rule == "pause_timeout"
    assert rollback_figures(ws, record.id) == {"step": 10, "timeout_s": 1.0}


# Slow requests through a promotion and a rollback. Issue 11's acceptance is 300 req/s of
# 2 s requests (SAFESHIP_DRAIN_RATE=300 SAFESHIP_DRAIN_LATENCY_MS=2000); the suite runs 100
# req/s of 4 s requests: on a loaded 2-core machine the builtin router's admin API times out at
# 300 req/s, and a switch-to-stop gap of ~2 s would let 2 s requests finish even undrained.
RATE = float(os.environ.get("SAFESHIP_DRAIN_RATE", "100"))
LATENCY_MS = int(os.environ.get("SAFESHIP_DRAIN_LATENCY_MS", "4000"))


class SlowLoad:
    """``rate`` requests a second through the router, as many in flight as it takes (the demo's
    LoadGenerator caps concurrency); each answer counted by (release, HTTP status), a request
    without an answer as (NO_RELEASE, 0)."""

    def __init__(self, url: str, rate: float, max_seconds: float = 90.0) -> None:
        self.url = url + "/api/v1/items"
        self.rate = rate
        self.max_seconds = max_seconds
        self.answers: Counter[tuple[str, int]] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=LATENCY_MS / 1000 + 20)
        connector = aiohttp.TCPConnector(limit=0)  # kept alive: less work for the router
        started = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            n = 0
            while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
                task = asyncio.create_task(self._one(session))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
                delay = started + n / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if tasks:
                _, unfinished = await asyncio.wait(tasks, timeout=25)
                self.answers[(NO_RELEASE, 0)] += len(unfinished)

    async def _one(self, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(self.url) as response:
                await response.read()
                key = (response.headers.get("X-Safeship-Release", NO_RELEASE), response.status)
        except Exception:  # any request without an answer is a failure
            key = (NO_RELEASE, 0)
        self.answers[key] += 1

    def stop(self) -> Counter[tuple[str, int]]:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the load did not finish"
        return self.answers


def drained_attribute(ws: Workspace, deployment_id: str, event: str) -> dict[str, Any]:
    with Registry(ws.loaded.registry_url()) as registry:
        events = registry.events(deployment_id)
    found = [e.attributes["attributes"] for e in events if e.name == event]
    assert len(found) == 1, [e.name for e in events]
    drained: dict[str, Any] = found[0]["drained"]
    return drained


def test_requests_in_flight_finish_through_promotion_and_rollback(
    workspace_factory: WorkspaceFactory,
) -> None:
    """Slow requests under load: the release leaving traffic is stopped only once they are
    answered, so no client sees an error but the bad release's own 500s."""
    slow = f"latency_ms={LATENCY_MS}"
    ws = workspace_factory(
        behaviours={"v1": slow, "v2": slow, "v3": slow + ",error_rate=0.5"},
        steps=(50, 100),
        # Far shorter than a request: without the drain, v1 would stop with hundreds in flight.
        bake_time=0.5,
        min_requests=20,
    )
    # A stop gives a release 1 s to exit before SIGKILL: requests still running are cut then.
    path = ws.root / "safeship.toml"
    path.write_text(path.read_text().replace("env = {", "stop_timeout = 1\nenv = {", 1))
    ws.loaded = load_config(path)
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    load = SlowLoad(ws.url, rate=RATE)
    try:
        promoted = operations.deploy(ws.loaded, ENV, "v2")
        assert promoted.status is Status.SUCCEEDED, promoted.reason
        assert versions_running(ws) == ["v2"]
        # The error-rate rule needs answers, which come LATENCY_MS after the shift.
        ws.set_bake_time(2 * LATENCY_MS / 1000 + 4)
        rolled = operations.deploy(ws.loaded, ENV, "v3")
        assert rolled.status is Status.ROLLED_BACK, rolled.reason
        assert rolled.reason is not None and rolled.reason.startswith("error rate ")
        assert serving(ws) == {"v2": 100}
        assert versions_running(ws) == ["v2"]
    finally:
        answers = load.stop()
    failures = {k: n for k, n in answers.items() if n and (k[1] >= 500 or k[1] == 0)}
    # The bad release's own answers (HTTP 500), and nothing else: no 502 of a cut request.
    assert set(failures) <= {("v3", 500)}, failures
    assert answers[("v1", 200)] > 0 and answers[("v2", 200)] > 0 and answers[("v3", 200)] > 0
    # Each stop is recorded with what it waited for.
    stopped_v1 = drained_attribute(ws, promoted.deployment_id, "deployment.succeeded")
    stopped_v3 = drained_attribute(ws, rolled.deployment_id, "rollback.completed")
    assert stopped_v1["release"] == "v1" and stopped_v3["release"] == "v3"
    assert stopped_v3["drained"] > 0, stopped_v3  # v3 had requests in flight at the switch
    for stopped in (stopped_v1, stopped_v3):
        assert not stopped["timed_out"] and stopped["in_flight_left"] in (0, None), stopped
