"""A SQLite registry's file: its state, reading it without writing beside it, creating it
complete, and the files SQLite keeps next to it."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote

from safeship._files import FILE_MODE, private_dir
from safeship.registry.errors import RegistryError

# Long enough for another runner's migration or write to finish; writes here are tiny.
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
_SIDE_FILES: Final = ("-wal", "-shm", "-journal")

FileState = Literal["missing", "empty", "readonly", "ok"]


def file_state(path: Path) -> FileState:
    """missing, empty (0 bytes), readonly (we may not write it or its directory), or ok."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        raise RegistryError(f"cannot open registry {path}: {exc.strerror or exc}") from exc
    if size == 0:
        return "empty"
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
    return "ok" if writable else "readonly"


def empty_registry_message(path: Path) -> str:
    return (
        f"registry {path} is empty (0 bytes): safeship never leaves an empty registry, so it "
        "was truncated or made by something else; restore it from a backup, or delete it to "
        "start a new history"
    )


def sqlite_files(path: Path) -> list[Path]:
    """The database and the files SQLite keeps beside it."""
    return [path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)]


def readonly_connector(path: Path) -> Callable[[], sqlite3.Connection]:
    """Connections that read ``path`` without writing anything beside it.

    WAL mode needs the -shm file: with it present SQLite reads read-only; without it (the last
    writer cleaned up) and no right to create it, only ``immutable`` opens the file, which is
    sound here because nobody else can write in that directory either (a -wal file would have
    been left behind).
    """
    # quote() is what pathname2url does on POSIX, without importing urllib.request (and with
    # it http.client and email: a tenth of a second at start-up).
    uri = "file:" + quote(str(path.resolve()))
    shm = path.with_name(path.name + "-shm")
    can_make_shm = os.access(path.parent, os.W_OK | os.X_OK)
    uri += "?mode=ro" if shm.exists() or can_make_shm else "?immutable=1"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        # Autocommit mode: the registry issues BEGIN itself (see sql.sqlite_reading).
        connection.isolation_level = None
        connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        return connection

    return connect


def prepare_writable(connection: sqlite3.Connection) -> None:
    """A fresh connection made fit to write: autocommit mode (BEGIN is taken by the caller),
    a busy timeout, WAL and foreign keys."""
    # The sqlite3 module only issues BEGIN before DML, so DDL (migrations) and reads would run
    # outside any transaction; the registry issues BEGIN itself instead.
    connection.isolation_level = None
    # busy_timeout first: switching to WAL may itself have to wait for another opener.
    connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(connection)
    connection.execute("PRAGMA foreign_keys = ON")


def _enable_wal(connection: sqlite3.Connection) -> None:
    """Switch to WAL, which lets readers (dashboard, CLI) run while a deploy writes.

    The switch needs an exclusive lock and SQLite reports "database is locked" at once, without
    honouring busy_timeout, when another connection opens the same fresh file at that moment.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def writable_connector(path: Path) -> Callable[[], sqlite3.Connection]:
    """Connections that write ``path`` (see ``prepare_writable``)."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, check_same_thread=False)
        try:
            prepare_writable(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    return connect


def create_sqlite_file(path: Path, build: Callable[[Path], None]) -> None:
    """Build the registry complete beside ``path`` (``build`` migrates a given file) and link
    it into place, unless another process got there first, whose database then stands."""
    if not path.parent.exists():
        private_dir(path.parent)  # only what is missing: an existing parent is the user's
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        build(tmp)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        for leftover in sqlite_files(tmp):
            leftover.unlink(missing_ok=True)
