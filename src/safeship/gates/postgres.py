"""The PostgreSQL tools every database gate uses: a checked URL, pg_dump, pg_restore (list and
restore), a scratch database on the same server, and row counts.

A password never reaches a command line (where ``ps`` shows it to every user of the machine):
the tools get the URL without it and the password through ``PGPASSWORD`` in their environment,
which only the same user can read. Every error is one line (:class:`DatabaseToolError`), the
tool's first line of stderr with the password masked.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from safeship._files import open_private_fd
from safeship.artifacts.checksum import sha256_of
from safeship.redaction import MASK, redact
from safeship.registry.errors import first_line

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres")
SCRATCH_PREFIX = "safeship_scratch_"
# Seconds a connection attempt may take (when the URL does not say): a database that does not
# answer fails the gate quickly instead of hanging it.
CONNECT_TIMEOUT_S = 10


class DatabaseToolError(Exception):
    """A database tool or query failed; the message is one line without a password."""


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed ``postgresql://`` URL. ``str()`` and ``repr()`` mask the password."""

    url: str  # as given (with its password: never print it)
    host: str
    port: int
    dbname: str
    user: str
    password: str

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"DatabaseURL({self.masked!r})"

    @property
    def masked(self) -> str:
        return _with_netloc_password(self.url, MASK if self.password else "")

    @property
    def without_password(self) -> str:
        """The URL for a command line: the password goes through ``PGPASSWORD``."""
        return _with_netloc_password(self.url, "")

    def with_database(self, dbname: str) -> DatabaseURL:
        """The same server and credentials, another database."""
        parts = urlsplit(self.url)
        url = urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
        return DatabaseURL(url, self.host, self.port, dbname, self.user, self.password)

    def same_database(self, other: DatabaseURL) -> bool:
        """Whether both name one database: host, port and name (the user does not matter)."""
        return (_host_key(self.host), self.port, self.dbname) == (
            _host_key(other.host),
            other.port,
            other.dbname,
        )

    def tool_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        env.setdefault("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT_S))
        return env

    def redact(self, text: str) -> str:
        """``text`` with this URL's password (raw and percent-encoded) masked, then redacted."""
        if self.password:
            for form in {self.password, quote(self.password, safe="")}:
                text = text.replace(form, MASK)
        return redact(text)


def _host_key(host: str) -> str:
    host = host.lower()
    return "localhost" if host in ("127.0.0.1", "::1", "localhost", "") else host


def _with_netloc_password(url: str, password: str) -> str:
    """``url`` with its password (in the user part, or libpq's ``?password=``) replaced by
    ``password``; an empty one removes it."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        if ":" in userinfo:
            userinfo = f"{user}:{password}" if password else user
        parts = parts._replace(netloc=f"{userinfo}@{hostport}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "password" for key, _ in query):
        kept = [(k, password if k == "password" else v) for k, v in query]
        kept = [(k, v) for k, v in kept if k != "password" or password]
        parts = parts._replace(query=urlencode(kept, safe=MASK))
    return urlunsplit(parts)


def parse_url(url: str, variable: str = "DATABASE_URL") -> DatabaseURL:
    """``url`` checked as a PostgreSQL URL; a one-line error naming ``variable`` (never the
    value, which holds the password) when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 5432
    except ValueError as exc:
        raise DatabaseToolError(f"{variable} is not a valid URL ({_bad_part(exc)})") from None
    if parts.scheme not in SCHEMES:
        shown = parts.scheme or "none"
        raise DatabaseToolError(
            f"{variable} is not a PostgreSQL URL (scheme {shown!r}; expected postgresql://)"
        )
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise DatabaseToolError(f"{variable} names no database (postgresql://HOST/DBNAME)")
    if not parts.hostname and "host=" not in parts.query:
        raise DatabaseToolError(f"{variable} names no host (postgresql://HOST/DBNAME)")
    return DatabaseURL(
        url=url.strip(),
        host=parts.hostname or "",
        port=port,
        dbname=dbname,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or "") or _query_password(parts.query),
    )


def _query_password(query: str) -> str:
    return next((v for k, v in parse_qsl(query, keep_blank_values=True) if k == "password"), "")


def _bad_part(exc: ValueError) -> str:
    # urllib's messages name the part ("Port out of range 0-65535"), never the password.
    text = str(exc).splitlines()[0] if str(exc) else "unparsable"
    return "bad port" if "port" in text.lower() else "unparsable"


@dataclass(frozen=True)
class DumpInfo:
    path: Path
    size: int
    sha256: str
    seconds: float


def _tool(name: str) -> str:
    bindir = os.environ.get("SAFESHIP_PG_BINDIR")
    if bindir and (Path(bindir) / name).is_file():
        return str(Path(bindir) / name)
    found = shutil.which(name)
    if found is None:
        raise DatabaseToolError(
            f"{name} not found on PATH: install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client)"
        )
    return found


def _run_tool(
    argv: list[str],
    database: DatabaseURL | None,
    timeout: float,
    *,
    stdout: int | None = None,
) -> str:
    """Run a PostgreSQL tool; its stdout (unless redirected); a one-line error on failure."""
    name = Path(argv[0]).name
    env = database.tool_environment() if database else dict(os.environ)
    try:
        result = subprocess.run(
            argv,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DatabaseToolError(f"{name} took longer than {timeout:g} s") from None
    if result.returncode != 0:
        err = result.stderr.decode("utf-8", "replace").strip().splitlines()
        line = err[0] if err else f"exited with status {result.returncode}"
        line = database.redact(line) if database else redact(line)
        raise DatabaseToolError(line if line.startswith(name) else f"{name}: {line}")
    return result.stdout.decode("utf-8", "replace") if result.stdout else ""


def dump(url: str | DatabaseURL, dest: Path, timeout: float) -> DumpInfo:
    """``pg_dump --format=custom`` of the database into ``dest`` (a 0600 file, written under a
    temporary name and renamed when complete: a failed dump leaves nothing at ``dest``)."""
    database = url if isinstance(url, DatabaseURL) else parse_url(url)
    partial = dest.with_name(f".{dest.name}.partial")
    started = time.monotonic()
    fd = open_private_fd(partial, append=False)
    try:
        try:
            _run_tool(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    "--no-password",
                    f"--dbname={database.without_password}",
                ],
                database,
                timeout,
                stdout=fd,
            )
        finally:
            os.close(fd)
        seconds = time.monotonic() - started
        os.replace(partial, dest)
    except BaseException:
        with suppress(FileNotFoundError):
            partial.unlink()
        raise
    return DumpInfo(dest, dest.stat().st_size, sha256_of(dest), seconds)


def verify(dump_path: Path, timeout: float = 600.0) -> int:
    """``pg_restore --list`` of a custom-format dump: the number of entries in its table of
    contents (an unreadable or truncated dump raises)."""
    listing = _run_tool([_tool("pg_restore"), "--list", str(dump_path)], None, timeout)
    entries = [line for line in listing.splitlines() if line.strip() and not line.startswith(";")]
    if not entries:
        raise DatabaseToolError(f"pg_restore: {dump_path.name} lists no entries")
    return len(entries)


def restore(
    dump_path: Path, url: str | DatabaseURL, timeout: float, *, clean: bool = False
) -> float:
    """``pg_restore`` of a custom-format dump into an existing database (empty, unless
    ``clean``: then its objects of the same names are dropped first); the seconds it took.
    Ownership and grants are not restored: the objects belong to the URL's user."""
    database = url if isinstance(url, DatabaseURL) else parse_url(url)
    argv = [
        _tool("pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--no-password",
        *(["--clean", "--if-exists", "--single-transaction"] if clean else []),
        f"--dbname={database.without_password}",
        str(dump_path),
    ]
    started = time.monotonic()
    _run_tool(argv, database, timeout)
    return time.monotonic() - started


def _connect(database: DatabaseURL, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    import psycopg

    try:
        return psycopg.connect(
            database.url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S
        )
    except psycopg.Error as exc:
        raise DatabaseToolError(_psycopg_line(database, exc)) from None


def _psycopg_line(database: DatabaseURL, exc: BaseException) -> str:
    return database.redact(f"{database.masked}: {first_line(exc)}")


@contextmanager
def scratch_database(url: str | DatabaseURL) -> Iterator[DatabaseURL]:
    """A new empty database on the same server (``safeship_scratch_<random>``; its URL, same
    credentials), dropped afterwards even when the block raises. The URL's user needs the
    CREATEDB privilege."""
    import psycopg
    from psycopg import sql

    database = url if isinstance(url, DatabaseURL) else parse_url(url)
    name = SCRATCH_PREFIX + secrets.token_hex(6)
    conn = _connect(database, autocommit=True)
    with conn:
        try:
            taken = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if taken.fetchone() is not None:
                raise DatabaseToolError(f"scratch database {name} exists already: not touching it")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise DatabaseToolError(_psycopg_line(database, exc)) from None
        try:
            yield database.with_database(name)
        finally:
            try:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            except psycopg.Error as exc:
                raise DatabaseToolError(
                    f"could not drop scratch database {name}: {_psycopg_line(database, exc)}"
                ) from None


def row_counts(url: str | DatabaseURL) -> dict[str, int]:
    """Exact row counts of the database's tables (``schema.table``; ``table`` in public)."""
    import psycopg
    from psycopg import sql

    database = url if isinstance(url, DatabaseURL) else parse_url(url)
    conn = _connect(database)
    counts: dict[str, int] = {}
    with conn:
        try:
            tables = conn.execute(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema') ORDER BY schemaname, tablename"
            ).fetchall()
            for schema, table in tables:
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                ).fetchone()
                key = table if schema == "public" else f"{schema}.{table}"
                counts[key] = int(row[0]) if row else 0
        except psycopg.Error as exc:
            raise DatabaseToolError(_psycopg_line(database, exc)) from None
    return counts


def is_empty(url: str | DatabaseURL) -> bool:
    """Whether the database has no tables, views or sequences outside the system schemas."""
    import psycopg

    database = url if isinstance(url, DatabaseURL) else parse_url(url)
    conn = _connect(database)
    with conn:
        try:
            row = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
                "AND c.relkind IN ('r', 'v', 'm', 'S', 'p')"
            ).fetchone()
        except psycopg.Error as exc:
            raise DatabaseToolError(_psycopg_line(database, exc)) from None
    return row is None or int(row[0]) == 0
