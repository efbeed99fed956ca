"""Processes and ports: one place for the low-level rules the local target, the builtin router
and the test fixtures share.

Decisions:

- A zombie counts as dead. It runs no code and holds no port; it only waits for its parent to
  collect its exit status. ``kill(pid, 0)`` still succeeds on it, so that alone would call a
  crashed release alive until someone reaps it.
- Children started here (``spawn_detached``) are kept, pid -> Popen, until ``reap``. An exited
  child that is not reaped is a zombie, and the kernel does not hand its pid, nor the process
  group id it leads, to another process meanwhile: signalling it or its group stays safe. So
  ``is_running`` asks about our children with ``waitid(WNOWAIT)``, which reports an exit without
  reaping, and only ``reap`` (or ``terminate``, once the process has exited) gives the pid up.
  Holding the Popen also keeps ``subprocess`` from reaping it behind our back when the object
  is dropped (and from warning that it is still running).
- A pid that is not our child (started by an earlier safeship command) may have been reused
  once its process was reaped. The start time in ``/proc/PID/stat`` (field 22, clock ticks since
  boot) never changes over a process's life and differs between two processes that had the same
  pid, so a pid file recording it tells the process it named from a stranger (``start_ticks``).
- Without /proc (e.g. macOS), liveness falls back to ``kill(pid, 0)``: a zombie of someone else's
  then counts as alive and start ticks are unknown (None), so they cannot guard anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from safeship._files import open_private_fd

# How long to wait for a process to exit after SIGKILL (and for a reap) before giving up.
KILL_WAIT = 3.0
_POLL = 0.05
_HAVE_PROC = Path("/proc/self/stat").exists()

# Our unreaped children, by pid. Module-level: a child belongs to this process, not to the
# LocalTarget or BuiltinRouter object that started it.
_children: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (another program may take it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def spawn_detached(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as our child in its own session, with its output appended to ``log_path``.

    Its own session: it outlives us, and the terminal's Ctrl-C and hangup do not reach it; its
    pid is also its process group id. stdin is /dev/null. The child stays registered (see the
    module docstring) until ``reap``. The log is a private (0600) file: it holds what the app
    printed, secrets among it. Raises OSError (e.g. FileNotFoundError) if it cannot be
    started; ``log_path`` has been created by then.
    """
    with os.fdopen(open_private_fd(log_path), "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc


def is_child(pid: int) -> bool:
    """Whether ``pid`` is an unreaped child of ours, so it cannot have been reused."""
    return pid in _children


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a process from /proc, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ")".
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None if it is gone or without /proc."""
    stat = _proc_stat(pid) if _HAVE_PROC else None
    return stat[1] if stat else None


def exit_code(pid: int) -> int | None:
    """Exit code of our child (negative: killed by that signal), or None while it runs.

    Does not reap it (WNOWAIT). ``pid`` must be our child: one reaped elsewhere (e.g. by a
    SIGCHLD handler) is forgotten and reported as 0.
    """
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        _children.pop(pid, None)
        return 0
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def is_running(pid: int, start_ticks: int | None = None) -> bool:
    """Whether ``pid`` is alive (a zombie counts as dead) and, given ``start_ticks``, still the
    process that started at that time (not another that got the pid since). Never reaps."""
    if pid in _children:
        return exit_code(pid) is None  # unreaped: the pid cannot belong to anyone else
    if _HAVE_PROC:
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        return start_ticks is None or stat[1] == start_ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def wait_exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; whether it has. Never reaps."""
    deadline = time.monotonic() + timeout
    while is_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def reap(pid: int) -> int | None:
    """Collect our exited child and forget it; its exit code, or None if it was not ours.

    From then on the pid may be reused: signal nothing by it any more.
    """
    proc = _children.pop(pid, None)
    if proc is None:
        return None
    with contextlib.suppress(subprocess.TimeoutExpired):
        return proc.wait(timeout=KILL_WAIT)
    return None


def _send(pid: int, sig: signal.Signals, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def terminate(pid: int, grace: float, *, group: bool) -> bool:
    """SIGTERM ``pid``, SIGKILL it if it still runs after ``grace`` seconds (0: SIGKILL at once).

    With ``group`` the signals go to the process group ``pid`` leads, and the group is SIGKILLed
    even when the leader exited in time, so nothing it left behind survives (the leader, if our
    child, is an unreaped zombie until then: the group id is still its own). Returns whether
    ``pid`` has exited, after reaping it if it was our child; False only if it outlived SIGKILL
    by KILL_WAIT seconds (e.g. stuck in uninterruptible I/O). Takes at most grace + KILL_WAIT.
    The caller must know ``pid`` is the process it means (``is_child``, or ``start_ticks``).
    """
    if grace > 0 and is_running(pid):
        _send(pid, signal.SIGTERM, group)
        wait_exited(pid, grace)
    if group or is_running(pid):
        _send(pid, signal.SIGKILL, group)
    if not wait_exited(pid, KILL_WAIT):
        return False
    reap(pid)
    return True
