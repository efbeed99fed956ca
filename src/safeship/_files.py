"""Private state files: everything safeship writes under ``.safeship/`` is for its owner only.

State directories are 0700 and state files 0600 whatever the process umask: a release's log
can hold what the app printed (secrets among it), router state names its control socket, the
registry holds the deployment history. Every writer of state goes through these functions.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TextIO

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700 directories; tighten it if it exists.

    Parents that already exist are left as they are (they may be the user's project).
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)
    if not missing and path.is_dir() and (path.stat().st_mode & 0o777) != DIR_MODE:
        with contextlib.suppress(PermissionError):
            os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: str | bytes) -> None:
    """Replace ``path`` atomically with ``data``, as a 0600 file (its directory made private)."""
    private_dir(path.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as file:
            fd = -1
            file.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_private_json(path: Path, data: object) -> None:
    """``data`` as indented JSON, replacing ``path`` atomically as a 0600 file."""
    write_private(path, json.dumps(data, indent=2) + "\n")


def open_private_fd(path: Path, *, append: bool = True) -> int:
    """A 0600 file descriptor on ``path`` for appending (or truncated writing), created if
    missing; for a child process's stdout, or wrap it with ``os.fdopen``."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_text(path: Path, *, append: bool = True) -> TextIO:
    """``path`` opened as UTF-8 text for appending (or truncated writing), a 0600 file."""
    return os.fdopen(open_private_fd(path, append=append), "a" if append else "w", encoding="utf-8")


def make_private(path: Path) -> None:
    """Tighten an existing file (one another library created, such as SQLite) to 0600."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, FILE_MODE)
