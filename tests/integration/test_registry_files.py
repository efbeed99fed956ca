"""The SQLite registry's file: private, never created by reading, an empty file refused,
readable from a read-only ``.safeship/`` (issue 11, sections 1 and 4)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeship.registry import Registry, RegistryError


@pytest.fixture
def umask_0() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_reading_a_registry_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "not-yet" / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        assert not registry.exists
        assert registry.history() == []
        assert registry.history("production") == []
        assert registry.lease("production") is None
        assert registry.events(None) == []
        assert registry.env_snapshots("production") == []
    assert not path.parent.exists()


def test_the_first_write_creates_a_private_database(tmp_path: Path, umask_0: None) -> None:
    path = tmp_path / "state" / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        deployment_id = registry.create_deployment("production", "v1", None, "ci")
        assert registry.exists
        assert [r.id for r in registry.history()] == [deployment_id]
        side_files = [p for p in path.parent.iterdir() if p != path]
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600
    for side in side_files:  # -wal and -shm while it was open
        assert side.name.startswith("registry.db-")
    assert sorted(p.name for p in path.parent.iterdir()) == ["registry.db"]
    with Registry(f"sqlite:///{path}") as registry:
        assert [r.version for r in registry.history()] == ["v1"]


def test_wal_and_shm_files_are_private_while_open(tmp_path: Path, umask_0: None) -> None:
    path = tmp_path / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        registry.create_deployment("production", "v1", None, "ci")
        # The registry holds no connection between calls: another reader (a dashboard, say)
        # keeps the WAL files in place while the registry writes again.
        reader = sqlite3.connect(path)
        try:
            reader.execute("SELECT count(*) FROM deployments").fetchall()
            registry.create_deployment("production", "v2", None, "ci")
            registry.history()
            beside = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
            present = [p for p in beside if p.exists()]
            assert present, "WAL mode keeps -wal/-shm files while a connection is open"
            for side in present:
                assert _mode(side) == 0o600, side
        finally:
            reader.close()


def test_an_existing_parent_directory_is_left_as_it_is(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as registry:
        registry.create_deployment("production", "v1", None, "ci")
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / "registry.db") == 0o600


def test_an_older_loose_registry_is_tightened_on_open(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        registry.create_deployment("production", "v1", None, "ci")
    path.chmod(0o644)
    Registry(f"sqlite:///{path}").close()
    assert _mode(path) == 0o600


def test_a_registry_truncated_to_zero_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / ".safeship" / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        registry.create_deployment("production", "v1", None, "ci")
    path.write_bytes(b"")
    with pytest.raises(RegistryError) as caught:
        Registry(f"sqlite:///{path}")
    message = str(caught.value)
    assert f"registry {path} is empty (0 bytes)" in message
    assert "restore it from a backup, or delete it" in message
    assert "\n" not in message
    assert path.stat().st_size == 0  # left for the user to restore, not re-created


def test_an_empty_file_appearing_before_the_first_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    registry = Registry(f"sqlite:///{path}")
    path.touch()  # e.g. `sqlite3 registry.db` opened and quit by hand
    with pytest.raises(RegistryError, match="is empty"):
        registry.create_deployment("production", "v1", None, "ci")
    registry.close()


def test_a_database_another_process_created_meanwhile_is_used(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    late = Registry(url)  # sees no file
    with Registry(url) as early:
        first = early.create_deployment("production", "v1", None, "ci")
    second = late.create_deployment("production", "v2", None, "ci")
    assert [r.id for r in late.history()] == [second, first]
    late.close()


def test_a_registry_we_may_not_write_is_read_only(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anyway; the CLI test runs this as another user")
    path = tmp_path / "state" / "registry.db"
    with Registry(f"sqlite:///{path}") as registry:
        registry.create_deployment("production", "v1", None, "ci")
    path.parent.chmod(0o500)
    try:
        with Registry(f"sqlite:///{path}") as registry:
            assert registry.readonly
            assert [r.version for r in registry.history()] == ["v1"]
            with pytest.raises(RegistryError, match="read-only"):
                registry.create_deployment("production", "v2", None, "ci")
    finally:
        path.parent.chmod(0o700)


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    path.write_text("hello, not sqlite\n" * 100)
    with pytest.raises(RegistryError) as caught:
        Registry(f"sqlite:///{path}")
    assert "\n" not in str(caught.value)
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("select 1 from sqlite_master").fetchall()


def test_history_on_a_truncated_registry_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "safeship.toml").write_text(
        '[environments.local]\nport = 18998\n\n[environments.local.target]\ncommand = ["x"]\n'
    )
    state = tmp_path / ".safeship"
    with Registry(f"sqlite:///{state / 'registry.db'}") as registry:
        registry.create_deployment("local", "v1", None, "ci")
    (state / "registry.db").write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "safeship", "history"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("safeship: error: registry ")
    assert "registry.db is empty (0 bytes)" in line
    assert (state / "registry.db").stat().st_size == 0
