"""Events repository: each deployment's event stream (and the environment-level events)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from safeship.registry.records import EventRecord
from safeship.registry.sql import Tx, db_id, db_json, db_time, to_json, to_optional_id, to_time


def insert(
    tx: Tx,
    deployment_id: str | None,
    name: str,
    timestamp: datetime,
    attributes: Mapping[str, Any],
) -> None:
    tx.run(
        "INSERT INTO events (deployment_id, timestamp, name, attributes) "
        "VALUES (:deployment_id, :timestamp, :name, :attributes)",
        {
            "deployment_id": db_id(deployment_id) if deployment_id is not None else None,
            "timestamp": db_time(tx, timestamp),
            "name": name,
            "attributes": db_json(dict(attributes)),
        },
    )


def of_deployment(tx: Tx, deployment_id: str | None) -> list[EventRecord]:
    """Events of one deployment (or the environment-level ones for None), in time order."""
    if deployment_id is None:
        where, params = "deployment_id IS NULL", {}
    else:
        where, params = "deployment_id = :id", {"id": db_id(deployment_id)}
    rows = tx.rows(
        "SELECT id, deployment_id, timestamp, name, attributes FROM events "
        f"WHERE {where} ORDER BY timestamp, id",
        params,
    )
    return [
        EventRecord(
            id=int(row[0]),
            deployment_id=to_optional_id(row[1]),
            timestamp=to_time(row[2]),
            name=row[3],
            attributes=dict(to_json(row[4]) or {}),
        )
        for row in rows
    ]


def log(
    tx: Tx,
    *,
    environment: str | None,
    deployment_id: str | None,
    since: datetime | None,
    after_id: int | None,
    limit: int,
) -> list[EventRecord]:
    """The newest ``limit`` events matching, in the order they were written (``after_id``:
    only those written after that event, as a follower asks)."""
    where: list[str] = ["1 = 1"]
    params: dict[str, object] = {"limit": limit}
    if environment is not None:
        # The environment is in the stored document (environment-level events have no
        # deployment to join), as the RegistrySink writes it.
        field = (
            "json_extract(attributes, '$.environment')"
            if tx.dialect == "sqlite"
            else "(attributes::json ->> 'environment')"
        )
        where.append(f"{field} = :environment")
        params["environment"] = environment
    if deployment_id is not None:
        where.append("deployment_id = :deployment_id")
        params["deployment_id"] = db_id(deployment_id)
    if since is not None:
        where.append("timestamp >= :since")
        params["since"] = db_time(tx, since)
    if after_id is not None:
        where.append("id > :after_id")
        params["after_id"] = after_id
    rows = tx.rows(
        "SELECT id, deployment_id, timestamp, name, attributes FROM events "
        f"WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT :limit",
        params,
    )
    return [
        EventRecord(
            id=int(row[0]),
            deployment_id=to_optional_id(row[1]),
            timestamp=to_time(row[2]),
            name=row[3],
            attributes=dict(to_json(row[4]) or {}),
        )
        for row in reversed(rows)
    ]
