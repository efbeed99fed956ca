"""A target that runs each release as a process on this machine, started from ``command``.

[environments.demo.target]
type = "example"
command = ["python", "-m", "myapp", "--port", "{port}"]
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from safeship.plugins import PluginSettings
from safeship.targets.base import Release, TargetDefaults, TargetError


class ExampleTarget(TargetDefaults):  # set_variable: read-only; reap: nothing to reap
    def __init__(
        self, environment: str, settings: PluginSettings, run_dir: Path, base_dir: Path
    ) -> None:
        command = settings.setting("command")
        if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
            raise TargetError(f"environments.{environment}.target.command: a list of strings")
        self.environment = environment
        self.command: list[str] = command
        self.run_dir = run_dir
        self.base_dir = base_dir
        run_dir.mkdir(parents=True, exist_ok=True)

    def deploy(self, version: str, commit: str | None = None) -> Release:
        port = _free_port()
        argv = [a.replace("{port}", str(port)) for a in self.command]
        if argv[0] == "python":
            argv[0] = sys.executable
        log = (self.run_dir / f"{version}.log").open("ab")
        env = {**os.environ, "SAFESHIP_VERSION": version}
        try:
            proc = subprocess.Popen(  # its own session: it outlives `safeship deploy`
                argv, cwd=self.base_dir, env=env, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise TargetError(f"cannot start {argv[0]}: {exc.strerror}") from None
        finally:
            log.close()
        release = Release(self.environment, version, port, proc.pid, time.time())
        record = {"version": version, "port": port, "pid": proc.pid, "at": release.started_at}
        (self.run_dir / f"{version}.json").write_text(json.dumps(record))
        deadline = time.monotonic() + 15
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop(release)
                raise TargetError(f"{version} did not start listening on port {port}")
            time.sleep(0.05)
        return release

    def is_alive(self, release: Release) -> bool:
        if release.pid is None:
            return False
        try:
            os.kill(release.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, release: Release) -> None:
        if release.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(release.pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while self.is_alive(release) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(release.pid, os.WNOHANG)
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(release.pid, signal.SIGKILL)
        (self.run_dir / f"{release.version}.json").unlink(missing_ok=True)

    def releases(self) -> list[Release]:
        found = []
        for path in sorted(self.run_dir.glob("*.json")):
            r = json.loads(path.read_text())
            release = Release(self.environment, r["version"], r["port"], r["pid"], r["at"])
            if self.is_alive(release):
                found.append(release)
            else:
                path.unlink(missing_ok=True)
        return sorted(found, key=lambda r: r.started_at)

    def down(self) -> None:
        for release in self.releases():
            self.stop(release)

    def variables(self) -> dict[str, str]:
        return {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
