"""One deployment, start to finish: the env gate, the release's start and verification, the
strategy's plan of traffic steps with a bake at each, then an ending.

The parts: the run state (:mod:`.state`: the registry record, write-ahead transitions,
events), the plan (:mod:`.strategies`), the bake (:mod:`safeship.analysis.bake`, which returns
how it ended) and its watchers (:mod:`.watchers`), and the endings (:mod:`.endings`). The
release and the router are separate processes: this module only starts them, moves weights
and acts on the bake's verdicts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from safeship.analysis.bake import (
    Bake,
    BakeOutcome,
    BakePhase,
    Clock,
    LatencyWatch,
    SystemClock,
    Watcher,
)
from safeship.analysis.judge import BakeDecision, CanaryBake
from safeship.analysis.rules import Verdict
from safeship.config.models import EnvironmentSettings
from safeship.gates.base import GateContext
from safeship.gates.runner import GateRunner, GateStop
from safeship.health.resolve import ResolveError
from safeship.health.verify import reason as check_reason
from safeship.health.verify import run_baseline, stopping, verify_levels_2_3
from safeship.pipeline.fleet import (
    HOST_WATCH_INTERVAL,
    Fleet,
    HostWatch,
    backend_of,
    fleet_router,
    fleet_target,
    host_of,
    verify_instances,
    without_hosts,
)
from safeship.pipeline.rollout import endings
from safeship.pipeline.rollout.endings import Releases
from safeship.pipeline.rollout.outcome import DeploymentOutcome, DeployRefused, Interrupted
from safeship.pipeline.rollout.state import RunState
from safeship.pipeline.rollout.strategies import Plan, Step, Strategy
from safeship.pipeline.rollout.watchers import (
    ChecksWatch,
    DbPoolWatch,
    HealthWatch,
    ProcessExit,
    ResourcesWatch,
)
from safeship.pipeline.states import TAKES_TRAFFIC, TERMINAL, Status
from safeship.registry.records import DeploymentNotes
from safeship.routing.base import Backend, BackendStats, RouterError
from safeship.targets.base import FleetRelease, HostUnreachable, Release, TargetError

# Makes the gates' context for this deployment (once its row exists).
GateContexts = Callable[[RunState, Releases], GateContext]


class EnvGate(Protocol):
    def __call__(self) -> list[str]:
        """The environment's problems against its schema (redacted); [] when valid."""
        ...


class Rollout:
    """Runs one deployment to its ending."""

    def __init__(
        self,
        state: RunState,
        releases: Releases,
        settings: EnvironmentSettings,
        strategy: Strategy,
        *,
        bakes: bool = True,
        env_gate: EnvGate | None = None,
        gates: GateRunner | None = None,
        gate_context: GateContexts | None = None,
        run_dir: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.state = state
        self.releases = releases
        self.settings = settings
        self.strategy = strategy
        self.bakes = bakes  # False: a manual rollback, traffic moves at once with no bake
        self.env_gate = env_gate
        # The environment's gates (safeship.gates): checks before the release, and the steps
        # right before it starts; their context is made once, when the first gate runs.
        self.gates = gates if gates else None
        self._gate_context = gate_context
        self._context: GateContext | None = None
        # Where a rollback writes its registry update before moving traffic (pipeline.intent).
        self.run_dir = run_dir
        self.clock = clock or SystemClock()
        self.plan = Plan(strategy.name, ())  # the real one once the stable release is known

    def start(self, notes: DeploymentNotes) -> str:
        """Refuse a version already serving, else plan the rollout and create its record
        (pending, with ``notes``, its strategy and the stable release); its id."""
        router = self.releases.router
        router.ensure_running()
        backends = router.backends()
        version = self.releases.version
        if any(b.name == version and b.weight > 0 for b in backends):
            raise DeployRefused(f"{version} is already serving {self.state.environment}")
        stable = self.releases.stable = _serving_backend(backends, exclude=version)
        self.plan = self.strategy.plan(
            self.settings, has_stable=stable is not None, bakes=self.bakes
        )
        return self.state.create(
            dataclasses.replace(
                notes,
                strategy=self.plan.strategy,
                stable_version=stable.name if stable else None,
            )
        )

    def execute(self) -> DeploymentOutcome:
        """The stages after :meth:`start`, to an ending; Ctrl-C leaves as :class:`Interrupted`
        (its outcome attached), any other error after the environment is put back."""
        state = self.state
        state.emit("deployment.started", strategy=self.strategy.name)
        try:
            failure = self.validate_env()
            if failure is None:
                stop = self.check_gates()
                if stop is not None and stop.aborted:
                    return endings.abort(state, self.releases, stop.reason)
                failure = stop.reason if stop else None
            failure = failure or self.start_release() or self.verify_release()
            if failure:
                return endings.fail(state, failure)
            return self.shift_traffic()
        # Ctrl-C, SIGTERM, a router outage: never leave the environment half-shifted.
        except BaseException as exc:
            reason = _interruption_reason(exc)
            if state.status in TAKES_TRAFFIC:
                rule = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
                verdict = Verdict(rule, reason, {"status": state.status.value})
                outcome = endings.roll_back(state, self.releases, verdict, self.run_dir)
            elif state.status in TERMINAL:
                raise
            else:
                outcome = endings.abort(state, self.releases, reason)
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(outcome) from exc
            raise

    # -- before traffic -------------------------------------------------------------------

    def validate_env(self) -> str | None:
        """The env gate: an invalid environment fails the deployment before any release starts."""
        if self.env_gate is None:
            return None
        state = self.state
        state.advance(Status.VALIDATING)
        state.emit("stage.started", stage="env")
        state.progress()
        problems = self.env_gate()
        if problems:
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            reason = f"environment check failed ({count}): " + "; ".join(problems)
            state.emit("stage.failed", stage="env", reason=reason, problems=problems)
            return reason
        state.emit("stage.passed", stage="env")
        return None

    def check_gates(self) -> GateStop | None:
        """The gates before the release (approval last): the first that stops says why."""
        if self.gates is None or not self.gates.checks:
            return None
        if self.state.status is Status.PENDING:
            self.state.advance(Status.VALIDATING)
            self.state.progress()
        return self.gates.run_checks(self.gate_context())

    def gate_context(self) -> GateContext:
        if self._context is None:
            assert self._gate_context is not None, "gates need a context factory"
            self._context = self._gate_context(self.state, self.releases)
        return self._context

    def start_release(self) -> str | None:
        state = self.state
        state.advance(Status.DEPLOYING)
        if self.gates is not None and self.gates.before_release:
            # The steps right before the release starts (the real migration), in deploying.
            stop = self.gates.run_before_release(self.gate_context())
            if stop is not None:
                return stop.reason
        state.emit("stage.started", stage="deploy")
        state.progress()
        try:
            release = self.deploy_release()
        except TargetError as exc:
            state.emit("stage.failed", stage="deploy", reason=str(exc))
            return str(exc)
        self.releases.release = release
        # Where the release runs is recorded by this event (the registry keeps it with the rest).
        state.emit("stage.passed", stage="deploy", port=release.port, pid=release.pid)
        return None

    def deploy_release(self) -> Release:
        """Start the release: on one machine, or on a fleet's first hosts (the canary hosts,
        or the first batch), a host that does not answer taken out while the budget allows."""
        releases, state = self.releases, self.state
        fleet_of = fleet_target(releases.target)
        if fleet_of is None:
            return releases.target.deploy(state.version, commit=state.commit)
        fleet = releases.fleet = Fleet(fleet_of, fleet_of.rollout_plan())
        release = fleet.start(
            fleet.plan.first,
            lambda hosts: fleet_of.deploy_on(state.version, hosts, commit=state.commit),
            self.host_out,
        )
        if release is None:
            raise TargetError(f"no host answered: {'; '.join(fleet.out.values())}")
        return release

    def verify_release(self) -> str | None:
        release = self._release()
        state = self.state
        state.advance(Status.VERIFYING)
        state.emit("stage.started", stage="verify")
        state.progress()
        reason = self.verify_instances(release, release.urls)
        if reason is None:
            reason = self.verify_deep_and_smoke(release)
        if reason:
            state.emit("stage.failed", stage="verify", reason=reason)
            self.releases.stop_release()
            return reason
        state.emit("stage.passed", stage="verify")
        return None

    def verify_instances(self, release: Release, urls: Sequence[str]) -> str | None:
        """Level 1 on each of the release's addresses (a fleet's hosts at once); why it
        stops, naming the host."""
        target = self.releases.target
        checked = verify_instances(
            release, self.settings.health, lambda: target.is_alive(release), urls
        )
        self.state.record_checks([result for _, result in checked])
        for url, result in checked:
            if result.status == "ok":
                continue
            host = host_of(release, url)
            on = f" on host {host}" if host else ""
            if not target.is_alive(release):
                return (
                    f"release {self.state.version} exited{on} before it became healthy "
                    f"({result.detail})"
                )
            return f"health check failed{on}: {result.detail}"
        return None

    def verify_deep_and_smoke(self, release: Release) -> str | None:
        """Levels 2 and 3 (when configured), before any traffic moves; why they stop it."""
        health = self.settings.health
        try:
            results = verify_levels_2_3(release.url, health)
        except ResolveError as exc:
            return f"health checks cannot run: {exc}"
        self.state.record_checks(results)
        failed = stopping(results, health.fail_on_degraded)
        return check_reason(failed) if failed else None

    # -- traffic --------------------------------------------------------------------------

    def shift_traffic(self) -> DeploymentOutcome:
        release = self._release()
        state, releases, settings = self.state, self.releases, self.settings
        checks = ChecksWatch(release, settings)
        health = HealthWatch(release, settings)
        try:
            bake = self.new_bake(release, health, checks)
            releases.mark_start()
            verdict = self.move_traffic(bake)
        finally:
            checks.close()
            health.close()
        if verdict is not None:
            return endings.roll_back(state, releases, verdict, self.run_dir)
        return endings.promote(state, releases)

    def new_bake(self, release: Release, health: HealthWatch, checks: ChecksWatch) -> Bake:
        """The bake of every step, pause and monitoring window, its watchers built once so
        consecutive and sustained rules carry across them."""
        state, settings = self.state, self.settings
        watchers: list[Watcher] = [health, checks]
        # The rules' one-off reads (a scan of the process table, a registry query) happen now,
        # not beside the canary's first requests, which would look slower for it.
        watchers.append(LatencyWatch(settings.rollback, state.stored_baseline_p95()))
        fleet, router = self.releases.fleet, fleet_router(self.releases.router)
        if release.pid is not None and fleet is None:  # sampled here: this machine's process
            watchers.append(ResourcesWatch(release.pid, settings.rollback, self.clock.now()))
        watchers.append(DbPoolWatch(checks, settings.rollback))
        guards: list[Watcher] = [
            ProcessExit(
                self.releases.target,
                self._release,
                settings.rollback,
                # A fleet's instances are asked over SSH: twice a second, not at every poll.
                interval=HOST_WATCH_INTERVAL if fleet is not None else 0.0,
            )
        ]
        if fleet is not None and router is not None:
            guards.append(HostWatch(fleet, router, self._fleet_release, self.host_out))
        return Bake(
            self.releases.metrics,
            settings.rollback,
            guards=guards,
            watchers=watchers,
            requests=state.read_request,
            on_poll=self._on_poll,
            clock=self.clock,
        )

    def move_traffic(self, bake: Bake) -> Verdict | None:
        """The plan's steps, each baked (and paused at, if asked), then the baseline and the
        monitoring window; the verdict that ends it early, else None (promote)."""
        state = self.state
        for step in self.plan.steps:
            if step.weight >= 100:
                # Every host runs the release before it takes all traffic.
                verdict = self.start_batches(bake)
                if verdict is not None:
                    return verdict
            state.step = step.weight
            state.advance(Status.PROGRESSING, current_step=step.weight)
            self.set_weights(step.weight)
            if not self.plan.bakes:
                continue
            verdict = self.bake_step(bake, step).verdict
            if verdict is None and step.pause and self.releases.stable is not None:
                verdict = self.pause(bake, step.weight).verdict
            if verdict is not None:
                return verdict
        if not self.plan.bakes:
            return None
        return self.check_baseline() or self.monitor(bake)

    def _on_poll(self, window: dict[str, BackendStats], decision: BakeDecision | None) -> None:
        if decision is not None:
            self.state.judgement = decision
            self.state.save_judgement()
        self.state.progress(window)

    def set_weights(self, step: int) -> None:
        backends = self.apply_weights(step)
        stable = self.releases.stable
        if stable and step >= 100:
            # The drain's clock: monotonic time.
            self.releases.left_traffic[stable.name] = time.monotonic()
        self.state.emit("traffic.shifted", step=step, weights={b.name: b.weight for b in backends})

    def apply_weights(self, step: int | None) -> list[Backend]:
        """The router's backends for the new release at ``step`` (None: before traffic, the
        stable alone), a fleet's hosts out of traffic left out of both."""
        release, stable = self._release(), self.releases.stable
        out = self.releases.out_hosts()
        backends = [backend_of(release, step, out=out)] if step is not None else []
        if stable and (step is None or step < 100):
            backends.append(without_hosts(replace(stable, weight=100 - (step or 0)), out))
        self.releases.router.set_backends(backends)
        return backends

    # -- hosts ----------------------------------------------------------------------------

    def start_batches(self, bake: Bake) -> Verdict | None:
        """A fleet's batches after its first hosts: each started at once, verified, given its
        share of the current weight and baked before the next (Ansible's `serial`)."""
        fleet, state = self.releases.fleet, self.state
        if fleet is None or not fleet.plan.batches:
            return None
        count = len(fleet.plan.batches)
        for number, batch in enumerate(fleet.plan.batches, 1):
            hosts = [h for h in batch if h not in fleet.out]
            if not hosts:
                continue
            state.emit("batch.started", hosts=hosts, batch=number, batches=count)
            state.progress()
            before = self._fleet_release()
            try:
                grown = fleet.start(
                    hosts,
                    lambda more: fleet.target.extend(self._fleet_release(), more),
                    self.host_out,
                )
            except TargetError as exc:
                state.emit("batch.failed", hosts=hosts, batch=number, reason=str(exc))
                rule = "host_unavailable" if isinstance(exc, HostUnreachable) else "batch"
                return Verdict(rule, str(exc), {"batch": number, "hosts": hosts})
            if grown is None:
                continue  # every host of the batch out, within max_unavailable
            self.releases.release = grown
            added = [i.url for i in grown.instances if i.host not in before.hosts]
            reason = self.verify_instances(grown, added)
            if reason is not None:
                state.emit("batch.failed", hosts=hosts, batch=number, reason=reason)
                return Verdict("batch", reason, {"batch": number, "hosts": hosts})
            if state.step is not None:
                self.apply_weights(state.step)  # the batch takes its share of the weight
            if self.plan.bakes and self.settings.bake_time > 0:
                verdict = bake.run(self.phase(self.settings.bake_time)).verdict
                if verdict is not None:
                    state.emit("batch.failed", hosts=hosts, batch=number, reason=verdict.reason)
                    return verdict
            state.emit("batch.passed", hosts=hosts, batch=number, batches=count)
        return None

    def host_out(self, host: str, reason: str) -> None:
        """Take ``host`` out of traffic (it stopped answering): its servers leave the router,
        its instance is forgotten (stopped if it still answers)."""
        fleet = self.releases.fleet
        assert fleet is not None
        release = self.releases.release
        if isinstance(release, FleetRelease) and host in release.hosts:
            try:
                self.releases.release = fleet.target.drop(release, host)
            except TargetError:
                self.releases.release = release.without(host)
        if self.releases.release is not None:
            with contextlib.suppress(RouterError):  # the router's own checks keep it out too
                self.apply_weights(self.state.step)
        self.state.emit(
            "host.unavailable",
            host=host,
            reason=reason,
            unavailable=sorted(fleet.out),
            max_unavailable=fleet.plan.max_unavailable,
        )

    def _fleet_release(self) -> FleetRelease:
        release = self._release()
        assert isinstance(release, FleetRelease)
        return release

    def phase(
        self, seconds: float, *, analysis: CanaryBake | None = None, paused: bool = False
    ) -> BakePhase:
        stable = self.releases.stable
        return BakePhase(
            self.state.version,
            stable.name if stable else None,
            self.state.step,
            self.state.status,
            seconds,
            analysis=analysis,
            paused=paused,
        )

    def bake_step(self, bake: Bake, step: Step) -> BakeOutcome:
        """A traffic step's bake, judged by the canary judge at a judged step."""
        judge = self.settings.analysis
        analysis = None
        if step.judged and judge is not None and self.releases.stable is not None:
            analysis = CanaryBake(judge, self.settings.bake_time)
        try:
            outcome = bake.run(self.phase(self.settings.bake_time, analysis=analysis))
        finally:
            if analysis is not None:
                self.state.save_judgement(force=True)
                self.state.judgement = None
        if outcome.ending == "healthy" and outcome.decision is not None:
            # A pass by nodata_policy says so here, too.
            self.state.emit(
                "stage.passed",
                stage="analysis",
                step=self.state.step,
                reason=outcome.decision.reason,
            )
        return outcome

    def pause(self, bake: Bake, step: int) -> BakeOutcome:
        """Wait at ``step`` for `safeship promote` (next step) or `safeship abort` (roll back),
        the rules still running; no answer in ``pause_timeout`` seconds rolls back."""
        timeout = self.settings.pause_timeout
        self.state.mark_paused(step)
        self.state.emit("stage.started", stage="pause", step=step, timeout=timeout)
        try:
            outcome = bake.run(self.phase(timeout, paused=True))
        finally:
            self.state.clear_pause()
        if outcome.ending != "rollback":
            self.state.emit("stage.passed", stage="pause", step=step)
        return outcome

    def monitor(self, bake: Bake) -> Verdict | None:
        """After full traffic, keep the rules running while the old release is kept warm for
        a rollback (the plan's ``keep_warm``)."""
        seconds = self.plan.keep_warm
        if seconds <= 0 or self.releases.stable is None:
            return None
        self.state.advance(Status.MONITORING)
        self.state.emit("stage.started", stage="monitor", seconds=seconds)
        verdict = bake.run(self.phase(seconds)).verdict
        if verdict is None:
            self.state.emit("stage.passed", stage="monitor")
        return verdict

    def check_baseline(self) -> Verdict | None:
        """Level 4 before promotion: sample the release, store it, compare with the last good."""
        release, state = self._release(), self.state
        health = self.settings.health
        if health.baseline is None:
            return None
        previous = state.last_succeeded()
        report = run_baseline(
            release.url,
            health.baseline,
            # Sampled on this machine: a fleet's processes run elsewhere.
            pid=release.pid if self.releases.fleet is None else None,
            previous=state.baseline_of(previous),
            previous_version=previous.version if previous else None,
            max_connections=health.max_connections,
        )
        state.record_baseline(report)
        state.record_checks([report.result])
        if report.result.status == "failed":
            figures = {"regressions": report.regressions, **report.current.as_dict()}
            return Verdict("baseline", check_reason(report.result), figures)
        return None

    def _release(self) -> Release:
        assert self.releases.release is not None
        return self.releases.release


def _serving_backend(backends: list[Backend], exclude: str) -> Backend | None:
    """The release that serves the environment now: the one with the most weight."""
    serving = [b for b in backends if b.weight > 0 and b.name != exclude]
    return max(serving, key=lambda b: b.weight) if serving else None


def _interruption_reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "deploy interrupted (SIGINT/SIGTERM)"
    text = str(exc).strip().splitlines()
    return f"deploy stopped by an error: {text[0] if text else type(exc).__name__}"
