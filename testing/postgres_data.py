"""Small PostgreSQL data sets and a password-protected database for the database gates' tests.

The session server trusts every local connection (testing/postgres.py), so a wrong password
would pass. ``password_database`` makes one database of it ask for a password: a role with one,
and a scram-sha-256 line for that database at the top of pg_hba.conf (reloaded), removed after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from testing.postgres import PostgresServer

PASSWORD = "Gate-Pa55word-x9"


def fill_orders(url: str, rows: int) -> None:
    """A table ``orders`` with ``rows`` rows."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, "
            "total numeric(10, 2) NOT NULL)"
        )
        conn.execute(
            "INSERT INTO orders (customer, total) "
            "SELECT 'customer ' || n, n * 1.5 FROM generate_series(1, %s) AS n",
            (rows,),
        )


@contextmanager
def password_database(server: PostgresServer, rows: int = 5) -> Iterator[str]:
    """A database owned by a role with ``PASSWORD`` that only accepts that password; its URL
    (with the password). Dropped, with the role and the pg_hba line, afterwards."""
    suffix = uuid.uuid4().hex[:12]
    dbname, role = f"pw_{suffix}", f"app_{suffix}"
    hba = server.base_dir / "data" / "pg_hba.conf"
    original = hba.read_text()
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
        conn.execute(f"CREATE DATABASE {dbname} OWNER {role}")
        hba.write_text(f"host {dbname} all 127.0.0.1/32 scram-sha-256\n" + original)
        conn.execute("SELECT pg_reload_conf()")
    url = f"postgresql://{role}:{PASSWORD}@{server.host}:{server.port}/{dbname}"
    try:
        fill_orders(url, rows)
        yield url
    finally:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            hba.write_text(
                hba.read_text().replace(f"host {dbname} all 127.0.0.1/32 scram-sha-256\n", "")
            )
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {role}")
