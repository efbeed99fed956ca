"""Shared fixtures live in the repository's testing/ package (like pre-commit's), outside the
installed package: safeship itself never imports pytest."""

import os
import tempfile
from pathlib import Path

pytest_plugins = [
    "testing.browser",
    "testing.dashboard",
    "testing.postgres",
    "testing.prometheus",
    "testing.fixtures",
    "testing.fleet_hosts",
    "testing.redis",
    "testing.services",
]

# Temporary files of the run go here when it is a tmpfs (Linux's /dev/shm): see _use_memory_tmpdir.
MEMORY_TMPDIR = Path("/dev/shm/safeship-tests")


def _use_memory_tmpdir() -> None:
    """Every registry write is a SQLite commit, which waits for the disk (fdatasync: ~5 ms on
    this machine's virtual disk, more while four workers and their servers write at once; a
    deploy makes about a hundred). In memory the same commits are real but cost nothing to
    wait for. Only when TMPDIR is not chosen already; the directory is like /tmp (sticky,
    world-writable) because PostgreSQL, and the tests as another user, work in it too."""
    if os.environ.get("TMPDIR") or not MEMORY_TMPDIR.parent.is_dir():
        return
    try:
        MEMORY_TMPDIR.mkdir(exist_ok=True)
        MEMORY_TMPDIR.chmod(0o1777)
    except OSError:  # not ours, or not writable: the default temporary directory then
        return
    os.environ["TMPDIR"] = str(MEMORY_TMPDIR)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def pytest_configure(config: object) -> None:
    """The read-only commands' config cache (safeship.config.cache) of every command the tests
    run, in and out of process, goes to a directory of this run, not the user's ~/.cache."""
    if not os.environ.get("SAFESHIP_TEST_CACHE"):  # once: xdist's workers inherit it
        os.environ["SAFESHIP_TEST_CACHE"] = "1"
        _use_memory_tmpdir()
        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="safeship-test-cache-")
