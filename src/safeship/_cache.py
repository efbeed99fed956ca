"""Files safeship can compute again, kept between runs to start faster (XDG Base Directory).

What is cached: the read-only commands' last validated config (safeship.config.cache) and the
plugin registry's scan of the installed distributions (safeship.plugins). A cache file is used
only when it is the user's own private file in a private directory (0600 in 0700, both owned
by this user), and every reader checks that what it was computed from is unchanged.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_CACHE_BYTES = 8 * 1024 * 1024


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/safeship``, else ``~/.cache/safeship`` (RuntimeError: no home)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "safeship"


def read_private(path: Path) -> bytes | None:
    """``path``'s bytes when it is this user's private file in a private directory, else None
    (missing, a link, shared, foreign, too large)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        try:
            if not _private(os.fstat(fd), os.stat(path.parent)):
                return None
            data = file.read(MAX_CACHE_BYTES + 1)
        except OSError:
            return None
    return data if len(data) <= MAX_CACHE_BYTES else None


def _private(file: os.stat_result, directory: os.stat_result) -> bool:
    uid = os.getuid()
    return (
        stat.S_ISREG(file.st_mode)
        and file.st_uid == uid
        and directory.st_uid == uid
        and file.st_mode & 0o077 == 0
        and directory.st_mode & 0o077 == 0
    )
