"""Plain SQL against either backend, and the value codecs that make both store alike.

Every repository speaks SQL text with ``:name`` parameters to a ``Tx``; the registry hands it
one of two kinds. A SQLite file is read and written through the standard ``sqlite3`` module
directly (``SqliteTx``), so neither `safeship status` nor a deploy imports SQLAlchemy;
PostgreSQL and in-memory SQLite go through a SQLAlchemy engine (``engine.EngineTx``), and
migrations through Alembic. The codecs store what SQLAlchemy's column types stored before (ids
as 32 hex digits on SQLite and native UUIDs on PostgreSQL, UTC times as text on SQLite, JSON
as text), so every path reads and writes the same rows.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

Params = Mapping[str, object]
Row = tuple[Any, ...]

# SQLAlchemy's text format for DateTime on SQLite (fixed width, so text order is time order).
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


class Tx(Protocol):
    """One transaction: statements with ``:name`` parameters."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    def rows(self, sql: str, params: Params | None = None) -> list[Row]: ...

    def run(self, sql: str, params: Params | None = None) -> int:
        """Execute a statement; the number of rows it changed."""
        ...


class SqliteTx:
    """A transaction on a plain ``sqlite3`` connection (autocommit mode, BEGIN taken here)."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def rows(self, sql: str, params: Params | None = None) -> list[Row]:
        return [tuple(row) for row in self._connection.execute(sql, dict(params or {}))]

    def run(self, sql: str, params: Params | None = None) -> int:
        return self._connection.execute(sql, dict(params or {})).rowcount


@contextmanager
def sqlite_reading(connect: Any) -> Iterator[SqliteTx]:
    """A read transaction on a fresh connection from ``connect()`` (closed afterwards)."""
    connection: sqlite3.Connection = connect()
    try:
        connection.execute("BEGIN")
        try:
            yield SqliteTx(connection)
        finally:
            connection.execute("ROLLBACK")
    finally:
        connection.close()


@contextmanager
def sqlite_writing(connect: Any) -> Iterator[SqliteTx]:
    """A write transaction on a fresh connection from ``connect()``, committed at the end.

    BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    writes fails at once with SQLITE_BUSY if another writer got in between, without honouring
    busy_timeout.
    """
    connection: sqlite3.Connection = connect()
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield SqliteTx(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    finally:
        connection.close()


# -- values to the database ---------------------------------------------------------------------


def db_id(value: str) -> str:
    """An id as stored: 32 hex digits (SQLite's CHAR(32); PostgreSQL casts it to uuid)."""
    return uuid.UUID(value).hex


def db_time(tx: Tx, value: datetime | None) -> object:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive time is ambiguous; guessing would corrupt ordering across runners.
        raise ValueError(f"naive datetime {value.isoformat()} given; use an aware datetime")
    utc = value.astimezone(UTC)
    return utc.strftime(_SQLITE_TIME) if tx.dialect == "sqlite" else utc


def db_json(value: object) -> str:
    return json.dumps(value, allow_nan=False)


# -- values from the database -------------------------------------------------------------------


def to_id(value: object) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def to_optional_id(value: object) -> str | None:
    return None if value is None else to_id(value)


def to_time(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_optional_time(value: object) -> datetime | None:
    return None if value is None else to_time(value)


def to_json(value: object) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def to_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def to_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def advisory_lock(tx: Tx, key: str) -> None:
    """Serialize the transactions that name ``key`` (on PostgreSQL, a transaction-scoped
    advisory lock; SQLite's single writer already serializes them)."""
    if tx.dialect == "postgresql":
        digest = hashlib.sha256(f"safeship.outbox:{key}".encode()).digest()
        lock = int.from_bytes(digest[:8], "big", signed=True)
        tx.rows("SELECT pg_advisory_xact_lock(:lock)", {"lock": lock})
