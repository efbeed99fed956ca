"""One report from the registry: the period's facts read in one transaction
(``Registry.analytics_facts``), then the DORA measures, the §9 measures and the series computed
from them (``dora``, ``success``, ``patterns``), and lead time from git (``leadtime``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from safeship.analytics import dora, leadtime, patterns
from safeship.analytics.dora import Period
from safeship.analytics.records import SERIES_NAMES, AnalyticsReport, SeriesPoint
from safeship.analytics.settings import AnalyticsSettings
from safeship.analytics.success import SuccessInputs, success_measures
from safeship.registry.analytics_queries import AnalyticsFacts, DeploymentFacts

NO_REPOSITORY = "no git repository at the config's directory: commit times unknown"


@dataclass(frozen=True)
class Scope:
    """Which environments each part of the report covers."""

    environment: str | None  # the report's; None: every environment
    dora: tuple[str, ...]  # the DORA measures' (the report's environment when named)
    production: tuple[str, ...]  # the configured production environments
    staging: tuple[str, ...]

    def read(self) -> Collection[str] | None:
        """The environments whose facts are read (None: every one)."""
        if self.environment is None:
            return None
        return {self.environment, *self.production, *self.staging}


def scope(
    settings: AnalyticsSettings, alerts_production: Sequence[str], environment: str | None
) -> Scope:
    production = settings.production if settings.production is not None else alerts_production
    return Scope(
        environment,
        (environment,) if environment is not None else tuple(production),
        tuple(production),
        tuple(settings.staging),
    )


def _in(rows: Sequence[DeploymentFacts], names: Collection[str]) -> list[DeploymentFacts]:
    return [d for d in rows if d.environment in names]


def _lead_times(
    facts: AnalyticsFacts, production: Sequence[DeploymentFacts], repo: Path | None
) -> tuple[list[float] | None, str]:
    """Each shipped commit's lead time over the period's succeeded production deploys."""
    succeeded = [d for d in production if d.status == "succeeded" and d.completed_at]
    if not succeeded:
        return None, "no succeeded deployment in the period"
    root = leadtime.repository_of(repo) if repo is not None else None
    if root is None:
        return None, NO_REPOSITORY
    previous = {env: d.commit_sha for env, d in facts.succeeded_before.items()}
    shipped = []
    for d in succeeded:
        assert d.completed_at is not None
        shipped.append((previous.get(d.environment), d.commit_sha, d.completed_at))
        previous[d.environment] = d.commit_sha
    found = leadtime.lead_times(root, shipped)
    return (found.hours or None), found.detail()


def build_report(
    facts: AnalyticsFacts,
    which: Scope,
    since: datetime,
    until: datetime,
    settings: AnalyticsSettings,
    *,
    repo: Path | None,
) -> AnalyticsReport:
    """The report of ``facts`` (read for ``which.read()`` over [since, until)); ``repo``: the
    directory whose git history gives the commit times (None: lead time unknown)."""
    period = Period(since, until)
    everything = facts.deployments
    mine = list(everything) if which.environment is None else _in(everything, {which.environment})
    dora_rows = _in(everything, which.dora)
    lead_hours, lead_detail = _lead_times(facts, dora_rows, repo)
    dora_measures = dora.dora_measures(
        dora_rows,
        period,
        before=facts.before,
        recovered_after=facts.recovered_after,
        lead_time_hours=lead_hours,
        lead_time_detail=lead_detail,
    )
    own = {d.id for d in mine}
    names = None if which.environment is None else {which.environment}
    inputs = SuccessInputs(
        deployments=mine,
        staging=_in(everything, which.staging),
        production=_in(everything, which.production),
        rollback_triggered={k: v for k, v in facts.rollback_triggered.items() if k in own},
        false_alarms=facts.false_alarms & own,
        ci_runs=[t for t in facts.ci_runs if names is None or t.environment in names],
        prepush=facts.prepush,
        ci_price_per_minute=settings.ci_price_per_minute,
        prepush_minutes_saved=settings.prepush_minutes_saved,
    )
    recovered, _ = dora.recoveries(mine, facts.recovered_after)
    counts, rates = patterns.per_day(mine, period)
    series: dict[str, tuple[SeriesPoint, ...]] = {
        "deployments_per_day": counts,
        "success_rate_per_day": rates,
        "duration_seconds": patterns.durations(mine),
        "recovery_minutes": patterns.recovery_minutes(recovered),
        "rollbacks_by_rule": patterns.rollbacks_by_rule(mine),
        "latency_p95_by_version": patterns.latency_by_version(
            [v for v in facts.latency if names is None or v.environment in names]
        ),
        **patterns.failure_patterns(mine),
    }
    assert set(series) == set(SERIES_NAMES)
    return AnalyticsReport(
        environment=which.environment,
        since=since,
        until=until,
        dora=dora_measures,
        success=success_measures(inputs, period),
        series=series,
        dora_environments=which.dora,
    )
