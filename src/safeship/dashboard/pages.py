"""The dashboard's HTML pages: server-rendered, complete without JavaScript (live.js only
adds the live updates). Each page calls the core and renders one template."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from safeship.dashboard.queries import (
    STATUSES,
    HistoryParams,
    analytics_query,
    env_drift,
    history_page,
    job_statuses,
    loaded_of,
)
from safeship.dashboard.templating import templates

if TYPE_CHECKING:
    from starlette.templating import _TemplateResponse

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    response: _TemplateResponse = templates().TemplateResponse(
        request, name, context, status_code=status_code
    )
    return response


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    from safeship import core

    board = core.dashboard(loaded_of(request))
    return render(request, "overview.html.j2", board=board)


@router.get("/deployments/{deployment_id}", response_class=HTMLResponse)
def deployment(request: Request, deployment_id: str) -> HTMLResponse:
    from safeship import core

    detail = core.deployment_detail(loaded_of(request), deployment_id[:64])
    return render(request, "deployment.html.j2", detail=detail, s=detail.summary)


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, params: Annotated[HistoryParams, Query()]) -> HTMLResponse:
    loaded = loaded_of(request)
    page = history_page(loaded, params)
    return render(
        request,
        "history.html.j2",
        page=page,
        params=params,
        statuses=STATUSES,
        environments=sorted(loaded.config.environments),
    )


@router.get("/analytics", response_class=HTMLResponse)
def analytics(
    request: Request,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[str, Query(max_length=16)] = "30d",
) -> HTMLResponse:
    from safeship import core
    from safeship.dashboard.charts import analytics_charts

    loaded = loaded_of(request)
    report = core.analytics(loaded, analytics_query(environment, since))
    return render(
        request,
        "analytics.html.j2",
        report=report,
        charts=analytics_charts(dict(report.series)),
        environment=environment or "",
        since=since,
        environments=sorted(loaded.config.environments),
    )


@router.get("/paths", response_class=HTMLResponse)
def paths(request: Request) -> HTMLResponse:
    from safeship import core

    return render(request, "paths.html.j2", paths=core.paths_status(loaded_of(request)))


@router.get("/drift", response_class=HTMLResponse)
def drift(request: Request) -> HTMLResponse:
    loaded = loaded_of(request)
    results: list[tuple[str, Any, str | None]] = []
    for name in sorted(loaded.config.environments):
        try:
            results.append((name, env_drift(loaded, name), None))
        except Exception as exc:  # one environment's error is its row's, not the page's
            from safeship.dashboard.errors import one_line

            results.append((name, None, one_line(exc)))
    return render(request, "drift.html.j2", results=results)


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request) -> HTMLResponse:
    return render(
        request,
        "jobs.html.j2",
        jobs=job_statuses(request),
        running=getattr(request.app.state, "jobs", None) is not None,
    )
