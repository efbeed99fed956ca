"""The alerts' states: which conditions fire in each environment, since when, how severe,
when last notified, and where their alerts went (a resolved alert goes there too). The
outbox (``outbox.enqueue``) reads and writes them in the transaction that queues an alert."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from safeship.registry.sql import (
    Row,
    Tx,
    advisory_lock,
    db_id,
    db_json,
    db_time,
    to_json,
    to_optional_id,
    to_time,
)


@dataclass(frozen=True, slots=True)
class AlertState:
    environment: str
    condition: str  # its state_key: the condition, or condition/subject
    severity: str
    firing_since: datetime
    last_notified: datetime
    deployment_id: str | None
    deliveries: tuple[tuple[str, ...], ...]


CONDITION_LEN: Final = 64  # the column's width (migration 0006)


def state_key(condition: str, subject: str | None = None) -> str:
    """What identifies a firing state in its environment (the ``condition`` column): the
    condition, or ``condition/subject`` for one that fires per subject (two secrets due are
    two states). A subject too long for the column is cut and told apart by a hash."""
    if not subject:
        return condition
    key = f"{condition}/{subject}"
    if len(key) <= CONDITION_LEN:
        return key
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:10]
    return f"{key[: CONDITION_LEN - 11]}~{digest}"


_STATE_COLUMNS = (
    "environment, condition, severity, firing_since, last_notified, deployment_id, deliveries"
)


def state(tx: Tx, environment: str, condition: str) -> AlertState | None:
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    rows = tx.rows(
        f"SELECT {_STATE_COLUMNS} FROM alert_states "
        f"WHERE environment = :environment AND condition = :condition{lock}",
        {"environment": environment, "condition": condition},
    )
    return _state(rows[0]) if rows else None


def firing(tx: Tx, environment: str) -> list[AlertState]:
    rows = tx.rows(
        f"SELECT {_STATE_COLUMNS} FROM alert_states WHERE environment = :environment "
        "ORDER BY firing_since",
        {"environment": environment},
    )
    return [_state(row) for row in rows]


def save_state(tx: Tx, new: AlertState) -> None:
    advisory_lock(tx, f"state/{new.environment}/{new.condition}")
    tx.run(
        "DELETE FROM alert_states WHERE environment = :environment AND condition = :condition",
        {"environment": new.environment, "condition": new.condition},
    )
    tx.run(
        f"INSERT INTO alert_states ({_STATE_COLUMNS}) VALUES (:environment, :condition, "
        ":severity, :since, :last, :deployment_id, :deliveries)",
        {
            "environment": new.environment,
            "condition": new.condition,
            "severity": new.severity,
            "since": db_time(tx, new.firing_since),
            "last": db_time(tx, new.last_notified),
            "deployment_id": db_id(new.deployment_id) if new.deployment_id else None,
            "deliveries": db_json([list(d) for d in new.deliveries]),
        },
    )


def clear_state(tx: Tx, environment: str, condition: str) -> bool:
    return bool(
        tx.run(
            "DELETE FROM alert_states WHERE environment = :environment AND condition = :condition",
            {"environment": environment, "condition": condition},
        )
    )


def _state(row: Row) -> AlertState:
    return AlertState(
        environment=row[0],
        condition=row[1],
        severity=row[2],
        firing_since=to_time(row[3]),
        last_notified=to_time(row[4]),
        deployment_id=to_optional_id(row[5]),
        deliveries=tuple(tuple(str(c) for c in d) for d in to_json(row[6]) or []),
    )
