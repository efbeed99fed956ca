"""One deploy at a time per environment: an exclusive advisory lock on a file.

The kernel drops a flock when its holder dies, so a crashed safeship never leaves the
environment locked.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class EnvironmentLocked(Exception):
    pass


class EnvironmentLock:
    def __init__(self, run_dir: Path, environment: str) -> None:
        self._path = run_dir / "deploy.lock"
        self._environment = environment
        self._fd: int | None = None

    def acquire(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise EnvironmentLocked(
                f"environment {self._environment} is locked by a running deploy (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> EnvironmentLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
