"""The deployment dashboard of the architecture's §5.2, per environment: what serves, the last
ten deployments, the figures of the last days, the health of what it depends on, the alerts.

Everything comes from what is already recorded (the registry's deployments, their check
results, the alert states) and the router's live figures: a page view never runs a health
check. docs/dashboard.md says which stored figure each field comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from safeship.core._records import DeploymentSummary, TrafficRow, deployment_summary, traffic_rows

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.registry import DeploymentRecord, Registry
    from safeship.registry.deployments import WindowFigures
    from safeship.registry.records import CheckResultRecord

Health = Literal["healthy", "degraded", "unhealthy", "unknown"]
RecentStatus = Literal["success", "failed", "rolled_back"]
AlertSeverity = Literal["critical", "warning", "info"]

# The period the success rate, average duration and mean time to recover are taken over.
METRICS_PERIOD: Final = timedelta(days=30)
RECENT_COUNT: Final = 10
# The router's live error rate of what serves: at or above DEGRADED it is degraded, at or
# above UNHEALTHY unhealthy (the default rollback threshold is 5 %).
API_DEGRADED_ERROR_RATE: Final = 0.01
API_UNHEALTHY_ERROR_RATE: Final = 0.05
_CHECK_HEALTH: Final[Mapping[str, Health]] = {
    "ok": "healthy",
    "degraded": "degraded",
    "failed": "unhealthy",
}
# Registry statuses as §5.2's three (aborted: it never served, a failure to deploy).
_RECENT_STATUS: Final[Mapping[str, RecentStatus]] = {
    "succeeded": "success",
    "failed": "failed",
    "aborted": "failed",
    "rolled_back": "rolled_back",
}
# The notification severities as §5.2's three ("error" is above warning: critical).
_ALERT_SEVERITY: Final[Mapping[str, AlertSeverity]] = {
    "critical": "critical",
    "error": "critical",
    "warning": "warning",
    "info": "info",
}
_RANK: Final[Mapping[str, int]] = {"healthy": 0, "unknown": 0, "degraded": 1, "unhealthy": 2}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class CurrentState:
    environment: str
    version: str | None  # None: nothing deployed yet
    deployed_at: datetime | None
    health_score: float | None  # 0.0-1.0, the serving deployment's (None: not measured)
    status: Health

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "version": self.version,
            "deployedAt": _iso(self.deployed_at),
            "healthScore": self.health_score,
            "status": self.status,
        }


@dataclass(frozen=True)
class RecentDeployment:
    id: str
    version: str
    environment: str
    status: RecentStatus
    duration: float | None  # seconds
    deployed_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "environment": self.environment,
            "status": self.status,
            "duration": self.duration,
            "deployedAt": _iso(self.deployed_at),
        }


@dataclass(frozen=True)
class DashboardMetrics:
    deployments_today: int
    deployments_this_week: int
    success_rate: float | None  # percent of the finished deployments of the last 30 days
    average_duration: float | None  # seconds, succeeded deployments of the last 30 days
    # Minutes from a rollback rule firing to the rollback complete (the architecture's §9 mean
    # time to recovery, as `safeship analytics` computes it).
    mean_time_to_recover: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "deploymentsToday": self.deployments_today,
            "deploymentsThisWeek": self.deployments_this_week,
            "successRate": self.success_rate,
            "averageDuration": self.average_duration,
            "meanTimeToRecover": self.mean_time_to_recover,
        }


@dataclass(frozen=True)
class DependencyHealth:
    api: Health
    database: Health
    redis: Health
    external_services: Mapping[str, Health]

    def as_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "database": self.database,
            "redis": self.redis,
            "externalServices": dict(self.external_services),
        }


@dataclass(frozen=True)
class ActiveAlert:
    severity: AlertSeverity
    message: str
    timestamp: datetime  # when it started firing

    def as_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "message": self.message,
            "timestamp": _iso(self.timestamp),
        }


@dataclass(frozen=True)
class EnvironmentDashboard:
    """§5.2's ``DeploymentDashboard`` for one environment, plus what the overview page shows
    beside it (the router's traffic split, a running deployment)."""

    current: CurrentState
    recent: tuple[RecentDeployment, ...]
    metrics: DashboardMetrics
    health: DependencyHealth
    alerts: tuple[ActiveAlert, ...]
    traffic: tuple[TrafficRow, ...] = ()
    running: DeploymentSummary | None = None
    last: DeploymentSummary | None = None
    router_running: bool = False
    # The actions that apply now (links on the pages): "rollback", "promote", "abort".
    actions: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """Exactly §5.2's ``DeploymentDashboard`` (camelCase names, ISO 8601 times)."""
        return {
            "current": self.current.as_json(),
            "recent": [r.as_json() for r in self.recent],
            "metrics": self.metrics.as_json(),
            "health": self.health.as_json(),
            "alerts": [a.as_json() for a in self.alerts],
        }


@dataclass(frozen=True)
class Dashboard:
    generated_at: datetime
    environments: tuple[EnvironmentDashboard, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "generatedAt": _iso(self.generated_at),
            "environments": {e.current.environment: e.as_json() for e in self.environments},
        }


def dashboard(
    loaded: LoadedConfig,
    environment: str | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> Dashboard:
    """The dashboard of every configured environment (or one), from the registry and the
    routers' live figures (no health check is run)."""
    from safeship.pipeline.environment import open_environment
    from safeship.registry import Registry

    now = (clock or (lambda: datetime.now(UTC)))()
    names = [environment] if environment else sorted(loaded.config.environments)
    boards = []
    with Registry(loaded.registry_url()) as registry:
        for name in names:
            env = open_environment(loaded, name)  # an unknown name is the config's error
            traffic: tuple[TrafficRow, ...] = ()
            router_running = env.router.is_running()
            if router_running:
                weights = {b.name: b.weight for b in env.router.backends()}
                stats = {n: s for n, s in env.router.stats().items() if n in weights}
                traffic = traffic_rows(weights, stats)
            boards.append(
                _environment_dashboard(
                    registry, name, _check_kinds(loaded, name), traffic, router_running, now
                )
            )
    return Dashboard(generated_at=now, environments=tuple(boards))


def _check_kinds(loaded: LoadedConfig, environment: str) -> dict[str, str]:
    """Each configured dependency check's name and type (postgres, redis, http, tcp, plugin)."""
    health = loaded.config.environments[environment].health
    return {check.name: getattr(check, "type", "plugin") for check in health.checks}


def _environment_dashboard(
    registry: Registry,
    environment: str,
    check_kinds: Mapping[str, str],
    traffic: tuple[TrafficRow, ...],
    router_running: bool,
    now: datetime,
) -> EnvironmentDashboard:
    # The last ten finished, and the running ones before them (rarely more than one or two).
    latest = registry.history(environment, limit=RECENT_COUNT + 2)
    first_running = next((r for r in latest if not r.is_terminal), None)
    running = deployment_summary(first_running) if first_running is not None else None
    week_start = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    figures, rollbacks = registry.deployment_figures(
        environment, now - METRICS_PERIOD, day_start, week_start
    )
    serving = _serving(registry, environment, latest)
    checks = next((r.checks for r in latest if r.checks), ())
    health = _dependency_health(check_kinds, checks, traffic, router_running, serving)
    alerts = tuple(
        ActiveAlert(
            severity=_ALERT_SEVERITY.get(state.severity, "warning"),
            message=f"{state.condition} firing in {environment}"
            + (f" (deployment {state.deployment_id[:8]})" if state.deployment_id else ""),
            timestamp=state.firing_since,
        )
        for state in registry.firing_alerts(environment)
    )
    current = CurrentState(
        environment=environment,
        version=serving.version if serving else None,
        deployed_at=(serving.completed_at or serving.started_at) if serving else None,
        health_score=serving.health_score if serving else None,
        status=_overall(health, alerts),
    )
    recent = tuple(
        RecentDeployment(
            id=r.id,
            version=r.version,
            environment=r.environment,
            status=_RECENT_STATUS[r.status],
            duration=(r.completed_at - r.started_at).total_seconds() if r.completed_at else None,
            deployed_at=r.started_at,
        )
        for r in latest
        if r.status in _RECENT_STATUS
    )[:RECENT_COUNT]
    actions: list[str] = []
    if running is not None:
        actions += ["promote", "abort"] if running.paused_at else ["abort"]
    if serving is not None:
        actions.append("rollback")
    return EnvironmentDashboard(
        current=current,
        recent=recent,
        metrics=_metrics(figures, rollbacks),
        health=health,
        alerts=alerts,
        traffic=traffic,
        running=running,
        last=deployment_summary(latest[0]) if latest else None,
        router_running=router_running,
        actions=tuple(actions),
    )


def _serving(
    registry: Registry, environment: str, latest: Sequence[DeploymentRecord]
) -> DeploymentRecord | None:
    """The deployment whose release serves: the newest succeeded one."""
    found = next((r for r in latest if r.status == "succeeded"), None)
    return found if found is not None else registry.last_succeeded(environment)


def _metrics(
    figures: WindowFigures, rollbacks: Sequence[tuple[datetime, datetime]]
) -> DashboardMetrics:
    rate = figures.succeeded / figures.finished if figures.finished else None
    average = figures.average_seconds
    return DashboardMetrics(
        deployments_today=figures.today,
        deployments_this_week=figures.this_week,
        success_rate=None if rate is None else round(100 * rate, 1),
        average_duration=None if average is None else round(average, 1),
        mean_time_to_recover=_mean_time_to_recover(rollbacks),
    )


def _mean_time_to_recover(rollbacks: Sequence[tuple[datetime, datetime]]) -> float | None:
    """The mean, in minutes, of each rollback's time from its rule firing to its completion:
    the previous release serves again (the analytics' ``mean_time_to_recovery``)."""
    minutes = [max(0.0, (done - fired).total_seconds() / 60) for fired, done in rollbacks]
    return round(sum(minutes) / len(minutes), 1) if minutes else None


def _dependency_health(
    check_kinds: Mapping[str, str],
    checks: Sequence[CheckResultRecord],
    traffic: Sequence[TrafficRow],
    router_running: bool,
    serving: DeploymentRecord | None,
) -> DependencyHealth:
    latest: dict[str, Health] = {c.name: _CHECK_HEALTH.get(c.status, "unknown") for c in checks}

    def of_kind(kind: str) -> Health:
        found = [latest.get(name, "unknown") for name, k in check_kinds.items() if k == kind]
        return _worst(found) if found else "unknown"

    external = {
        name: latest.get(name, "unknown")
        for name, kind in sorted(check_kinds.items())
        if kind not in ("postgres", "redis")
    }
    return DependencyHealth(
        api=_api_health(traffic, router_running, serving),
        database=of_kind("postgres"),
        redis=of_kind("redis"),
        external_services=external,
    )


def _api_health(
    traffic: Sequence[TrafficRow], router_running: bool, serving: DeploymentRecord | None
) -> Health:
    """The router's live error rate of the releases it serves; without live figures, the
    serving deployment's recorded health score."""
    served = [row for row in traffic if row.weight > 0]
    requests = sum(row.requests for row in served)
    if router_running and not served:
        return "unhealthy"  # a router with no release: every request is refused
    if requests:
        rate = sum(row.errors for row in served) / requests
        if rate >= API_UNHEALTHY_ERROR_RATE:
            return "unhealthy"
        return "degraded" if rate >= API_DEGRADED_ERROR_RATE else "healthy"
    score = serving.health_score if serving is not None else None
    if score is None:
        return "unknown"
    return "healthy" if score >= 0.99 else "degraded" if score >= 0.95 else "unhealthy"


def _worst(values: Sequence[Health]) -> Health:
    return max(values, key=lambda v: _RANK[v])


def _overall(health: DependencyHealth, alerts: Sequence[ActiveAlert]) -> Health:
    """unhealthy when the API or a dependency is, or a critical alert fires; degraded when
    anything is degraded or an alert fires; healthy otherwise (unknown: no figure at all)."""
    parts: list[Health] = [health.api, health.database, health.redis]
    parts += list(health.external_services.values())
    if any(a.severity == "critical" for a in alerts):
        parts.append("unhealthy")
    elif alerts:
        parts.append("degraded")
    if all(p == "unknown" for p in parts):
        return "unknown"
    return _worst(parts)


# -- live: what the dashboard's streams send, read cheaply several times a second ----------


@dataclass(frozen=True)
class LiveDeployment:
    """A deployment's state as a live page shows it: what changes during a rollout."""

    summary: DeploymentSummary
    rollback_rule: str | None
    traffic: tuple[TrafficRow, ...]  # the router's live split and figures while it runs

    def as_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "id": s.id,
            "environment": s.environment,
            "version": s.version,
            "status": s.status,
            "state": s.state,
            "terminal": s.terminal,
            "currentStep": s.current_step,
            "pausedAt": s.paused_at,
            "rollbackReason": s.rollback_reason,
            "rollbackRule": self.rollback_rule,
            "healthScore": s.health_score,
            "traffic": [_traffic_json(row) for row in self.traffic],
        }


@dataclass(frozen=True)
class LiveEnvironment:
    environment: str
    last: DeploymentSummary | None
    running: DeploymentSummary | None
    traffic: tuple[TrafficRow, ...]

    def as_json(self) -> dict[str, Any]:
        def brief(s: DeploymentSummary | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {"id": s.id, "version": s.version, "status": s.status, "state": s.state}

        return {
            "environment": self.environment,
            "last": brief(self.last),
            "running": brief(self.running),
            "traffic": [_traffic_json(row) for row in self.traffic],
        }


def _traffic_json(row: TrafficRow) -> dict[str, Any]:
    p95 = row.p95_ms if row.p95_ms is None or row.p95_ms != float("inf") else None
    return {
        "release": row.release,
        "weight": row.weight,
        "requests": row.requests,
        "errors": row.errors,
        "errorRate": row.error_rate,
        "p95Ms": p95,
    }


class LiveWatcher:
    """Reads the live state of the environments and of given deployments, keeping the
    registry and the routers open between reads.

    Two speeds: ``environments()`` and ``deployment()`` read the registry only (a few indexed
    queries: cheap several times a second) and give the traffic last read by
    ``refresh_traffic()``, which asks the routers of the environments those reads named (a
    router's admin API costs a new HTTP client per call: ~0.1 s each, too slow to wait for on
    every state read). One per process, shared by the dashboard's streams; the two methods
    may run in two threads at once (the registry and the routers can be shared by threads).
    """

    def __init__(self, loaded: LoadedConfig) -> None:
        from safeship.pipeline.environment import open_environment
        from safeship.registry import Registry

        self._registry = Registry(loaded.registry_url())
        self._environments = {
            name: open_environment(loaded, name) for name in sorted(loaded.config.environments)
        }
        self._traffic: dict[str, tuple[TrafficRow, ...]] = {}
        self._wanted: set[str] = set()  # the environments whose traffic the reads showed

    def close(self) -> None:
        self._registry.close()

    def refresh_traffic(self) -> bool:
        """Read the routers of the environments the last reads named; True when a split or
        a figure changed."""
        wanted, self._wanted = self._wanted, set()
        changed = False
        for name in sorted(wanted):
            env = self._environments.get(name)
            rows: tuple[TrafficRow, ...] = ()
            if env is not None and env.router.is_running():
                weights = {b.name: b.weight for b in env.router.backends()}
                stats = {n: s for n, s in env.router.stats().items() if n in weights}
                rows = traffic_rows(weights, stats)
            changed = changed or self._traffic.get(name) != rows
            self._traffic[name] = rows
        return changed

    def environments(self) -> tuple[LiveEnvironment, ...]:
        """Each environment's newest deployment, the running one, and the router's split."""
        found = []
        for name in self._environments:
            active = self._registry.active(name)
            newest = self._registry.history(name, limit=1)
            running = deployment_summary(active[0]) if active else None
            self._wanted.add(name)
            found.append(
                LiveEnvironment(
                    environment=name,
                    last=deployment_summary(newest[0]) if newest else None,
                    running=running,
                    traffic=self._traffic.get(name, ()),
                )
            )
        return tuple(found)

    def deployment(self, deployment_id: str) -> LiveDeployment | None:
        """The deployment's live state (None: no such deployment)."""
        record = self._registry.get(deployment_id)
        if record is None:
            return None
        traffic: tuple[TrafficRow, ...] = ()
        if not record.is_terminal:
            self._wanted.add(record.environment)
            traffic = self._traffic.get(record.environment, ())
        return LiveDeployment(deployment_summary(record), record.rollback_rule, traffic)


def live_watcher(loaded: LoadedConfig) -> LiveWatcher:
    return LiveWatcher(loaded)
