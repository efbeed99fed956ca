"""The report's series: trends (deployments and success rate per day, durations, recovery
times), performance regression tracking (latency per version) and failure patterns (rollbacks
by rule; failures by path, hour of day, weekday and who triggered them). Pure.

Days, hours and weekdays are UTC: the registry's clock, and the same for every reader.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from safeship.analytics.dora import COUNTED, FAILED, Period, Recovery
from safeship.analytics.records import SeriesPoint
from safeship.registry.analytics_queries import DeploymentFacts, VersionLatency

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A failure without a deploy path ran on the machine that ran `safeship deploy`.
LOCAL_PATH = "local"
UNKNOWN_RULE = "unknown"


def _iso(moment: datetime) -> str:
    """A point's label: the UTC time to the second, ``2026-11-30T14:05:09Z``."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


def days_of(period: Period) -> list[str]:
    """Every UTC day the period touches, oldest first (a chart's axis has no gaps)."""
    first = period.since.astimezone(UTC).date()
    last = (period.until - timedelta(microseconds=1)).astimezone(UTC).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def per_day(
    deployments: Sequence[DeploymentFacts], period: Period
) -> tuple[tuple[SeriesPoint, ...], tuple[SeriesPoint, ...]]:
    """``deployments_per_day`` (value: deployments started; extra: succeeded, failed,
    rolled_back) and ``success_rate_per_day`` (succeeded over finished, not aborted)."""
    by_day: dict[tuple[date, str], int] = Counter(
        (d.started_at.astimezone(UTC).date(), d.status) for d in deployments
    )
    statuses: dict[str, Counter[str]] = {day: Counter() for day in days_of(period)}
    for (when, status), n in by_day.items():
        statuses.setdefault(when.isoformat(), Counter())[status] += n
    counts, rates = [], []
    for day, seen in statuses.items():
        extra = {s: float(seen[s]) for s in ("succeeded", "failed", "rolled_back")}
        counts.append(SeriesPoint(day, float(sum(seen.values())), extra))
        done = sum(seen[s] for s in COUNTED)
        rates.append(SeriesPoint(day, seen["succeeded"] / done if done else None))
    return tuple(counts), tuple(rates)


def durations(deployments: Sequence[DeploymentFacts]) -> tuple[SeriesPoint, ...]:
    """One point per finished deployment: its start, and how long it took (seconds)."""
    return tuple(
        SeriesPoint(_iso(d.started_at), (d.completed_at - d.started_at).total_seconds())
        for d in deployments
        if d.completed_at is not None
    )


def recovery_minutes(recovered: Sequence[Recovery]) -> tuple[SeriesPoint, ...]:
    """One point per failure recovered: the failed deployment's start, minutes to recovery."""
    return tuple(SeriesPoint(_iso(r.failed.started_at), r.minutes) for r in recovered)


def _counted_by(
    rows: Iterable[DeploymentFacts], key: Callable[[DeploymentFacts], str]
) -> tuple[SeriesPoint, ...]:
    """Counts by ``key``, most first (then by label)."""
    counts = Counter(key(d) for d in rows)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(SeriesPoint(label, float(n)) for label, n in ordered)


def rollbacks_by_rule(deployments: Sequence[DeploymentFacts]) -> tuple[SeriesPoint, ...]:
    rolled_back = (d for d in deployments if d.status == "rolled_back")
    return _counted_by(rolled_back, lambda d: d.rollback_rule or UNKNOWN_RULE)


def failure_patterns(deployments: Sequence[DeploymentFacts]) -> dict[str, tuple[SeriesPoint, ...]]:
    """``failures_by_path``, ``_by_hour`` (24 points, "00".."23"), ``_by_weekday`` (7 points,
    Monday first) and ``_by_trigger`` of the failed deployments."""
    failures = [d for d in deployments if d.status in FAILED]
    hours = Counter(d.started_at.astimezone(UTC).hour for d in failures)
    weekdays = Counter(d.started_at.astimezone(UTC).weekday() for d in failures)
    return {
        "failures_by_path": _counted_by(failures, lambda d: d.path or LOCAL_PATH),
        "failures_by_hour": tuple(SeriesPoint(f"{h:02d}", float(hours[h])) for h in range(24)),
        "failures_by_weekday": tuple(
            SeriesPoint(name, float(weekdays[n])) for n, name in enumerate(WEEKDAYS)
        ),
        "failures_by_trigger": _counted_by(failures, lambda d: d.triggered_by),
    }


def latency_by_version(latency: Sequence[VersionLatency]) -> tuple[SeriesPoint, ...]:
    """Per version (in the order versions first appeared): its baselines' p95 (ms) as the
    value; extra: the baselines' mean and the canary judge's mean latency (ms), when known."""
    several = len({v.environment for v in latency}) > 1
    points = []
    for v in latency:
        extra = {
            name: value
            for name, value in (
                ("baseline_mean_ms", v.baseline_mean_ms),
                ("canary_mean_ms", v.canary_mean_ms),
            )
            if value is not None
        }
        label = f"{v.environment}/{v.version}" if several else v.version
        points.append(SeriesPoint(label, v.p95_ms, extra))
    return tuple(points)
