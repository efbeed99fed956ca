"""The database gates' PostgreSQL tools against a real server: a dump verified and restored
into a scratch database with the same row counts, the scratch database dropped even on error,
and every failure one line without the password."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psycopg
import pytest

from safeship.artifacts.checksum import sha256_of
from safeship.gates import postgres
from safeship.gates.postgres import DatabaseToolError
from testing.postgres import PostgresServer
from testing.postgres_data import PASSWORD, fill_orders, password_database


def test_dump_verify_and_restore_into_a_scratch_database(postgres_url: str, tmp_path: Path) -> None:
    fill_orders(postgres_url, rows=25)
    dest = tmp_path / "db.dump"

    info = postgres.dump(postgres_url, dest, timeout=60)

    assert info.size == dest.stat().st_size > 0
    assert info.sha256 == sha256_of(dest)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert postgres.verify(dest) >= 3  # the table, its data, its sequence at least
    with postgres.scratch_database(postgres_url) as scratch:
        assert scratch.dbname.startswith(postgres.SCRATCH_PREFIX)
        assert postgres.is_empty(scratch)
        postgres.restore(dest, scratch, timeout=60)
        assert postgres.row_counts(scratch) == postgres.row_counts(postgres_url) == {"orders": 25}
    with psycopg.connect(postgres_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (scratch.dbname,)
        ).fetchone()
    assert left == (0,)


def test_the_scratch_database_is_dropped_when_the_block_fails(postgres_url: str) -> None:
    with pytest.raises(RuntimeError), postgres.scratch_database(postgres_url) as scratch:
        raise RuntimeError("the migration broke")
    with psycopg.connect(postgres_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (scratch.dbname,)
        ).fetchone()
    assert left == (0,)


def test_a_wrong_password_is_one_line_without_it(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    with password_database(postgres_server) as url:
        wrong = url.replace(PASSWORD, "Wr0ngPassw0rd!")
        dest = tmp_path / "db.dump"

        with pytest.raises(DatabaseToolError) as caught:
            postgres.dump(wrong, dest, timeout=60)

        message = str(caught.value)
        assert "password authentication failed" in message
        assert "\n" not in message
        assert "Wr0ngPassw0rd" not in message and PASSWORD not in message
        assert not dest.exists() and not list(tmp_path.iterdir())  # no half file
        # The right password goes through the environment and works.
        info = postgres.dump(url, dest, timeout=60)
        assert postgres.verify(info.path) > 0


def test_the_password_never_reaches_a_command_line(postgres_url: str) -> None:
    database = postgres.parse_url(postgres_url.replace("postgres@", "postgres:S3cretPw@"))
    assert "S3cretPw" not in database.without_password
    assert "S3cretPw" not in str(database) and "S3cretPw" not in repr(database)
    assert database.tool_environment()["PGPASSWORD"] == "S3cretPw"
    in_query = postgres.parse_url("postgresql://app@db/shop?sslmode=require&password=S3cretPw")
    assert in_query.password == "S3cretPw"
    assert in_query.without_password == "postgresql://app@db/shop?sslmode=require"
    assert in_query.masked == "postgresql://app@db/shop?sslmode=require&password=****"
    no_password = postgres.parse_url("postgresql://app@db/shop")
    assert no_password.masked == no_password.without_password == "postgresql://app@db/shop"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mysql://u:pw@h/db", "DATABASE_URL is not a PostgreSQL URL (scheme 'mysql'"),
        ("postgresql://u:pw@h", "DATABASE_URL names no database"),
        ("postgresql://u:pw@h:99999/db", "DATABASE_URL is not a valid URL (bad port)"),
        ("", "DATABASE_URL is not a PostgreSQL URL (scheme 'none'"),
    ],
)
def test_bad_urls_are_one_line_naming_the_variable(url: str, error: str) -> None:
    with pytest.raises(DatabaseToolError) as caught:
        postgres.parse_url(url)
    assert str(caught.value).startswith(error)
    assert "pw" not in str(caught.value).replace("postgresql", "")


def test_same_database_compares_host_port_and_name() -> None:
    a = postgres.parse_url("postgresql://app:x@127.0.0.1:5432/shop")
    assert a.same_database(postgres.parse_url("postgresql://other@localhost/shop"))
    assert not a.same_database(postgres.parse_url("postgresql://app:x@127.0.0.1:5433/shop"))
    assert not a.same_database(a.with_database("shop_copy"))


def test_a_missing_tool_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SAFESHIP_PG_BINDIR", raising=False)
    with pytest.raises(DatabaseToolError, match="pg_restore not found on PATH"):
        postgres.verify(tmp_path / "x.dump")
    assert os.environ["PATH"] == str(tmp_path)
