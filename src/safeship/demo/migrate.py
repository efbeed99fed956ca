"""The demo's migration command: ``python -m safeship.demo.migrate [--dir PATH] [--list]``.

A SQL-folder runner, the simplest kind of "migration command" safeship's migration gate runs:
the ``*.sql`` files of the folder (the demo's own ``migrations/`` by default, or
``DEMO_MIGRATIONS_DIR``), applied in name order to the database ``DATABASE_URL`` names, each
recorded in ``demo_migrations``.

Decisions:

- Each file and its record are one transaction (PostgreSQL and SQLite both roll back DDL): a
  migration that fails, or a process killed half-way, leaves nothing applied and nothing
  recorded, so running again starts from the same file.
- On PostgreSQL a transaction-level advisory lock serialises two runners; the second one sees
  the first one's records and skips what it applied.
- Files are named ``NNN_words.sql``: anything else in the folder is an error, not skipped, so a
  misnamed migration is never silently left out.
- The URL carries a password: no line printed quotes it.

Exit codes: 0 all applied (or nothing to do), 1 a migration failed, 2 usage (no DATABASE_URL,
no folder, a misnamed file).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from safeship.demo.database import DATABASE_VARIABLE, Connection, DatabaseError, connect, kind

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DIR_VARIABLE = "DEMO_MIGRATIONS_DIR"
FILE_NAME = re.compile(r"[0-9]+_[A-Za-z0-9_]+\.sql")
RECORDS = "demo_migrations"
# pg_advisory_xact_lock's key: any constant the demo's database does not otherwise use.
LOCK_KEY = 72_110_015

EXIT_FAILED = 1
EXIT_USAGE = 2


class MigrationFailed(Exception):
    """One migration failed (rolled back); the message is one line."""


class FolderError(Exception):
    """The migrations folder cannot be used (missing, a misnamed file): a usage error."""


def migration_files(folder: Path) -> list[Path]:
    """The folder's migrations in the order they apply; FolderError for a misnamed file."""
    if not folder.is_dir():
        raise FolderError(f"{folder}: no such migrations folder")
    found = sorted(p for p in folder.iterdir() if p.suffix == ".sql")
    for path in found:
        if not FILE_NAME.fullmatch(path.name):
            raise FolderError(f"{path}: migrations are named NNN_words.sql")
    return found


def applied(url: str) -> set[str]:
    """The names recorded in demo_migrations (an empty set before the first run)."""
    db = connect(url)
    try:
        _ensure_records(db)
        cursor = db.cursor()
        cursor.execute(f"SELECT name FROM {RECORDS}")
        names = {str(row[0]) for row in cursor.fetchall()}
        db.commit()
        return names
    except DatabaseError:
        raise
    except Exception as exc:  # the driver's (sqlite3's, psycopg's): one line, no traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseError(f"cannot read {RECORDS}: {first}") from None
    finally:
        db.close()


def _ensure_records(db: Connection) -> None:
    cursor = db.cursor()
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {RECORDS} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    db.commit()


def apply(url: str, path: Path) -> bool:
    """Apply one migration and record it, in one transaction; False when already recorded."""
    sql = path.read_text(encoding="utf-8")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if kind(url) == "sqlite":
        return _apply_sqlite(url, path.name, sql, now)
    return _apply_postgres(url, path.name, sql, now)


def _apply_sqlite(url: str, name: str, sql: str, now: str) -> bool:
    import sqlite3

    from safeship.demo.database import sqlite_path

    db = sqlite3.connect(sqlite_path(url), timeout=5.0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")  # the write lock: a second runner waits here
        try:
            if db.execute(f"SELECT 1 FROM {RECORDS} WHERE name = ?", (name,)).fetchone():
                db.execute("ROLLBACK")
                return False
            # executescript would commit first; statement by statement keeps the transaction.
            for statement in _statements(sql):
                db.execute(statement)
            db.execute(f"INSERT INTO {RECORDS} (name, applied_at) VALUES (?, ?)", (name, now))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise MigrationFailed(f"{name}: {exc}") from None
        return True
    finally:
        db.close()


def _statements(sql: str) -> list[str]:
    """SQLite's statements of a file, split where sqlite3 says a statement is complete."""
    import sqlite3

    statements: list[str] = []
    current = ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    # A last statement without its semicolon: SQLite reports it if it is incomplete.
    if any(line.strip() and not line.strip().startswith("--") for line in current.splitlines()):
        statements.append(current)
    return statements


def _apply_postgres(url: str, name: str, sql: str, now: str) -> bool:
    import psycopg

    db = connect(url)
    try:
        cursor = db.cursor()
        try:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            cursor.execute(f"SELECT 1 FROM {RECORDS} WHERE name = %s", (name,))
            if cursor.fetchone():
                db.rollback()
                return False
            cursor.execute(sql)  # no parameters: several statements in one call are allowed
            cursor.execute(f"INSERT INTO {RECORDS} (name, applied_at) VALUES (%s, %s)", (name, now))
            db.commit()
        except psycopg.Error as exc:
            db.rollback()
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise MigrationFailed(f"{name}: {first}") from None
        return True
    finally:
        db.close()


def run(url: str, folder: Path, out: list[str]) -> int:
    """Apply every pending migration in order; the lines to print go to ``out``."""
    files = migration_files(folder)
    done = applied(url)
    count = 0
    for path in files:
        if path.name in done:
            continue
        started = time.monotonic()
        if apply(url, path):
            count += 1
            out.append(f"applied {path.name} ({(time.monotonic() - started) * 1000:.0f} ms)")
    out.append(f"{count} applied, {len(files) - count} already applied")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m safeship.demo.migrate",
        description="Apply the demo's SQL migrations to DATABASE_URL, in order, once each.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help=f"the migrations folder (default: ${DIR_VARIABLE} or the demo's own)",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print each migration and whether it is applied; change nothing",
    )
    args = parser.parse_args(argv)
    folder = args.dir or Path(os.environ.get(DIR_VARIABLE) or MIGRATIONS_DIR)
    url = os.environ.get(DATABASE_VARIABLE, "").strip()
    if not url:
        return _say(EXIT_USAGE, f"{DATABASE_VARIABLE} is not set: it names the database to migrate")
    lines: list[str] = []
    try:
        kind(url)  # an unsupported scheme is the caller's to fix
        files = migration_files(folder)
    except (DatabaseError, FolderError) as exc:
        return _say(EXIT_USAGE, str(exc))
    try:
        if args.list:
            done = applied(url)
            lines += [f"{'applied' if p.name in done else 'pending'} {p.name}" for p in files]
            code = 0
        else:
            code = run(url, folder, lines)
    except DatabaseError as exc:
        code = EXIT_FAILED
        lines.append(str(exc))
    except MigrationFailed as exc:
        code = EXIT_FAILED
        lines.append(f"failed, rolled back: {exc}")
    for line in lines:
        print(f"demo-migrate: {_safe(line, url)}", file=sys.stderr if code else sys.stdout)
    return code


def _safe(line: str, url: str) -> str:
    """``line`` without the URL's password, should a driver's message ever quote it."""
    match = re.match(r"[a-z]+://[^/:@]*:([^@/]+)@", url)
    return line.replace(match.group(1), "****") if match else line


def _say(code: int, message: str) -> int:
    url = os.environ.get(DATABASE_VARIABLE, "")
    print(f"demo-migrate: {_safe(message, url)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
