"""The environment's own variables as its secret store: what its target gives a release.

Reads and lists come from the target's ``variables()`` (the local target's ``env`` and
variables file, a command target's ``variables`` script, Railway's service variables); writes
go through the target's ``set_variable`` (the local target's variables file; a target whose
variables are not this process's to change refuses in one line).
"""

from __future__ import annotations

from safeship.redaction import register_secret
from safeship.secrets.base import SecretStoreError
from safeship.targets.base import Target, TargetError
from safeship.validation import check_variables


class EnvironmentVariables:
    def __init__(self, environment: str, target: Target) -> None:
        self.environment = environment
        self._target = target

    def _variables(self) -> dict[str, str]:
        try:
            return self._target.variables()
        except TargetError as exc:
            raise SecretStoreError(f"{self.environment}: {exc}") from None

    def read(self, name: str) -> str | None:
        value = self._variables().get(name)
        if value:
            register_secret(value)
        return value

    def write(self, name: str, value: str) -> None:
        try:
            check_variables({name: value})
        except ValueError as exc:
            raise SecretStoreError(f"{self.environment}: {exc}") from None
        register_secret(value)
        try:
            self._target.set_variable(name, value)
        except TargetError as exc:
            raise SecretStoreError(f"{self.environment}: {exc}") from None

    def names(self) -> list[str]:
        return sorted(self._variables())
