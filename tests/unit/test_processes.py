"""safeship._processes with real child processes; every one is killed and reaped at teardown."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from safeship import _processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")

Spawn = Callable[..., subprocess.Popen[bytes]]
IGNORES_SIGTERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """spawn_detached with a log in tmp_path; SIGKILLs and reaps each child's group at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"{len(started)}.log"
        proc = _processes.spawn_detached(argv, env=dict(os.environ), cwd=tmp_path, log_path=log)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if _processes.is_child(proc.pid):  # unreaped, so the group id is still its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # a grandchild of a test goes too
            _processes.reap(proc.pid)
        proc.kill()  # no-op once reaped
        proc.wait(timeout=5)


@pytest.fixture
def plain_child() -> Iterator[subprocess.Popen[bytes]]:
    """A `sleep` started without spawn_detached: not in the registry, like another command's."""
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait(timeout=5)


def test_free_port_is_bindable() -> None:
    port = _processes.free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_spawn_detached_runs_in_its_own_session_and_appends_to_the_log(
    spawn: Spawn, tmp_path: Path
) -> None:
    (tmp_path / "0.log").write_text("before\n")
    proc = spawn("sh", "-c", 'echo "out $(pwd)"; echo err >&2; read -r line; echo "read:$line"')
    assert _processes.is_child(proc.pid)
    assert proc.wait(timeout=5) == 0  # stdin is /dev/null: `read` sees end of file at once
    assert (tmp_path / "0.log").read_text() == f"before\nout {tmp_path}\nerr\nread:\n"
    assert _processes.reap(proc.pid) == 0 and not _processes.is_child(proc.pid)

    sleeper = spawn("sleep", "30")
    assert os.getsid(sleeper.pid) == sleeper.pid == os.getpgid(sleeper.pid) != os.getsid(0)


def test_spawn_detached_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _processes.spawn_detached(
            ["no-such-command-safeship"], env={}, cwd=tmp_path, log_path=tmp_path / "x.log"
        )
    assert (tmp_path / "x.log").exists()


def test_killed_child_is_dead_while_still_a_zombie(spawn: Spawn) -> None:
    proc = spawn("sleep", "30")
    assert _processes.is_running(proc.pid) and _processes.exit_code(proc.pid) is None
    os.kill(proc.pid, signal.SIGKILL)

    assert _processes.wait_exited(proc.pid, 5.0)
    assert not _processes.is_running(proc.pid)
    # Not reaped (WNOWAIT): the pid is still ours, a zombie nobody else can be given.
    assert proc_state(proc.pid) == "Z" and _processes.is_child(proc.pid)
    assert _processes.exit_code(proc.pid) == -signal.SIGKILL
    assert _processes.exit_code(proc.pid) == -signal.SIGKILL  # asking again changes nothing

    assert _processes.reap(proc.pid) == -signal.SIGKILL
    assert proc_state(proc.pid) is None and not _processes.is_child(proc.pid)
    assert _processes.reap(proc.pid) is None  # no longer ours


def test_exit_code_of_a_normal_exit(spawn: Spawn) -> None:
    proc = spawn("sh", "-c", "exit 3")
    assert _processes.wait_exited(proc.pid, 5.0)
    assert _processes.exit_code(proc.pid) == 3
    assert _processes.reap(proc.pid) == 3


def test_zombie_of_someone_else_counts_as_dead(plain_child: subprocess.Popen[bytes]) -> None:
    pid = plain_child.pid
    assert not _processes.is_child(pid) and _processes.is_running(pid)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: proc_state(pid) == "Z")
    os.kill(pid, 0)  # kill(pid, 0) alone would call it alive
    assert not _processes.is_running(pid)


def test_start_ticks_guard_against_pid_reuse(plain_child: subprocess.Popen[bytes]) -> None:
    pid = plain_child.pid
    ticks = _processes.start_ticks(pid)
    assert ticks is not None and ticks > 0
    assert _processes.start_ticks(pid) == ticks  # fixed for the life of the process
    assert _processes.is_running(pid, ticks)
    # A pid file written for another process that had this pid: not the process it names.
    assert not _processes.is_running(pid, ticks - 1)
    assert not _processes.is_running(pid, ticks + 1)

    plain_child.kill()
    plain_child.wait(timeout=5)
    assert _processes.start_ticks(pid) is None
    assert not _processes.is_running(pid, ticks)


def test_wait_exited_is_bounded(spawn: Spawn) -> None:
    proc = spawn("sleep", "30")
    start = time.monotonic()
    assert not _processes.wait_exited(proc.pid, 0.3)
    assert 0.3 <= time.monotonic() - start < 10  # not the 30 s the process sleeps


def test_terminate_escalates_to_sigkill(spawn: Spawn, tmp_path: Path) -> None:
    proc = spawn(sys.executable, "-c", IGNORES_SIGTERM)
    assert wait_for(lambda: "ready" in (tmp_path / "0.log").read_text(), timeout=10)

    start = time.monotonic()
    assert _processes.terminate(proc.pid, 0.5, group=False)
    elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 10  # bounded: the grace, then SIGKILL (it ignores SIGTERM)
    assert proc.returncode == -signal.SIGKILL  # reaped by terminate
    assert not _processes.is_child(proc.pid) and proc_state(proc.pid) is None


def test_terminate_stops_at_sigterm_when_that_is_enough(spawn: Spawn) -> None:
    proc = spawn("sleep", "30")
    start = time.monotonic()
    assert _processes.terminate(proc.pid, 5.0, group=False)
    assert time.monotonic() - start < 2.0
    assert proc.returncode == -signal.SIGTERM
    assert not _processes.is_child(proc.pid)


def test_terminate_without_grace_sends_sigkill_at_once(spawn: Spawn) -> None:
    proc = spawn("sleep", "30")
    assert _processes.terminate(proc.pid, 0, group=False)
    assert proc.returncode == -signal.SIGKILL


def test_terminate_group_kills_what_the_leader_left_behind(spawn: Spawn, tmp_path: Path) -> None:
    # The leader starts a grandchild that ignores SIGTERM and prints its pid, then sleeps.
    leader_script = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {IGNORES_SIGTERM!r}])\n"
        "time.sleep(30)\n"
    )
    leader = spawn(sys.executable, "-c", leader_script)
    assert wait_for(lambda: "ready" in (tmp_path / "0.log").read_text(), timeout=10)
    [grandchild] = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and p.name != str(leader.pid) and _pgid(int(p.name)) == leader.pid
    ]
    ticks = _processes.start_ticks(grandchild)

    start = time.monotonic()
    assert _processes.terminate(leader.pid, 5.0, group=True)
    # The leader exited on SIGTERM, so there was no wait for the grace period; the grandchild
    # ignored SIGTERM and went with the SIGKILL to the group.
    assert time.monotonic() - start < 3.0
    assert leader.returncode == -signal.SIGTERM
    assert wait_for(lambda: not _processes.is_running(grandchild, ticks))


def test_terminate_an_exited_child_just_reaps_it(spawn: Spawn) -> None:
    proc = spawn("sh", "-c", "exit 0")
    assert _processes.wait_exited(proc.pid, 5.0)
    assert _processes.terminate(proc.pid, 5.0, group=False)
    assert proc.returncode == 0 and not _processes.is_child(proc.pid)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
