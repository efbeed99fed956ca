"""Everything under ``.safeship/`` is for its owner only, whatever the umask (issue 11, section 1),
and the read-only commands work on a read-only ``.safeship/`` (section 4).

Root bypasses file permissions, so what another user can do is tried as ``nobody``, running the
system Python (the venv's interpreter may live under root's 0700 home) on this checkout and the
venv's packages.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import safeship
from safeship.envschema.fingerprint import load_key
from safeship.hooks import gate
from safeship.paths.failover import CircuitBreaker
from safeship.pipeline import operations
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.fixture
def umask_0() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def loose(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that its group or others can use."""
    found = []
    for path in [root, *sorted(root.rglob("*"))]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return found


def private_files_of_ours(state: Path) -> list[Path]:
    return [
        state / "registry.db",
        state / "run" / ENV / "v1.log",
        state / "run" / ENV / "router" / "router.log",
    ]


def test_a_deploy_under_umask_0_leaves_its_logs_and_registry_private(
    workspace_factory: WorkspaceFactory, umask_0: None
) -> None:
    ws = workspace_factory(strategy="all-at-once")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    state = ws.loaded.state_dir
    for path in private_files_of_ours(state):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in (state / "run" / ENV, state / "run" / ENV / "router"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_a_deploy_under_umask_0_leaves_every_state_file_private(
    workspace_factory: WorkspaceFactory, umask_0: None
) -> None:
    ws = workspace_factory(strategy="all-at-once")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    assert loose(ws.loaded.state_dir) == []


def test_state_helpers_write_private_files_under_umask_0(tmp_path: Path, umask_0: None) -> None:
    state = tmp_path / ".safeship"
    load_key(state, environ={})
    CircuitBreaker(state / "paths" / "failover.json", cooldown=60).trip("github-actions", "down")
    gate._write_json(state / "prepush" / "key.json", {"passed": True})
    assert loose(state) == []
    assert (state / "paths" / "failover.json").exists()
    assert (state / "prepush" / "key.json").exists()


def test_spawned_release_log_is_private_under_umask_0(tmp_path: Path, umask_0: None) -> None:
    from safeship import _processes

    log = tmp_path / "run" / "v1.log"
    proc = _processes.spawn_detached(
        [sys.executable, "-c", "print('DATABASE_URL=postgres://u:secret@h/db')"],
        env={"PATH": os.environ.get("PATH", "")},
        cwd=tmp_path,
        log_path=log,
    )
    _processes.terminate(proc.pid, 5, group=False)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


# -- another user ------------------------------------------------------------------------------


def _other_user_python() -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a command as another user")
    if shutil.which("runuser") is None or not SYSTEM_PYTHON.exists():
        pytest.skip("needs runuser and /usr/bin/python3")
    version = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip(f"/usr/bin/python3 is {version}, the venv's packages are for another one")
    source = Path(safeship.__file__).resolve().parent.parent
    packages = sysconfig.get_paths()["purelib"]
    return [
        "runuser",
        "-u",
        "nobody",
        "--",
        "env",
        f"PYTHONPATH={source}:{packages}",
        "HOME=/nonexistent",
        str(SYSTEM_PYTHON),
    ]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory other users can reach (pytest's tmp_path is root's own)."""
    root = Path(tempfile.mkdtemp(prefix="safeship-uid-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_another_user_cannot_read_the_state(
    workspace_factory: WorkspaceFactory, shared_tmp: Path
) -> None:
    python = _other_user_python()
    ws = workspace_factory(strategy="all-at-once")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    operations.down(ws.loaded, ENV)
    project = shared_tmp / "project"
    shutil.copytree(ws.root, project)  # copytree keeps the modes
    project.chmod(0o755)
    for path in private_files_of_ours(project / ".safeship"):
        probe = subprocess.run(
            [*python, "-c", f"open({str(path)!r}, 'rb').read(1)"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode != 0, path
        assert "PermissionError" in probe.stderr


def test_history_and_status_work_on_a_read_only_state_dir(
    workspace_factory: WorkspaceFactory, shared_tmp: Path
) -> None:
    python = _other_user_python()
    ws = workspace_factory(strategy="all-at-once")
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    operations.down(ws.loaded, ENV)
    project = shared_tmp / "project"
    shutil.copytree(ws.root, project)
    subprocess.run(["chown", "-R", "nobody:nogroup", str(project)], check=True)
    state = project / ".safeship"
    (state / "registry.db-wal").unlink(missing_ok=True)  # closed cleanly: none left
    state.chmod(0o500)
    before = sorted(p.name for p in state.iterdir())

    for command in (["history"], ["status"], ["history", "--json"]):
        result = subprocess.run(
            [*python, "-m", "safeship", *command],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr
        if command[0] == "history":
            assert "v1" in result.stdout
    assert sorted(p.name for p in state.iterdir()) == before


def test_read_only_commands_create_no_registry(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "safeship.toml").write_text(
        '[project]\nname = "p"\n\n[registry]\nurl = "sqlite:///state/deep/registry.db"\n\n'
        "[environments.local]\nport = 18999\n\n[environments.local.target]\n"
        'command = ["python", "-m", "http.server", "{port}"]\n',
        encoding="utf-8",
    )
    for command in (["history"], ["history", "local", "--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "safeship", *command],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "no deployments yet" in result.stdout or result.stdout.strip() == "[]"
    assert not (project / "state").exists()
    with Registry(f"sqlite:///{project / 'state' / 'deep' / 'registry.db'}") as registry:
        assert not registry.exists
