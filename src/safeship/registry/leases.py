"""Environment leases: the registry's lock of one deploy per environment.

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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from safeship.registry.models import EnvironmentLease


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease row as plain data. ``previous``: the expired lease this one replaced, if any."""

    environment: str
    holder: str
    token: str
    deployment_id: str | None
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    previous: Lease | None = None

    @property
    def taken_over(self) -> bool:
        return self.previous is not None

    @classmethod
    def _from_row(cls, row: EnvironmentLease, previous: Lease | None = None) -> Lease:
        return cls(
            environment=row.environment,
            holder=row.holder,
            token=row.token,
            deployment_id=row.deployment_id,
            acquired_at=row.acquired_at,
            heartbeat_at=row.heartbeat_at,
            expires_at=row.expires_at,
            previous=previous,
        )


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


def acquire(
    session: Session,
    environment: str,
    holder: str,
    now: datetime,
    ttl: float,
    replace: str | None,
) -> Lease:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(advisory_key(environment))))
    expires = now + timedelta(seconds=ttl)
    row = session.get(EnvironmentLease, environment, with_for_update=True)
    previous: Lease | None = None
    if row is None:
        row = EnvironmentLease(environment=environment)
        session.add(row)
    elif row.expires_at <= now or (replace is not None and row.token == replace):
        previous = Lease._from_row(row)
    else:
        raise EnvironmentBusy(Lease._from_row(row))
    row.holder = holder
    row.token = str(uuid.uuid4())
    row.deployment_id = None
    row.acquired_at = now
    row.heartbeat_at = now
    row.expires_at = expires
    session.flush()
    return Lease._from_row(row, previous)


def renew(
    session: Session,
    environment: str,
    token: str,
    now: datetime,
    ttl: float,
    deployment_id: str | None,
) -> Lease:
    row = session.get(EnvironmentLease, environment, with_for_update=True)
    if row is None or row.token != token:
        holder = f" (now held by {row.holder})" if row is not None else ""
        raise LeaseLost(f"the lease on {environment} was lost{holder}")
    row.heartbeat_at = now
    row.expires_at = now + timedelta(seconds=ttl)
    if deployment_id is not None:
        row.deployment_id = deployment_id
    session.flush()
    return Lease._from_row(row)


def release(session: Session, environment: str, token: str) -> bool:
    result = session.execute(
        delete(EnvironmentLease).where(
            EnvironmentLease.environment == environment, EnvironmentLease.token == token
        )
    )
    return bool(getattr(result, "rowcount", 0))


def current(session: Session, environment: str) -> Lease | None:
    row = session.get(EnvironmentLease, environment)
    return Lease._from_row(row) if row is not None else None
