"""How a deployment ends: promoted, rolled back, failed before traffic, or aborted.

Each ending records its status (through the run state) and its events; promotion and
rollback also move or settle traffic and stop the release that leaves it once drained.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from safeship.analysis.metrics import CounterSource, MetricSource, Reading, metric_source
from safeship.analysis.rules import Verdict, health_score
from safeship.health.base import score as check_score
from safeship.pipeline.drain import Drained, drain
from safeship.pipeline.fleet import Fleet, without_hosts
from safeship.pipeline.intent import safe_clear, write_intent
from safeship.pipeline.rollout.outcome import DeploymentOutcome
from safeship.pipeline.rollout.state import RunState
from safeship.pipeline.states import Status
from safeship.redaction import redact, redact_data
from safeship.routing.base import Backend, BackendStats, Router
from safeship.targets.base import Release, Target


@dataclass
class Releases:
    """The releases in play: the new one (once started), the stable one it replaces, and the
    ports that move traffic between them."""

    version: str
    target: Target
    router: Router
    metrics: MetricSource | CounterSource
    drain_timeout: float
    stable: Backend | None = None
    release: Release | None = None
    # The metric source's reading when traffic started moving (None: not yet).
    stats_at_start: Reading = None
    # When each release left traffic (monotonic), for the drain before its stop.
    left_traffic: dict[str, float] = field(default_factory=dict)
    # The hosts of a release on several hosts (the ssh target): its plan, the hosts out.
    fleet: Fleet | None = None

    def out_hosts(self) -> Collection[str]:
        """The hosts taken out of traffic in this deployment (a fleet's unreachable ones)."""
        return self.fleet.out if self.fleet is not None else ()

    def mark_start(self) -> None:
        """Take the reading the figures since traffic started moving count from."""
        self.stats_at_start = metric_source(self.metrics).reading()

    def since_start(self) -> dict[str, BackendStats]:
        """Each release's figures since traffic started moving (nothing before it did)."""
        if self.stats_at_start is None:
            return {}
        metrics = metric_source(self.metrics)
        return metrics.window(self.stats_at_start, metrics.reading())

    def names(self) -> list[str]:
        return [self.version] + ([self.stable.name] if self.stable else [])

    def traffic(self) -> dict[str, dict[str, int]]:
        """Requests and errors per release since traffic started moving."""
        try:
            since = self.since_start()
        except Exception:
            return {}
        result = {}
        for name in self.names():
            delta = since.get(name, BackendStats())
            result[name] = {"requests": delta.requests, "errors": delta.errors}
        return result

    def rollout_window(self) -> dict[str, BackendStats]:
        """Stats per release since traffic started moving (for the final live frame)."""
        try:
            since = self.since_start()
        except Exception:
            return {}
        return {name: stats for name, stats in since.items() if name in self.names()}

    def drain(self, name: str) -> Drained:
        """Wait (bounded by the drain timeout since ``name`` left traffic) until the router has
        no request in flight to ``name``."""
        return drain(self.router, name, self.drain_timeout, since=self.left_traffic.get(name))

    def stop_release(self) -> None:
        if self.release is not None:
            # Stopping is cleanup: if it fails, the release files let `safeship down` finish it.
            with contextlib.suppress(Exception):
                self.target.stop(self.release)

    def stop_version(self, version: str) -> None:
        for release in self.target.releases():
            if release.version == version:
                self.target.stop(release)


def _served(traffic: dict[str, dict[str, int]], version: str) -> tuple[BackendStats, int]:
    mine = traffic.get(version, {"requests": 0, "errors": 0})
    return BackendStats(requests=mine["requests"], responses_5xx=mine["errors"]), mine["errors"]


def promote(state: RunState, releases: Releases) -> DeploymentOutcome:
    traffic = releases.traffic()
    served, errors = _served(traffic, releases.version)
    # The lower of the traffic's score and the health checks' score.
    score = min(health_score(served), check_score(state.checks))
    final = state.final_traffic(traffic, "promoted", 100)
    state.advance(Status.SUCCEEDED, completed=True, health_score=score, error_count=errors)
    state.record_final_traffic(final)
    # Success is recorded before the old release stops: a crash in between leaves a
    # promoted release and a leftover one (which recover and the next deploy stop), never
    # an open deployment whose stable is gone. It stops once drained.
    drained: dict[str, Any] = {}
    if releases.stable:
        name = releases.stable.name
        drained = {"drained": releases.drain(name).as_dict()}
        with contextlib.suppress(Exception):
            releases.stop_version(name)
    state.emit("deployment.succeeded", traffic=traffic, health_score=score, **drained)
    state.progress(releases.rollout_window())
    return DeploymentOutcome(state.deployment_id, state.version, Status.SUCCEEDED, None, traffic)


def roll_back(
    state: RunState, releases: Releases, verdict: Verdict, run_dir: Path | None
) -> DeploymentOutcome:
    """Send all traffic back to the stable release, record it, then stop the new one once
    drained; the rule that fired and its figures go to the registry and the event.

    The traffic switch never waits on the registry: the update is written ahead to an
    intent file in ``run_dir`` (pipeline.intent), the router moves, and only then is the
    registry written (a locked or unreachable registry delays the record, and recovery
    completes it from the intent). Each step is best effort: a failing registry or sink
    never keeps the router from being switched back.
    """
    reason = redact(verdict.reason)  # it may quote a release's output, hence a secret
    record = redact_data(verdict.as_record())
    # Only a local file before the switch: the traffic figures are read after it.
    update: dict[str, Any] = {
        "status": Status.ROLLED_BACK.value,
        "rollback_reason": reason,
        "completed": True,
        "rollback_rule": record["rule"],
    }
    intent = run_dir is not None
    if run_dir is not None:
        try:
            write_intent(run_dir, state.deployment_id, update)
        except OSError:
            intent = False  # a read-only run directory must not hold the switch either
    stable = releases.stable
    try:
        releases.router.set_backends(
            [without_hosts(replace(stable, weight=100), releases.out_hosts())] if stable else []
        )
    finally:
        releases.left_traffic[releases.version] = time.monotonic()
        traffic = releases.traffic()
        served, errors = _served(traffic, releases.version)
        state.emit(
            "rollback.triggered",
            reason=reason,
            step=state.step,
            rule=record["rule"],
            figures=record["figures"],
        )
        recorded = state.advance(
            Status.ROLLED_BACK,
            best_effort=True,
            rollback_reason=reason,
            completed=True,
            error_count=errors,
            health_score=health_score(served),
            rollback_rule=record["rule"],
        )
        state.record_final_traffic(state.final_traffic(traffic, "rolled_back", 0))
        if recorded and intent:
            safe_clear(run_dir, state.deployment_id)
        drained = releases.drain(releases.version) if releases.release is not None else None
        releases.stop_release()
        extra = {"drained": drained.as_dict()} if drained else {}
        state.emit("rollback.completed", reason=reason, traffic=traffic, **extra)
        state.emit("deployment.failed", status=Status.ROLLED_BACK.value, reason=reason)
        state.progress(releases.rollout_window())
    return DeploymentOutcome(
        state.deployment_id, state.version, Status.ROLLED_BACK, reason, traffic
    )


def fail(state: RunState, reason: str) -> DeploymentOutcome:
    """The release never took traffic: it failed its start, its checks or the env gate."""
    reason = redact(reason)  # it may quote a release's output, which may quote a secret
    state.advance(Status.FAILED, rollback_reason=reason, completed=True)
    state.emit("deployment.failed", status=Status.FAILED.value, reason=reason)
    state.progress()
    return DeploymentOutcome(state.deployment_id, state.version, Status.FAILED, reason)


def abort(state: RunState, releases: Releases, reason: str) -> DeploymentOutcome:
    """Stopped (Ctrl-C, an error) before the release took traffic: stop it, record it."""
    releases.stop_release()
    state.advance(Status.ABORTED, best_effort=True, rollback_reason=reason, completed=True)
    state.emit("deployment.aborted", reason=reason)
    return DeploymentOutcome(state.deployment_id, state.version, Status.ABORTED, reason)
