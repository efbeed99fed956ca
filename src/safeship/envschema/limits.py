"""Bounds on what env.schema.toml and .env files may ask of safeship, and bounded reading.

Every input here may be hostile (a schema from a pull request, a .env file from anywhere): each
bound keeps the work of one check linear in the input and far below a second on a real project,
and each is reported as one line naming the file (and line, and key) that went over it.

- Schema patterns run on RE2 (``patterns``): linear time, whatever the pattern.
- Files are read only when they are regular files (or pipes), and never past their bound:
  ``--env-file /dev/zero`` is refused at once instead of read for ever.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# env.schema.toml: real schemas hold tens of variables in a handful of tables.
MAX_SCHEMA_BYTES = 512 * 1024
MAX_SCHEMA_TABLES = 100
MAX_SCHEMA_VARIABLES = 5_000
# base → staging → production is 3; a chain deeper than this is a mistake or an attack.
MAX_EXTENDS_DEPTH = 16
# Characters of one ``pattern``; RE2 also refuses a pattern whose program is too large.
MAX_PATTERN_LENGTH = 1_000
# RE2's memory budget for one compiled pattern (its default, stated here so it is a bound).
MAX_PATTERN_MEMORY = 8 * 1024 * 1024

# .env files: python-dotenv's parser takes ~20 µs a line, so these keep a file under ~0.5 s.
MAX_ENV_FILE_BYTES = 1024 * 1024
MAX_ENV_LINES = 20_000
MAX_ENV_KEYS = 5_000
# One physical line. A longer line holds an entry no process can receive (MAX_ARG_STRLEN is
# 128 KiB), so nothing legitimate is lost.
MAX_ENV_LINE_BYTES = 256 * 1024

# The file types read_limited accepts: regular files, and pipes (``--env-file <(cmd)``).
_READABLE = {stat.S_IFREG: "a regular file", stat.S_IFIFO: "a pipe"}
_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class InputRefused(Exception):
    """A file is refused before (or while) reading it; the message is one line without path."""


def size(n: int) -> str:
    """``512 KiB``, ``1.0 MiB``, ``300 bytes``: sizes as messages give them."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n} bytes"


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, a regular file or a pipe of at most ``limit`` bytes.

    Raises InputRefused for any other kind of file (a device, a socket, a directory) and for
    a file over ``limit`` (never reading more than ``limit + 1`` bytes), and OSError
    (FileNotFoundError, PermissionError, ...) when it cannot be opened. A FIFO is opened
    without blocking, so one nobody writes to reads as empty instead of waiting.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = stat.S_IFMT(os.fstat(fd).st_mode)
        if mode not in _READABLE:
            kind = _KINDS.get(mode, "not a regular file")
            raise InputRefused(f"is {kind}, not a file safeship reads")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise InputRefused(f"is larger than {size(limit)}, the most safeship reads here")
        return b"".join(chunks)
    finally:
        os.close(fd)
