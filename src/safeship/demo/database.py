"""The demo service's optional database: ``DATABASE_URL`` names PostgreSQL (``postgresql://``,
through psycopg) or SQLite (``sqlite:///relative/path`` or ``sqlite:////absolute/path``).

Shared by the demo app (which answers ``/api/v1/items`` from the ``items`` table) and its
migration runner (``python -m safeship.demo.migrate``). psycopg is imported only when the URL
names PostgreSQL, so the demo still starts fast, and from a bare checkout, without a database.
A URL carries a password: no message here ever quotes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

DATABASE_VARIABLE = "DATABASE_URL"


class DatabaseError(Exception):
    """The database cannot be used; the message is one line without the URL's credentials."""


class Connection(Protocol):
    """What the demo uses of a DB-API connection (sqlite3's and psycopg's both fit)."""

    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


def kind(url: str) -> str:
    """ "postgresql" or "sqlite"; DatabaseError for anything else."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    if url.startswith("sqlite:///"):
        return "sqlite"
    scheme = url.partition("://")[0] or "(none)"
    raise DatabaseError(f"{DATABASE_VARIABLE}: unsupported scheme {scheme!r} (postgresql, sqlite)")


def sqlite_path(url: str) -> str:
    """``sqlite:///app.db`` → ``app.db``; ``sqlite:////tmp/app.db`` → ``/tmp/app.db``."""
    return url.removeprefix("sqlite:///")


def connect(url: str) -> Connection:
    """A new connection, in a transaction until commit/rollback (both backends)."""
    if kind(url) == "sqlite":
        try:
            return sqlite3.connect(sqlite_path(url), timeout=5.0, check_same_thread=False)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open the SQLite database: {exc}") from None
    import psycopg

    try:
        connection: Connection = psycopg.connect(url, connect_timeout=5)
    except psycopg.Error as exc:
        # psycopg's message names the host and the user, never the password; first line only.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"cannot connect to PostgreSQL: {first}") from None
    return connection


@contextmanager
def connection(url: str) -> Iterator[Connection]:
    """A connection committed on success, rolled back on an error, closed in any case."""
    opened = connect(url)
    try:
        yield opened
        opened.commit()
    except BaseException:
        opened.rollback()
        raise
    finally:
        opened.close()


def rows(url: str, query: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """``query``'s rows as dictionaries by column name."""
    with connection(url) as db:
        cursor = db.cursor()
        cursor.execute(query, parameters)
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
