"""The SecretStore port: read, write and list an environment's secrets by name.

Constructor contract (what the ``safeship.secret_stores`` entry point names):
``cls(environment: str, target: Target)``: the environment's name and its target (built on
first use, so a store that never needs it never asks for the platform's token).

Every value a store returns is registered with safeship.redaction as a secret before it is
returned, so it is masked in every line safeship prints, logs or stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from safeship.targets.base import Target


class SecretStoreError(Exception):
    """A secret could not be read or written. The message is one line and never the value."""


class SecretStore(Protocol):
    def read(self, name: str) -> str | None:
        """The secret ``name``'s value; None when the environment has none by that name."""
        ...

    def write(self, name: str, value: str) -> None:
        """Set ``name`` to ``value`` for the releases started from now on."""
        ...

    def names(self) -> list[str]:
        """The names of the environment's secrets, sorted (never their values)."""
        ...


def open_secret_store(kind: str, environment: str, target: Target) -> SecretStore:
    """The store registered as ``kind`` (``"env"``: the environment's own variables) for
    ``environment``, through the plugin registry."""
    from safeship.plugins import SECRET_STORES, load_adapter

    store: SecretStore = load_adapter(SECRET_STORES, kind)(environment, target)
    return store
