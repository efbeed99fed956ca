"""The local encrypted secrets file: versions and rotation labels for teams without Vault.

One file (``[secrets.file] path``, 0600) holds every environment's secrets as one Fernet token
(``cryptography``: AES-128-CBC with an HMAC-SHA256 over it, so a changed or truncated file is
refused, never half-read). Its plaintext is JSON::

    {"format": 1, "environments": {"production": {"JWT_SECRET": {
        "versions": [{"version": 1, "value": "...", "created_at": "2026-12-01T02:00:00+00:00"}],
        "labels": {"current": 1}}}}}

The key: Fernet keys in ``$SAFESHIP_SECRETS_KEY`` (comma-separated, the newest first: a file
written with an older one still opens, and the next write re-encrypts it with the newest),
else the key file (0600), made with a new key on first use. Every write is a read-modify-write
under an exclusive lock on ``<path>.lock`` and replaces the file atomically: two rotations
never lose each other's versions, and a crash leaves the old file or the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeship._files import FILE_MODE, open_private_fd, private_dir, write_private
from safeship.redaction import register_secret
from safeship.secrets.base import (
    CURRENT,
    LABELS,
    SecretConflict,
    SecretStoreError,
    SecretVersion,
    VersionInfo,
)

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

    from safeship.secrets.settings import SecretsSettings

_FORMAT = 1
Document = dict[str, Any]


class EncryptedFileStore:
    def __init__(self, environment: str, settings: SecretsSettings, base_dir: Path) -> None:
        self.environment = environment
        self.path = base_dir / settings.file.path
        self._key_env = settings.file.key_env
        self._key_file = base_dir / settings.file.key_file

    # -- the VersionedSecretStore protocol --------------------------------------------------

    def read(self, name: str, label: str = CURRENT) -> SecretVersion | None:
        _check_label(label)
        secret = self._secrets(self._load()).get(name)
        if secret is None or label not in secret["labels"]:
            return None
        return self._version(name, secret, int(secret["labels"][label]))

    def read_version(self, name: str, version: int) -> SecretVersion | None:
        secret = self._secrets(self._load()).get(name)
        return None if secret is None else self._version(name, secret, version)

    def put(self, name: str, value: str, *, cas: int) -> int:
        if not value:
            raise SecretStoreError(f"{self._where(name)}: an empty value is not a secret")
        register_secret(value)
        with self._locked() as document:
            secrets = self._secrets(document, create=True)
            secret = secrets.setdefault(name, {"versions": [], "labels": {}})
            newest = _newest(secret)
            if cas != newest:
                raise SecretConflict(
                    f"{self._where(name)}: check-and-set failed (newest version is {newest}, "
                    f"the writer saw {cas})"
                )
            created = datetime.now(UTC).isoformat()
            entry = {"version": newest + 1, "value": value, "created_at": created}
            secret["versions"].append(entry)
            return newest + 1

    def labels(self, name: str) -> dict[str, int]:
        secret = self._secrets(self._load()).get(name)
        return {} if secret is None else {k: int(v) for k, v in secret["labels"].items()}

    def set_labels(self, name: str, labels: Mapping[str, int | None]) -> None:
        for label in labels:
            _check_label(label)
        with self._locked() as document:
            secret = self._secrets(document, create=True).get(name)
            if secret is None:
                raise SecretStoreError(f"{self._where(name)}: no such secret")
            known = {int(v["version"]) for v in secret["versions"]}
            for label, version in labels.items():
                if version is None:
                    secret["labels"].pop(label, None)
                elif version not in known:
                    raise SecretStoreError(f"{self._where(name)}: no version {version}")
                else:
                    secret["labels"][label] = version

    def versions(self, name: str) -> list[VersionInfo]:
        secret = self._secrets(self._load()).get(name)
        if secret is None:
            return []
        by_version: dict[int, list[str]] = {}
        for label, version in secret["labels"].items():
            by_version.setdefault(int(version), []).append(label)
        return [
            VersionInfo(
                int(v["version"]),
                _parse_time(v.get("created_at")),
                tuple(sorted(by_version.get(int(v["version"]), []), key=LABELS.index)),
            )
            for v in secret["versions"]
        ]

    def newest(self, name: str) -> int:
        secret = self._secrets(self._load()).get(name)
        return 0 if secret is None else _newest(secret)

    def names(self) -> list[str]:
        return sorted(self._secrets(self._load()))

    # -- the file -------------------------------------------------------------------------

    def _where(self, name: str) -> str:
        return f"{self.path} ({self.environment}/{name})"

    def _version(self, name: str, secret: Document, version: int) -> SecretVersion | None:
        for entry in secret["versions"]:
            if int(entry["version"]) == version:
                value = str(entry["value"])
                register_secret(value)
                return SecretVersion(name, version, value, _parse_time(entry.get("created_at")))
        return None

    def _secrets(self, document: Document, *, create: bool = False) -> dict[str, Document]:
        environments: dict[str, dict[str, Document]] = document["environments"]
        if create:
            return environments.setdefault(self.environment, {})
        return environments.get(self.environment, {})

    def _fernet(self) -> MultiFernet:
        from cryptography.fernet import Fernet, MultiFernet

        text = os.environ.get(self._key_env, "")
        where = f"${self._key_env}"
        if not text:
            text, where = self._key_from_file(), str(self._key_file)
        keys = [k.strip() for k in text.split(",") if k.strip()]
        for key in keys:
            register_secret(key)
        try:
            return MultiFernet([Fernet(key) for key in keys])
        except ValueError:
            raise SecretStoreError(
                f"{where}: not Fernet keys (32 url-safe base64-encoded bytes each, comma-separated)"
            ) from None

    def _key_from_file(self) -> str:
        from cryptography.fernet import Fernet

        try:
            return self._key_file.read_text(encoding="ascii")
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretStoreError(f"{self._key_file}: cannot read the key: {exc}") from None
        key = Fernet.generate_key().decode("ascii")
        try:
            private_dir(self._key_file.parent)
            # O_EXCL: two first uses at once end with one key, the first writer's.
            fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            return self._key_file.read_text(encoding="ascii")
        except OSError as exc:
            raise SecretStoreError(f"{self._key_file}: cannot create the key: {exc}") from None
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(key + "\n")
        return key

    def _load(self) -> Document:
        from cryptography.fernet import InvalidToken

        try:
            token = self.path.read_bytes()
        except FileNotFoundError:
            return {"format": _FORMAT, "environments": {}}
        except OSError as exc:
            raise SecretStoreError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            plain = self._fernet().decrypt(token.strip())
        except InvalidToken:
            raise SecretStoreError(
                f"{self.path}: cannot decrypt (another key, or the file was changed)"
            ) from None
        try:
            document: Document = json.loads(plain)
        except ValueError:
            raise SecretStoreError(f"{self.path}: not a safeship secrets file") from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise SecretStoreError(f"{self.path}: unknown format (expected {_FORMAT})")
        return document

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Document]:
        """The document, to change in place; written back (re-encrypted) when the block ends
        without an exception, all under the file's exclusive lock."""
        lock_fd = open_private_fd(self.path.with_name(self.path.name + ".lock"))
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            document = self._load()
            yield document
            token = self._fernet().encrypt(json.dumps(document).encode("utf-8"))
            write_private(self.path, token + b"\n")
        finally:
            os.close(lock_fd)  # releases the lock


def _newest(secret: Document) -> int:
    return max((int(v["version"]) for v in secret["versions"]), default=0)


def _check_label(label: str) -> None:
    if label not in LABELS:
        raise SecretStoreError(f"unknown label {label!r} (expected one of: {', '.join(LABELS)})")


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
