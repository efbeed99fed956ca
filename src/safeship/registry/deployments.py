"""Deployments repository: the rows of the ``deployments`` table, in plain SQL (see ``sql``).

The metadata bag's known keys are mirrored into the typed columns when written (``path``,
``strategy``, ``rollback.rule``, ``prepush.gate``), so rows written by the bag's callers carry
the typed fields too until those callers use them directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from safeship.registry.errors import RegistryError, check_count, check_fraction, check_text
from safeship.registry.records import (
    PATH_LEN,
    RULE_LEN,
    STATUSES,
    STRATEGY_LEN,
    TERMINAL_STATUSES,
    VERDICT_LEN,
    DeploymentRecord,
)
from safeship.registry.sql import (
    Row,
    Tx,
    db_id,
    db_json,
    db_time,
    to_float,
    to_id,
    to_int,
    to_json,
    to_optional_time,
    to_time,
)

COLUMNS: Final = (
    "id, environment, version, commit_sha, triggered_by, status, started_at, completed_at, "
    "current_step, health_score, error_count, rollback_reason, deployment_metadata, path, "
    "strategy, rollback_rule, gate_verdict"
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
    }
)


def record(row: Row) -> DeploymentRecord:
    metadata = to_json(row[12])
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
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        path=row[13],
        strategy=row[14],
        rollback_rule=row[15],
        gate_verdict=row[16],
    )


def typed_from_metadata(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The typed columns that the bag's keys (as today's callers write them) stand for."""
    typed: dict[str, str] = {}
    if isinstance(metadata.get("path"), str):
        typed["path"] = metadata["path"]
    if isinstance(metadata.get("strategy"), str):
        typed["strategy"] = metadata["strategy"]
    rollback = metadata.get("rollback")
    if isinstance(rollback, Mapping) and isinstance(rollback.get("rule"), str):
        typed["rollback_rule"] = rollback["rule"]
    prepush = metadata.get("prepush")
    if isinstance(prepush, Mapping) and isinstance(prepush.get("gate"), str):
        typed["gate_verdict"] = prepush["gate"]
    return typed


def insert(
    tx: Tx,
    *,
    environment: str,
    version: str,
    commit_sha: str | None,
    triggered_by: str,
    started_at: datetime,
    metadata: Mapping[str, Any],
    typed: Mapping[str, str | None],
) -> str:
    deployment_id = str(uuid.uuid4())
    fields = {**typed_from_metadata(metadata), **{k: v for k, v in typed.items() if v}}
    tx.run(
        "INSERT INTO deployments (id, environment, version, commit_sha, triggered_by, "
        "started_at, status, error_count, deployment_metadata, path, strategy, rollback_rule, "
        "gate_verdict) VALUES (:id, :environment, :version, :commit_sha, :triggered_by, "
        ":started_at, 'pending', 0, :metadata, :path, :strategy, :rollback_rule, :gate_verdict)",
        {
            "id": db_id(deployment_id),
            "environment": environment,
            "version": version,
            "commit_sha": commit_sha,
            "triggered_by": triggered_by,
            "started_at": db_time(tx, started_at),
            "metadata": db_json(dict(metadata)),
            "path": fields.get("path"),
            "strategy": fields.get("strategy"),
            "rollback_rule": fields.get("rollback_rule"),
            "gate_verdict": fields.get("gate_verdict"),
        },
    )
    return deployment_id


def update(
    tx: Tx, deployment_id: str, changes: Mapping[str, object], metadata: Mapping[str, Any]
) -> bool:
    """Set ``changes`` (columns in UPDATABLE) and merge ``metadata`` into the bag (top-level
    keys replace); False when there is no such deployment."""
    # FOR UPDATE (SQLite's BEGIN IMMEDIATE already excludes writers) keeps a concurrent
    # metadata merge from being lost.
    lock = "" if tx.dialect == "sqlite" else " FOR UPDATE"
    key = {"id": db_id(deployment_id)}
    rows = tx.rows(f"SELECT deployment_metadata FROM deployments WHERE id = :id{lock}", key)
    if not rows:
        return False
    values: dict[str, object] = {}
    for column, value in changes.items():
        assert column in UPDATABLE, column
        values[column] = db_time(tx, value) if isinstance(value, datetime) else value
    if metadata:
        stored = to_json(rows[0][0])
        merged = {**(stored if isinstance(stored, Mapping) else {}), **metadata}
        values["deployment_metadata"] = db_json(merged)
        for column, value in typed_from_metadata(metadata).items():
            values.setdefault(column, value)
    if values:
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        tx.run(f"UPDATE deployments SET {assignments} WHERE id = :id", {**values, **key})
    return True


def get(tx: Tx, deployment_id: str) -> DeploymentRecord | None:
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments WHERE id = :id", {"id": db_id(deployment_id)}
    )
    return record(rows[0]) if rows else None


def in_id_range(tx: Tx, low: str, high: str, limit: int) -> list[DeploymentRecord]:
    """Deployments whose id lies within ``low``-``high`` (UUIDs): a prefix search."""
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments WHERE id BETWEEN :low AND :high LIMIT {int(limit)}",
        {"low": db_id(low), "high": db_id(high)},
    )
    return [record(row) for row in rows]


def history(tx: Tx, environment: str | None, limit: int) -> list[DeploymentRecord]:
    where = "" if environment is None else "WHERE environment = :environment "
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments {where}{_NEWEST_FIRST} LIMIT {int(limit)}",
        {"environment": environment} if environment is not None else {},
    )
    return [record(row) for row in rows]


def active(tx: Tx, environment: str) -> list[DeploymentRecord]:
    terminal = sorted(TERMINAL_STATUSES)
    marks = ", ".join(f":t{n}" for n in range(len(terminal)))
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM deployments WHERE environment = :environment "
        f"AND status NOT IN ({marks}) {_NEWEST_FIRST}",
        {"environment": environment, **{f"t{n}": s for n, s in enumerate(terminal)}},
    )
    return [record(row) for row in rows]


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
    return record(rows[0]) if rows else None


def exists(tx: Tx, deployment_id: str) -> bool:
    return bool(tx.rows("SELECT 1 FROM deployments WHERE id = :id", {"id": db_id(deployment_id)}))


_TEXT_LIMITS: Final = {
    "rollback_reason": None,
    "rollback_rule": RULE_LEN,
    "path": PATH_LEN,
    "strategy": STRATEGY_LEN,
    "gate_verdict": VERDICT_LEN,
}


def check_changes(changes: Mapping[str, object]) -> None:
    """RegistryError for a value the column must not take (None values are left alone)."""
    status = changes.get("status")
    if status is not None and status not in STATUSES:
        raise RegistryError(f"unknown status {status!r}; expected one of {sorted(STATUSES)}")
    step = changes.get("current_step")
    if isinstance(step, int) and not 0 <= step <= 100:
        raise RegistryError(f"current_step must be a percentage 0-100, got {step}")
    score = changes.get("health_score")
    check_fraction("health_score", score if isinstance(score, int | float) else None)
    count = changes.get("error_count")
    check_count("error_count", count if isinstance(count, int) else None)
    for column, limit in _TEXT_LIMITS.items():
        value = changes.get(column)
        check_text(column, value if isinstance(value, str) else None, limit, required=False)
