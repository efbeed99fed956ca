"""The run state of one deployment: its registry record, its status transitions, its events
and its live snapshots.

Every registry read and write of a running deployment goes through :class:`RunState`: how
the run's facts (the release, the checks, the baseline, the canary judge's figures, a pause,
a manual request) are stored (the registry's typed columns and tables) is known here only.
Every status change is written before the side effect it announces (write-ahead,
:meth:`RunState.advance`), so a crash of safeship leaves a record of what it was doing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from safeship.analysis.bake import Clock, ManualRequest, SystemClock
from safeship.analysis.judge import BakeDecision
from safeship.events import Event, EventBus, EventName
from safeship.health.base import CheckResult
from safeship.health.base import score as check_score
from safeship.health.baseline import Baseline
from safeship.health.verify import BaselineReport, stored_baseline
from safeship.pipeline.rollout.outcome import LiveSnapshot
from safeship.pipeline.states import Status, check_transition
from safeship.redaction import redact
from safeship.registry import DeploymentRecord, Registry
from safeship.registry.records import CheckResultRecord, DeploymentNotes, StepResult
from safeship.routing.base import BackendStats, Router

# How often the canary judge's latest figures are written to the registry (`safeship status`).
JUDGEMENT_SAVE_INTERVAL = 1.0


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _errors_of(rate: float | None, requests: int) -> int | None:
    """The 5xx count behind an error rate over ``requests``."""
    return None if rate is None or not math.isfinite(rate) else round(rate * requests)


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
        # The step_results row the judge's figures go to: one per judged step, in order.
        self._step_index = -1
        self._judged_step: int | None = None
        self.stable_version: str | None = None

    # -- the record -----------------------------------------------------------------------

    def create(self, notes: DeploymentNotes) -> str:
        """The deployment's row, pending; its id."""
        self.deployment_id = self.registry.create_deployment(
            self.environment,
            self.version,
            self.commit,
            self.triggered_by,
            path=notes.path,
            strategy=notes.strategy,
            gate_verdict=notes.gate_verdict,
            stable_version=notes.stable_version,
            notes=notes.notes,
        )
        self.stable_version = notes.stable_version
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
        self.registry.add_check_results(
            self.deployment_id,
            [
                CheckResultRecord(
                    level=r.level,
                    name=r.name,
                    status=r.status,
                    duration_ms=round(r.latency_ms, 1),
                    # Details may quote an answer that quotes a secret.
                    detail=redact(r.detail),
                    critical=r.critical,
                )
                for r in results
            ],
        )
        self.registry.update_deployment(self.deployment_id, health_score=check_score(self.checks))

    def last_succeeded(self) -> DeploymentRecord | None:
        """The environment's previous good deployment."""
        return self.registry.last_succeeded(self.environment, before=self.deployment_id)

    def baseline_of(self, record: DeploymentRecord | None) -> Baseline | None:
        """A deployment's stored level-4 baseline."""
        if record is None:
            return None
        return stored_baseline(self.registry.baseline_for(record.environment, record.version))

    def record_baseline(self, report: BaselineReport) -> None:
        self.registry.save_baseline(
            report.as_record(self.environment, self.version, self.deployment_id)
        )

    def stored_baseline_p95(self) -> float | None:
        """The previous good deployment's level-4 p95, for the latency rule; None without one
        (or when the registry cannot tell)."""
        with contextlib.suppress(Exception):
            baseline = self.baseline_of(self.last_succeeded())
            p95 = baseline.p95_ms if baseline else None
            if p95 is not None and p95 > 0:
                return float(p95)
        return None

    def save_judgement(self, *, force: bool = False) -> None:
        """The judge's latest figures at this step to the registry (for `safeship status`),
        now and then: the step's row is replaced, so each step keeps its last figures."""
        now = self.clock.now()
        if self.judgement is None or (
            not force and now - self.judgement_saved < JUDGEMENT_SAVE_INTERVAL
        ):
            return
        self.judgement_saved = now
        decision = self.judgement
        metrics = {m.name: m for m in decision.judgement.verdicts}
        errors = metrics.get("error_rate") or metrics.get("errors")
        latency = metrics.get("latency")
        if self.step != self._judged_step:
            self._judged_step = self.step
            self._step_index += 1
        result = StepResult(
            step_index=self._step_index,
            weight=self.step or 0,
            verdict=decision.judgement.decision,
            score=_finite(decision.judgement.score),
            reason=redact(decision.reason),
            canary_error_rate=_finite(errors.canary) if errors else None,
            stable_error_rate=_finite(errors.stable) if errors else None,
            error_p_value=_finite(errors.p_high) if errors else None,
            canary_latency_ms=_finite(latency.canary) if latency else None,
            stable_latency_ms=_finite(latency.stable) if latency else None,
            latency_ratio=_finite(latency.effect) if latency else None,
            canary_requests=errors.n_canary if errors else None,
            stable_requests=errors.n_stable if errors else None,
            canary_errors=_errors_of(errors.canary, errors.n_canary) if errors else None,
            stable_errors=_errors_of(errors.stable, errors.n_stable) if errors else None,
            error_verdict=errors.verdict if errors else None,
            latency_verdict=latency.verdict if latency else None,
        )
        with contextlib.suppress(Exception):  # the figures are for show; never stop a bake
            self.registry.add_step_result(self.deployment_id, result)

    def final_traffic(
        self, traffic: Mapping[str, Mapping[str, int]], ending: str, weight: int
    ) -> StepResult:
        """The deployment's traffic totals as its last step result (``ending``: ``promoted``
        or ``rolled_back``), written by :meth:`advance` callers with the terminal status."""
        mine = traffic.get(self.version, {})
        stable = traffic.get(self.stable_version, {}) if self.stable_version else {}
        self._step_index += 1
        return StepResult(
            step_index=self._step_index,
            weight=weight,
            verdict=ending,
            canary_requests=mine.get("requests"),
            canary_errors=mine.get("errors"),
            stable_requests=stable.get("requests") if stable else None,
            stable_errors=stable.get("errors") if stable else None,
        )

    def record_final_traffic(self, result: StepResult) -> None:
        with contextlib.suppress(Exception):  # the totals are for show; never stop an ending
            self.registry.add_step_result(self.deployment_id, result)

    # -- a pause and the manual requests --------------------------------------------------

    def mark_paused(self, step: int) -> None:
        # A request left before the pause (an abort) still counts: it stays pending.
        self.registry.update_deployment(self.deployment_id, paused_at=step)
        self.paused = True

    def clear_pause(self) -> None:
        self.paused = False
        with contextlib.suppress(Exception):
            self.registry.update_deployment(self.deployment_id, cleared=("paused_at",))

    def read_request(self) -> ManualRequest | None:
        """`safeship abort` / `rollback` / `promote` left for this deployment (see
        pipeline.requests), else None; a registry hiccup reads as none (it must not roll back
        a healthy release).

        An abort counts at any moment; a promote only at a pause (one left before the pause
        waits for it). A request is marked handled before it is acted on (write-ahead): one
        that another reader marked first, or that this one cannot mark, is not acted on, so
        no request is acted on twice.
        """
        try:
            pending = [
                r for r in self.registry.requests(self.deployment_id) if r.handled_at is None
            ]
            aborts = [r for r in pending if r.kind == "abort"]
            promotes = [r for r in pending if r.kind == "promote"] if self.paused else []
            candidates = aborts or promotes
            if not candidates or not self.registry.mark_request_handled(candidates[0].id):
                return None
            chosen = candidates[0]
        except Exception:
            return None
        action: Literal["abort", "promote"] = "abort" if chosen.kind == "abort" else "promote"
        return ManualRequest(action, chosen.requested_by.removeprefix("safeship "))

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
