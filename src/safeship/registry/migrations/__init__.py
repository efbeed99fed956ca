"""Alembic migrations of the registry, shipped inside the package and run programmatically.

To add a revision after changing ``models.py``: open a scratch registry (which upgrades it to
the current head), then, on one of its connections::

    command.revision(alembic_config(conn), message="...", autogenerate=True)

and review the generated file in ``versions/``.
"""

from __future__ import annotations

import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Final

from safeship.registry.sql import Tx

if TYPE_CHECKING:
    # Alembic (and its Mako templates) costs a third of a second to import: only a migration
    # or a diagnosis imports it, never an opener of a registry that is at HEAD already.
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

SCRIPT_LOCATION = Path(__file__).resolve().parent

# The newest revision in versions/: what an opener compares a database with before deciding
# to load Alembic. tests/integration/test_registry.py keeps it equal to Alembic's own head.
HEAD: Final = "0016"

# One key per database for pg_advisory_xact_lock; any fixed 63-bit value would do, this one is
# derived from a name so it is recognisable in pg_locks.
_PG_LOCK_KEY = zlib.crc32(b"safeship.registry.migrations")

# Alembic runs env.py through module-global proxies (alembic.context, alembic.op), so two
# upgrades in one process must not overlap, even on different databases.
_PROCESS_LOCK = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the packaged scripts, optionally bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Silences Alembic's legacy-splitting warning; there is one path, so os.pathsep is safe.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision these scripts know, as Alembic reads them (see ``HEAD``)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at (None: not a safeship registry, or an empty one)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to head in one transaction that concurrent openers queue behind.

    On PostgreSQL a transaction-scoped advisory lock serialises the upgraders (released at
    commit, or when a crashed upgrader's session ends). On SQLite ``engine`` must start its
    transactions with BEGIN IMMEDIATE (the registry's write engine does), so the second opener
    waits on the write lock for its busy timeout. Either way the waiter then finds the schema at
    head and does nothing. Within one process a lock also serialises upgrades, because Alembic
    is not thread-safe.
    """
    from sqlalchemy import func, select

    # Process lock first, database lock second: the same order everywhere, so no deadlock.
    with _PROCESS_LOCK, engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        if _is_new(connection):
            _create_at_head(connection)
            return
        from alembic import command

        # The transaction is already open, so Alembic treats it as external and leaves
        # committing to the ``begin()`` block above.
        command.upgrade(alembic_config(connection), "head")


def _is_new(connection: Connection) -> bool:
    """No registry here yet: no revision recorded and none of the registry's tables."""
    from sqlalchemy import inspect

    from safeship.registry.models import Base

    existing = set(inspect(connection).get_table_names())
    return "alembic_version" not in existing and not existing & set(Base.metadata.tables)


def _create_at_head(connection: Connection) -> None:
    """A new registry made at HEAD from the models in one step, stamped as Alembic would stamp
    it: the same schema as running every revision (tests/integration/test_registry.py checks
    the models and the revisions agree), without importing Alembic and replaying the history
    (half a second of a first command's start)."""
    from sqlalchemy import text

    from safeship.registry.models import Base

    Base.metadata.create_all(connection)
    connection.execute(
        text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(
        text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD}
    )


def revision_of(tx: Tx) -> str | None:
    """``current_revision`` with one plain query, without Alembic."""
    if tx.dialect == "sqlite":
        exists = tx.rows(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name",
            {"name": "alembic_version"},
        )
    else:
        exists = tx.rows("SELECT to_regclass(:name)", {"name": "alembic_version"})
        exists = [row for row in exists if row[0] is not None]
    if not exists:
        return None
    rows = tx.rows("SELECT version_num FROM alembic_version")
    return str(rows[0][0]) if rows else None
