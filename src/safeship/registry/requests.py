"""Requests repository: a person's pause/abort/rollback/resume/promote requests to a running
deployment, each marked handled once the deployment acted on it."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from safeship.registry.records import RequestRecord
from safeship.registry.sql import Row, Tx, db_id, db_time, to_id, to_optional_time, to_time

_COLUMNS: Final = "id, deployment_id, kind, requested_by, reason, created_at, handled_at"


def _record(row: Row) -> RequestRecord:
    return RequestRecord(
        id=int(row[0]),
        deployment_id=to_id(row[1]),
        kind=row[2],
        requested_by=row[3],
        reason=row[4],
        created_at=to_time(row[5]),
        handled_at=to_optional_time(row[6]),
    )


def insert(
    tx: Tx,
    deployment_id: str,
    kind: str,
    requested_by: str,
    reason: str | None,
    created_at: datetime,
    handled_at: datetime | None = None,
) -> None:
    tx.run(
        "INSERT INTO deployment_requests (deployment_id, kind, requested_by, reason, "
        "created_at, handled_at) VALUES (:deployment_id, :kind, :requested_by, :reason, "
        ":created_at, :handled_at)",
        {
            "deployment_id": db_id(deployment_id),
            "kind": kind,
            "requested_by": requested_by,
            "reason": reason,
            "created_at": db_time(tx, created_at),
            "handled_at": db_time(tx, handled_at),
        },
    )


def pending(tx: Tx, deployment_id: str) -> RequestRecord | None:
    """The oldest request not handled yet (requests are acted on in the order they came)."""
    rows = tx.rows(
        f"SELECT {_COLUMNS} FROM deployment_requests WHERE deployment_id = :id "
        "AND handled_at IS NULL ORDER BY created_at, id LIMIT 1",
        {"id": db_id(deployment_id)},
    )
    return _record(rows[0]) if rows else None


def of_deployment(tx: Tx, deployment_id: str) -> list[RequestRecord]:
    rows = tx.rows(
        f"SELECT {_COLUMNS} FROM deployment_requests WHERE deployment_id = :id "
        "ORDER BY created_at, id",
        {"id": db_id(deployment_id)},
    )
    return [_record(row) for row in rows]


def mark_handled(tx: Tx, request_id: int, handled_at: datetime) -> bool:
    """False when there is no such request or it was handled already."""
    return bool(
        tx.run(
            "UPDATE deployment_requests SET handled_at = :handled_at "
            "WHERE id = :id AND handled_at IS NULL",
            {"id": int(request_id), "handled_at": db_time(tx, handled_at)},
        )
    )
