"""The run state of one deployment: its registry record, its status transitions, its events
and its live snapshots.

Every registry read and write of a running deployment goes through :class:`RunState`: how
the run's facts (the release, the checks, the baseline, the canary judge's figures, a pause,
a manual request) are stored (today keys of the record's ``metadata``) is known here only.
Every status change is written before the side effect it announces (write-ahead,
:meth:`RunState.advance`), so a crash of safeship leaves a record of what it was doing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from safeship.analysis.bake import Clock, ManualRequest, SystemClock
from safeship.analysis.judge import BakeDecision
from safeship.events import Event, EventBus, EventName
from safeship.health.base import CheckResult
from safeship.health.base import score as check_score
from safeship.pipeline.rollout.outcome import LiveSnapshot
from safeship.pipeline.states import Status, check_transition
from safeship.redaction import redact_data
from safeship.registry import DeploymentRecord, Registry
from safeship.routing.base import BackendStats, Router

# How often the canary judge's latest figures are written to the registry (`safeship status`).
JUDGEMENT_SAVE_INTERVAL = 1.0


class RunState:
    """One deployment's bookkeeping while it runs."""

    def __init__(
        self,
        environment: str,
        version: str,
        *,
        commit: str | None,
        triggered_by: str,
        registry: Registry,
        bus: EventBus,
        router: Router,
        on_progress: Callable[[LiveSnapshot], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.environment = environment
        self.version = version
        self.commit = commit
        self.triggered_by = triggered_by
        self.registry = registry
        self.bus = bus
        self.router = router  # read for the weights of a live snapshot
        self.on_progress = on_progress
        self.clock = clock or SystemClock()
        self.deployment_id = ""
        self.status = Status.PENDING
        self.step: int | None = None
        self.paused = False
        self.started = self.clock.now()
        # Health checks of the new release (levels 1-4), for the score and the registry.
        self.checks: list[CheckResult] = []
        # The canary judge's latest decision at the current step (None when not judging).
        self.judgement: BakeDecision | None = None
        self.judgement_saved = 0.0

    # -- the record -----------------------------------------------------------------------

    def create(self, metadata: Mapping[str, Any]) -> str:
        """The deployment's row, pending; its id."""
        self.deployment_id = self.registry.create_deployment(
            self.environment, self.version, self.commit, self.triggered_by, metadata=dict(metadata)
        )
        return self.deployment_id

    def advance(self, status: Status, *, best_effort: bool = False, **fields: Any) -> bool:
        """Record the new status (write-ahead), then let the caller act on it; whether the
        registry took it (False only when ``best_effort``)."""
        check_transition(self.status, status)
        try:
            self.registry.update_deployment(self.deployment_id, status=status.value, **fields)
        except Exception:
            if not best_effort:
                raise
            # A registry outage must not keep a rollback from finishing.
            self.status = status
            return False
        self.status = status
        return True

    def record_release(self, port: int | None, pid: int | None) -> None:
        self.registry.update_deployment(
            self.deployment_id, metadata={"release": {"port": port, "pid": pid}}
        )

    def record_checks(self, results: list[CheckResult]) -> None:
        """A check.completed event per result; the checks and their score to the registry."""
        for result in results:
            self.emit(
                "check.completed",
                check=result.name,
                status=result.status,
                latency_ms=round(result.latency_ms, 1),
                detail=result.detail,
                level=result.level,
                critical=result.critical,
            )
        self.checks += results
        self.registry.update_deployment(
            self.deployment_id,
            health_score=check_score(self.checks),
            # Details may quote an answer that quotes a secret.
            metadata={"checks": redact_data([r.as_dict() for r in self.checks])},
        )

    def last_succeeded(self) -> DeploymentRecord | None:
        """The environment's previous good deployment."""
        return self.registry.last_succeeded(self.environment, before=self.deployment_id)

    @staticmethod
    def baseline_of(record: DeploymentRecord | None) -> dict[str, Any] | None:
        """A deployment's stored level-4 baseline."""
        baseline = record.metadata.get("baseline") if record else None
        return baseline if isinstance(baseline, dict) else None

    def record_baseline(self, baseline: dict[str, Any]) -> None:
        self.registry.update_deployment(self.deployment_id, metadata={"baseline": baseline})

    def stored_baseline_p95(self) -> float | None:
        """The previous good deployment's level-4 p95, for the latency rule; None without one
        (or when the registry cannot tell)."""
        with contextlib.suppress(Exception):
            baseline = self.baseline_of(self.last_succeeded())
            p95 = baseline.get("p95_ms") if baseline else None
            if isinstance(p95, int | float) and p95 > 0:
                return float(p95)
        return None

    def save_judgement(self, *, force: bool = False) -> None:
        """The judge's latest figures to the registry (for `safeship status`), now and then."""
        now = self.clock.now()
        if self.judgement is None or (
            not force and now - self.judgement_saved < JUDGEMENT_SAVE_INTERVAL
        ):
            return
        self.judgement_saved = now
        decision = self.judgement
        analysis = {"step": self.step, "reason": decision.reason, **decision.judgement.as_dict()}
        with contextlib.suppress(Exception):  # the figures are for show; never stop a bake
            self.registry.update_deployment(self.deployment_id, metadata={"analysis": analysis})

    # -- a pause and the manual requests --------------------------------------------------

    def mark_paused(self, step: int) -> None:
        # "request" is left as it is: an abort asked for just before the pause still counts.
        self.registry.update_deployment(self.deployment_id, metadata={"paused_at": step})
        self.paused = True

    def clear_pause(self) -> None:
        self.paused = False
        with contextlib.suppress(Exception):
            self.registry.update_deployment(
                self.deployment_id, metadata={"paused_at": None, "request": None}
            )

    def read_request(self) -> ManualRequest | None:
        """`safeship abort` / `rollback` / `promote` left for this deployment (see
        pipeline.requests), else None; a registry hiccup reads as none (it must not roll back
        a healthy release)."""
        try:
            record = self.registry.get(self.deployment_id)
        except Exception:
            return None
        metadata = record.metadata if record else {}
        action = metadata.get("request")
        if action == "abort":
            return ManualRequest("abort", metadata.get("requested_by") or "abort")
        if action == "promote":
            return ManualRequest("promote", metadata.get("requested_by") or "promote")
        return None

    # -- events and live snapshots --------------------------------------------------------

    def emit(self, name: EventName, **attributes: Any) -> None:
        self.bus.publish(
            Event(
                event=name,
                deployment_id=self.deployment_id or None,
                environment=self.environment,
                version=self.version,
                commit=self.commit,
                triggered_by=self.triggered_by,
                attributes=attributes,
            )
        )

    def progress(self, window: dict[str, BackendStats] | None = None) -> None:
        if self.on_progress is None:
            return
        try:
            weights = {b.name: b.weight for b in self.router.backends()}
        except Exception:
            weights = {}
        self.on_progress(
            LiveSnapshot(
                deployment_id=self.deployment_id,
                environment=self.environment,
                version=self.version,
                status=self.status,
                step=self.step,
                weights=weights,
                window=window or {},
                elapsed=self.clock.now() - self.started,
                judgement=self.judgement.judgement if self.judgement else None,
                paused=self.paused,
            )
        )
