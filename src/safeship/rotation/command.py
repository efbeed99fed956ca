"""The command rotator: the user's own scripts create and revoke a credential at a provider
that has no rotator of its own (an API key of a SaaS, a cloud access key).

- ``create`` prints the new credential on stdout, which is read once and never logged or
  stored anywhere but the secret store; one trailing newline is dropped. Empty output, or more
  than 64 KiB, is an error.
- ``revoke`` gets the credential to refuse on stdin (the value and one newline) and must be
  idempotent: revoking a credential that is already gone exits 0. It serves both the finish
  step (the previous value) and an abandoned rotation (the pending value).
- ``test`` (optional) gets the value on stdin likewise and exits 0 if it works.
- A value never goes on a command line nor in an environment variable (``ps`` shows the one,
  ``/proc/PID/environ`` and crash reports the other). Scripts get SAFESHIP_SECRET and
  SAFESHIP_ENVIRONMENT, run in safeship.toml's directory without a shell, each in its own
  session; on timeout the whole process group is killed.
- A failure is one line: the script, its exit code, and its last stderr line, redacted. stderr
  is never shown otherwise.

Unlike the other rotators, ``generate`` is not pure: the provider makes the credential when
``create`` runs. A crash between ``create`` and the store's write of the pending value leaves
an orphan credential at the provider: safeship never learned the value, so no later revoke can
name it. Look for it at the provider (by its creation time) after such a crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field

from safeship.redaction import register_secret
from safeship.rotation.base import RotatorError
from safeship.settings_model import SettingsModel

# Most a create script may print: a key, a token, a PEM bundle; more is a script printing logs.
MAX_VALUE_BYTES = 64 * 1024

Argv = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class CommandOptions(SettingsModel):
    # Prints the new credential on stdout (argument list, no shell).
    create: Argv
    # Gets a credential on stdin and makes the provider refuse it (idempotent).
    revoke: Argv
    # Gets a credential on stdin and exits 0 if it works (optional).
    test: Argv | None = None
    # Seconds each script may run.
    timeout: Annotated[float, Field(gt=0, le=600)] = 60.0


class CommandRotator:
    Options: ClassVar[type[SettingsModel]] = CommandOptions
    previous_slot = False

    def __init__(
        self, secret: str, environment: str, options: Mapping[str, Any], base_dir: Path
    ) -> None:
        self.secret = secret
        self.environment = environment
        self.options = CommandOptions.model_validate(dict(options))
        self.base_dir = base_dir

    def generate(self, current: str | None) -> str:
        out = self._run("create", self.options.create, None)
        if len(out) > MAX_VALUE_BYTES:
            raise RotatorError(
                f"{self._name}: create script {self._shown(self.options.create)} printed "
                f"{len(out)} bytes, more than {MAX_VALUE_BYTES // 1024} KiB"
            )
        try:
            value = out.decode()
        except UnicodeDecodeError:
            raise RotatorError(
                f"{self._name}: create script {self._shown(self.options.create)} printed "
                "something that is not UTF-8 text"
            ) from None
        value = value.removesuffix("\n").removesuffix("\r")
        register_secret(value)
        if not value.strip() or "\0" in value:
            raise RotatorError(
                f"{self._name}: create script {self._shown(self.options.create)} printed "
                + ("no value" if not value.strip() else "a NUL character")
            )
        if value == current:  # its revoke at the finish step would revoke the only key
            raise RotatorError(
                f"{self._name}: create script {self._shown(self.options.create)} printed the "
                "current value, not a new one"
            )
        return value

    def apply(self, pending: str, current: str | None) -> None:
        return None  # the provider made it valid when create ran

    def test(self, value: str) -> None:
        if self.options.test is not None:
            self._run("test", self.options.test, value)

    def revoke(self, previous: str, current: str) -> None:
        if previous == current:
            raise RotatorError(
                f"{self._name}: the previous value is the current one: revoking it would lock "
                "out the serving release; refusing"
            )
        self._run("revoke", self.options.revoke, previous)

    def discard(self, pending: str, current: str | None) -> None:
        if pending == current:
            raise RotatorError(
                f"{self._name}: the pending value is the current one: revoking it would lock "
                "out the serving release; refusing"
            )
        self._run("revoke", self.options.revoke, pending)

    def checklist(self) -> list[str]:
        return []

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return f"{self.secret} ({self.environment})"

    @staticmethod
    def _shown(argv: list[str]) -> str:
        return repr(argv[0])

    def _argv(self, argv: list[str]) -> list[str]:
        """A relative script path (``scripts/new-key``) is relative to safeship.toml's
        directory; a bare name is looked up on PATH."""
        program = argv[0]
        if "/" in program and not Path(program).is_absolute():
            program = str(self.base_dir / program)
        return [program, *argv[1:]]

    def _run(self, role: str, argv: list[str], value: str | None) -> bytes:
        """Run one script with ``value`` (and a newline) on stdin; its stdout."""
        from safeship.httpapi import one_line

        if value is not None:
            register_secret(value)
        env = {
            **os.environ,
            "SAFESHIP_SECRET": self.secret,
            "SAFESHIP_ENVIRONMENT": self.environment,
        }
        shown = self._shown(argv)
        try:
            proc = subprocess.Popen(
                self._argv(argv),
                cwd=self.base_dir,
                env=env,
                stdin=subprocess.DEVNULL if value is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise RotatorError(
                f"{self._name}: {role} script {shown} cannot start: {exc.strerror}"
            ) from None
        stdin = None if value is None else (value + "\n").encode()
        try:
            out, err = proc.communicate(stdin, timeout=self.options.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RotatorError(
                f"{self._name}: {role} script {shown} timed out after {self.options.timeout:g} s"
            ) from None
        if proc.returncode != 0:
            # What a failing script printed may still be a credential (a create that printed
            # its key, then failed): masked wherever it appears, its stderr line included.
            printed = out.decode(errors="replace")
            for candidate in (printed.strip(), *printed.splitlines()):
                register_secret(candidate.strip())
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            last = f": {lines[-1].strip()}" if lines else ""
            raise RotatorError(
                one_line(f"{self._name}: {role} script {shown} exited {proc.returncode}{last}", 400)
            )
        return out
