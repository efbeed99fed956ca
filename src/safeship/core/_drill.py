"""Rollback drills (`safeship drill ENV`, ``[jobs.drill]``): back to the previous good version
and forward again, each leg measured; the history of an environment's drills. The drill itself
is ``safeship.pipeline.drill``'s (docs/gates/drill.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.pipeline.deploy import LiveSnapshot


@dataclass(frozen=True)
class DrillLegResult:
    name: str  # "back" (the rollback to the previous good version) or "forward"
    version: str
    ok: bool
    seconds: float
    reason: str | None
    deployment_id: str | None
    status: str | None


@dataclass(frozen=True)
class DrillResult:
    drill_id: int
    environment: str
    serving_version: str  # the version found serving: rolled back, then deployed again
    previous_version: str  # the previous good version the back leg rolled back to
    outcome: str | None  # "passed", "failed"; None: running (or its safeship died)
    reason: str | None
    legs: tuple[DrillLegResult, ...]
    triggered_by: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "passed"


def drill(
    loaded: LoadedConfig,
    environment: str,
    *,
    forward: bool = True,
    triggered_by: str = "drill",
    on_progress: Callable[[LiveSnapshot], None] | None = None,
    event_log: TextIO | None = None,
) -> DrillResult:
    """Drill ``environment`` now (``forward=False``: the back leg only). RollbackImpossible
    (a usage error, one line) when it has no previous good version."""
    from safeship.core._reports import store_reports
    from safeship.pipeline.drill import drill as run_drill

    outcome = run_drill(
        loaded, environment, forward=forward, triggered_by=triggered_by,
        on_progress=on_progress, event_log=event_log,
    )  # fmt: skip
    store_reports(loaded, environment)  # each leg's deployment report (never raises)
    return DrillResult(
        drill_id=outcome.drill_id,
        environment=environment,
        serving_version=outcome.serving_version,
        previous_version=outcome.previous_version,
        outcome="passed" if outcome.ok else "failed",
        reason=outcome.reason,
        legs=tuple(_leg(leg.figures()) for leg in outcome.legs),
        triggered_by=triggered_by,
    )


def drill_history(
    loaded: LoadedConfig, environment: str | None = None, limit: int = 20
) -> list[DrillResult]:
    """The drills (of one environment), newest first."""
    from safeship.registry import Registry

    if environment is not None:
        loaded.environment(environment)  # an unknown one: the config's error, not []
    with Registry(loaded.registry_url()) as registry:
        records = registry.drills(environment, limit=limit)
    return [
        DrillResult(
            drill_id=r.id,
            environment=r.environment,
            serving_version=r.serving_version,
            previous_version=r.previous_version,
            outcome=r.outcome,
            reason=r.reason,
            legs=tuple(_leg(leg) for leg in r.legs),
            triggered_by=r.triggered_by,
            started_at=r.started_at,
            finished_at=r.finished_at,
        )
        for r in records
    ]


def _leg(figures: Any) -> DrillLegResult:
    def text(key: str) -> str | None:
        value = figures.get(key)
        return str(value) if value is not None else None

    seconds = figures.get("seconds")
    return DrillLegResult(
        name=str(figures.get("name", "?")),
        version=str(figures.get("version", "?")),
        ok=figures.get("ok") is True,
        seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
        reason=text("reason"),
        deployment_id=text("deployment_id"),
        status=text("status"),
    )
