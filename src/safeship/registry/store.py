"""The deployment registry: one row per deployment, plus its event stream.

Every write is its own committed transaction, because the pipeline records each transition
before acting on it (write-ahead): whatever the orchestrator did last is on disk even if it is
killed right after. A ``Registry`` holds only an engine (a connection pool), so one instance can
be shared by threads.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.request import pathname2url

from alembic.util import CommandError
from sqlalchemy import Connection, Engine, String, create_engine, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import StaticPool

from safeship._files import FILE_MODE, make_private, private_dir
from safeship.deployment_status import TERMINAL, Status
from safeship.registry import leases, migrations
from safeship.registry.leases import Lease
from safeship.registry.models import Base, Deployment, EnvironmentLease, EnvSnapshot, Event

# The state machine owns the statuses; the registry only checks what it is given against them.
STATUSES: Final = frozenset(status.value for status in Status)
TERMINAL_STATUSES: Final = frozenset(status.value for status in TERMINAL)

# Long enough for another runner's migration or write to finish; writes here are tiny.
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
# Without it an unreachable PostgreSQL host can hang an opener for minutes (TCP retries).
PG_CONNECT_TIMEOUT_S: Final = 10
MIN_PREFIX: Final = 6

# Execution option read by the SQLite "begin" hook (see _sqlite_on_begin).
_IMMEDIATE: Final = "safeship_sqlite_immediate"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


class RegistryError(Exception):
    """Any registry failure: bad URL, unreachable database, invalid argument, unknown id."""


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """A deployment row as plain data (detached from any session; ``metadata`` is a copy)."""

    id: str
    environment: str
    version: str
    commit_sha: str | None
    triggered_by: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    current_step: int | None
    health_score: float | None
    error_count: int
    rollback_reason: str | None
    metadata: dict[str, Any]

    @property
    def duration_seconds(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def _from_row(cls, row: Deployment) -> DeploymentRecord:
        return cls(
            id=row.id,
            environment=row.environment,
            version=row.version,
            commit_sha=row.commit_sha,
            triggered_by=row.triggered_by,
            status=row.status,
            started_at=row.started_at,
            completed_at=row.completed_at,
            current_step=row.current_step,
            health_score=row.health_score,
            error_count=row.error_count,
            rollback_reason=row.rollback_reason,
            metadata=dict(row.deployment_metadata),
        )


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event row as plain data; ``deployment_id`` is None for environment-level events."""

    id: int
    deployment_id: str | None
    timestamp: datetime
    name: str
    attributes: dict[str, Any]

    @classmethod
    def _from_row(cls, row: Event) -> EventRecord:
        return cls(
            id=row.id,
            deployment_id=row.deployment_id,
            timestamp=row.timestamp,
            name=row.name,
            attributes=dict(row.attributes),
        )


@dataclass(frozen=True, slots=True)
class EnvSnapshotRecord:
    """An environment snapshot as plain data; ``variables`` as ``Registry.add_env_snapshot``."""

    id: str
    environment: str
    taken_at: datetime
    taken_by: str
    fingerprint_key_id: str | None
    variables: dict[str, dict[str, Any]]

    @classmethod
    def _from_row(cls, row: EnvSnapshot) -> EnvSnapshotRecord:
        return cls(
            id=row.id,
            environment=row.environment,
            taken_at=row.taken_at,
            taken_by=row.taken_by,
            fingerprint_key_id=row.fingerprint_key_id,
            variables={name: dict(entry) for name, entry in row.variables.items()},
        )


class Registry:
    """Deployment registry on ``sqlite:///path.db`` or ``postgresql://...``.

    Opening it applies pending migrations (safe when several processes open it at once).

    A SQLite registry file is private (0600, its new directories 0700) and is never created by
    reading: until the first write, a registry whose file does not exist reads as empty, so
    ``history`` and ``status`` leave a configured path alone. The first write builds the
    database complete under a temporary name and links it into place; an existing file of 0
    bytes therefore never is one safeship made (it was truncated) and is refused rather than
    silently re-created, which would lose the history. A file this process may not write (or
    in a directory it may not write, such as a read-only ``.safeship/``) is opened read-only:
    reads work, writes fail with one line.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] | None = None) -> None:
        parsed = _parse_url(url)
        self._parsed = parsed
        self._password = parsed.password
        # Shown in messages as the user wrote it (before the driver mapping), password masked.
        self.url = make_url(url).render_as_string(hide_password=True)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._creating = threading.Lock()
        self.path = sqlite_file(parsed)
        self.readonly = False
        self._missing = False
        if self.path is not None:
            state = file_state(self.path)
            if state == "empty":
                raise RegistryError(empty_registry_message(self.path))
            self._missing = state == "missing"
            self.readonly = state == "readonly"
        if self._missing:
            self._use(_empty_engine())
        elif self.readonly:
            assert self.path is not None
            self._use(readonly_engine(self.path))
            self._check_revision()
        else:
            self._open_writable(parsed)

    @property
    def exists(self) -> bool:
        """False while a SQLite registry's file has not been created (nothing was written)."""
        return not self._missing

    def _use(self, engine: Engine) -> None:
        self._engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._writer = engine.execution_options(**{_IMMEDIATE: True})
        self._write = sessionmaker(self._writer, expire_on_commit=False)

    def _open_writable(self, parsed: URL) -> None:
        try:
            self._use(_create_engine(parsed))
        except ArgumentError as exc:
            raise RegistryError(f"invalid registry URL {self.url}: {first_line(exc)}") from exc
        self._migrate(self._writer)
        if self.path is not None:
            for path in _sqlite_files(self.path):
                with contextlib.suppress(PermissionError):
                    make_private(path)

    def _migrate(self, writer: Engine) -> None:
        try:
            migrations.upgrade(writer)
        except SQLAlchemyError as exc:
            writer.dispose()
            raise RegistryError(f"cannot open registry {self.url}: {self._describe(exc)}") from exc
        except CommandError as exc:
            # Typically a revision this code does not know: a newer safeship migrated it.
            writer.dispose()
            raise RegistryError(
                f"cannot open registry {self.url}: {first_line(exc)} "
                "(was it upgraded by a newer safeship?)"
            ) from exc

    def _check_revision(self) -> None:
        """A read-only registry cannot be migrated: it must already be at this code's head."""
        head = migrations.head_revision()
        try:
            with self._engine.connect() as connection:
                revision = migrations.current_revision(connection)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise RegistryError(f"cannot open registry {self.url}: {self._describe(exc)}") from exc
        if revision != head:
            self._engine.dispose()
            raise RegistryError(
                f"registry {self.url} is read-only and at revision {revision or 'none'}, "
                f"not {head}: open it once where it can be written to migrate it"
            )

    def _ensure_writable(self) -> None:
        """Before a write: refuse on a read-only file; create a missing one (see the class)."""
        if self.readonly:
            raise RegistryError(
                f"registry {self.url} is read-only here (no write permission on the file or "
                "its directory)"
            )
        if not self._missing:
            return
        with self._creating:
            if not self._missing:
                return
            assert self.path is not None
            try:
                _create_sqlite_file(self.path, self._migrate)
            except OSError as exc:
                raise RegistryError(f"cannot create registry {self.url}: {exc}") from exc
            if file_state(self.path) == "empty":  # another program made it meanwhile
                raise RegistryError(empty_registry_message(self.path))
            previous = self._engine
            self._open_writable(self._parsed)
            self._missing = False
            previous.dispose()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- deployments -------------------------------------------------------------------------

    def create_deployment(
        self,
        environment: str,
        version: str,
        commit_sha: str | None,
        triggered_by: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Record a new pending deployment and return its id (a UUID4 string)."""
        _check_text(Deployment.environment, environment)
        _check_text(Deployment.version, version)
        _check_text(Deployment.commit_sha, commit_sha, required=False)
        _check_text(Deployment.triggered_by, triggered_by)
        row = Deployment(
            id=str(uuid.uuid4()),
            environment=environment,
            version=version,
            commit_sha=commit_sha,
            triggered_by=triggered_by,
            started_at=self._now(),
            status="pending",
            error_count=0,
            deployment_metadata=_json_object("metadata", metadata),
        )
        with self._writing("create deployment") as session:
            session.add(row)
        return row.id

    def update_deployment(
        self,
        deployment_id: str,
        *,
        status: str | None = None,
        current_step: int | None = None,
        health_score: float | None = None,
        error_count: int | None = None,
        rollback_reason: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        completed: bool = False,
    ) -> None:
        """Change the given fields (None leaves a field as it is) in one committed transaction.

        ``metadata`` is merged into the stored JSON (top-level keys replace); ``completed``
        stamps completed_at with the current time.
        """
        if status is not None and status not in STATUSES:
            raise RegistryError(f"unknown status {status!r}; expected one of {sorted(STATUSES)}")
        if current_step is not None and not 0 <= current_step <= 100:
            raise RegistryError(f"current_step must be a percentage 0-100, got {current_step}")
        if health_score is not None and not (
            math.isfinite(health_score) and 0.0 <= health_score <= 1.0
        ):
            raise RegistryError(f"health_score must be within 0.0-1.0, got {health_score}")
        if error_count is not None and error_count < 0:
            raise RegistryError(f"error_count must not be negative, got {error_count}")
        _check_text(Deployment.rollback_reason, rollback_reason, required=False)
        changes = _json_object("metadata", metadata)
        key = _parse_id(deployment_id)
        completed_at = self._now() if completed else None
        with self._writing("update deployment") as session:
            # FOR UPDATE (a no-op on SQLite, whose BEGIN IMMEDIATE already excludes writers)
            # keeps a concurrent metadata merge from being lost.
            row = session.get(Deployment, key, with_for_update=True) if key else None
            if row is None:
                raise RegistryError(f"no deployment {deployment_id!r}")
            if status is not None:
                row.status = status
            if current_step is not None:
                row.current_step = current_step
            if health_score is not None:
                row.health_score = health_score
            if error_count is not None:
                row.error_count = error_count
            if rollback_reason is not None:
                row.rollback_reason = rollback_reason
            if changes:
                # A new dict, so the ORM sees the JSON column change.
                row.deployment_metadata = {**row.deployment_metadata, **changes}
            if completed_at is not None:
                row.completed_at = completed_at

    def get(self, deployment_id: str) -> DeploymentRecord | None:
        key = _parse_id(deployment_id)
        if key is None:
            return None
        with self._reading("get deployment") as session:
            row = session.get(Deployment, key)
            return DeploymentRecord._from_row(row) if row else None

    def find(self, prefix: str) -> DeploymentRecord | None:
        """The deployment whose id starts with ``prefix`` (>= 6 hex digits), or None.

        Raises RegistryError when the prefix is ambiguous. Matching is a range over the id's
        hex digits, which orders the same on a native UUID (PostgreSQL) and CHAR(32) (SQLite).
        """
        digits = prefix.replace("-", "").lower()
        if len(digits) < MIN_PREFIX or len(digits) > 32 or not _is_hex(digits):
            raise RegistryError(f"id prefix must be {MIN_PREFIX}-32 hex digits, got {prefix!r}")
        low = str(uuid.UUID(digits.ljust(32, "0")))
        high = str(uuid.UUID(digits.ljust(32, "f")))
        stmt = select(Deployment).where(Deployment.id.between(low, high)).limit(2)
        with self._reading("find deployment") as session:
            rows = session.scalars(stmt).all()
            if len(rows) > 1:
                raise RegistryError(f"id prefix {prefix!r} matches more than one deployment")
            return DeploymentRecord._from_row(rows[0]) if rows else None

    def history(self, environment: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
        """Deployments, newest first, optionally of one environment."""
        if limit < 1:
            raise RegistryError(f"limit must be positive, got {limit}")
        stmt = select(Deployment)
        if environment is not None:
            stmt = stmt.where(Deployment.environment == environment)
        stmt = stmt.order_by(*_NEWEST_FIRST).limit(limit)
        with self._reading("read history") as session:
            return [DeploymentRecord._from_row(row) for row in session.scalars(stmt)]

    def active(self, environment: str) -> list[DeploymentRecord]:
        """Deployments of ``environment`` not yet in a terminal status, newest first."""
        stmt = (
            select(Deployment)
            .where(
                Deployment.environment == environment,
                Deployment.status.not_in(TERMINAL_STATUSES),
            )
            .order_by(*_NEWEST_FIRST)
        )
        with self._reading("read active deployments") as session:
            return [DeploymentRecord._from_row(row) for row in session.scalars(stmt)]

    def last_succeeded(
        self, environment: str, before: str | None = None
    ) -> DeploymentRecord | None:
        """The newest succeeded deployment of ``environment``.

        With ``before`` (a deployment id), the newest one that started before that deployment:
        the baseline to compare a new release with, or the version to roll back to.
        """
        stmt = select(Deployment).where(
            Deployment.environment == environment, Deployment.status == "succeeded"
        )
        with self._reading("read last succeeded") as session:
            if before is not None:
                key = _parse_id(before)
                anchor = session.get(Deployment, key) if key else None
                if anchor is None:
                    raise RegistryError(f"no deployment {before!r}")
                stmt = stmt.where(Deployment.started_at < anchor.started_at)
            row = session.scalars(stmt.order_by(*_NEWEST_FIRST).limit(1)).first()
            return DeploymentRecord._from_row(row) if row else None

    # -- events ------------------------------------------------------------------------------

    def add_event(
        self,
        deployment_id: str | None,
        name: str,
        timestamp: datetime,
        attributes: Mapping[str, Any],
    ) -> None:
        """Append an event; ``deployment_id`` None marks an environment-level event."""
        _check_text(Event.name, name)
        if timestamp.tzinfo is None or timestamp.utcoffset() is None:
            raise RegistryError(f"event timestamp {timestamp.isoformat()} has no time zone")
        key = None
        if deployment_id is not None:
            key = _parse_id(deployment_id)
            if key is None:
                raise RegistryError(f"no deployment {deployment_id!r}")
        row = Event(
            deployment_id=key,
            name=name,
            timestamp=timestamp,
            attributes=_json_object("attributes", attributes),
        )
        try:
            with self._writing("add event") as session:
                session.add(row)
        except RegistryError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise RegistryError(f"no deployment {deployment_id!r}") from exc
            raise

    def events(self, deployment_id: str | None) -> list[EventRecord]:
        """Events of one deployment (or the environment-level ones for None), in time order."""
        stmt = select(Event).order_by(Event.timestamp, Event.id)
        if deployment_id is None:
            stmt = stmt.where(Event.deployment_id.is_(None))
        else:
            key = _parse_id(deployment_id)
            if key is None:
                return []
            stmt = stmt.where(Event.deployment_id == key)
        with self._reading("read events") as session:
            return [EventRecord._from_row(row) for row in session.scalars(stmt)]

    # -- environment snapshots ---------------------------------------------------------------

    def add_env_snapshot(
        self,
        environment: str,
        variables: Mapping[str, Mapping[str, Any]],
        taken_by: str,
        *,
        fingerprint_key_id: str | None = None,
    ) -> str:
        """Record an environment's variables; returns the snapshot's id.

        ``variables`` maps each name to ``{"value": str | None, "fingerprint": str | None,
        "secret": bool}``. A secret entry must carry a fingerprint and no value: the registry
        refuses to store a secret's value.
        """
        _check_text(EnvSnapshot.environment, environment)
        _check_text(EnvSnapshot.taken_by, taken_by)
        _check_text(EnvSnapshot.fingerprint_key_id, fingerprint_key_id, required=False)
        stored = {name: _snapshot_entry(name, entry) for name, entry in variables.items()}
        row = EnvSnapshot(
            id=str(uuid.uuid4()),
            environment=environment,
            taken_at=self._now(),
            taken_by=taken_by,
            fingerprint_key_id=fingerprint_key_id,
            variables=_json_object("variables", stored),
        )
        with self._writing("add env snapshot") as session:
            session.add(row)
        return row.id

    def env_snapshots(self, environment: str, limit: int = 50) -> list[EnvSnapshotRecord]:
        """Snapshots of ``environment``, newest first."""
        if limit < 1:
            raise RegistryError(f"limit must be positive, got {limit}")
        stmt = (
            select(EnvSnapshot)
            .where(EnvSnapshot.environment == environment)
            .order_by(EnvSnapshot.taken_at.desc(), EnvSnapshot.id.desc())
            .limit(limit)
        )
        with self._reading("read env snapshots") as session:
            return [EnvSnapshotRecord._from_row(row) for row in session.scalars(stmt)]

    # -- environment leases (one deploy per environment; see leases.py) ----------------------

    def acquire_lease(
        self, environment: str, holder: str, ttl: float, *, replace: str | None = None
    ) -> Lease:
        """Take ``environment``'s lease for ``ttl`` seconds, atomically.

        Succeeds when no lease exists, when the existing one has expired, or when its token is
        ``replace`` (the caller established that its holder is dead); the returned lease's
        ``previous`` is then the one taken over. Raises ``EnvironmentBusy`` otherwise.
        """
        _check_text(EnvironmentLease.environment, environment)
        _check_text(EnvironmentLease.holder, holder)
        _check_ttl(ttl)
        now = self._now()
        with self._writing("acquire lease") as session:
            return leases.acquire(session, environment, holder, now, ttl, replace)

    def renew_lease(
        self, environment: str, token: str, ttl: float, *, deployment_id: str | None = None
    ) -> Lease:
        """Extend our lease (``token``) to now + ``ttl``; ``deployment_id`` records what it
        deploys. Raises ``LeaseLost`` when another holder has taken it over."""
        _check_ttl(ttl)
        if deployment_id is not None and _parse_id(deployment_id) is None:
            raise RegistryError(f"no deployment {deployment_id!r}")
        now = self._now()
        with self._writing("renew lease") as session:
            return leases.renew(session, environment, token, now, ttl, deployment_id)

    def release_lease(self, environment: str, token: str) -> bool:
        """Give our lease up; False when it was no longer ours (nothing is changed then)."""
        with self._writing("release lease") as session:
            return leases.release(session, environment, token)

    def lease(self, environment: str) -> Lease | None:
        """The environment's lease row (possibly expired), or None when it is free."""
        with self._reading("read lease") as session:
            return leases.current(session, environment)

    # -- plumbing ----------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise RegistryError("the registry clock returned a naive datetime")
        return now

    @contextmanager
    def _reading(self, action: str) -> Iterator[Session]:
        with self._guard(action), self._read() as session, session.begin():
            yield session

    @contextmanager
    def _writing(self, action: str) -> Iterator[Session]:
        self._ensure_writable()
        with self._guard(action), self._write() as session, session.begin():
            yield session

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"registry {self.url}: {action} failed: {self._describe(exc)}"
            ) from exc

    def _describe(self, exc: BaseException) -> str:
        """One line about ``exc``, without the password even if a driver echoed it."""
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text = first_line(cause)
        if self._password:
            text = text.replace(self._password, "***")
        return text


_NEWEST_FIRST = (Deployment.started_at.desc(), Deployment.id.desc())


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        masked = _PASSWORD_IN_URL.sub(r"\1***@", url)
        raise RegistryError(f"invalid registry URL {masked!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    if backend in ("postgresql", "postgres") and parsed.drivername != "postgresql+psycopg2":
        # Plain postgresql:// (and Heroku-style postgres://) would pick psycopg2; we ship psycopg 3.
        return parsed.set(drivername="postgresql+psycopg")
    raise RegistryError(
        f"unsupported registry URL {parsed.render_as_string(hide_password=True)}: "
        "use sqlite:///path/to/registry.db or postgresql://user@host/dbname"
    )


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        connect_args = (
            {} if "connect_timeout" in url.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        )
        # pre_ping: a long-lived process (dashboard) survives a database restart.
        return create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    database = url.database or ":memory:"
    if database == ":memory:" or url.query.get("mode") == "memory":
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # The sqlite3 module only issues BEGIN before DML, so DDL (migrations) and reads would run
    # outside any transaction; we take over BEGIN in _sqlite_on_begin instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first: switching to WAL may itself have to wait for another opener.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch to WAL, which lets readers (dashboard, CLI) run while a deploy writes.

    The switch needs an exclusive lock and SQLite reports "database is locked" at once, without
    honouring busy_timeout, when another connection opens the same fresh file at that moment.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_on_begin(connection: Connection) -> None:
    # Writers take the write lock up front (IMMEDIATE): a deferred transaction that reads and
    # then writes fails at once with SQLITE_BUSY if another writer got in between, without
    # honouring busy_timeout.
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _parse_id(deployment_id: str) -> str | None:
    """The canonical form of a full UUID string, or None if it is not one."""
    try:
        return str(uuid.UUID(deployment_id))
    except (ValueError, TypeError, AttributeError):
        return None


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _check_text(
    attribute: InstrumentedAttribute[Any], value: str | None, *, required: bool = True
) -> None:
    # Enforced here because SQLite ignores VARCHAR lengths and accepts NUL characters, and
    # PostgreSQL does neither: the same call must fail the same way on both.
    name = attribute.key
    if value is None or value == "":
        if required:
            raise RegistryError(f"{name} must not be empty")
        return
    if "\x00" in value:
        raise RegistryError(f"{name} contains a NUL character")
    length = attribute.type.length if isinstance(attribute.type, String) else None
    if length is not None and len(value) > length:
        raise RegistryError(f"{name} is longer than {length} characters")


def _check_ttl(ttl: float) -> None:
    if not (math.isfinite(ttl) and ttl > 0):
        raise RegistryError(f"lease ttl must be a positive number of seconds, got {ttl}")


def _snapshot_entry(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    value, fingerprint, secret = entry.get("value"), entry.get("fingerprint"), entry.get("secret")
    if set(entry) - {"value", "fingerprint", "secret"} or not isinstance(secret, bool):
        raise RegistryError(f"snapshot entry {name!r} must be {{value, fingerprint, secret}}")
    if secret and (value is not None or not isinstance(fingerprint, str)):
        raise RegistryError(f"snapshot entry {name!r} is secret: store its fingerprint only")
    if not secret and not isinstance(value, str):
        raise RegistryError(f"snapshot entry {name!r} is not secret but has no value")
    return {"value": value, "fingerprint": fingerprint, "secret": secret}


def _json_object(name: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``value`` after checking it is plain JSON.

    Checked here so both backends fail alike: the drivers raise different errors, and SQLite
    would accept NaN where PostgreSQL's json type refuses it.
    """
    data = dict(value or {})
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{name} is not plain JSON: {exc}") from exc
    return data


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# -- the SQLite file ---------------------------------------------------------------------------


def sqlite_file(url: URL) -> Path | None:
    """The file of a ``sqlite:///path`` URL; None for PostgreSQL, memory and ``uri=true`` forms."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ":memory:"
    if database == ":memory:" or url.query.get("mode") == "memory" or url.query.get("uri"):
        return None
    return Path(database)


def registry_file(url: str) -> Path | None:
    """``sqlite_file`` of a registry URL as configured (None when it is not a plain file)."""
    return sqlite_file(_parse_url(url))


def empty_registry_message(path: Path) -> str:
    return (
        f"registry {path} is empty (0 bytes): safeship never leaves an empty registry, so it "
        "was truncated or made by something else; restore it from a backup, or delete it to "
        "start a new history"
    )


def _sqlite_files(path: Path) -> list[Path]:
    """The database and the files SQLite keeps beside it."""
    return [path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)]


_SIDE_FILES: Final = ("-wal", "-shm", "-journal")


def file_state(path: Path) -> str:
    """missing, empty (0 bytes), readonly (we may not write it or its directory), or ok."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        raise RegistryError(f"cannot open registry {path}: {exc.strerror or exc}") from exc
    if size == 0:
        return "empty"
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
    return "ok" if writable else "readonly"


def _empty_engine() -> Engine:
    """An empty in-memory registry at head: what a registry that does not exist yet reads as."""
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    return engine


def readonly_engine(path: Path) -> Engine:
    """Read ``path`` without writing anything beside it.

    WAL mode needs the -shm file: with it present SQLite reads read-only; without it (the last
    writer cleaned up) and no right to create it, only ``immutable`` opens the file, which is
    sound here because nobody else can write in that directory either (a -wal file would have
    been left behind).
    """
    uri = "file:" + pathname2url(str(path.resolve()))
    shm = path.with_name(path.name + "-shm")
    can_make_shm = os.access(path.parent, os.W_OK | os.X_OK)
    uri += "?mode=ro" if shm.exists() or can_make_shm else "?immutable=1"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        return connection

    engine = create_engine("sqlite://", creator=connect)
    event.listen(engine, "connect", _sqlite_on_connect_readonly)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect_readonly(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None


def _create_sqlite_file(path: Path, migrate: Callable[[Engine], None]) -> None:
    """Build the registry complete beside ``path`` and link it into place (unless another
    process got there first, whose database then stands)."""
    if not path.parent.exists():
        private_dir(path.parent)  # only what is missing: an existing parent is the user's
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        engine = _create_engine(make_url("sqlite:///" + str(tmp)))
        try:
            migrate(engine.execution_options(**{_IMMEDIATE: True}))
            # WAL is recorded in the file; leave no -wal content behind the link.
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        for leftover in _sqlite_files(tmp):
            leftover.unlink(missing_ok=True)
