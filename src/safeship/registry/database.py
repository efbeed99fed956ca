"""Opening a registry's database, and its read and write transactions.

Opening is cheap when nothing is to be migrated: a SQLite file at ``migrations.HEAD`` is read
and written with the standard ``sqlite3`` module alone (``sql.SqliteTx``), which keeps
`safeship status` and `history` fast to start and a deploy free of SQLAlchemy. PostgreSQL,
in-memory SQLite and migrations (Alembic, loaded only then) go through a SQLAlchemy engine.

A SQLite registry file is private (0600, its new directories 0700) and is never created by
reading: until the first write, a registry whose file does not exist reads as empty. The first
write builds the database complete under a temporary name and links it into place; an existing
file of 0 bytes therefore never is one safeship made (it was truncated) and is refused rather
than silently re-created, which would lose the history. A file this process may not write (or
in a directory it may not write) is opened read-only: reads work, writes fail with one line.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from safeship._files import make_private
from safeship.registry.errors import RegistryError, first_line
from safeship.registry.files import (
    create_sqlite_file,
    empty_registry_message,
    file_state,
    readonly_connector,
    sqlite_files,
    writable_connector,
)
from safeship.registry.location import locate
from safeship.registry.migrations import HEAD, revision_of
from safeship.registry.schema import create_sqlite_schema
from safeship.registry.sql import Tx, sqlite_reading, sqlite_writing

if TYPE_CHECKING:
    from sqlalchemy import Engine


class Database:
    """The database behind one ``Registry``: see the module."""

    def __init__(self, url: str) -> None:
        self._url_as_given = url
        location = locate(url)
        self._password = location.password
        self.url = location.url
        self.path = location.file
        self.readonly = False
        self.missing = False
        self._lock = threading.Lock()
        self._engine: Engine | None = None  # SQLAlchemy, made when first needed
        # A SQLite file is read and written with the sqlite3 module alone; SQLAlchemy serves
        # PostgreSQL, in-memory SQLite and migrations.
        self._connect: Callable[[], sqlite3.Connection] | None = None
        self._write_connect: Callable[[], sqlite3.Connection] | None = None
        if self.path is None:
            self._open_engine(migrate=True)
            return
        state = file_state(self.path)
        if state == "empty":
            raise RegistryError(empty_registry_message(self.path))
        self.missing = state == "missing"
        self.readonly = state == "readonly"
        if self.missing:
            self._prepare_first_write()
            return
        if self.readonly:
            self._connect = readonly_connector(self.path)
        else:
            self._tighten()
            self._write_connect = writable_connector(self.path)
            # Read on writable connections too: a read-only one re-creates -wal and -shm but
            # cannot remove them when it is the last to close.
            self._connect = self._write_connect
        with self.reading("read revision") as tx:
            revision = revision_of(tx)
        if revision == HEAD:
            return
        if self.readonly:
            raise RegistryError(
                f"registry {self.url} is read-only and at revision {revision or 'none'}, "
                f"not {HEAD}: open it once where it can be written to migrate it"
            )
        self._open_engine(migrate=True)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def _prepare_first_write(self) -> None:
        """Until the first write builds the file, reads see an empty registry at HEAD: an
        in-memory database made from the same schema (``schema``), with sqlite3 alone."""
        self._connect = _empty_registry

    @contextmanager
    def reading(self, action: str) -> Iterator[Tx]:
        """A read transaction; ``action`` names it in the error message."""
        if self._connect is not None:
            try:
                with sqlite_reading(self._connect) as tx:
                    yield tx
            except sqlite3.Error as exc:
                raise RegistryError(
                    f"registry {self.url}: {action} failed: {first_line(exc)}"
                ) from exc
            return
        from safeship.registry import engine as sa

        with self._lock:
            if self._engine is None:  # a SQLite file not created yet reads as empty
                self._engine = sa.empty_engine()
            engine = self._engine
        with self._guard(action), sa.engine_transaction(engine) as tx:
            yield tx

    @contextmanager
    def writing(self, action: str) -> Iterator[Tx]:
        """A write transaction (committed at the end); creates a missing SQLite file first."""
        self._ensure_writable()
        if self._write_connect is not None:
            try:
                with sqlite_writing(self._write_connect) as tx:
                    yield tx
            except sqlite3.Error as exc:
                raise RegistryError(
                    f"registry {self.url}: {action} failed: {first_line(exc)}"
                ) from exc
            return
        from safeship.registry import engine as sa

        with self._lock:
            engine = self._open_engine(migrate=False)
        with self._guard(action), sa.engine_transaction(sa.writer(engine)) as tx:
            yield tx

    def _open_engine(self, *, migrate: bool) -> Engine:
        """The SQLAlchemy engine, made once; ``migrate``: bring the schema to HEAD first."""
        from safeship.registry import engine as sa

        if self._engine is None:
            parsed = sa.parse_url(self._url_as_given)
            try:
                self._engine = sa.open_engine(parsed)
            except Exception as exc:  # ArgumentError: a URL SQLAlchemy cannot use
                raise RegistryError(f"invalid registry URL {self.url}: {first_line(exc)}") from exc
        if migrate:
            self._migrate(self._engine)
            self._tighten()
        return self._engine

    def _tighten(self) -> None:
        """Make a SQLite registry's files private (older releases left them 0644)."""
        if self.path is not None:
            for path in sqlite_files(self.path):
                with contextlib.suppress(PermissionError):
                    make_private(path)

    def _migrate(self, engine: Engine) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from safeship.registry import engine as sa
        from safeship.registry import migrations

        try:
            with sa.engine_transaction(engine) as tx:
                if revision_of(tx) == HEAD:
                    return
            migrations.upgrade(sa.writer(engine))
        except SQLAlchemyError as exc:
            engine.dispose()
            raise RegistryError(f"cannot open registry {self.url}: {self._describe(exc)}") from exc
        except Exception as exc:
            # Alembic's CommandError, typically a revision this code does not know: a newer
            # safeship migrated it. (Alembic is imported only to upgrade an existing registry:
            # a new one is made from the models.)
            if not _is_alembic_command_error(exc):
                raise
            engine.dispose()
            raise RegistryError(
                f"cannot open registry {self.url}: {first_line(exc)} "
                "(was it upgraded by a newer safeship?)"
            ) from exc

    def _ensure_writable(self) -> None:
        """Before a write: refuse on a read-only file; create a missing one (see the module)."""
        if self.readonly:
            raise RegistryError(
                f"registry {self.url} is read-only here (no write permission on the file or "
                "its directory)"
            )
        if not self.missing:
            return
        with self._lock:
            if not self.missing:
                return
            assert self.path is not None
            try:
                create_sqlite_file(self.path, self._build_file)
            except OSError as exc:
                raise RegistryError(f"cannot create registry {self.url}: {exc}") from exc
            if file_state(self.path) == "empty":  # another program made it meanwhile
                raise RegistryError(empty_registry_message(self.path))
            if self._engine is not None:  # the empty stand-in
                self._engine.dispose()
                self._engine = None
            self._tighten()
            self._write_connect = self._connect = writable_connector(self.path)
            self.missing = False

    def _build_file(self, path: Path) -> None:
        """The new file at HEAD, from the schema (no SQLAlchemy, no Alembic: ``schema``)."""
        connection = writable_connector(path)()
        try:
            create_sqlite_schema(connection)
            # WAL is recorded in the file; leave no -wal content behind the link.
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            yield
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"registry {self.url}: {action} failed: {self._describe(exc)}"
            ) from exc

    def _describe(self, exc: BaseException) -> str:
        """One line about ``exc``, without the password even if a driver echoed it."""
        orig = getattr(exc, "orig", None)
        text = first_line(orig if isinstance(orig, BaseException) else exc)
        if self._password:
            text = text.replace(self._password, "***")
        return text


def _is_alembic_command_error(exc: Exception) -> bool:
    alembic_util = sys.modules.get("alembic.util")
    command_error = getattr(alembic_util, "CommandError", None)
    return command_error is not None and isinstance(exc, command_error)


def _empty_registry() -> sqlite3.Connection:
    """A registry that does not exist yet, as it reads: empty, at HEAD (in memory)."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.isolation_level = None
    create_sqlite_schema(connection)
    return connection
