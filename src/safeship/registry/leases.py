"""Environment leases repository: the registry's lock of one deploy per environment.

A lease row names its holder and expires ``ttl`` seconds after its last heartbeat. Acquiring is
one transaction: insert the row, or overwrite it when it has expired (or when the caller proves
its holder dead and names its token), else fail with ``EnvironmentBusy``. On SQLite the
transaction starts with BEGIN IMMEDIATE, which already excludes every other writer; on
PostgreSQL a transaction-level advisory lock per environment serialises acquirers, so two that
both find no row cannot both insert one.

Times are the registry clock's (the runners' clocks): runners sharing a PostgreSQL registry must
keep their clocks within a fraction of the ttl of each other, which NTP does.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

from safeship.registry.records import Lease
from safeship.registry.sql import Row, Tx, db_id, db_time, to_id, to_optional_id, to_time

__all__ = ["EnvironmentBusy", "Lease", "LeaseLost", "when"]

_COLUMNS = "environment, holder, token, deployment_id, acquired_at, heartbeat_at, expires_at"


def when(moment: datetime) -> str:
    """How a lease time is shown: UTC to the second."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class EnvironmentBusy(Exception):
    """Another holder's lease is live; the message is the one line the user sees."""

    def __init__(self, lease: Lease) -> None:
        deployment = lease.deployment_id or "not recorded yet"
        super().__init__(
            f"{lease.environment} is being deployed by {lease.holder} since "
            f"{when(lease.acquired_at)} (deployment {deployment})"
        )
        self.lease = lease


class LeaseLost(Exception):
    """The lease is no longer ours: it expired and another holder took it over."""


def advisory_key(environment: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock, distinct per environment."""
    digest = hashlib.sha256(f"safeship.lease:{environment}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lease(row: Row, previous: Lease | None = None) -> Lease:
    return Lease(
        environment=row[0],
        holder=row[1],
        token=to_id(row[2]),
        deployment_id=to_optional_id(row[3]),
        acquired_at=to_time(row[4]),
        heartbeat_at=to_time(row[5]),
        expires_at=to_time(row[6]),
        previous=previous,
    )


def _row(tx: Tx, environment: str, *, for_update: bool = False) -> Lease | None:
    lock = " FOR UPDATE" if for_update and tx.dialect != "sqlite" else ""
    rows = tx.rows(
        f"SELECT {_COLUMNS} FROM environment_leases WHERE environment = :environment{lock}",
        {"environment": environment},
    )
    return _lease(rows[0]) if rows else None


def acquire(
    tx: Tx, environment: str, holder: str, now: datetime, ttl: float, replace: str | None
) -> Lease:
    if tx.dialect == "postgresql":
        tx.rows("SELECT pg_advisory_xact_lock(:key)", {"key": advisory_key(environment)})
    existing = _row(tx, environment, for_update=True)
    previous: Lease | None = None
    if existing is not None:
        if existing.expires_at <= now or (replace is not None and existing.token == replace):
            previous = existing
        else:
            raise EnvironmentBusy(existing)
    lease = Lease(
        environment=environment,
        holder=holder,
        token=str(uuid.uuid4()),
        deployment_id=None,
        acquired_at=now,
        heartbeat_at=now,
        expires_at=now + timedelta(seconds=ttl),
        previous=previous,
    )
    values = {
        "environment": environment,
        "holder": holder,
        "token": db_id(lease.token),
        "acquired_at": db_time(tx, now),
        "expires_at": db_time(tx, lease.expires_at),
    }
    if existing is None:
        tx.run(
            f"INSERT INTO environment_leases ({_COLUMNS}) VALUES (:environment, :holder, "
            ":token, NULL, :acquired_at, :acquired_at, :expires_at)",
            values,
        )
    else:
        tx.run(
            "UPDATE environment_leases SET holder = :holder, token = :token, "
            "deployment_id = NULL, acquired_at = :acquired_at, heartbeat_at = :acquired_at, "
            "expires_at = :expires_at WHERE environment = :environment",
            values,
        )
    return lease


def renew(
    tx: Tx,
    environment: str,
    token: str,
    now: datetime,
    ttl: float,
    deployment_id: str | None,
) -> Lease:
    existing = _row(tx, environment, for_update=True)
    if existing is None or existing.token != _canonical(token):
        holder = f" (now held by {existing.holder})" if existing is not None else ""
        raise LeaseLost(f"the lease on {environment} was lost{holder}")
    expires = now + timedelta(seconds=ttl)
    tx.run(
        "UPDATE environment_leases SET heartbeat_at = :now, expires_at = :expires, "
        "deployment_id = COALESCE(:deployment_id, deployment_id) WHERE environment = :environment",
        {
            "now": db_time(tx, now),
            "expires": db_time(tx, expires),
            "deployment_id": db_id(deployment_id) if deployment_id is not None else None,
            "environment": environment,
        },
    )
    renewed = _row(tx, environment)
    assert renewed is not None
    return renewed


def release(tx: Tx, environment: str, token: str) -> bool:
    canonical = _canonical(token)
    if canonical is None:
        return False
    return bool(
        tx.run(
            "DELETE FROM environment_leases WHERE environment = :environment AND token = :token",
            {"environment": environment, "token": db_id(canonical)},
        )
    )


def current(tx: Tx, environment: str) -> Lease | None:
    return _row(tx, environment)


def _canonical(token: str) -> str | None:
    try:
        return str(uuid.UUID(token))
    except (ValueError, TypeError, AttributeError):
        return None
