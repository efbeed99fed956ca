"""Analytics: the DORA measures, the success metrics and the failure patterns of a period
(``analytics``), a person's mark on a deployment (``mark_deployment``: a rollback that was a
false alarm), and the periods a face accepts (``parse_period``).

The computations are ``safeship.analytics``'s; the registry is opened by the operation (this
module imports neither SQLAlchemy nor git).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from safeship.analytics.records import AnalyticsReport, Measure, SeriesPoint
from safeship.core._health import UsageError
from safeship.core._records import DeploymentSummary, deployment_summary

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.registry import Registry

__all__ = [
    "AnalyticsQuery",
    "AnalyticsReport",
    "DeploymentMark",
    "Measure",
    "SeriesPoint",
    "analytics",
    "mark_deployment",
    "parse_period",
]

# Weeks, which durations elsewhere (``envschema.types.parse_duration``) do not take.
_WEEKS = re.compile(r"(\d{1,6})w")
# The longest period a query may cover: ten years.
MAX_PERIOD: Final = timedelta(days=3660)


@dataclass(frozen=True)
class AnalyticsQuery:
    environment: str | None = None  # None: every environment (DORA: the production ones)
    since: timedelta = timedelta(days=30)
    until: datetime | None = None  # None: now


@dataclass(frozen=True)
class DeploymentMark:
    """A deployment and one of its marks after ``mark_deployment``."""

    deployment: DeploymentSummary
    mark: str
    marked: bool  # the mark is on the deployment now
    changed: bool  # this call put it on (or took it off)
    marked_by: str | None = None
    marked_at: datetime | None = None
    reason: str | None = None


def parse_period(text: str) -> timedelta:
    """``12h``, ``30d``, ``2w`` (or any duration ``safeship logs --since`` takes: ``1d12h``)
    as a timedelta; a one-line UsageError otherwise."""
    from safeship.envschema.types import parse_duration

    spec = text.strip()
    weeks = _WEEKS.fullmatch(spec)
    try:
        period = timedelta(weeks=int(weeks[1])) if weeks else parse_duration(spec)
    except (ValueError, OverflowError):
        raise UsageError(f"--since: {text!r} is not a period (12h, 30d, 2w)") from None
    if not timedelta(0) < period <= MAX_PERIOD:
        raise UsageError(f"--since: {text!r} must be more than 0 and at most 3660d")
    return period


def _check_environment(loaded: LoadedConfig, environment: str | None) -> None:
    configured = loaded.config.environments
    if environment is not None and environment not in configured:
        known = ", ".join(sorted(configured)) or "none"
        raise UsageError(f"unknown environment {environment!r} (configured: {known})")


def analytics(loaded: LoadedConfig, query: AnalyticsQuery) -> AnalyticsReport:
    """The analytics of ``query.environment`` (every environment for None) over the period
    ``query.since`` back from ``query.until`` (now)."""
    from safeship.analytics.compute import build_report, scope
    from safeship.registry import Registry

    _check_environment(loaded, query.environment)
    if not timedelta(0) < query.since <= MAX_PERIOD:
        raise UsageError("the period must be more than 0 and at most 3660 days")
    until = query.until or datetime.now(UTC)
    if until.tzinfo is None:
        raise UsageError("until must be an aware datetime")
    since = until - query.since
    config = loaded.config
    which = scope(config.analytics, config.alerts.production, query.environment)
    with Registry(loaded.registry_url()) as registry:
        facts = registry.analytics_facts(which.read(), since, until)
    return build_report(facts, which, since, until, config.analytics, repo=loaded.base_dir)


def _find(registry: Registry, deployment: str) -> DeploymentSummary:
    from safeship.registry import RegistryError

    try:
        record = registry.get(deployment) or registry.find(deployment)
    except RegistryError as exc:  # not an id nor a prefix of one (or an ambiguous prefix)
        raise UsageError(str(exc)) from None
    if record is None:
        raise UsageError(f"no deployment {deployment!r}")
    return deployment_summary(record)


def mark_deployment(
    loaded: LoadedConfig,
    deployment: str,
    mark: str,
    *,
    by: str | None,
    reason: str | None = None,
    clear: bool = False,
) -> DeploymentMark:
    """Put ``mark`` on ``deployment`` (its id or a prefix of 6+ hex digits), or take it off
    (``clear``). ``false-alarm``: a rollback that should not have happened (only a
    rolled-back deployment takes it). ``by``: who marks it (None: this process's user@host).
    """
    from safeship.pipeline.lease import operator
    from safeship.registry import Registry
    from safeship.registry.analytics_queries import MARKS

    if mark not in MARKS:
        raise UsageError(f"unknown mark {mark!r}; expected one of {', '.join(sorted(MARKS))}")
    with Registry(loaded.registry_url()) as registry:
        summary = _find(registry, deployment)
        if clear:
            removed = registry.clear_mark(summary.id, mark)
            return DeploymentMark(summary, mark, marked=False, changed=removed)
        if mark == "false-alarm" and summary.status != "rolled_back":
            raise UsageError(
                f"deployment {summary.id[:8]} is {summary.status}: only a rolled-back "
                "deployment can be marked false-alarm"
            )
        before = {m.mark for m in registry.deployment_marks(summary.id)}
        stored = registry.mark_deployment(summary.id, mark, by or operator(), reason)
    return DeploymentMark(
        summary,
        mark,
        marked=True,
        changed=mark not in before,
        marked_by=stored.marked_by,
        marked_at=stored.marked_at,
        reason=stored.reason,
    )
