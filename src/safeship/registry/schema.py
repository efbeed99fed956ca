"""The registry's schema at HEAD as SQLite DDL, to make a new SQLite registry with the
``sqlite3`` module alone.

A new registry file is built from ``schema_sqlite.sql`` (beside this module): the models'
tables and indexes as SQLAlchemy compiles them for SQLite, and ``alembic_version`` stamped at
``migrations.HEAD``. So a first `safeship deploy` (and a `safeship status` before any deploy,
which reads an empty stand-in) imports neither SQLAlchemy nor Alembic: about 0.4 s of a first
command's start. tests/integration/test_registry.py keeps the file equal to what the models
generate (``python -m safeship.registry.schema`` rewrites it) and checks the revisions make
the same schema.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SQLITE_SCHEMA = Path(__file__).with_name("schema_sqlite.sql")


def sqlite_schema() -> str:
    return SQLITE_SCHEMA.read_text(encoding="utf-8")


def create_sqlite_schema(connection: sqlite3.Connection) -> None:
    """The schema at HEAD in ``connection``'s (empty) database, in one transaction."""
    connection.executescript("BEGIN;\n" + sqlite_schema() + "\nCOMMIT;")


def generate_sqlite_schema() -> str:
    """The DDL the models compile to on SQLite, tables in dependency order, then the stamp."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from safeship.registry.migrations import HEAD
    from safeship.registry.models import Base

    dialect = sqlite.dialect()
    statements = []
    for table in Base.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            statements.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
    statements.append(
        "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL,\n"
        "\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)"
    )
    statements.append(f"INSERT INTO alembic_version (version_num) VALUES ('{HEAD}')")
    header = (
        "-- Made by `python -m safeship.registry.schema` from registry/models.py: do not edit.\n"
    )
    return header + ";\n\n".join(statements) + ";\n"


if __name__ == "__main__":
    SQLITE_SCHEMA.write_text(generate_sqlite_schema(), encoding="utf-8")
    print(f"wrote {SQLITE_SCHEMA}")
