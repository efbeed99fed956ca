"""SQLAlchemy engines of the registry: URL parsing and driver mapping, SQLite's transaction
modes, the read-only and the empty engine, and ``EngineTx``.

Imported only when a registry migrates, lives on PostgreSQL or in memory: using a SQLite file
needs none of it (see ``sql``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from safeship.registry.errors import RegistryError
from safeship.registry.files import prepare_writable, readonly_connector
from safeship.registry.sql import Params, Row

# Without it an unreachable PostgreSQL host can hang an opener for minutes (TCP retries).
PG_CONNECT_TIMEOUT_S: Final = 10

# Execution option read by the SQLite "begin" hook (see _sqlite_on_begin).
IMMEDIATE: Final = "safeship_sqlite_immediate"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of a registry, with PostgreSQL mapped to the psycopg 3 driver."""
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


def masked_url(url: str) -> str:
    """``url`` as the user wrote it (before the driver mapping), password masked."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: URL) -> Path | None:
    """The file of a ``sqlite:///path`` URL; None for PostgreSQL, memory and ``uri=true`` forms."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ":memory:"
    if database == ":memory:" or url.query.get("mode") == "memory" or url.query.get("uri"):
        return None
    return Path(database)


def open_engine(url: URL) -> Engine:
    """An engine on ``url``; on SQLite with WAL, a busy timeout and BEGIN taken by us."""
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


def writer(engine: Engine) -> Engine:
    """``engine`` whose transactions take SQLite's write lock up front (see _sqlite_on_begin)."""
    return engine.execution_options(**{IMMEDIATE: True})


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    prepare_writable(dbapi_connection)


def _sqlite_on_begin(connection: Connection) -> None:
    # Writers take the write lock up front (IMMEDIATE): a deferred transaction that reads and
    # then writes fails at once with SQLITE_BUSY if another writer got in between, without
    # honouring busy_timeout.
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def readonly_engine(path: Path) -> Engine:
    """An engine reading ``path`` without writing anything beside it (``safeship doctor``)."""
    engine = create_engine("sqlite://", creator=readonly_connector(path))
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def empty_engine() -> Engine:
    """An empty in-memory registry at head: what a registry that does not exist yet reads as."""
    from safeship.registry.models import Base

    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    return engine


class EngineTx:
    """A transaction on a SQLAlchemy connection (see ``sql.Tx``)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.dialect = "sqlite" if connection.dialect.name == "sqlite" else "postgresql"

    def rows(self, sql: str, params: Params | None = None) -> list[Row]:
        return [tuple(row) for row in self._connection.execute(text(sql), dict(params or {}))]

    def run(self, sql: str, params: Params | None = None) -> int:
        result = self._connection.execute(text(sql), dict(params or {}))
        return int(getattr(result, "rowcount", 0) or 0)


@contextmanager
def engine_transaction(engine: Engine) -> Iterator[EngineTx]:
    with engine.connect() as connection, connection.begin():
        yield EngineTx(connection)
