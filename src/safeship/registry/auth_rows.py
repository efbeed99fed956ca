"""The records the auth tables read back as (users, tokens, sessions, audit entries, nonce
uses): their own module, imported on first use, so opening the registry for `safeship status`
does not define them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from safeship.registry.sql import Row, to_optional_time, to_time


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    role: str
    password_hash: str
    created_at: datetime
    password_changed_at: datetime


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    id: int
    user_name: str
    label: str | None
    prefix: str
    digest: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebSessionRecord:
    digest: str
    user_name: str
    role: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    client: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class NonceUse:
    """What using a nonce found: ``first`` True when this use is the one that acts."""

    first: bool
    known: bool
    outcome: str | None = None


def user_record(row: Row) -> UserRecord:
    return UserRecord(row[0], row[1], row[2], to_time(row[3]), to_time(row[4]))


def token_record(row: Row) -> ApiTokenRecord:
    return ApiTokenRecord(
        id=int(row[0]),
        user_name=row[1],
        label=row[2],
        prefix=row[3],
        digest=row[4],
        created_at=to_time(row[5]),
        expires_at=to_optional_time(row[6]),
        last_used_at=to_optional_time(row[7]),
        revoked_at=to_optional_time(row[8]),
    )


def audit_record(row: Row) -> AuditRecord:
    return AuditRecord(int(row[0]), to_time(row[1]), row[2], row[3], row[4], row[5], row[6], row[7])
