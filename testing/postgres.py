"""Pytest plugin: a private PostgreSQL server per test session, a fresh database per test.

Fixtures:

- ``postgres_server`` (session): a PostgreSQL 15 started with initdb + pg_ctl in a temporary
  directory on a free loopback port, stopped at the end of the session. As root it runs as the
  ``postgres`` user (PostgreSQL refuses to run as root). Missing binaries fail the test rather
  than skip it: CI installs them, and a silently skipped backend hides bugs.
- ``postgres_url`` (function): ``postgresql://postgres@127.0.0.1:PORT/<fresh database>``.
- ``registry_url`` (function, parametrized "sqlite" / "postgresql"): one URL per backend, so a
  test taking it runs against both. The PostgreSQL server starts only if such a test runs.

``running_postgres()`` starts a server of one's own (a test that stops it, or needs other
settings) the same way; ``PostgresServer.stop()`` stops it early.

``SAFESHIP_PG_BINDIR`` overrides the binary directory (e.g. another major version on a laptop).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from safeship._processes import free_port

DEFAULT_BINDIR = "/usr/lib/postgresql/15/bin"
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    base_dir: Path
    # pg_ctl with its data directory (run as the server's user), for stop().
    control: tuple[str, ...] = ()

    @property
    def admin_url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    def create_database(self, dbname: str) -> str:
        """Create ``dbname`` and return its URL."""
        # CREATE DATABASE cannot run inside a transaction block.
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return self.url_for(dbname)

    def drop_database(self, dbname: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            # FORCE: a test may leave connections open (an unclosed engine).
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    @property
    def running(self) -> bool:
        return (self.base_dir / "data" / "postmaster.pid").exists()

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open connections are closed)."""
        if self.running:
            _run([*self.control, "-m", "fast", "-w", "stop"], "pg_ctl stop")


def _bindir() -> Path:
    bindir = Path(os.environ.get("SAFESHIP_PG_BINDIR", DEFAULT_BINDIR))
    missing = [name for name in ("initdb", "pg_ctl") if not (bindir / name).is_file()]
    if missing:
        pytest.fail(
            f"PostgreSQL binaries {missing} not found in {bindir}: install PostgreSQL 15 "
            "(Debian: apt-get install postgresql-15) or set SAFESHIP_PG_BINDIR",
            pytrace=False,
        )
    return bindir


def _as_server_user() -> list[str]:
    """Command prefix that runs a binary as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        pytest.fail(
            "running as root but runuser is missing; cannot start PostgreSQL", pytrace=False
        )
    return ["runuser", "-u", "postgres", "--"]


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        log_text = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        pytest.fail(
            f"{what} failed ({result.returncode}): {result.stderr.strip()}\n{log_text}",
            pytrace=False,
        )


@contextmanager
def running_postgres(*settings: str) -> Iterator[PostgresServer]:
    """A private server in a temporary directory (``settings``: extra ``name=value`` server
    settings, e.g. ``max_connections=20``), stopped and removed afterwards."""
    bindir = _bindir()
    prefix = _as_server_user()
    # Not pytest's tmp_path: its parent is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="safeship-pg-"))
    data, log = base / "data", base / "server.log"
    if prefix:
        shutil.chown(base, user="postgres")
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        _run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            "initdb",
        )
        for attempt in range(1, _START_ATTEMPTS + 1):
            # The port can be taken between probing and binding; retry with a new one.
            port = free_port()
            options = (
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1 "
                # Durability is pointless for a throwaway test server and costs time.
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            ) + "".join(f" -c {setting}" for setting in settings)
            result = subprocess.run(
                [*pg_ctl, "-w", "-t", "30", "-l", str(log), "-o", options, "start"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if result.returncode == 0:
                started = True
                break
            if attempt == _START_ATTEMPTS:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                pytest.fail(
                    f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}", pytrace=False
                )
        yield PostgresServer(host="127.0.0.1", port=port, base_dir=base, control=tuple(pg_ctl))
    finally:
        if started and (data / "postmaster.pid").exists():
            _run([*pg_ctl, "-m", "fast", "-w", "stop"], "pg_ctl stop", log)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    dbname = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(dbname)
    yield url
    postgres_server.drop_database(dbname)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
