"""The JSON API under /api (its OpenAPI document: /api/openapi.json).

Every shape is a core record's ``as_json()``: the CLI's ``--json`` outputs and this API give
the same documents. The typed dicts below only describe them for the OpenAPI document.
Bad query input is a 422 with one line (``errors.validation_message``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

# pydantic reads TypedDicts from typing_extensions on Python < 3.12.
from typing_extensions import TypedDict

from safeship.dashboard.queries import (
    HistoryParams,
    analytics_query,
    history_page,
    loaded_of,
)

if TYPE_CHECKING:
    from safeship.config import LoadedConfig

router = APIRouter(prefix="/api", tags=["api"])

HealthValue = Literal["healthy", "degraded", "unhealthy", "unknown"]


class CurrentJson(TypedDict):
    environment: str
    version: str | None
    deployedAt: str | None
    healthScore: float | None
    status: HealthValue


class RecentJson(TypedDict):
    id: str
    version: str
    environment: str
    status: Literal["success", "failed", "rolled_back"]
    duration: float | None
    deployedAt: str


class MetricsJson(TypedDict):
    deploymentsToday: int
    deploymentsThisWeek: int
    successRate: float | None
    averageDuration: float | None
    meanTimeToRecover: float | None


class HealthJson(TypedDict):
    api: HealthValue
    database: HealthValue
    redis: HealthValue
    externalServices: dict[str, HealthValue]


class AlertJson(TypedDict):
    severity: Literal["critical", "warning", "info"]
    message: str
    timestamp: str


class DeploymentDashboardJson(TypedDict):
    """The architecture's §5.2 ``DeploymentDashboard`` for one environment."""

    current: CurrentJson
    recent: list[RecentJson]
    metrics: MetricsJson
    health: HealthJson
    alerts: list[AlertJson]


class DashboardJson(TypedDict):
    generatedAt: str
    environments: dict[str, DeploymentDashboardJson]


class DeploymentJson(TypedDict, total=False):
    """A deployment as the registry records it (``safeship history --json``'s rows)."""

    id: str
    environment: str
    version: str
    commit_sha: str | None
    triggered_by: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    current_step: int | None
    health_score: float | None
    error_count: int
    rollback_reason: str | None
    path: str | None
    strategy: str | None
    rollback_rule: str | None
    stable_version: str | None
    paused_at: int | None


class DeploymentPageJson(TypedDict):
    deployments: list[DeploymentJson]
    next: str | None  # the cursor of the next (older) page: pass it as ?before=


class EventJson(TypedDict):
    id: int
    timestamp: str
    event: str
    environment: str | None
    version: str | None
    deployment_id: str | None
    attributes: dict[str, Any]


class PathJson(TypedDict):
    path: str
    available: bool
    reason: str
    cooldown: str | None


def _loaded(request: Request) -> LoadedConfig:
    return loaded_of(request)


@router.get("/dashboard", summary="§5.2's DeploymentDashboard per environment")
def get_dashboard(
    request: Request,
    environment: Annotated[str | None, Query(max_length=100)] = None,
) -> DashboardJson:
    from safeship import core

    board: DashboardJson = core.dashboard(_loaded(request), environment).as_json()  # type: ignore[assignment]
    return board


@router.get("/deployments", summary="Deployments, newest first, filtered and paged")
def get_deployments(
    request: Request, params: Annotated[HistoryParams, Query()]
) -> DeploymentPageJson:
    page = history_page(_loaded(request), params)
    return {
        "deployments": [s.as_json() for s in page.deployments],  # type: ignore[misc]
        "next": page.next_cursor,
    }


@router.get("/deployments/{deployment_id}", summary="A deployment in full (its report's data)")
def get_deployment(request: Request, deployment_id: str) -> dict[str, Any]:
    from safeship import core

    return core.deployment_detail(_loaded(request), deployment_id[:64]).as_json()


@router.get("/deployments/{deployment_id}/events", summary="A deployment's events, oldest first")
def get_deployment_events(
    request: Request,
    deployment_id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> list[EventJson]:
    from safeship import core

    entries = core.deployment_log(
        _loaded(request), core.LogQuery(deployment=deployment_id[:64], limit=limit, after=after)
    )
    return [
        {
            "id": e.id,
            "timestamp": e.timestamp.isoformat(),
            "event": e.event,
            "environment": e.environment,
            "version": e.version,
            "deployment_id": e.deployment_id,
            "attributes": e.attributes,
        }
        for e in entries
    ]


@router.get("/analytics", summary="DORA and the success measures for a period")
def get_analytics(
    request: Request,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[str, Query(max_length=16, description="a period: 30d, 12h, 2w")] = "30d",
) -> dict[str, Any]:
    from safeship import core

    report = core.analytics(_loaded(request), analytics_query(environment, since))
    return report.as_json()


@router.get("/paths", summary="The deploy paths in failover order and their availability")
def get_paths(request: Request) -> list[PathJson]:
    from safeship import core
    from safeship.redaction import redact

    # As `safeship paths check --json`: a reason may quote a CI service's answer.
    return [
        PathJson(path=p.path, available=p.available, reason=redact(p.reason), cooldown=p.cooldown)
        for p in core.paths_status(_loaded(request))
    ]


@router.get("/environments/{environment}/drift", summary="An environment's env drift (keys only)")
def get_drift(request: Request, environment: str) -> dict[str, Any]:
    from safeship.dashboard.queries import env_drift

    return env_drift(_loaded(request), environment[:100]).as_json()


@router.get("/jobs", summary="The background jobs serve runs, and how each last went")
def get_jobs(request: Request) -> list[dict[str, Any]]:
    from safeship.dashboard.queries import job_statuses

    return [
        {
            "name": j.name,
            "enabled": j.enabled,
            "everySeconds": j.every_seconds,
            "lastStarted": j.last_started.isoformat() if j.last_started else None,
            "lastFinished": j.last_finished.isoformat() if j.last_finished else None,
            "lastOk": j.last_ok,
            "lastError": j.last_error,
            "nextRun": j.next_run.isoformat() if j.next_run else None,
        }
        for j in job_statuses(request)
    ]
