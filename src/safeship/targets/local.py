"""The local target: each release is a detached process group on this machine.

State lives in ``state_dir`` (``.safeship/run/ENV/``): ``<version>.json`` records a running
release (pid, port, process start time, command) and ``<version>.log`` collects its output.
Releases are started in their own session, so they outlive the safeship command that started
them and a Ctrl-C of it; a later safeship command finds them again through the pid files.

Decisions:

- ``python`` (or ``python3``) as the command's first argument runs ``sys.executable``, so a
  release started from a virtualenv uses that virtualenv without activating it.
- Deploying a version that is already running raises TargetError instead of replacing it: the
  running one may be serving traffic, and only the pipeline knows whether stopping it is safe.
- A failed start kills the process group and removes the pid file; the log is kept, since it is
  the only record of why the release failed.
- A pid is signalled only when it is verifiably the process we started: one whose start time
  (``/proc/PID/stat`` field 22) matches the pid file, or an unreaped child of this process (see
  safeship._processes for why each rules out pid reuse, and why a zombie counts as dead).
  When a release's leader is found dead (is_alive, releases), what it left in its process group
  is SIGKILLed before the leader is reaped.
- "Listening" means the port accepts a TCP connection. The port is picked free just before the
  start, so another program grabbing it in between could be mistaken for the release (rare).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from safeship import _processes
from safeship._files import private_dir, write_private
from safeship.config.models import LocalTargetSettings
from safeship.targets.base import HostCapacity, Release, TargetError
from safeship.targets.variables import store_variable, stored_variables
from safeship.validation import VERSION_PATTERN

_POLL = 0.05
_VERSION_RE = re.compile(VERSION_PATTERN)  # every target's rule (safeship.validation)
_PYTHON_NAMES = ("python", "python3")
# Names a release in its environment until its pid file exists (see LocalTarget.deploy).
_TOKEN_VARIABLE = "SAFESHIP_RELEASE_TOKEN"


@dataclass(frozen=True)
class _Record:
    """The content of a pid file."""

    pid: int
    port: int
    version: str
    started_at: float
    start_ticks: int | None
    command: list[str]

    def release(self, environment: str) -> Release:
        return Release(environment, self.version, self.port, self.pid, self.started_at)


def _mb(size: int) -> float:
    return round(size / 1_048_576, 1)


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _last_line(log: Path, offset: int) -> str:
    """The last non-empty line the release wrote, trimmed to fit in a one-line error."""
    try:
        with log.open("rb") as f:
            f.seek(max(offset, f.seek(0, os.SEEK_END) - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return ""


class LocalTarget:
    """Runs each release of ``environment`` as a detached process group on this machine."""

    routes_itself: ClassVar[bool] = False

    def __init__(
        self,
        environment: str,
        settings: LocalTargetSettings,
        state_dir: Path,
        base_dir: Path,
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.state_dir = state_dir
        self.base_dir = base_dir
        private_dir(state_dir)

    # -- files -----------------------------------------------------------------------------

    def _pid_file(self, version: str) -> Path:
        return self.state_dir / f"{version}.json"

    def _intent_file(self, version: str) -> Path:
        """Holds the token of a release being spawned, until its pid file exists."""
        return self.state_dir / f".{version}.spawning"

    def log_file(self, version: str) -> Path:
        """Where the release's stdout and stderr go (appended across starts)."""
        return self.state_dir / f"{version}.log"

    def _write_record(self, record: _Record) -> None:
        path = self._pid_file(record.version)
        # Atomic: readers see the old file or the whole new one.
        write_private(path, json.dumps(record.__dict__, indent=2) + "\n")

    def _read_record(self, path: Path) -> _Record | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return _Record(
                pid=int(data["pid"]),
                port=int(data["port"]),
                version=str(data["version"]),
                started_at=float(data["started_at"]),
                start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
                command=[str(a) for a in data.get("command", [])],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _remove_record(self, version: str, pid: int) -> None:
        """Remove the pid file, unless it now belongs to another process (a redeploy)."""
        path = self._pid_file(version)
        record = self._read_record(path)
        if record is None or record.pid == pid:
            path.unlink(missing_ok=True)

    # -- identity --------------------------------------------------------------------------

    def _is_ours(self, pid: int, version: str) -> bool:
        """Whether ``pid`` is verifiably the process we started for ``version``."""
        record = self._read_record(self._pid_file(version))
        if record is not None and record.pid == pid and record.start_ticks is not None:
            # Checked even for a child of ours: the pid may have been reused by another child
            # (the router, another release) since this pid file was written.
            return record.start_ticks == _processes.start_ticks(pid)
        if _processes.is_child(pid):
            return True  # unreaped child: the pid cannot have been reused
        return record is not None and record.pid == pid

    # -- Target protocol -------------------------------------------------------------------

    def deploy(self, version: str, commit: str | None = None) -> Release:
        """Start ``version``; return once its port accepts connections. See module docstring."""
        if not _VERSION_RE.fullmatch(version):
            raise TargetError(f"invalid version {version!r}: use letters, digits and . _ + -")
        running = [r for r in self.releases() if r.version == version]
        if running:
            raise TargetError(
                f"release {version} is already running (pid {running[0].pid}, "
                f"port {running[0].port}); stop it first"
            )
        cwd = self.base_dir if self.settings.cwd is None else self.base_dir / self.settings.cwd
        if not cwd.is_dir():
            raise TargetError(
                f"working directory not found: {cwd} (environments.{self.environment}.target.cwd)"
            )
        port = _processes.free_port()
        argv = [
            a.replace("{port}", str(port)).replace("{version}", version)
            for a in self.settings.command
        ]
        if argv[0] in _PYTHON_NAMES:
            argv[0] = sys.executable
        # A token in the release's environment and an intent file written before the spawn:
        # a safeship killed between the spawn and the pid file leaves a process that
        # `reap` (run by recover) can still find and stop.
        token = uuid.uuid4().hex
        env = {
            **os.environ,
            **self.variables(),
            "SAFESHIP_VERSION": version,
            "PORT": str(port),
            _TOKEN_VARIABLE: token,
        }
        intent = self._intent_file(version)
        write_private(intent, token)

        log = self.log_file(version)
        offset = log.stat().st_size if log.exists() else 0  # this start's output begins here
        try:
            proc = _processes.spawn_detached(argv, env=env, cwd=cwd, log_path=log)
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            if offset == 0:
                log.unlink(missing_ok=True)  # nothing ever ran: no empty log left behind
            what = "not found" if isinstance(exc, FileNotFoundError) else "not executable"
            where = f"environments.{self.environment}.target.command"
            intent.unlink(missing_ok=True)
            raise TargetError(f"command {what}: {self.settings.command[0]} ({where})") from None
        started_at = time.time()
        try:
            ticks = _processes.start_ticks(proc.pid)
            record = _Record(proc.pid, port, version, started_at, ticks, argv)
            # Written before waiting, so a safeship killed meanwhile leaves a findable release.
            self._write_record(record)
            intent.unlink(missing_ok=True)
            self._wait_listening(proc.pid, port, version, log, offset)
        except BaseException:
            # TargetError, KeyboardInterrupt, anything: never leave a half-started release.
            self._kill(proc.pid)
            self._remove_record(version, proc.pid)
            raise
        return record.release(self.environment)

    def _wait_listening(self, pid: int, port: int, version: str, log: Path, offset: int) -> None:
        deadline = time.monotonic() + self.settings.start_timeout
        while True:
            code = _processes.exit_code(pid)
            if code is not None:
                how = f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"
                said = _last_line(log, offset) or f"no output (log: {log})"
                raise TargetError(f"release {version} {how} before listening: {said}")
            if _listening(port):
                return
            if time.monotonic() >= deadline:
                raise TargetError(
                    f"release {version} did not listen on port {port} within "
                    f"{self.settings.start_timeout:g}s (log: {log})"
                )
            time.sleep(_POLL)

    def _kill(self, pid: int) -> None:
        """SIGKILL the whole process group, then collect the leader if it is our child."""
        _processes.terminate(pid, 0, group=True)

    def is_alive(self, release: Release) -> bool:
        if release.pid is None or not self._is_ours(release.pid, release.version):
            return False
        if not _processes.is_running(release.pid):
            # The release is dead. Its leader is a zombie (so its group id is still safe to use):
            # kill what it left in its group, then collect it if it is our child.
            self._kill(release.pid)
            return False
        return True

    def stop(self, release: Release) -> None:
        """SIGTERM the release's process group, SIGKILL it after ``stop_timeout``.

        Takes at most stop_timeout plus a few seconds. Raises TargetError only if the process
        survives SIGKILL (e.g. stuck in uninterruptible I/O); its pid file is then kept.
        """
        pid = release.pid
        if pid is None:
            return
        if not self._is_ours(pid, release.version):
            # Gone, or the pid now belongs to someone else: nothing of ours to signal.
            self._remove_record(release.version, pid)
            return
        # The group is SIGKILLed also after a graceful exit: children the release left behind
        # in it go too. The leader, if ours, is an unreaped zombie until then: the group id is safe.
        if not _processes.terminate(pid, self.settings.stop_timeout, group=True):
            raise TargetError(f"release {release.version} (pid {pid}) did not exit after SIGKILL")
        self._remove_record(release.version, pid)

    def releases(self) -> list[Release]:
        found: list[Release] = []
        for path in sorted(self.state_dir.glob("*.json")):
            record = self._read_record(path)
            if record is None:
                continue  # not a pid file of ours (or unreadable): leave it alone
            release = record.release(self.environment)
            if self.is_alive(release):
                found.append(release)
            else:
                self._remove_record(record.version, record.pid)
        return sorted(found, key=lambda r: r.started_at)

    @property
    def variables_file(self) -> Path:
        """Variables set through ``set_variable`` (secrets kept out of safeship.toml): a
        private JSON object beside the pid files (not named *.json: those are the pid files);
        they override the config's ``env``."""
        return self.state_dir / ".variables"

    def variables_table(self) -> tuple[str, ...] | None:
        return ("env",)

    def variables(self) -> dict[str, str]:
        """The variables a new release gets: the config's ``env`` and the variables file (not
        the whole process env)."""
        return {**self.settings.env, **stored_variables(self.variables_file)}

    def set_variable(self, name: str, value: str) -> None:
        store_variable(self.variables_file, name, value)

    def reap(self) -> int:
        """Stop releases spawned by a safeship that died before writing their pid file (found
        by the token in their environment); how many process groups were stopped. Only for a
        caller holding the environment's lease: otherwise a spawn may be in progress."""
        intents = {path.read_text().strip(): path for path in self.state_dir.glob(".*.spawning")}
        if not intents:
            return 0
        import psutil  # here: `safeship status` builds this target and never reaps

        leaders: set[int] = set()
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.environ().get(_TOKEN_VARIABLE) in intents:
                    leaders.add(os.getpgid(proc.pid))
        for leader in leaders:
            _processes.terminate(leader, 0, group=True)
        for path in intents.values():
            path.unlink(missing_ok=True)
        return len(leaders)

    def capacity(self) -> HostCapacity:
        """This machine's available memory, the free disk of the filesystem that holds the
        releases' state and logs, and each running release's resident memory (its process
        and its children: a release that forks workers holds them all)."""
        import psutil  # here: only the capacity gate measures

        resident: dict[str, float] = {}
        for release in self.releases():
            if release.pid is None:
                continue
            with contextlib.suppress(psutil.Error):  # it exited since releases() looked
                leader = psutil.Process(release.pid)
                processes = [leader, *leader.children(recursive=True)]
                resident[release.version] = _mb(sum(p.memory_info().rss for p in processes))
        return HostCapacity(
            host=socket.gethostname(),
            memory_available_mb=_mb(psutil.virtual_memory().available),
            disk_free_mb=_mb(psutil.disk_usage(str(self.state_dir)).free),
            disk_path=str(self.state_dir),
            resident_mb=resident,
        )

    def down(self) -> None:
        """Stop every release; one that will not die does not keep the others running."""
        errors: list[str] = []
        for release in self.releases():
            try:
                self.stop(release)
            except TargetError as exc:
                errors.append(str(exc))
        if errors:
            raise TargetError("; ".join(errors))
