"""The command target: the user's own scripts deploy, check, roll back and stop releases (for
Fly.io, Render, Heroku, Kubernetes ... until they have an adapter of their own).

Decisions:

- Argument lists, no shell; "{version}" in any argument becomes the version.
- Each script runs in its own session with a timeout; on timeout its whole process group is
  killed, so a hung ``flyctl`` cannot keep safeship waiting on its pipes.
- A failure is one line: the script, its exit code, and its last stderr line (redacted).
- Which versions were deployed is kept in ``state_dir/command-target.json`` (current and
  previous), since the scripts only act; ``rollback()`` deploys back to the previous one with
  the rollback script.
- On a platform the deploy script replaces the serving version, so taking the current release
  out of service (``stop``, which the pipeline calls when it rolls back or when verification
  fails) runs the rollback script for the previous version when both exist, as the Railway
  target rolls back; the stop script runs otherwise (a first deployment, no rollback script).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from safeship._files import private_dir, write_private
from safeship.httpapi import one_line
from safeship.targets.base import HostedRelease, Release, TargetDefaults, TargetError
from safeship.targets.settings import CommandTargetSettings


class CommandTarget(TargetDefaults):
    routes_itself: ClassVar[bool] = True

    def __init__(
        self,
        environment: str,
        settings: CommandTargetSettings,
        state_dir: Path,
        base_dir: Path,
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.state_dir = state_dir
        self.base_dir = base_dir
        private_dir(state_dir)

    # -- scripts ---------------------------------------------------------------------------

    def run(self, role: str, argv: list[str], version: str, timeout: float) -> str:
        """Run one script; its stdout. TargetError (one line) if it fails or times out."""
        args = [a.replace("{version}", version) for a in argv]
        env = {**os.environ, **self.settings.env, "SAFESHIP_ENVIRONMENT": self.environment}
        try:
            proc = subprocess.Popen(
                args,
                cwd=self.base_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise TargetError(f"{role} script {args[0]!r} cannot start: {exc.strerror}") from None
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TargetError(f"{role} script {args[0]!r} timed out after {timeout:g} s") from None
        if proc.returncode != 0:
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            last = f": {lines[-1].strip()}" if lines else ""
            raise TargetError(
                one_line(f"{role} script {args[0]!r} exited {proc.returncode}{last}", 400)
            )
        return out.decode(errors="replace")

    # -- state -----------------------------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "command-target.json"

    def _state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, Any]) -> None:
        write_private(self._state_file, json.dumps(data, indent=2) + "\n")

    def _release(self, version: str, started_at: float) -> Release:
        url = self.settings.url.replace("{version}", version) if self.settings.url else None
        return HostedRelease(self.environment, version, 0, None, started_at, public_url=url)

    # -- Target ----------------------------------------------------------------------------

    def deploy(self, version: str, commit: str | None = None) -> Release:
        if self.settings.url is None:
            raise TargetError(
                f"command target of {self.environment}: set `url` (the service's URL, where "
                "the health checks run) to deploy"
            )
        self.run("deploy", self.settings.deploy, version, self.settings.timeout)
        state = self._state()
        started = time.time()
        if state.get("current", {}).get("version") not in (None, version):
            state["previous"] = state["current"]
        state["current"] = {"version": version, "started_at": started}
        self._save(state)
        return self._release(version, started)

    def is_alive(self, release: Release) -> bool:
        if self.settings.status is None:
            current = self._state().get("current")
            return isinstance(current, dict) and current.get("version") == release.version
        try:
            self.run("status", self.settings.status, release.version, self.settings.status_timeout)
        except TargetError:
            return False
        return True

    def stop(self, release: Release) -> None:
        state = self._state()
        current = state.get("current")
        serving = isinstance(current, dict) and current.get("version") == release.version
        if (
            serving
            and self.settings.rollback is not None
            and isinstance(state.get("previous"), dict)
        ):
            self.rollback()
            return
        if self.settings.stop is None:
            raise TargetError(f"command target of {self.environment} has no stop script")
        self.run("stop", self.settings.stop, release.version, self.settings.timeout)
        state = self._state()
        if state.get("current", {}).get("version") == release.version:
            state.pop("current")
            self._save(state)

    def releases(self) -> list[Release]:
        current = self._state().get("current")
        if not isinstance(current, dict):
            return []
        release = self._release(str(current["version"]), float(current["started_at"]))
        return [release] if self.is_alive(release) else []

    def down(self) -> None:
        for release in self.releases():
            self.stop(release)

    def rollback(self) -> str:
        """Run the rollback script for the previous version; that version."""
        if self.settings.rollback is None:
            raise TargetError(f"command target of {self.environment} has no rollback script")
        state = self._state()
        previous = state.get("previous")
        if not isinstance(previous, dict):
            raise TargetError(f"no earlier version of {self.environment} to roll back to")
        version = str(previous["version"])
        self.run("rollback", self.settings.rollback, version, self.settings.timeout)
        state["current"], state["previous"] = previous, state.get("current")
        self._save(state)
        return version

    def variables(self) -> dict[str, str]:
        if self.settings.variables is None:
            return {}
        out = self.run("variables", self.settings.variables, "", self.settings.status_timeout)
        text = out.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                raise TargetError("variables script printed invalid JSON") from None
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        result: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.lstrip().startswith("#"):
                result[key.strip()] = value.strip()
        return result
