"""The analytics' records and SQL: marks on deployments (a rollback marked a false alarm), the
pre-push gate's runs, the deploy paths' CI runs, and the facts of one period. ``Registry``
calls them through ``analytics_records.AnalyticsRecords``; the SQL is plain and the same on
SQLite and PostgreSQL (see ``sql``).

Reading a period is a handful of queries, each served by an index (``deployments`` by
environment and start or by start, ``events`` by name and time, ``step_results`` by
deployment, ``ci_runs`` by environment and end, ``prepush_runs`` by time): the deployments of
the period come back as narrow rows (no step nor check results), events only for the
rollbacks, and the CI runs, the gate's runs and the latencies already aggregated by the
database (the latencies of the newest versions only).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from safeship.registry.errors import RegistryError, parse_id
from safeship.registry.sql import (
    Tx,
    db_id,
    db_time,
    to_float,
    to_id,
    to_time,
)

MARK_LEN: Final = 32
RUN_ID_LEN: Final = 255
CONCLUSION_LEN: Final = 32
REPOSITORY_LEN: Final = 255
BRANCH_LEN: Final = 255
# The marks a person can put on a deployment.
MARKS: Final = frozenset({"false-alarm"})
# The newest versions the latency series reads (baselined ones, and those of the newest
# deployments).
LATEST_VERSIONS: Final = 100
PrepushVerdict = Literal["passed", "blocked"]

_FACT_COLUMNS: Final = (
    "id, environment, version, commit_sha, triggered_by, status, started_at, completed_at, "
    "path, rollback_rule"
)


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    """The columns of a deployment the analytics read (no step nor check results)."""

    id: str
    environment: str
    version: str
    commit_sha: str | None
    triggered_by: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    path: str | None
    rollback_rule: str | None


@dataclass(frozen=True, slots=True)
class MarkRecord:
    deployment_id: str
    mark: str
    marked_by: str
    marked_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class CiRunTotals:
    """The CI runs of one environment and path that ended with one conclusion in the period."""

    environment: str
    path: str
    conclusion: str
    runs: int
    seconds: float  # summed over the runs whose duration is known
    timed_runs: int  # how many of them had a duration


@dataclass(frozen=True, slots=True)
class PrepushTotals:
    """The pre-push gate's runs of one verdict in the period."""

    verdict: str
    runs: int
    seconds: float


@dataclass(frozen=True, slots=True)
class VersionLatency:
    """A version's latency in an environment in the period: its level-4 baselines' p95
    (averaged over them) and the canary judge's mean latency over its judged steps."""

    environment: str
    version: str
    first_at: datetime
    p95_ms: float | None
    baseline_mean_ms: float | None
    canary_mean_ms: float | None


@dataclass(frozen=True, slots=True)
class AnalyticsFacts:
    """One period's facts, read in one transaction."""

    deployments: tuple[DeploymentFacts, ...]  # started in the period, oldest first
    # Per environment of the period: its newest deployment (finished, not aborted) before the
    # period (rework of the first one), and its first succeeded one after it (recovery of a
    # failure at its end).
    before: dict[str, DeploymentFacts]
    succeeded_before: dict[str, DeploymentFacts]  # its newest succeeded one before (lead time)
    recovered_after: dict[str, DeploymentFacts]
    rollback_triggered: dict[str, datetime]  # rolled-back deployment id: its rollback's start
    false_alarms: frozenset[str]  # ids of the period's deployments marked false-alarm
    ci_runs: tuple[CiRunTotals, ...]
    prepush: tuple[PrepushTotals, ...]
    latency: tuple[VersionLatency, ...]  # by first appearance in the period


# -- the SQL ------------------------------------------------------------------------------------


def check_mark(mark: str) -> None:
    if mark not in MARKS:
        raise RegistryError(f"unknown mark {mark!r}; expected one of {sorted(MARKS)}")


def check_seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise RegistryError(f"{name} must be a number of seconds >= 0, got {value}")


def require(tx: Tx, deployment_id: str) -> str:
    key = parse_id(deployment_id)
    if key is None or not tx.rows("SELECT 1 FROM deployments WHERE id = :id", {"id": db_id(key)}):
        raise RegistryError(f"no deployment {deployment_id!r}")
    return key


def marks(tx: Tx, deployment_id: str, mark: str | None) -> list[MarkRecord]:
    params: dict[str, object] = {"id": db_id(deployment_id)}
    where = ""
    if mark is not None:
        where, params["mark"] = " AND mark = :mark", mark
    rows = tx.rows(
        "SELECT deployment_id, mark, marked_by, marked_at, reason FROM deployment_marks "
        f"WHERE deployment_id = :id{where} ORDER BY marked_at, id",
        params,
    )
    return [MarkRecord(to_id(r[0]), r[1], r[2], to_time(r[3]), r[4]) for r in rows]


def _in(column: str, values: Collection[str] | None, params: dict[str, object], key: str) -> str:
    """`` AND column IN (:key0, ...)`` for ``values`` (added to ``params``); "" for None."""
    if values is None:
        return ""
    names = sorted(values)
    if not names:
        return " AND 1 = 0"
    params.update({f"{key}{n}": name for n, name in enumerate(names)})
    return f" AND {column} IN ({', '.join(f':{key}{n}' for n in range(len(names)))})"


def _time(value: object) -> datetime:
    """A stored time: PostgreSQL's aware datetime as it comes (any zone: the analytics compare
    and subtract instants, and name days and hours in UTC), SQLite's text parsed."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    return to_time(value)


def _facts(row: Sequence[object]) -> DeploymentFacts:
    completed = row[7]
    return DeploymentFacts(
        row[0] if isinstance(row[0], str) and len(row[0]) == 36 else to_id(row[0]),
        row[1],  # type: ignore[arg-type]  # the columns' own types: text and NULL
        row[2],  # type: ignore[arg-type]
        row[3],  # type: ignore[arg-type]
        row[4],  # type: ignore[arg-type]
        row[5],  # type: ignore[arg-type]
        _time(row[6]),
        None if completed is None else _time(completed),
        row[8],  # type: ignore[arg-type]
        row[9],  # type: ignore[arg-type]
    )


def _period(
    tx: Tx, environments: Collection[str] | None, since: datetime, until: datetime, alias: str
) -> tuple[str, dict[str, object]]:
    """The WHERE clause of the deployments of the period (table alias ``alias``)."""
    params: dict[str, object] = {"since": db_time(tx, since), "until": db_time(tx, until)}
    where = f"{alias}.started_at >= :since AND {alias}.started_at < :until"
    where += _in(f"{alias}.environment", environments, params, "env")
    return where, params


def period_deployments(
    tx: Tx, environments: Collection[str] | None, since: datetime, until: datetime
) -> list[DeploymentFacts]:
    where, params = _period(tx, environments, since, until, "d")
    # PostgreSQL hands the ids over as text: building a uuid.UUID per row to print it again is
    # a fifth of reading a big period.
    key = "CAST(d.id AS TEXT)" if tx.dialect == "postgresql" else "d.id"
    columns = ", ".join([key, *(f"d.{c.strip()}" for c in _FACT_COLUMNS.split(",")[1:])])
    rows = tx.rows(
        f"SELECT {columns} FROM deployments d WHERE {where} ORDER BY d.started_at, d.id", params
    )
    return [_facts(row) for row in rows]


_NEIGHBOURS: Final = {
    "before": (
        "started_at < :moment AND status IN ('succeeded', 'rolled_back', 'failed')",
        "started_at DESC, id DESC",
    ),
    "succeeded before": (
        "started_at < :moment AND status = 'succeeded'",
        "started_at DESC, id DESC",
    ),
    "succeeded after": ("started_at >= :moment AND status = 'succeeded'", "started_at, id"),
}


def neighbours(
    tx: Tx, environments: Sequence[str], moment: datetime, which: str
) -> dict[str, DeploymentFacts]:
    """Per environment: its newest finished, not aborted, deployment started before ``moment``
    (``which``: "before"), its newest succeeded one ("succeeded before"), or its first
    succeeded one started at or after it ("succeeded after"). One indexed row each."""
    condition, order = _NEIGHBOURS[which]
    found = {}
    for name in environments:
        rows = tx.rows(
            f"SELECT {_FACT_COLUMNS} FROM deployments WHERE environment = :environment "
            f"AND {condition} ORDER BY {order} LIMIT 1",
            {"environment": name, "moment": db_time(tx, moment)},
        )
        if rows:
            found[name] = _facts(rows[0])
    return found


def rollbacks_started(
    tx: Tx, environments: Collection[str] | None, since: datetime, until: datetime
) -> dict[str, datetime]:
    where, params = _period(tx, environments, since, until, "d")
    # A rollback is triggered after its deployment started: the events from ``since`` on, by
    # name and time (index ix_events_name_timestamp), not every event of the period.
    rows = tx.rows(
        "SELECT e.deployment_id, MIN(e.timestamp) FROM events e "
        "JOIN deployments d ON d.id = e.deployment_id "
        "WHERE e.name = 'rollback.triggered' AND e.timestamp >= :since "
        f"AND {where} AND d.status = 'rolled_back' GROUP BY e.deployment_id",
        params,
    )
    return {to_id(r[0]): to_time(r[1]) for r in rows}


def marked(
    tx: Tx, mark: str, environments: Collection[str] | None, since: datetime, until: datetime
) -> frozenset[str]:
    where, params = _period(tx, environments, since, until, "d")
    rows = tx.rows(
        "SELECT m.deployment_id FROM deployment_marks m "
        f"JOIN deployments d ON d.id = m.deployment_id WHERE {where} AND m.mark = :mark",
        {**params, "mark": mark},
    )
    return frozenset(to_id(r[0]) for r in rows)


def ci_totals(
    tx: Tx, environments: Collection[str] | None, since: datetime, until: datetime
) -> list[CiRunTotals]:
    params: dict[str, object] = {"since": db_time(tx, since), "until": db_time(tx, until)}
    where = "completed_at >= :since AND completed_at < :until"
    where += _in("environment", environments, params, "env")
    rows = tx.rows(
        "SELECT environment, path, conclusion, COUNT(*), SUM(duration_seconds), "
        f"COUNT(duration_seconds) FROM ci_runs WHERE {where} "
        "GROUP BY environment, path, conclusion ORDER BY environment, path, conclusion",
        params,
    )
    return [
        CiRunTotals(str(r[0]), str(r[1]), str(r[2]), int(r[3]), to_float(r[4]) or 0.0, int(r[5]))
        for r in rows
    ]


def prepush_totals(tx: Tx, since: datetime, until: datetime) -> list[PrepushTotals]:
    rows = tx.rows(
        "SELECT verdict, COUNT(*), SUM(duration_seconds) FROM prepush_runs "
        "WHERE ran_at >= :since AND ran_at < :until GROUP BY verdict ORDER BY verdict",
        {"since": db_time(tx, since), "until": db_time(tx, until)},
    )
    return [PrepushTotals(str(r[0]), int(r[1]), to_float(r[2]) or 0.0) for r in rows]


def latency_by_version(
    tx: Tx, environments: Collection[str] | None, since: datetime, until: datetime
) -> list[VersionLatency]:
    """The newest versions' baselines (p95, mean) and judged canary steps (mean) in the
    period: the ``LATEST_VERSIONS`` newest baselined versions, and the versions of the
    ``LATEST_VERSIONS`` newest deployments (a chart of versions shows the recent ones; the
    reads stay bounded however long the period)."""
    params: dict[str, object] = {"since": db_time(tx, since), "until": db_time(tx, until)}
    where = "created_at >= :since AND created_at < :until"
    where += _in("environment", environments, params, "env")
    baselines = tx.rows(
        "SELECT environment, version, MIN(created_at), AVG(p95_ms), AVG(mean_ms) "
        f"FROM baselines WHERE {where} GROUP BY environment, version "
        f"ORDER BY MIN(created_at) DESC LIMIT {LATEST_VERSIONS}",
        params,
    )
    period, step_params = _period(tx, environments, since, until, "n")
    steps = tx.rows(
        "SELECT d.environment, d.version, MIN(d.started_at), AVG(s.canary_latency_ms) "
        "FROM step_results s JOIN deployments d ON d.id = s.deployment_id "
        f"WHERE d.id IN (SELECT n.id FROM deployments n WHERE {period} "
        f"ORDER BY n.started_at DESC LIMIT {LATEST_VERSIONS}) "
        "AND s.canary_latency_ms IS NOT NULL AND s.verdict NOT IN ('promoted', 'rolled_back') "
        "GROUP BY d.environment, d.version",
        step_params,
    )
    found: dict[tuple[str, str], VersionLatency] = {}
    for environment, version, first, p95, mean in baselines:
        key = (str(environment), str(version))
        found[key] = VersionLatency(*key, to_time(first), to_float(p95), to_float(mean), None)
    for environment, version, first, canary in steps:
        key = (str(environment), str(version))
        seen = found.get(key)
        at = to_time(first) if seen is None else min(seen.first_at, to_time(first))
        found[key] = VersionLatency(
            *key,
            at,
            seen.p95_ms if seen else None,
            seen.baseline_mean_ms if seen else None,
            to_float(canary),
        )
    return sorted(found.values(), key=lambda v: (v.first_at, v.environment, v.version))[
        -LATEST_VERSIONS:
    ]


__all__ = [
    "MARKS",
    "AnalyticsFacts",
    "CiRunTotals",
    "DeploymentFacts",
    "MarkRecord",
    "PrepushTotals",
    "VersionLatency",
]
