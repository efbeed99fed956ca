"""Environment snapshots repository: an environment's variables over time (secrets as
fingerprints only)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from safeship.registry.errors import RegistryError
from safeship.registry.records import EnvSnapshotRecord
from safeship.registry.sql import Tx, db_id, db_json, db_time, to_id, to_json, to_time


def snapshot_entry(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` as stored; RegistryError when it is malformed or carries a secret's value."""
    value, fingerprint, secret = entry.get("value"), entry.get("fingerprint"), entry.get("secret")
    if set(entry) - {"value", "fingerprint", "secret"} or not isinstance(secret, bool):
        raise RegistryError(f"snapshot entry {name!r} must be {{value, fingerprint, secret}}")
    if secret and (value is not None or not isinstance(fingerprint, str)):
        raise RegistryError(f"snapshot entry {name!r} is secret: store its fingerprint only")
    if not secret and not isinstance(value, str):
        raise RegistryError(f"snapshot entry {name!r} is not secret but has no value")
    return {"value": value, "fingerprint": fingerprint, "secret": secret}


def insert(
    tx: Tx,
    environment: str,
    variables: Mapping[str, Mapping[str, Any]],
    taken_by: str,
    taken_at: datetime,
    fingerprint_key_id: str | None,
) -> str:
    snapshot_id = str(uuid.uuid4())
    tx.run(
        "INSERT INTO env_snapshots (id, environment, taken_at, taken_by, fingerprint_key_id, "
        "variables) VALUES (:id, :environment, :taken_at, :taken_by, :key_id, :variables)",
        {
            "id": db_id(snapshot_id),
            "environment": environment,
            "taken_at": db_time(tx, taken_at),
            "taken_by": taken_by,
            "key_id": fingerprint_key_id,
            "variables": db_json({name: dict(entry) for name, entry in variables.items()}),
        },
    )
    return snapshot_id


def of_environment(tx: Tx, environment: str, limit: int) -> list[EnvSnapshotRecord]:
    """Snapshots of ``environment``, newest first."""
    rows = tx.rows(
        "SELECT id, environment, taken_at, taken_by, fingerprint_key_id, variables "
        "FROM env_snapshots WHERE environment = :environment "
        f"ORDER BY taken_at DESC, id DESC LIMIT {int(limit)}",
        {"environment": environment},
    )
    return [
        EnvSnapshotRecord(
            id=to_id(row[0]),
            environment=row[1],
            taken_at=to_time(row[2]),
            taken_by=row[3],
            fingerprint_key_id=row[4],
            variables={name: dict(entry) for name, entry in (to_json(row[5]) or {}).items()},
        )
        for row in rows
    ]
