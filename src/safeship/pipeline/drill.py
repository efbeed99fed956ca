"""Rollback drills: prove, on a schedule, that an environment can go back and forth.

A drill finds the version the environment serves (B, its last succeeded deployment) and its
previous good version (A), then:

1. back: an ordinary rollback to A (all at once), under the environment's verification (health
   levels, the rollback rules during the bake and the monitoring window); B is marked rolled
   back, as `safeship rollback` does;
2. forward: an ordinary deploy of B again (triggered_by "drill"): its gates apply, so in an
   environment with approval it waits for an approver (``forward=False`` only rolls back).

Each leg is measured (seconds, ok, reason, deployment id) and written to the registry's
``drills`` row as soon as it ends (the row itself before the first leg acts). The drill's end
is an environment-level event: ``drill.succeeded``, or ``drill.failed`` (an alert) naming the
leg that failed. A failed back leg leaves B serving (the deploy's own rollback); a failed
forward leg leaves A serving, the last good version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

from safeship.config import LoadedConfig
from safeship.events import Event
from safeship.pipeline.operations import (
    RollbackImpossible,
    Session,
    deploy_in_session,
    open_session,
    recover_locked,
    rollback_deployer,
)
from safeship.pipeline.states import Status
from safeship.redaction import redact
from safeship.registry.records import DeploymentNotes

if TYPE_CHECKING:
    from safeship.pipeline.deploy import DeploymentOutcome, LiveSnapshot
    from safeship.registry import DeploymentRecord

TRIGGERED_BY: Final = "drill"
LegName = Literal["back", "forward"]


@dataclass(frozen=True)
class DrillLeg:
    name: LegName
    version: str  # the version this leg deployed
    ok: bool
    seconds: float
    reason: str | None  # why it failed (one line); None when it passed
    deployment_id: str | None  # None: it failed before a deployment was recorded
    status: str | None  # the deployment's final status

    def figures(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DrillOutcome:
    drill_id: int
    environment: str
    serving_version: str  # B: rolled back, then deployed again
    previous_version: str  # A: the previous good version
    legs: tuple[DrillLeg, ...]

    @property
    def ok(self) -> bool:
        return all(leg.ok for leg in self.legs)

    @property
    def reason(self) -> str | None:
        failed = next((leg for leg in self.legs if not leg.ok), None)
        if failed is None:
            return None
        return f"the {failed.name} leg to {failed.version} failed: {failed.reason}"


def drill(
    loaded: LoadedConfig,
    environment: str,
    *,
    forward: bool = True,
    triggered_by: str = TRIGGERED_BY,
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    event_log: TextIO | None = None,
) -> DrillOutcome:
    """One drill of ``environment`` (see the module's docstring). RollbackImpossible (one line)
    when it has no previous good version to go back to; EnvironmentBusy when a deploy runs."""
    from safeship.health.resolve import require_resolvable

    # A health check's variable that is not set is a config error now, not mid-drill.
    require_resolvable(loaded, environment)
    with open_session(loaded, environment, event_log) as s:
        serving, previous, drill_id, back = _back_leg(s, triggered_by, on_progress)
        legs = [back]
        if back.ok and forward:
            s.registry.record_drill_legs(drill_id, [leg.figures() for leg in legs])
            try:
                legs.append(_forward_leg(loaded, s, serving, drill_id, triggered_by, on_progress))
            except BaseException:  # Ctrl-C: the row says where the drill stopped
                reason = "interrupted during the forward leg"
                s.registry.finish_drill(drill_id, "failed", reason, [back.figures()])
                raise
        outcome = DrillOutcome(
            drill_id, environment, serving.version, previous.version, tuple(legs)
        )
        s.registry.finish_drill(
            drill_id,
            "passed" if outcome.ok else "failed",
            outcome.reason,
            [leg.figures() for leg in legs],
        )
        _announce(s, outcome, triggered_by)
        return outcome


def _back_leg(
    s: Session, triggered_by: str, on_progress: Callable[[LiveSnapshot], None] | None
) -> tuple[DeploymentRecord, DeploymentRecord, int, DrillLeg]:
    from safeship.pipeline.lease import DeployLease

    environment = s.env.name
    with DeployLease(s.registry, environment) as lease:
        recover_locked(s, lease.taken_over)
        serving = s.registry.last_succeeded(environment)
        if serving is None:
            raise RollbackImpossible(f"{environment} has no successful deployment to drill")
        previous = s.registry.last_succeeded(environment, before=serving.id)
        if previous is None:
            raise RollbackImpossible(
                f"{environment} has no previous good version before {serving.version}: "
                "a drill needs two successful deployments"
            )
        drill_id = s.registry.start_drill(
            environment, serving.version, previous.version, triggered_by
        )
        deployer = rollback_deployer(s, lease, on_progress)
        started = time.monotonic()
        try:
            # The ordinary rollback (all at once), baked and monitored like any deploy here:
            # the drill proves the way back under the environment's own verification.
            outcome = deployer.deploy(
                previous.version,
                commit=previous.commit_sha,
                triggered_by=triggered_by,
                strategy="all-at-once",
                notes=DeploymentNotes(notes=f"rollback drill #{drill_id}: back leg"),
            )
        except Exception as exc:  # the leg failed; the drill says so (and is recorded)
            return serving, previous, drill_id, _broken("back", previous.version, exc, started)
        except BaseException:
            s.registry.finish_drill(drill_id, "failed", "interrupted during the back leg", [])
            raise
        leg = _leg("back", outcome, started)
        if leg.ok:
            s.registry.update_deployment(
                serving.id,
                status=Status.ROLLED_BACK.value,
                rollback_reason=f"rolled back to {previous.version} by a rollback drill",
            )
        return serving, previous, drill_id, leg


def _forward_leg(
    loaded: LoadedConfig,
    s: Session,
    serving: DeploymentRecord,
    drill_id: int,
    triggered_by: str,
    on_progress: Callable[[LiveSnapshot], None] | None,
) -> DrillLeg:
    started = time.monotonic()
    try:
        # An ordinary deploy: the environment's strategy, its gates (approval waits).
        outcome = deploy_in_session(
            loaded,
            s,
            serving.version,
            commit=serving.commit_sha,
            triggered_by=triggered_by,
            on_progress=on_progress,
            notes=DeploymentNotes(notes=f"rollback drill #{drill_id}: forward leg"),
        )
    except Exception as exc:
        return _broken("forward", serving.version, exc, started)
    return _leg("forward", outcome, started)


def _leg(name: LegName, outcome: DeploymentOutcome, started: float) -> DrillLeg:
    reason = None if outcome.ok else (outcome.reason or outcome.status.value)
    return DrillLeg(
        name,
        outcome.version,
        outcome.ok,
        round(time.monotonic() - started, 3),
        redact(reason) if reason else None,
        outcome.deployment_id,
        outcome.status.value,
    )


def _broken(name: LegName, version: str, exc: Exception, started: float) -> DrillLeg:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return DrillLeg(
        name, version, False, round(time.monotonic() - started, 3), redact(text), None, None
    )


def _announce(s: Session, outcome: DrillOutcome, triggered_by: str) -> None:
    figures: dict[str, Any] = {
        "drill_id": outcome.drill_id,
        "serving_version": outcome.serving_version,
        "previous_version": outcome.previous_version,
    }
    for leg in outcome.legs:
        figures[f"{leg.name}_seconds"] = leg.seconds
        figures[f"{leg.name}_ok"] = leg.ok
        figures[f"{leg.name}_deployment_id"] = leg.deployment_id
    legs = ", ".join(f"{leg.name} {leg.seconds:.1f} s" for leg in outcome.legs)
    if outcome.ok:
        name: Literal["drill.succeeded", "drill.failed"] = "drill.succeeded"
        forward = (
            f"forward to {outcome.serving_version}"
            if len(outcome.legs) > 1
            else "no forward leg (asked)"
        )
        summary = f"rollback drill passed: back to {outcome.previous_version}, {forward} ({legs})"
    else:
        name = "drill.failed"
        summary = f"rollback drill failed: {outcome.reason} ({legs})"
    s.bus.publish(
        Event(
            event=name,
            environment=outcome.environment,
            triggered_by=triggered_by,
            attributes={"summary": summary, **{k: v for k, v in figures.items() if v is not None}},
        )
    )
