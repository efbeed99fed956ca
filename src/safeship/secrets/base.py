"""The secret ports: an environment's secrets by name (SecretStore: where releases read them,
the platform's variables), and their versions with rotation labels (VersionedSecretStore: the
file or Vault store a rotation keeps its versions in, docs/secrets.md).

Constructor contract (what the ``safeship.secret_stores`` entry point names):
``cls(environment: str, target: Target)``: the environment's name and its target (built on
first use, so a store that never needs it never asks for the platform's token).

Every value a store returns is registered with safeship.redaction as a secret before it is
returned, so it is masked in every line safeship prints, logs or stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from safeship.secrets.settings import SecretsSettings
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


# -- Versioned stores: where a rotated secret's versions and labels live ------------------------

# The labels a rotation moves, in the manner of AWS Secrets Manager's staging labels: the version
# releases are meant to use (current), the one being rotated in (pending), and the one it
# replaced, still valid until the rotation's finish step revokes it (previous).
CURRENT: Final = "current"
PENDING: Final = "pending"
PREVIOUS: Final = "previous"
LABELS: Final = (CURRENT, PENDING, PREVIOUS)


class SecretConflict(SecretStoreError):
    """A check-and-set write lost: the secret changed since the writer read it."""


@dataclass(frozen=True)
class SecretVersion:
    """One stored version of a secret. ``value`` is registered with safeship.redaction."""

    name: str
    version: int  # 1, 2, ...: the store's own numbering, increasing
    value: str = field(repr=False)
    created_at: datetime | None = None


@dataclass(frozen=True)
class VersionInfo:
    """What a store tells about one version without its value."""

    version: int
    created_at: datetime | None
    labels: tuple[str, ...]  # of LABELS
    destroyed: bool = False  # deleted or destroyed: the value is gone


class VersionedSecretStore(Protocol):
    """Versions of an environment's secrets and the current/pending/previous labels on them.

    Constructor contract (the ``safeship.versioned_stores`` entry point):
    ``cls(environment: str, settings: SecretsSettings, base_dir: Path)``: the environment whose
    secrets these are (each environment has its own path or section), the ``[secrets]`` table,
    and the directory of safeship.toml (relative paths). Constructing one does no I/O.

    Every method raises SecretStoreError (one line, naming the store and the secret, never a
    value) when the store cannot be reached or refuses; SecretConflict when a check-and-set
    write lost. A value returned is registered with safeship.redaction first.
    """

    def read(self, name: str, label: str = CURRENT) -> SecretVersion | None:
        """The version carrying ``label``; None when the secret or the label does not exist."""
        ...

    def read_version(self, name: str, version: int) -> SecretVersion | None:
        """Version ``version``; None when it does not exist (or was destroyed)."""
        ...

    def put(self, name: str, value: str, *, cas: int) -> int:
        """Store ``value`` as a new version and return its number. ``cas``: the newest version
        number the writer saw (0: the secret must not exist yet); another is SecretConflict."""
        ...

    def labels(self, name: str) -> dict[str, int]:
        """Label -> version number, for the labels that are set ({} for an unknown secret)."""
        ...

    def set_labels(self, name: str, labels: Mapping[str, int | None]) -> None:
        """Move the given labels (None: remove it) in one write; labels not given stay."""
        ...

    def versions(self, name: str) -> list[VersionInfo]:
        """The secret's versions, oldest first ([] for an unknown secret)."""
        ...

    def newest(self, name: str) -> int:
        """The newest version number (0 when the secret does not exist): ``put``'s ``cas``."""
        ...

    def names(self) -> list[str]:
        """The environment's secret names, sorted."""
        ...


def open_versioned_store(
    environment: str, settings: SecretsSettings, base_dir: Path
) -> VersionedSecretStore:
    """The ``[secrets] store`` adapter (``file`` or ``vault``) for ``environment``."""
    from safeship.plugins import VERSIONED_STORES, load_adapter

    store: VersionedSecretStore = load_adapter(VERSIONED_STORES, settings.store)(
        environment, settings, base_dir
    )
    return store
