"""The typed records the core's operations take and give: what a face reads, already interpreted.

A face (the CLI, a dashboard) never reads the registry's raw records nor the router's
stats objects: the one place they become typed fields is here (``deployment_summary``,
``traffic_rows``, ``analysis_figures``). Light on purpose: ``safeship --help`` and
``safeship status`` import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safeship.registry import DeploymentRecord
    from safeship.registry.records import StepResult
    from safeship.routing.base import BackendStats


class DeployMode(Enum):
    LOCAL = "local"  # the pipeline on this machine, as always
    PATHS = "paths"  # [paths].order with failover
    EMERGENCY = "emergency"  # this machine, CI skipped, the checks and rollback kept


@dataclass(frozen=True)
class DeployRequest:
    environment: str
    version: str
    commit: str | None = None
    triggered_by: str = "cli"
    mode: DeployMode = DeployMode.LOCAL
    strategy: str | None = None  # None: the environment's configured strategy
    override: GatesOverride | None = None  # --override-gates --reason TEXT


@dataclass(frozen=True)
class GatesOverride:
    """`--override-gates --reason TEXT`: failed chain and freeze gates let the deploy through,
    recorded and alerted. ``by``: the approver who asked (identified before the deploy)."""

    reason: str
    by: str


@dataclass(frozen=True)
class Failover:
    """A deploy path given up for the next one (``--via-paths``)."""

    path: str
    reason: str
    next_path: str | None


@dataclass(frozen=True)
class DeployResult:
    """How a deploy (or a rollback) ended.

    ``status`` is the deployment's final status when it ran here (locally, or through an
    in-process path); None when a CI path ran it and only its run's ``conclusion`` is known.
    """

    version: str
    ok: bool
    status: str | None
    reason: str | None = None
    deployment_id: str | None = None
    path: str | None = None  # the deploy path taken (--via-paths, --emergency)
    run_id: str | None = None  # a CI path's run
    conclusion: str | None = None
    detail: str = ""
    url: str | None = None
    # --emergency: the follow-up (the hotfix issue opened, or the reminder to open one), and
    # why the issue could not be opened.
    followup: str | None = None
    followup_warning: str | None = None


@dataclass(frozen=True)
class RollbackResult:
    """``rollback``: what was done. Exactly one of the three is set.

    ``deployed``: the previous good version put back; ``recovered``: only an interrupted
    deployment to undo (recovery did it); ``abort_requested``: a deploy was running, it was
    asked to roll back itself.
    """

    environment: str
    deployed: DeployResult | None = None
    recovered: bool = False
    abort_requested: DeploymentSummary | None = None


@dataclass(frozen=True)
class MetricFigures:
    """One metric of the canary judge: canary vs stable."""

    name: str
    verdict: str
    canary: float | None
    stable: float | None
    n_canary: int | None
    n_stable: int | None
    p_high: float | None


@dataclass(frozen=True)
class AnalysisFigures:
    """The canary judge's latest figures at a step."""

    score: float | None
    step: int | None
    decision: str | None
    metrics: tuple[MetricFigures, ...]


@dataclass(frozen=True)
class TrafficRow:
    """One release's share of the traffic and what it answered."""

    release: str
    weight: int
    requests: int
    errors: int
    error_rate: float | None  # None without a request
    p95_ms: float | None  # infinity: above the histogram's last bound


@dataclass(frozen=True)
class ReleaseTraffic:
    """A finished deployment's totals for one release."""

    release: str
    requests: int
    errors: int


@dataclass(frozen=True)
class DeploymentSummary:
    """A deployment as a face shows it (the registry's record and step results interpreted)."""

    id: str
    environment: str
    version: str
    commit_sha: str | None
    triggered_by: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    current_step: int | None
    rollback_reason: str | None
    terminal: bool
    paused_at: int | None  # the step a deployment waits at for promote/abort
    traffic: tuple[ReleaseTraffic, ...]
    analysis: AnalysisFigures | None
    health_score: float | None = None  # 0.00-1.00, see docs/registry.md
    error_count: int = 0  # 5xx answers of the release while it took traffic
    # The record as stored, for the JSON a face prints (`history --json`): the wire form.
    stored: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def duration_seconds(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()

    @property
    def state(self) -> str:
        """The status as a person reads it: ``paused at 50%: safeship promote|abort`` while it
        waits at a pause, ``progressing at 50%`` at a step, else the status."""
        if self.paused_at and not self.terminal:
            return f"paused at {self.paused_at}%: safeship promote|abort"
        if self.status == "progressing" and self.current_step is not None:
            return f"progressing at {self.current_step}%"
        return self.status

    @property
    def where(self) -> str:
        """Where a running deployment is: ``paused at 10%``, ``progressing at 50%``."""
        if self.paused_at:
            return f"paused at {self.paused_at}%"
        step = f" at {self.current_step}%" if self.current_step is not None else ""
        return f"{self.status}{step}"

    @property
    def health(self) -> str:
        """``health 0.97, 3 errors`` for a finished deployment that was measured
        (docs/registry.md), else "" (a running one's score is not final yet)."""
        if self.health_score is None or not self.terminal:
            return ""
        errors = f", {self.error_count} error{'s' if self.error_count != 1 else ''}"
        return f"health {self.health_score:.2f}{errors}"

    def as_json(self) -> dict[str, Any]:
        return dict(self.stored)


@dataclass(frozen=True)
class InstanceStatus:
    """One host's instance of a release on a fleet (the ssh target)."""

    host: str
    url: str
    pid: int | None


@dataclass(frozen=True)
class ReleaseStatus:
    version: str
    alive: bool
    pid: int | None
    port: int | None
    url: str | None
    # A fleet release's instances, one per host it runs on; empty on one machine.
    instances: tuple[InstanceStatus, ...] = ()


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: str
    port: int | None  # None: the platform routes (no local router port)
    router_running: bool
    releases: tuple[ReleaseStatus, ...]
    traffic: tuple[TrafficRow, ...]  # the router's weights and stats since it started
    last: DeploymentSummary | None
    # Why the releases could not be listed (e.g. a platform token that is not set): the
    # registry's part of the status is given all the same.
    target_error: str | None = None

    @property
    def serving(self) -> tuple[str, ...]:
        """The releases the router sends traffic to now (by name)."""
        return tuple(row.release for row in self.traffic if row.weight > 0)


@dataclass(frozen=True)
class HistoryQuery:
    """Which deployments ``history`` lists, newest first: every filter given must match.

    ``statuses``: registry statuses (e.g. ``("failed", "rolled_back")``); ``since``/``until``
    bound the start time (until is exclusive); ``before`` is the paging cursor, the id of the
    last deployment of the previous page (keyset paging: deep pages cost what the first does).
    """

    environment: str | None = None  # None: every environment
    limit: int = 50
    statuses: tuple[str, ...] = ()
    version: str | None = None
    triggered_by: str | None = None
    path: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: str | None = None


@dataclass(frozen=True)
class PathStatus:
    """A deploy path's availability, in failover order."""

    path: str
    available: bool
    reason: str
    cooldown: str | None  # why failover skips it for now

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "available": self.available,
            "reason": self.reason,
            "cooldown": self.cooldown,
        }


# -- interpretation: the one place stored records and router stats become typed fields ----


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def analysis_figures(analysis: Mapping[str, Any]) -> AnalysisFigures:
    """The judge's figures (``Judgement.as_dict()``, as stored or live) as typed fields."""
    metrics = analysis.get("metrics")
    rows = tuple(
        MetricFigures(
            name=str(m.get("name")),
            verdict=str(m.get("verdict")),
            canary=_float(m.get("canary")),
            stable=_float(m.get("stable")),
            n_canary=_int(m.get("n_canary")),
            n_stable=_int(m.get("n_stable")),
            p_high=_float(m.get("p_high")),
        )
        for m in (metrics if isinstance(metrics, list) else [])
        if isinstance(m, Mapping)
    )
    decision = analysis.get("decision")
    return AnalysisFigures(
        score=_float(analysis.get("score")),
        step=_int(analysis.get("step")),
        decision=None if decision is None else str(decision),
        metrics=rows,
    )


def step_figures(step: StepResult) -> AnalysisFigures:
    """A judged step's figures (a ``step_results`` row) as the judge's table shows them."""
    metrics = []
    if step.error_verdict is not None or step.canary_error_rate is not None:
        metrics.append(
            MetricFigures(
                name="error_rate",
                verdict=step.error_verdict or "nodata",
                canary=step.canary_error_rate,
                stable=step.stable_error_rate,
                n_canary=step.canary_requests,
                n_stable=step.stable_requests,
                p_high=step.error_p_value,
            )
        )
    if step.latency_verdict is not None or step.canary_latency_ms is not None:
        metrics.append(
            MetricFigures(
                name="latency",
                verdict=step.latency_verdict or "nodata",
                canary=step.canary_latency_ms,
                stable=step.stable_latency_ms,
                n_canary=step.canary_requests,
                n_stable=step.stable_requests,
                p_high=None,
            )
        )
    return AnalysisFigures(
        score=step.score, step=step.weight, decision=step.verdict, metrics=tuple(metrics)
    )


def deployment_summary(record: DeploymentRecord) -> DeploymentSummary:
    """A registry record as a face shows it."""
    judged = [s for s in record.steps if not s.is_final]
    final = [s for s in record.steps if s.is_final]
    traffic: list[ReleaseTraffic] = []
    if final:
        last = final[-1]
        sides = ((record.version, last.canary_requests, last.canary_errors),
                 (record.stable_version, last.stable_requests, last.stable_errors))  # fmt: skip
        traffic = [
            ReleaseTraffic(name, requests, errors or 0)
            for name, requests, errors in sides
            if name is not None and requests is not None
        ]
    return DeploymentSummary(
        id=record.id,
        environment=record.environment,
        version=record.version,
        commit_sha=record.commit_sha,
        triggered_by=record.triggered_by,
        status=record.status,
        started_at=record.started_at,
        completed_at=record.completed_at,
        current_step=record.current_step,
        rollback_reason=record.rollback_reason,
        terminal=record.is_terminal,
        paused_at=record.paused_at or None,
        traffic=tuple(traffic),
        analysis=step_figures(judged[-1]) if judged else None,
        health_score=record.health_score,
        error_count=record.error_count,
        stored=_plain(record),
    )


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """``dataclasses.asdict`` without its deep copies (the record's values are immutable):
    the same dict, in a fifth of the time. At 50 deployments with their steps and checks,
    asdict was most of a history page's server time."""
    kind = type(value)
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(kind):
        names = _FIELD_NAMES.setdefault(kind, tuple(f.name for f in dataclasses.fields(kind)))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if kind is tuple or kind is list:
        return kind(_plain(item) for item in value)
    if kind is dict:
        return {key: _plain(item) for key, item in value.items()}
    return value


def traffic_rows(
    weights: Mapping[str, int], stats: Mapping[str, BackendStats]
) -> tuple[TrafficRow, ...]:
    """Each release's weight and figures, by name (a release with figures and no weight: 0%)."""
    from safeship.routing.base import BackendStats

    rows = []
    for name in sorted(set(weights) | set(stats)):
        s = stats.get(name, BackendStats())
        rows.append(
            TrafficRow(
                release=name,
                weight=weights.get(name, 0),
                requests=s.requests,
                errors=s.errors,
                error_rate=s.error_rate if s.requests else None,
                p95_ms=s.latency_quantile_ms(0.95),
            )
        )
    return tuple(rows)
