"""Deployments repository: the rows of the ``deployments`` table, in plain SQL (see ``sql``),
each read with its step and check results (``results``)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from safeship.registry import results
from safeship.registry.errors import RegistryError, check_count, check_fraction, check_text
from safeship.registry.records import (
    PATH_LEN,
    RULE_LEN,
    STATUSES,
    STRATEGY_LEN,
    TERMINAL_STATUSES,
    VERDICT_LEN,
    VERSION_LEN,
    DeploymentRecord,
)
from safeship.registry.sql import (
    Row,
    Tx,
    db_id,
    db_time,
    to_float,
    to_id,
    to_int,
    to_optional_time,
    to_time,
)

COLUMNS: Final = (
    "id, environment, version, commit_sha, triggered_by, status, started_at, completed_at, "
    "current_step, health_score, error_count, rollback_reason, path, strategy, rollback_rule, "
    "gate_verdict, stable_version, paused_at, notes"
)
_NEWEST_FIRST: Final = "ORDER BY started_at DESC, id DESC"
# Columns an update may set directly (the names are the facade's keyword arguments).
UPDATABLE: Final = frozenset(
    {
        "status",
        "current_step",
        "health_score",
        "error_count",
        "rollback_reason",
        "completed_at",
        "path",
        "strategy",
        "rollback_rule",
        "gate_verdict",
        "stable_version",
        "paused_at",
        "notes",
    }
)
# Columns an update may set back to NULL (``Registry.update_deployment``'s ``cleared``).
CLEARABLE: Final = frozenset({"paused_at"})


def record(row: Row) -> DeploymentRecord:
    return DeploymentRecord(
        id=to_id(row[0]),
        environment=row[1],
        version=row[2],
        commit_sha=row[3],
        triggered_by=row[4],
        status=row[5],
        started_at=to_time(row[6]),
        completed_at=to_optional_time(row[7]),
        current_step=to_int(row[8]),
        health_score=to_float(row[9]),
        error_count=to_int(row[10]) or 0,
        rollback_reason=row[11],
        path=row[12],
        strategy=row[13],
        rollback_rule=row[14],
        gate_verdict=row[15],
        stable_version=row[16],
        paused_at=to_int(row[17]),
        notes=row[18],
    )


def _with_steps(tx: Tx, rows: list[Row]) -> list[DeploymentRecord]:
    found = [record(row) for row in rows]
    ids = [r.id for r in found]
    steps, checks = results.steps_of(tx, ids), results.checks_of(tx, ids)
    return [
        dataclasses.replace(r, steps=tuple(steps.get(r.id, ())), checks=tuple(checks.get(r.id, ())))
        for r in found
    ]


def insert(
    tx: Tx,
    *,
    environment: str,
    version: str,
    commit_sha: str | None,
    triggered_by: str,
    started_at: datetime,
    typed: Mapping[str, str | None],
) -> str:
    deployment_id = str(uuid.uuid4())
    tx.run(
        "INSERT INTO deployments (id, environment, version, commit_sha, triggered_by, "
        "started_at, status, error_count, path, strategy, rollback_rule, gate_verdict, "
        "stable_version, notes) VALUES (:id, :environment, :version, :commit_sha, "
        ":triggered_by, :started_at, 'pending', 0, :path, :strategy, :rollback_rule, "
        ":gate_verdict, :stable_version, :notes)",
        {
            "id": db_id(deployment_id),
            "environment": environment,
            "version": version,
            "commit_sha": commit_sha,
            "triggered_by": triggered_by,
            "started_at": db_time(tx, started_at),
            **{
                column: typed.get(column)
                for column in (
                    "path",
                    "strategy",
                    "rollback_rule",
                    "gate_verdict",
                    "stable_version",
                    "notes",
                )
            },
        },
    )
    return deployment_id


def update(tx: Tx, deployment_id: str, changes: Mapping[str, object]) -> bool:
    """Set ``changes`` (columns in UPDATABLE; None sets NULL); False when there is no such
    deployment."""
    key = {"id": db_id(deployment_id)}
    values: dict[str, object] = {}
    for column, value in changes.items():
        assert column in UPDATABLE, column
        values[column] = db_time(tx, value) if isinstance(value, datetime) else value
    if not values:
        return exists(tx, deployment_id)
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    return bool(tx.run(f"UPDATE deployments SET {assignments} WHERE id = :id", {**values, **key}))


def get(tx: Tx, deployment_id: str) -> DeploymentRecord | None:
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments WHERE id = :id", {"id": db_id(deployment_id)}
    )
    return _with_steps(tx, rows[:1])[0] if rows else None


def in_id_range(tx: Tx, low: str, high: str, limit: int) -> list[DeploymentRecord]:
    """Deployments whose id lies within ``low``-``high`` (UUIDs): a prefix search."""
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments WHERE id BETWEEN :low AND :high LIMIT {int(limit)}",
        {"low": db_id(low), "high": db_id(high)},
    )
    return _with_steps(tx, rows)


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """Which deployments a history page lists (every field optional; all given must match).

    ``before`` is a paging cursor: a deployment id; only deployments older than it (in the
    newest-first order, ties broken by id) are listed, so the next page is one indexed range
    scan however deep the paging goes (an OFFSET would read every skipped row).
    """

    environment: str | None = None
    statuses: tuple[str, ...] = ()
    version: str | None = None
    triggered_by: str | None = None
    path: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: str | None = None


def history(tx: Tx, filters: HistoryFilter, limit: int) -> list[DeploymentRecord]:
    conditions: list[str] = []
    params: dict[str, object] = {}
    for column in ("environment", "version", "triggered_by", "path"):
        value = getattr(filters, column)
        if value is not None:
            conditions.append(f"{column} = :{column}")
            params[column] = value
    if filters.statuses:
        marks = ", ".join(f":s{n}" for n in range(len(filters.statuses)))
        conditions.append(f"status IN ({marks})")
        params.update({f"s{n}": s for n, s in enumerate(filters.statuses)})
    if filters.since is not None:
        conditions.append("started_at >= :since")
        params["since"] = db_time(tx, filters.since)
    if filters.until is not None:
        conditions.append("started_at < :until")
        params["until"] = db_time(tx, filters.until)
    if filters.before is not None:
        # Keyset paging: strictly after the cursor row in (started_at DESC, id DESC) order.
        conditions.append(
            "(started_at < (SELECT started_at FROM deployments WHERE id = :before) "
            "OR (started_at = (SELECT started_at FROM deployments WHERE id = :before) "
            "AND id < :before))"
        )
        params["before"] = db_id(filters.before)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments {where}{_NEWEST_FIRST} LIMIT {int(limit)}", params
    )
    return _with_steps(tx, rows)


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """An environment's deployment counts and durations over a window (the dashboard's
    figures), computed by the database: one aggregate over an index range, no row shipped."""

    today: int  # started since ``day_start``
    this_week: int  # started since ``week_start``
    finished: int  # in a terminal status among those started since ``since``
    succeeded: int
    average_seconds: float | None  # completed - started of the succeeded ones


def _seconds_between(tx: Tx, start: str, end: str) -> str:
    if tx.dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM ({end} - {start}))"
    return f"(julianday({end}) - julianday({start})) * 86400.0"


def window_figures(
    tx: Tx, environment: str, since: datetime, day_start: datetime, week_start: datetime
) -> WindowFigures:
    terminal = sorted(TERMINAL_STATUSES)
    marks = ", ".join(f":t{n}" for n in range(len(terminal)))
    earliest = min(since, day_start, week_start)
    seconds = _seconds_between(tx, "started_at", "completed_at")
    rows = tx.rows(
        "SELECT "
        "SUM(CASE WHEN started_at >= :day THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN started_at >= :week THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN started_at >= :since AND status IN ({marks}) THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN started_at >= :since AND status = 'succeeded' THEN 1 ELSE 0 END), "
        f"AVG(CASE WHEN started_at >= :since AND status = 'succeeded' "
        f"AND completed_at IS NOT NULL THEN {seconds} END) "
        "FROM deployments WHERE environment = :environment AND started_at >= :earliest",
        {
            "environment": environment,
            "day": db_time(tx, day_start),
            "week": db_time(tx, week_start),
            "since": db_time(tx, since),
            "earliest": db_time(tx, earliest),
            **{f"t{n}": status for n, status in enumerate(terminal)},
        },
    )
    today, week, finished, succeeded, average = rows[0] if rows else (0, 0, 0, 0, None)
    return WindowFigures(
        today=int(today or 0),
        this_week=int(week or 0),
        finished=int(finished or 0),
        succeeded=int(succeeded or 0),
        average_seconds=None if average is None else float(average),
    )


def rollback_times(tx: Tx, environment: str, since: datetime) -> list[tuple[datetime, datetime]]:
    """Each deployment of ``environment`` started since ``since`` and rolled back (oldest
    first): when its rollback rule fired (its first ``rollback.triggered`` event) and when the
    rollback completed. One without a recorded trigger is left out."""
    rows = tx.rows(
        "SELECT (SELECT MIN(e.timestamp) FROM events e WHERE e.deployment_id = f.id "
        "AND e.name = 'rollback.triggered'), f.completed_at FROM deployments f "
        "WHERE f.environment = :environment AND f.started_at >= :since "
        "AND f.status = 'rolled_back' AND f.completed_at IS NOT NULL ORDER BY f.started_at",
        {"environment": environment, "since": db_time(tx, since)},
    )
    return [(to_time(row[0]), to_time(row[1])) for row in rows if row[0] is not None]


def active(tx: Tx, environment: str) -> list[DeploymentRecord]:
    # The statuses that are not terminal, named (every status written is one of STATUSES): an
    # IN list is looked up in ix_deployments_environment_status, a NOT IN scanned every row.
    running = sorted(STATUSES - TERMINAL_STATUSES)
    marks = ", ".join(f":s{n}" for n in range(len(running)))
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments WHERE environment = :environment "
        f"AND status IN ({marks}) {_NEWEST_FIRST}",
        {"environment": environment, **{f"s{n}": s for n, s in enumerate(running)}},
    )
    return _with_steps(tx, rows)


def last_succeeded(tx: Tx, environment: str, before: str | None) -> DeploymentRecord | None:
    params: dict[str, object] = {"environment": environment}
    where = ""
    if before is not None:
        where = " AND started_at < (SELECT started_at FROM deployments WHERE id = :before)"
        params["before"] = db_id(before)
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments WHERE environment = :environment "
        f"AND status = 'succeeded'{where} {_NEWEST_FIRST} LIMIT 1",
        params,
    )
    return _with_steps(tx, rows[:1])[0] if rows else None


def exists(tx: Tx, deployment_id: str) -> bool:
    return bool(tx.rows("SELECT 1 FROM deployments WHERE id = :id", {"id": db_id(deployment_id)}))


_TEXT_LIMITS: Final = {
    "rollback_reason": None,
    "rollback_rule": RULE_LEN,
    "path": PATH_LEN,
    "strategy": STRATEGY_LEN,
    "gate_verdict": VERDICT_LEN,
    "stable_version": VERSION_LEN,
    "notes": None,
}


def check_changes(changes: Mapping[str, object]) -> None:
    """RegistryError for a value the column must not take (None values are left alone)."""
    status = changes.get("status")
    if status is not None and status not in STATUSES:
        raise RegistryError(f"unknown status {status!r}; expected one of {sorted(STATUSES)}")
    step = changes.get("current_step")
    if isinstance(step, int) and not 0 <= step <= 100:
        raise RegistryError(f"current_step must be a percentage 0-100, got {step}")
    paused = changes.get("paused_at")
    if isinstance(paused, int) and not 0 <= paused <= 100:
        raise RegistryError(f"paused_at must be a percentage 0-100, got {paused}")
    score = changes.get("health_score")
    check_fraction("health_score", score if isinstance(score, int | float) else None)
    count = changes.get("error_count")
    check_count("error_count", count if isinstance(count, int) else None)
    for column, limit in _TEXT_LIMITS.items():
        value = changes.get(column)
        check_text(column, value if isinstance(value, str) else None, limit, required=False)
