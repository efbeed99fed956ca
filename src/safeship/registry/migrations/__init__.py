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

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, select

SCRIPT_LOCATION = Path(__file__).resolve().parent

# One key per database for pg_advisory_xact_lock; any fixed 63-bit value would do, this one is
# derived from a name so it is recognisable in pg_locks.
_PG_LOCK_KEY = zlib.crc32(b"safeship.registry.migrations")

# Alembic runs env.py through module-global proxies (alembic.context, alembic.op), so two
# upgrades in one process must not overlap, even on different databases.
_PROCESS_LOCK = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the packaged scripts, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Silences Alembic's legacy-splitting warning; there is one path, so os.pathsep is safe.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision these scripts know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at (None: not a safeship registry, or an empty one)."""
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
    # Process lock first, database lock second: the same order everywhere, so no deadlock.
    with _PROCESS_LOCK, engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        # The transaction is already open, so Alembic treats it as external and leaves
        # committing to the ``begin()`` block above.
        command.upgrade(alembic_config(connection), "head")
