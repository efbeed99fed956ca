"""What the pages and the API share: their query parameters, bounded, and the core calls
behind them (one place, so the history page and /api/deployments filter alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.core import AnalyticsQuery, DeploymentSummary, EnvDrift, JobStatus

MAX_LIMIT: Final = 500
MAX_PERIOD_DAYS: Final = 3650
# The statuses a history filter may name (the registry's), in the order a form lists them.
STATUSES: Final = (
    "succeeded",
    "failed",
    "rolled_back",
    "aborted",
    "pending",
    "validating",
    "awaiting_approval",
    "deploying",
    "verifying",
    "progressing",
    "monitoring",
)


def loaded_of(request: Request) -> LoadedConfig:
    loaded: LoadedConfig = request.app.state.loaded
    return loaded


def _blank_is_none(value: Any) -> Any:
    """A GET form sends an empty field as "": the same as leaving the filter out."""
    return None if isinstance(value, str) and not value.strip() else value


class HistoryParams(BaseModel):
    """The history filters (a GET form on the page, query parameters on the API)."""

    model_config = ConfigDict(extra="ignore")

    environment: Annotated[str | None, Field(max_length=100)] = None
    status: Annotated[list[str], Field(max_length=len(STATUSES))] = []
    version: Annotated[str | None, Field(max_length=255)] = None
    triggered_by: Annotated[str | None, Field(max_length=255)] = None
    path: Annotated[str | None, Field(max_length=100)] = None
    since: date | None = Field(default=None, description="first day (YYYY-MM-DD, UTC)")
    until: date | None = Field(default=None, description="last day (YYYY-MM-DD, UTC), included")
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 50
    before: Annotated[str | None, Field(max_length=36, description="paging cursor")] = None

    _blanks = field_validator(
        "environment", "version", "triggered_by", "path", "since", "until", "before", mode="before"
    )(_blank_is_none)

    @field_validator("status", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> Any:
        values = [value] if isinstance(value, str) else list(value or [])
        values = [v for v in values if isinstance(v, str) and v.strip()]
        unknown = [v for v in values if v not in STATUSES]
        if unknown:
            raise ValueError(f"unknown status {unknown[0][:40]!r}")
        return values

    @field_validator("since", "until")
    @classmethod
    def _within_range(cls, value: date | None) -> date | None:
        if value is not None and abs((datetime.now(UTC).date() - value).days) > MAX_PERIOD_DAYS:
            raise ValueError(f"must be within {MAX_PERIOD_DAYS} days of today")
        return value

    def query_string(self, **changes: Any) -> str:
        """These filters as a URL query (with ``changes``), for the paging links."""
        from urllib.parse import urlencode

        values = self.model_dump() | changes
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            if value is None or value == [] or (key == "limit" and value == 50):
                continue
            for item in value if isinstance(value, list) else [value]:
                pairs.append((key, str(item)))
        return urlencode(pairs)


@dataclass(frozen=True)
class HistoryPage:
    deployments: list[DeploymentSummary]
    next_cursor: str | None  # the id to pass as ``before`` for the next (older) page


def history_page(loaded: LoadedConfig, params: HistoryParams) -> HistoryPage:
    from safeship import core

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=UTC)

    query = core.HistoryQuery(
        environment=params.environment,
        limit=params.limit + 1,  # one more: is there a next page?
        statuses=tuple(params.status),
        version=params.version,
        triggered_by=params.triggered_by,
        path=params.path,
        since=start_of(params.since) if params.since else None,
        until=start_of(params.until) + timedelta(days=1) if params.until else None,
        before=params.before,
    )
    found = core.history(loaded, query)
    shown = found[: params.limit]
    return HistoryPage(shown, shown[-1].id if len(found) > params.limit else None)


def analytics_query(environment: str | None, since: str) -> AnalyticsQuery:
    from safeship import core

    period = core.parse_period(since)
    if period > timedelta(days=MAX_PERIOD_DAYS):
        raise core.UsageError(f"since: at most {MAX_PERIOD_DAYS} days, got {since!r}")
    return core.AnalyticsQuery(environment=environment or None, since=period)


def env_drift(loaded: LoadedConfig, environment: str) -> EnvDrift:
    """The environment's drift from its schema and its last snapshot (keys only)."""
    from safeship import core

    project = core.EnvProject(config=loaded.path)
    return core.env_drift(project, environment, core.EnvSources())


def job_statuses(request: Request) -> tuple[JobStatus, ...]:
    """The background jobs this process runs (none with --no-jobs or before they start)."""
    jobs = getattr(request.app.state, "jobs", None)
    return () if jobs is None else tuple(jobs.statuses())
